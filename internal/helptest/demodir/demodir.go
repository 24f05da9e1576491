// Package demodir lays out, for help-example tests, the files a guest's
// tools read in 'xenradclock-demo --dir demo': host-a's simulated
// counter, and guest g1's counter (following host-a's) and page holding a
// live synchronised record.
package demodir

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
)

// The demo's directories, relative to the directory holding demo/.
const (
	HostA = "demo/host-a"
	G1    = "demo/g1"
)

// Guest makes HostA/counter, G1/counter and G1/clock below root and
// returns the record published on the page (closed at the test's end).
func Guest(t *testing.T, root string) clockdata.Record {
	t.Helper()
	hostDir, g1Dir := filepath.Join(root, HostA), filepath.Join(root, G1)
	for _, d := range []string{hostDir, g1Dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hostCtr, g1Ctr := filepath.Join(hostDir, "counter"), filepath.Join(g1Dir, "counter")
	if err := counter.CreateSimHost(hostCtr, counter.SimHostConfig{HostID: 0xa, NominalHz: 1e9, PPM: 20}); err != nil {
		t.Fatal(err)
	}
	if err := counter.MigrateSim(g1Ctr, hostCtr); err != nil {
		t.Fatal(err)
	}
	sim, err := counter.OpenSimulated(g1Ctr)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := sim.Read()
	if err != nil {
		t.Fatal(err)
	}
	// Referenced to the system clock now, as a synchronised dom0d would.
	now := time.Now()
	per, _ := clockdata.PeriodFromFloat(1e-9 / (1 + 20e-6))
	raw := clockdata.Raw{
		HostID: [16]byte{0xa}, CounterKind: sim.Kind(), CounterHz: 1_000_000_000, CounterIdentity: rd.Identity,
		State: clockdata.StateSynchronised, RefCount: rd.Count, RefTime: bintime.FromUnix(now.Unix(), int64(now.Nanosecond())),
		Period: per, ErrorBoundNs: 1500, MaxErrorNs: 40_000, MaxErrorGrowthPsPerS: 15_000_000, PollNs: 16e9,
	}
	rec, err := clockdata.Next(nil, raw, rd.Count)
	if err != nil {
		t.Fatal(err)
	}
	w, err := clockdata.CreatePage(filepath.Join(g1Dir, "clock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Publish(&rec); err != nil {
		t.Fatal(err)
	}
	return rec
}
