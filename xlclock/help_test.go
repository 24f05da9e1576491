package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/hostclock"
	"github.com/xenradclock/xenradclock/internal/helptest"
	"github.com/xenradclock/xenradclock/internal/helptest/demodir"
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
	rec := demodir.Guest(t, dir)
	hostDir := filepath.Join(dir, demodir.HostA)
	// newTestHost listens on a short path (a sockaddr_un holds 108
	// bytes): the demo's name links to it.
	h := newTestHost(t)
	if err := os.Symlink(h.sock, filepath.Join(hostDir, "xenstored.socket")); err != nil {
		t.Fatal(err)
	}
	h.publish(&rec, "host-a")
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
