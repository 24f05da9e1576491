package view

import (
	"bytes"
	"strings"
	"testing"
)

// libxl's view adds an XL-STATE column and the domains Xenstore lacks.
func TestMergeXL(t *testing.T) {
	s := &Snapshot{Domains: []Domain{{Domid: 0, Name: "Domain-0", Agent: AgentNone}, {Domid: 3, Name: "web1", Agent: AgentNone}}}
	s.mergeXL(map[uint32]XLInfo{
		0: {Name: "Domain-0", State: XLState(true, false, false, false, false, false)},
		3: {Name: "web1", State: XLState(false, true, false, false, false, false)},
		2: {Name: "half\x1b[2J", State: XLState(false, false, true, false, false, true)},
	})
	var b bytes.Buffer
	if err := s.WriteList(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := [][]string{{"NAME", "ID", "XL-STATE"}, {"Domain-0", "0", "r-----"}, {"half?[2J", "2", "--p--d"}, {"web1", "3", "-b----"}}
	if len(lines) != len(want) {
		t.Fatalf("list:\n%s", b.String())
	}
	for i, l := range lines {
		f := strings.Fields(l)
		if f[0] != want[i][0] || f[1] != want[i][1] || f[2] != want[i][2] {
			t.Errorf("line %d %q, want %v", i, l, want[i])
		}
	}
}
