package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/hostclock"
	"github.com/xenradclock/xenradclock/internal/helptest"
	"github.com/xenradclock/xenradclock/internal/helptest/demodir"
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
	rec := demodir.Guest(t, dir)
	hostDir := filepath.Join(dir, demodir.HostA)
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
