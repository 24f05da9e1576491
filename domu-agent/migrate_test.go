package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/guestclock/guesttest"
	"github.com/xenradclock/xenradclock/guestclock/report"
)

// twoHosts: A publishes 200 µs ahead of the truth (bound 1 ms), B 250 µs
// behind (bound 800 µs), on counters of different rates and offsets, as
// two hosts whose paths to their servers are asymmetric in opposite ways:
// migrating A -> B is a negative step of about -450 µs.
func twoHosts(t *testing.T, dir string) (*guesttest.Host, *guesttest.Host) {
	t.Helper()
	a, err := guesttest.NewHost(dir, guesttest.HostConfig{Name: "hostA",
		Sim:         counter.SimHostConfig{HostID: 0xa, NominalHz: 1e9, PPM: 15, Offset: 5e12},
		OffsetErrNs: 200_000, MaxErrorNs: 1_000_000, GrowthPsPerS: 5_000_000, Interval: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	b, err := guesttest.NewHost(dir, guesttest.HostConfig{Name: "hostB",
		Sim:         counter.SimHostConfig{HostID: 0xb, NominalHz: 2.5e9, PPM: -20, Offset: 9e12},
		OffsetErrNs: -250_000, MaxErrorNs: 800_000, GrowthPsPerS: 5_000_000, Interval: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return a, b
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logLines decodes the agent's JSON log.
func logLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestMigrationWithReaders: a guest agent (a real process, domain 5 of
// host A through the embedded Xenstore's domain socket) is migrated to host
// B (domain 7) mid-run while three reader processes hammer its page. No
// reader gets a time outside the published bounds, none sees time or its
// earliest bound go back across the negative step, readers racing the
// migration get "disrupted"; the agent serves B's clock after one Xenstore
// round trip following the reconnection, and logs and reports the step
// and pause.
func TestMigrationWithReaders(t *testing.T) {
	dir := t.TempDir()
	hA, hB := twoHosts(t, dir)
	guestCounter := filepath.Join(dir, "guest.counter")
	if err := counter.MigrateSim(guestCounter, hA.CounterPath); err != nil {
		t.Fatal(err)
	}
	sockA, sockB, link := filepath.Join(dir, "a-dom5.xs"), filepath.Join(dir, "b-dom7.xs"), filepath.Join(dir, "guest.xs")
	if err := hA.ListenGuest(5, sockA, "vm1"); err != nil {
		t.Fatal(err)
	}
	if err := hB.ListenGuest(7, sockB, "vm1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sockA, link); err != nil {
		t.Fatal(err)
	}
	hA.Start()
	hB.Start()
	page, logPath := filepath.Join(dir, "clock"), filepath.Join(dir, "agent.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	agent := selfCmd(t, "agent", []string{counter.SimulatedEnv + "=" + guestCounter},
		"run", "--xenstore", link, "--page", page, "--counter", "simulated", "--mode", "dependent", "--tick", "100ms")
	agent.Stderr = logf
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer agent.Process.Kill() //nolint:errcheck // already stopped on the normal path
	sim, err := counter.OpenSimulated(guestCounter)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	waitUntil(t, 10*time.Second, "the agent to serve host A", func() bool {
		st := readStatus(page, sim)
		return st.Exit == 0
	})
	stopReaders := startReaders(t, 3, page, guestCounter)
	time.Sleep(time.Second)

	// The toolstack: suspend request, then the switch.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hA.Dom0.Write(ctx, "/local/domain/5/control/shutdown", []byte("suspend")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 3*time.Second, "disruption imminent on the page", func() bool {
		_, f := pageFlags(page)
		return f.DisruptionImminent
	})
	time.Sleep(50 * time.Millisecond)
	t0 := time.Now()
	if err := counter.MigrateSim(guestCounter, hB.CounterPath); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sockB, link+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link+".new", link); err != nil {
		t.Fatal(err)
	}
	if err := hA.Server.ReleaseDomain(5); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the agent to serve host B", func() bool {
		r, f := pageFlags(page)
		return r.CounterIdentity == 0xb && !f.Disrupted
	})
	served := time.Since(t0)
	time.Sleep(1500 * time.Millisecond)
	sums := stopReaders()
	agent.Process.Signal(syscall.SIGTERM) //nolint:errcheck // checked by Wait
	if err := agent.Wait(); err != nil {
		t.Errorf("agent exit: %v", err)
	}

	var total readerSummary
	for i, s := range sums {
		t.Logf("reader %d: %d reads: %d fresh, %d late, %d void, %d disrupted (longest run %.1f ms), %d errors; %d outside bounds, %d backwards",
			i, s.Reads, s.Fresh, s.Late, s.Void, s.Disrupted, float64(s.MaxDisruptedRunNs)/1e6, s.Errors, s.Outside, s.Backwards)
		if s.FirstBad != "" {
			t.Errorf("reader %d: %s", i, s.FirstBad)
		}
		total.Reads += s.Reads
		total.Disrupted += s.Disrupted
		total.Outside += s.Outside
		total.Backwards += s.Backwards
		total.Fresh += s.Fresh
	}
	if total.Outside != 0 || total.Backwards != 0 {
		t.Errorf("%d reads outside the bounds, %d backwards", total.Outside, total.Backwards)
	}
	if total.Disrupted == 0 {
		t.Error("no reader raced the migration (no \"disrupted\" read)")
	}
	if total.Fresh == 0 {
		t.Error("no fresh read")
	}

	var mig map[string]any
	for _, l := range logLines(t, logPath) {
		if msg, _ := l["msg"].(string); strings.HasPrefix(msg, "migrated ") {
			mig = l
		}
	}
	if mig == nil {
		t.Fatalf("no migration line in the agent's log:\n%s", must(os.ReadFile(logPath)))
	}
	msg := mig["msg"].(string)
	if !strings.HasPrefix(msg, "migrated vm1 hostA -> hostB, disrupted for ") || !strings.Contains(msg, " ms, step ") {
		t.Errorf("migration line %q", msg)
	}
	step, reqs, trips := mig["step_ns"].(float64), mig["xenstore_requests"].(float64), mig["xenstore_round_trips"].(float64)
	t.Logf("agent: %q (pause %.1f ms, step bound ±%.0f µs, verdict %v)", msg, mig["pause_ns"].(float64)/1e6, mig["step_bound_ns"].(float64)/1e3, mig["verdict"])
	t.Logf("served host B %.1f ms after the counter switched; Xenstore after the reconnection: %.0f requests in %.0f round trip(s) (READ + GET_PERMS together)",
		float64(served)/1e6, reqs, trips)
	if trips != 1 || reqs != 2 {
		t.Errorf("serving again took %v requests in %v round trips, want 2 in 1", reqs, trips)
	}
	if testing.Verbose() {
		t.Logf("agent log:\n%s", must(os.ReadFile(logPath)))
	}
	if step > -300_000 || step < -600_000 { // -450 µs, ± the extrapolation across a loaded machine's pause
		t.Errorf("step %v ns, want about -450 µs (B's clock minus A's)", step)
	}

	// The report, read from the new host as Dom0's tools would.
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	b, err := hB.Dom0.Read(rctx, "/local/domain/7/"+report.Node)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := report.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != "dependent" || rep.LastMigration == nil || rep.LastMigration.ToHost != "hostB" || rep.LastMigration.StepNs != int64(step) {
		t.Errorf("report %+v (migration %+v)", rep, rep.LastMigration)
	}
}

func must(b []byte, _ error) []byte { return b }

func pageFlags(path string) (clockdata.Record, clockdata.PageFlags) {
	p, err := clockdata.OpenPage(path)
	if err != nil {
		return clockdata.Record{}, clockdata.PageFlags{}
	}
	defer p.Close()
	r, f, _, _ := p.RecordFlags()
	return r, f
}
