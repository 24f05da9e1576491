package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/hostclock"
	"github.com/xenradclock/xenradclock/internal/helptest"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

// Every example of every xlclock --help runs as printed, in a directory
// holding what 'xenradclock-demo --dir demo' makes and xlclock reads:
// host-a's Xenstore socket (embedded, with host-a's record and name and
// guest g1, domid 11, reporting), host-a's status file, and g1's page on
// its simulated counter.
func TestHelpExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds xlclock and runs every help example")
	}
	helptest.Run(t, newApp(), helptest.Config{
		Binaries: map[string]string{"xlclock": "."},
		Setup:    setupDemoDir,
	})
}

func setupDemoDir(t *testing.T, dir, _ string) []string {
	hostDir, g1Dir := filepath.Join(dir, "demo", "host-a"), filepath.Join(dir, "demo", "g1")
	for _, d := range []string{hostDir, g1Dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The socket path must fit a sockaddr_un (108 bytes): listen on a
	// short path and link the demo's name to it.
	short, err := os.MkdirTemp("", "xlh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	srv, err := xsd.New(xsd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	h := &testHost{t: t, dir: short, srv: srv, sock: filepath.Join(short, "xs")}
	if err := srv.Listen(h.sock); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(h.sock, filepath.Join(hostDir, "xenstored.socket")); err != nil {
		t.Fatal(err)
	}
	h.dom0 = h.dial(h.sock)

	// host-a's clock on its simulated counter, g1's page on g1's counter
	// (a guest's counter file following its host's).
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
	rec := liveRecord(t, sim)
	h.publish(&rec, "host-a")
	w, err := clockdata.CreatePage(filepath.Join(g1Dir, "clock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Publish(&rec); err != nil {
		t.Fatal(err)
	}
	g1 := goodReport()
	g1.Counter, g1.Generation, g1.HostName = "simulated", rec.Generation, "host-a"
	g1.UpdatedUnixNs, g1.ReportedUnixNs = time.Now().Add(-time.Second).UnixNano(), time.Now().UnixNano()
	h.report(h.addGuest(11, "g1"), g1)

	doc := &hostclock.StatusDoc{PID: os.Getpid(), UpdatedAt: time.Now().Format(time.RFC3339Nano),
		Counter: "simulated", CounterHz: 1e9, CounterIdentity: 0xa, Xenstore: "socket", XenstorePath: "/xenradclock/clock",
		Clock: hostclock.ClockDoc{Generation: rec.Generation, Published: true, State: "synchronised", MaxError: 40e-6}}
	if err := hostclock.WriteStatus(filepath.Join(hostDir, "status.json"), doc); err != nil {
		t.Fatal(err)
	}
	return nil
}

// liveRecord is a synchronised record on counter c, referenced to the
// system clock now, as dom0d would publish it.
func liveRecord(t *testing.T, c counter.Counter) clockdata.Record {
	t.Helper()
	rd, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	per, _ := clockdata.PeriodFromFloat(1e-9 / (1 + 20e-6))
	raw := clockdata.Raw{
		HostID: [16]byte{0xa}, CounterKind: c.Kind(), CounterHz: 1_000_000_000, CounterIdentity: rd.Identity,
		State: clockdata.StateSynchronised, RefCount: rd.Count, RefTime: bintime.FromUnix(now.Unix(), int64(now.Nanosecond())),
		Period: per, ErrorBoundNs: 1500, MaxErrorNs: 40_000, MaxErrorGrowthPsPerS: 15_000_000, PollNs: 16e9,
	}
	rec, err := clockdata.Next(nil, raw, rd.Count)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}
