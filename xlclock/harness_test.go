package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/guestclock/report"
	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

// testHost is an embedded Xenstore with a Dom0 connection and one
// per-domain socket for each guest, whose connections act as that guest.
type testHost struct {
	t    *testing.T
	dir  string
	srv  *xsd.Server
	sock string           // Dom0's socket
	dom0 *xenstore.Client // a Dom0 connection (the toolstack, dom0d)
}

func newTestHost(t *testing.T) *testHost {
	t.Helper()
	// Unix socket paths are limited to 108 bytes: keep them short.
	dir, err := os.MkdirTemp("", "xlc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The node size quota is raised to the protocol's payload limit, so a
	// guest can write the largest value any xenstored would accept and the
	// CLI's own bounds are what is tested.
	srv, err := xsd.New(xsd.Config{Quota: xsd.Quota{NodeSize: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	h := &testHost{t: t, dir: dir, srv: srv, sock: filepath.Join(dir, "xs")}
	if err := srv.Listen(h.sock); err != nil {
		t.Fatal(err)
	}
	h.dom0 = h.dial(h.sock)
	return h
}

func (h *testHost) dial(sock string) *xenstore.Client {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := xenstore.DialSocket(ctx, sock, xenstore.WithoutReconnect())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

func (h *testHost) write(c *xenstore.Client, path string, value []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Write(ctx, path, value)
}

func (h *testHost) mustWrite(c *xenstore.Client, path string, value []byte) {
	h.t.Helper()
	if err := h.write(c, path, value); err != nil {
		h.t.Fatalf("write %s: %v", path, err)
	}
}

// addDomain introduces domid with a name, as the toolstack does, and
// returns its domain socket (where the guest's connections come from).
func (h *testHost) addDomain(domid uint32, name string) string {
	h.t.Helper()
	sock := filepath.Join(h.dir, "d"+strconv.Itoa(int(domid)))
	if err := h.srv.ListenDomain(sock, domid); err != nil {
		h.t.Fatal(err)
	}
	h.mustWrite(h.dom0, fmt.Sprintf("/local/domain/%d/name", domid), []byte(name))
	return sock
}

// addGuest is addDomain and a connection on the domain socket: the guest's.
func (h *testHost) addGuest(domid uint32, name string) *xenstore.Client {
	h.t.Helper()
	return h.dial(h.addDomain(domid, name))
}

// report writes r as the guest's agent does (a relative path, on the
// guest's own connection).
func (h *testHost) report(guest *xenstore.Client, r *report.Report) {
	h.t.Helper()
	b, err := r.Encode()
	if err != nil {
		h.t.Fatal(err)
	}
	h.mustWrite(guest, report.Node, b)
}

// publish writes the host record and name as dom0d does.
func (h *testHost) publish(rec *clockdata.Record, name string) {
	h.t.Helper()
	b, err := rec.MarshalText()
	if err != nil {
		h.t.Fatal(err)
	}
	h.mustWrite(h.dom0, "/xenradclock/clock", b)
	if name != "" {
		h.mustWrite(h.dom0, "/xenradclock/host-name", []byte(name))
	}
}

// xl runs xlclock in this process against the host's Xenstore.
func (h *testHost) xl(args ...string) (string, error) {
	return xlRun(append(args[:1:1], append([]string{"--xenstore", h.sock}, args[1:]...)...)...)
}

// xlJSON runs a --json command and decodes its output into v.
func (h *testHost) xlJSON(v any, args ...string) string {
	h.t.Helper()
	out, err := h.xl(append([]string{args[0], "--json"}, args[1:]...)...)
	if err != nil {
		h.t.Fatalf("xlclock %v: %v\n%s", args, err, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		h.t.Fatalf("xlclock %v: output is not JSON: %v\n%s", args, err, out)
	}
	return out
}

// Fixed times for reproducible output: the golden snapshot is taken at
// goldenNow.
var goldenNow = time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)

func fixNow(t *testing.T, at time.Time) {
	old := nowFunc
	nowFunc = func() time.Time { return at }
	t.Cleanup(func() { nowFunc = old })
}

var goldenHostID = [16]byte{0xc0, 0xff, 0xee, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 1, 2, 3, 4}

const goldenHostIDHex = "c0ffee0123456789abcdef0001020304"

// hostRecord is a synchronised record on a 1 GHz xen-system counter whose
// reference time is refAge before goldenNow, generation 42.
func hostRecord(t *testing.T, refAge time.Duration) clockdata.Record {
	t.Helper()
	per, _ := clockdata.PeriodFromFloat(1e-9)
	ref := goldenNow.Add(-refAge)
	raw := clockdata.Raw{
		HostID: goldenHostID, CounterKind: counter.KindXenSystem, CounterHz: 1_000_000_000, CounterIdentity: 0x5eed,
		State: clockdata.StateSynchronised, RefCount: 1 << 40, RefTime: bintime.FromUnix(ref.Unix(), int64(ref.Nanosecond())),
		Period: per, ErrorBoundNs: 850, MaxErrorNs: 23_500, MaxErrorGrowthPsPerS: 15_000_000, PollNs: 16e9,
	}
	b := clockdata.Builder{NewMarker: func() uint64 { return 0x0123456789abcdef }}
	rec, err := b.Next(nil, raw, raw.RefCount)
	if err != nil {
		t.Fatal(err)
	}
	rec.Generation = 42
	return rec
}

func unixNs(d time.Duration) int64 { return goldenNow.Add(d).UnixNano() }

// goodReport is a fresh dependent guest on the golden host.
func goodReport() *report.Report {
	return &report.Report{
		Version: report.Version, AgentVersion: "0.4.0", Mode: "dependent", Counter: "xen-system",
		State: "synchronised", ErrorBoundNs: 1_130, MaxErrorNs: 24_020, Generation: 42,
		HostID: goldenHostIDHex, HostName: "rack1-h07",
		UpdatedUnixNs: unixNs(-3 * time.Second), ReportedUnixNs: unixNs(-600 * time.Millisecond),
	}
}

// goldenGuests populates the host with the golden scenario: a fresh
// dependent guest, one without an agent, a stale one, one just migrated
// here, and an independent one.
func goldenGuests(h *testHost) {
	rec := hostRecord(h.t, 3*time.Second)
	h.publish(&rec, "rack1-h07")

	h.report(h.addGuest(1, "web1"), goodReport())

	h.addGuest(2, "db1") // no agent

	stale := goodReport()
	stale.Generation, stale.UpdatedUnixNs, stale.ReportedUnixNs = 30, unixNs(-195*time.Second), unixNs(-190*time.Second)
	h.report(h.addGuest(3, "batch"), stale)

	moved := goodReport()
	moved.Disruptions, moved.Generation = 1, 42
	moved.LastMigration = &report.Migration{
		FromHost: "rack2-h03", ToHost: "rack1-h07", StepNs: 37_400, PauseNs: 182_000_000, DisruptedNs: 211_000_000,
		AtUnixNs: unixNs(-2 * time.Second), Kind: "migration",
	}
	h.report(h.addGuest(4, "moved"), moved)

	indep := &report.Report{
		Version: report.Version, AgentVersion: "0.4.0", Mode: "independent", Counter: "tsc", State: "warm-up",
		ErrorBoundNs: 310_000, MaxErrorNs: 2_400_000, UpdatedUnixNs: unixNs(-time.Second), ReportedUnixNs: unixNs(-time.Second),
	}
	h.report(h.addGuest(5, "indep"), indep)
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(want, []byte(got)) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", name, got, want)
	}
}

// xlRun runs xlclock in this process: its output (stdout and stderr) and
// the command's error.
func xlRun(args ...string) (string, error) {
	var out bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &out
	err := app.Run(append([]string{"xlclock"}, args...))
	return out.String(), err
}
