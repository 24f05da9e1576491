package view

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestFrame(t *testing.T) {
	s := &Snapshot{NowUnixNs: 1}
	for i := range 20 {
		s.Domains = append(s.Domains, Domain{Domid: uint32(i), Name: "guest-with-a-long-name", Agent: AgentNone})
	}
	at := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	f := Frame(s, nil, at, 2*time.Second, 40, 10)
	if len(f) != 10 || f[0] != "xlclock watch: every 2s, 2026-12-02 04:0" || !strings.HasPrefix(f[2], "NAME") {
		t.Fatalf("frame:\n%s", strings.Join(f, "\n"))
	}
	if !strings.HasPrefix(f[9], "… 14 more lines") {
		t.Errorf("last line %q, want how many lines were left out (23 - 9 = 14)", f[9])
	}
	for _, l := range f {
		if utf8.RuneCountInString(l) > 40 {
			t.Errorf("line wider than 40: %q", l)
		}
	}
	f = Frame(nil, errors.New("xenstore: connection lost\x1b[2J"), at, time.Second, 0, 0)
	if len(f) != 3 || f[2] != "error: xenstore: connection lost?[2J" {
		t.Errorf("error frame: %q", f)
	}
}
