package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/hostclock"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

// The golden scenario through list, show and host, as tables and JSON.
func TestGoldenList(t *testing.T) {
	h := newTestHost(t)
	goldenGuests(h)
	fixNow(t, goldenNow)
	out, err := h.xl("list")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	golden(t, "list.golden", out)
	out, err = h.xl("list", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	golden(t, "list.json.golden", out)
}

func TestGoldenShow(t *testing.T) {
	h := newTestHost(t)
	goldenGuests(h)
	fixNow(t, goldenNow)
	for _, c := range []struct{ arg, file string }{
		{"moved", "show-moved"}, {"3", "show-stale"}, {"db1", "show-noagent"}, {"indep", "show-indep"},
	} {
		out, err := h.xl("show", c.arg)
		if err != nil {
			t.Fatalf("show %s: %v\n%s", c.arg, err, out)
		}
		golden(t, c.file+".golden", out)
		out, err = h.xl("show", "--json", c.arg)
		if err != nil {
			t.Fatalf("show --json %s: %v\n%s", c.arg, err, out)
		}
		golden(t, c.file+".json.golden", out)
	}
}

// goldenStatus is a status file as dom0d writes it: two servers, one
// preferred and one a falseticker still in warm-up, the clock in fast start.
func goldenStatus(t *testing.T) string {
	t.Helper()
	pen := 4.2e-6
	doc := &hostclock.StatusDoc{
		PID: 4242, UpdatedAt: goldenNow.Add(-1500 * time.Millisecond).Format(time.RFC3339Nano),
		Counter: "xen-system", CounterHz: 1e9, CounterIdentity: 0x5eed,
		Preferred: "192.0.2.10:123", MinSources: 1, Truechimers: 1,
		SelectionReason: "smallest path penalty", Switches: 2,
		Clock: hostclock.ClockDoc{
			Generation: 42, Disruption: 0x0123456789abcdef, Published: true, Period: 1.000000012e-9,
			OffsetEstimate: -3.1e-6, ErrorBound: 850e-9, MaxError: 23.5e-6, Status: 0x10000,
			StatusNames: []string{"fast-start"}, State: "synchronised", Time: "1795924797.000000000", RefCount: 1 << 40,
		},
		Servers: []hostclock.ServerDoc{
			{Address: "192.0.2.10:123", Preferred: true, Usable: true, Poll: 16, Stamps: 40, Warmup: 8, Accepted: 40,
				Rejected: map[string]uint64{"timeout": 2, "rtt-outlier": 1}, Period: 1.000000012e-9, OffsetEstimate: -3.1e-6,
				ErrorBound: 850e-9, MaxError: 23.5e-6, MinRTT: 182e-6, Status: 0x10000, StatusNames: []string{"fast-start"},
				Penalty: &pen, LastStamp: 3.2},
			{Address: "198.51.100.5:123", Usable: true, Poll: 16, Stamps: 5, Warmup: 8, Accepted: 5,
				Period: 1.00000002e-9, OffsetEstimate: 0.0412, ErrorBound: 1.9e-6, MaxError: 80e-6, MinRTT: 2.4e-3,
				Status: 0x2, StatusNames: []string{"warmup"}, Falseticker: true, LastStamp: 12},
		},
		Xenstore: "socket", XenstorePath: "/xenradclock/clock", Page: "/run/xenradclock/clock",
		StateFile: "/var/lib/xenradclock/state.json", StateRestore: "restored 2 of 2 servers",
	}
	path := filepath.Join(t.TempDir(), "status.json")
	if err := hostclock.WriteStatus(path, doc); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGoldenHost(t *testing.T) {
	h := newTestHost(t)
	goldenGuests(h)
	fixNow(t, goldenNow)
	st := goldenStatus(t)
	for _, c := range []struct {
		file string
		args []string
	}{
		{"host.golden", []string{"host", "--status", st}},
		{"host.json.golden", []string{"host", "--status", st, "--json"}},
		{"host-nostatus.golden", []string{"host", "--status", "/nonexistent/xlclock-test/status.json"}},
	} {
		out, err := h.xl(c.args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", c.args, err, out)
		}
		golden(t, c.file, out)
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(m.Run())
}

// docs/xlclock.md shows the golden list and show outputs verbatim, so the
// documentation cannot drift from what the commands print.
func TestDocsMatchGolden(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "xlclock.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"list.golden", "show-moved.golden"} {
		g, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "```\n"+string(g)+"```\n") {
			t.Errorf("docs/xlclock.md does not show testdata/%s verbatim", name)
		}
	}
}
