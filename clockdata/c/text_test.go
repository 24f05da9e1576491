//go:build linux && amd64 && cgo

package cclock

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/xenradclock/xenradclock/clockdata"
)

// TestCTextRangeChecks: every field of the text form is range-checked in
// C exactly as in Go. sscanf used to wrap what Go refuses: leap=257 became
// a pending +1 leap, state=262 became 6 (server-fault), a negative error
// a huge bound. Each line below is good.txt with one field changed; Go
// refuses it and C must refuse it with the same error class.
func TestCTextRangeChecks(t *testing.T) {
	b, err := os.ReadFile("../testdata/good.txt")
	if err != nil {
		t.Fatal(err)
	}
	good := strings.TrimSuffix(string(b), "\n")
	r, code := ParseRecord(good)
	want, gerr := clockdata.ParseText(good)
	if code != 0 || gerr != nil || !reflect.DeepEqual(r, want) {
		t.Fatalf("good.txt: C %d %+v, Go %v %+v", code, r, gerr, want)
	}
	set := func(key, val string) string {
		f := strings.Split(good, " ")
		for i := range f {
			if strings.HasPrefix(f[i], key+"=") {
				f[i] = key + "=" + val
				return strings.Join(f, " ")
			}
		}
		t.Fatalf("no key %s", key)
		return ""
	}
	lines := []string{
		set("leap", "257"), set("leap", "-255"), set("leap", "128"), set("leap", "+1"),
		set("state", "262"), set("state", "256"), set("state", "-1"),
		set("err", "-5"), set("maxerr", "-1"), set("maxerr", "18446744073709551616"), set("maxerr", "+195000"),
		set("kind", "65539"), set("tai", "32768"), set("tai", "-32769"), set("gen", "-1"),
		set("rate_err", "4294967296"), set("maxerr_growth", "-15000000"), set("poll", "0x10"),
		set("period", "b73fe8e2e6c4a800/287"), set("period", "B73FE8E2E6C4A800/31"), set("period", "b73fe8e2e6c4a80/31"),
		set("time", "1700000001:3fff2e48e8a71aa"), set("time", "+1700000001:3fff2e48e8a71aa9"),
		set("time", "1700000001:3fff2e48e8a71aa9:0"), set("status", "0000040"), set("status", "-0000040"),
		set("marker", "5eed0001"), set("host", "1032547698badcfe010203040506070"),
		set("cid", "ABCDEF0123456789"), set("err", "025200000000000000000"), set("next", " 1051000000000"),
		good + " ", " " + good, strings.Replace(good, " ", "  ", 1), strings.Replace(good, " ", "\t", 1),
		good + "\n\n", good + "\r\n", "v=01" + good[3:], "v=1",
	}
	for _, line := range lines {
		_, gerr := clockdata.ParseText(line)
		if gerr == nil {
			t.Errorf("Go accepted %q", line)
			continue
		}
		if _, code := ParseRecord(line); code != cCode(gerr) {
			t.Errorf("Go: %v; C: error %d (want %d)\n%q", gerr, code, cCode(gerr), line)
		}
	}
	// Values at the edges of each range are accepted alike.
	for _, line := range []string{set("err", "18446744073709551615"), set("tai", "-32768"), set("tai", "-0"),
		set("err", "00000000000000025200"), good + "\n"} {
		g, gerr := clockdata.ParseText(line)
		c, code := ParseRecord(line)
		if gerr != nil || code != 0 || !reflect.DeepEqual(g, c) {
			t.Errorf("%q:\n Go %v %+v\n  C %d %+v", line, gerr, g, code, c)
		}
	}
}
