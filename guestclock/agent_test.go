package guestclock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/guestclock/clockbound"
	"github.com/xenradclock/xenradclock/guestclock/guesttest"
	"github.com/xenradclock/xenradclock/guestclock/report"
	"github.com/xenradclock/xenradclock/guestclock/sink"
	"github.com/xenradclock/xenradclock/xenstore"
)

type agentEnv struct {
	host  *guesttest.Host
	agent *Agent
	page  *clockdata.Page
	sim   *counter.Simulated
	logs  *observer.ObservedLogs
	stop  func()
}

// startAgent runs an agent in this process as domain 5 of a simulated
// host, at a 50 ms tick.
func startAgent(t *testing.T, hc guesttest.HostConfig, sinks ...sink.Sink) *agentEnv {
	t.Helper()
	return startAgentTick(t, hc, 50*time.Millisecond, sinks...)
}

// startAgentTick is startAgent at the given tick.
func startAgentTick(t *testing.T, hc guesttest.HostConfig, tick time.Duration, sinks ...sink.Sink) *agentEnv {
	t.Helper()
	dir := t.TempDir()
	h, err := guesttest.NewHost(dir, hc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	guestCounter := filepath.Join(dir, "guest.counter")
	if err := counter.MigrateSim(guestCounter, h.CounterPath); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "guest.xs")
	if err := h.ListenGuest(5, sock, "vm5"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	xs, err := xenstore.DialSocket(ctx, sock, xenstore.WithBackoff(10*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := counter.OpenSimulated(guestCounter)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	cfg := Default()
	cfg.Page, cfg.Mode, cfg.Tick, cfg.MaxDisruptedHold = filepath.Join(dir, "clock"), "dependent", tick, 3*time.Second
	a, err := New(cfg, Options{Log: zap.New(core), Counter: sim, Xenstore: xs, Sinks: sinks})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	p, err := clockdata.OpenPage(cfg.Page)
	if err != nil {
		t.Fatal(err)
	}
	env := &agentEnv{host: h, agent: a, page: p, sim: sim, logs: logs}
	env.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
		xs.Close()
		p.Close()
		sim.Close()
	}
	t.Cleanup(env.stop)
	return env
}

// read reads the page; an unpublished page reads as the zero Now.
func (e *agentEnv) read(t *testing.T) clockdata.Now {
	t.Helper()
	n, err := e.page.Now(e.sim)
	if err != nil && !errors.Is(err, clockdata.ErrUninitialised) {
		t.Fatalf("page read: %v", err)
	}
	return n
}

// waitFor polls cond every 10 ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *agentEnv) waitGeneration(t *testing.T, gen uint64) {
	t.Helper()
	waitFor(t, 5*time.Second, "the page to serve the published generation", func() bool {
		r, f, _, err := e.page.RecordFlags()
		return err == nil && !f.Disrupted && r.Generation >= gen
	})
}

func hostA() guesttest.HostConfig {
	return guesttest.HostConfig{Name: "hostA", Sim: counter.SimHostConfig{HostID: 0xa, NominalHz: 1e9, PPM: 12, Offset: 7e12},
		OffsetErrNs: 150_000, MaxErrorNs: 1_000_000, GrowthPsPerS: 5_000_000}
}

// TestGarbageRefused: every kind of bad clock node is refused with a log
// line naming the reason, and the page keeps serving the previous good
// record, with bounds growing with its age.
func TestGarbageRefused(t *testing.T) {
	e := startAgent(t, hostA())
	ctx := context.Background()
	if _, err := e.host.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	good, err := e.host.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.waitGeneration(t, good.Generation)
	n0 := e.read(t)
	if n0.Status != clockdata.ReadFresh || n0.Flags.Mode != clockdata.ModeDependent {
		t.Fatalf("first read: %+v", n0)
	}
	text := func(mod func(r *clockdata.Record)) []byte {
		r, err := e.host.Next()
		if err != nil {
			t.Fatal(err)
		}
		mod(&r)
		b, err := r.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	goodText, _ := good.MarshalText()
	cases := []struct {
		name   string
		value  []byte
		perms  xenstore.Perms
		reason string
	}{
		{"wrong version", append([]byte("v=2"), goodText[3:]...), guesttest.GuestReadable, "version"},
		{"truncated", goodText[:len(goodText)/2], guesttest.GuestReadable, "truncated"},
		{"absurd period", bytes.Replace(text(func(*clockdata.Record) {}), []byte("hz=1000000000"), []byte("hz=3000000000"), 1), guesttest.GuestReadable, "nominal"},
		{"generation backwards", text(func(r *clockdata.Record) { r.Generation = good.Generation - 1 }), guesttest.GuestReadable, "generation"},
		{"guest-writable node", text(func(*clockdata.Record) {}), xenstore.Perms{{Domid: 0, Access: xenstore.AccessBoth}}, "writable"},
		{"guest-owned node", text(func(*clockdata.Record) {}), xenstore.Perms{{Domid: 5, Access: xenstore.AccessRead}}, "owned by domain 5"},
		{"host identity not matching the counter", text(func(r *clockdata.Record) { r.HostID[0] ^= 0xff }), guesttest.GuestReadable, "host identity"},
		{"another timeline", text(func(r *clockdata.Record) { r.CounterIdentity ^= 1 }), guesttest.GuestReadable, "timeline"},
	}
	last := n0
	for _, c := range cases {
		before := e.logs.FilterMessageSnippet("refused").Len()
		if err := e.host.WriteRaw(ctx, c.value, c.perms); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 3*time.Second, c.name+" refused", func() bool { return e.logs.FilterMessageSnippet("refused").Len() > before })
		entry := e.logs.FilterMessageSnippet("refused").All()[before]
		reason := entry.ContextMap()["error"]
		if s, _ := reason.(string); !strings.Contains(s, c.reason) {
			t.Errorf("%s: refusal says %q, want it to mention %q", c.name, s, c.reason)
		}
		n := e.read(t)
		if n.Generation != good.Generation || !n.Status.HasTime() || n.Flags.Disrupted {
			t.Errorf("%s: page now %+v, want generation %d still served", c.name, n, good.Generation)
		}
		if n.MaxErrorNs < last.MaxErrorNs || n.Time.Cmp(last.Time) < 0 {
			t.Errorf("%s: bound %d after %d, or time back", c.name, n.MaxErrorNs, last.MaxErrorNs)
		}
		t.Logf("%-40s refused: %v", c.name, reason)
		last = n
	}
	if last.MaxErrorNs <= n0.MaxErrorNs {
		t.Errorf("bounds did not grow while garbage was refused: %d then %d", n0.MaxErrorNs, last.MaxErrorNs)
	}
	next, err := e.host.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.waitGeneration(t, next.Generation)
	if st := e.agent.Stats(); st.Refused < uint64(len(cases)) {
		t.Errorf("refused %d, want >= %d", st.Refused, len(cases))
	}
}

// TestStaleAndRestart: dom0d stops, the page goes late (state free-running,
// bounds growing) then void; dom0d restarts without its state, 200 µs
// behind, with a new marker: the guest serves it again without its time or
// earliest bound going back.
func TestStaleAndRestart(t *testing.T) {
	hc := hostA()
	hc.Interval, hc.NextAfter, hc.VoidAfter = 100*time.Millisecond, 300*time.Millisecond, 1500*time.Millisecond
	e := startAgent(t, hc)
	e.host.Start()
	waitFor(t, 5*time.Second, "a fresh clock", func() bool { return e.read(t).Status == clockdata.ReadFresh })
	e.host.Stop()
	n := e.read(t)
	var sawLate bool
	waitFor(t, 5*time.Second, "void", func() bool {
		m := e.read(t)
		if m.Time.Cmp(n.Time) < 0 || m.Earliest.Cmp(n.Earliest) < 0 || m.MaxErrorNs < n.MaxErrorNs {
			t.Fatalf("stale clock went back or its bound shrank: %+v after %+v", m, n)
		}
		if m.Status == clockdata.ReadLate {
			sawLate = sawLate || m.State == clockdata.StateFreeRunning
		}
		n = m
		return m.Status == clockdata.ReadVoid
	})
	if !sawLate {
		t.Error("never saw late and free-running before void")
	}
	if e.logs.FilterMessageSnippet("free-running").Len() == 0 {
		t.Error("no log line for the free-running clock")
	}
	if st := ReadPageStatus(e.page.Path(), e.sim); st.Exit != ExitVoid || st.Status != "void" {
		t.Errorf("status of a void page: %+v", st)
	}
	// dom0d restarted without state: a new marker, the clock 200 µs lower.
	e.host.Forget()
	e.host.SetOffset(hc.OffsetErrNs - 200_000)
	e.host.Start()
	defer e.host.Stop()
	waitFor(t, 5*time.Second, "fresh again", func() bool {
		m := e.read(t)
		if m.Status.HasTime() && (m.Time.Cmp(n.Time) < 0 || m.Earliest.Cmp(n.Earliest) < 0) {
			t.Fatalf("restart moved time back: %+v after %+v", m, n)
		}
		if m.Status.HasTime() {
			n = m
		}
		return m.Status == clockdata.ReadFresh
	})
	t.Logf("recovered: verdict %v, max error %d ns", e.agent.Stats().LastVerdict, n.MaxErrorNs)
}

// TestAgentFeedsClockBound: the agent's samples reach a ClockBound
// segment: synchronised while the page serves, with a bound no tighter
// than the page's max error; disrupted when the page is.
func TestAgentFeedsClockBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shm0")
	w, err := clockbound.New(clockbound.Config{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := hostA()
	hc.Interval = 100 * time.Millisecond
	e := startAgent(t, hc, w)
	e.host.Start()
	defer e.host.Stop()
	waitFor(t, 5*time.Second, "a fresh clock", func() bool { return e.read(t).Status == clockdata.ReadFresh })
	r, err := clockbound.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var seg clockbound.Segment
	waitFor(t, 3*time.Second, "a synchronised segment", func() bool {
		seg, err = r.Snapshot()
		return err == nil && seg.Status == clockbound.StatusSynchronized
	})
	if n := e.read(t); uint64(seg.BoundNs) < n.MaxErrorNs-n.MaxErrorNs/100 {
		t.Errorf("segment bound %d ns, page max error %d ns", seg.BoundNs, n.MaxErrorNs)
	}
	// The guest moves to another timeline: page and segment say disrupted.
	other := filepath.Join(t.TempDir(), "other.counter")
	if err := counter.CreateSimHost(other, counter.SimHostConfig{HostID: 0xdead, NominalHz: 1e9, Offset: 1}); err != nil {
		t.Fatal(err)
	}
	if err := counter.MigrateSim(e.sim.Path(), other); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "a disrupted segment", func() bool {
		seg, err = r.Snapshot()
		return err == nil && seg.Status == clockbound.StatusDisrupted
	})
	if _, f, _, _ := e.page.RecordFlags(); !f.Disrupted {
		t.Error("page not marked disrupted after the timeline changed")
	}
}

// TestBrokenPromiseDisrupted: dom0d restarts onto a clock 5 ms lower with
// 1 ms bounds (the two promises cannot both hold): readers are told
// "disrupted" rather than given a time that went back, until
// max_disrupted_hold (3 s here) has passed; then the new clock is served
// with its new disruption marker and the agent says so at error level.
func TestBrokenPromiseDisrupted(t *testing.T) {
	hc := hostA()
	hc.Interval = 100 * time.Millisecond
	e := startAgent(t, hc)
	e.host.Start()
	waitFor(t, 5*time.Second, "a fresh clock", func() bool { return e.read(t).Status == clockdata.ReadFresh })
	before := e.read(t)
	e.host.Stop()
	e.host.Forget()
	e.host.SetOffset(hc.OffsetErrNs - 5_000_000)
	e.host.Start()
	defer e.host.Stop()
	var disruptedFrom, servedAt time.Time
	last := before
	waitFor(t, 10*time.Second, "the new clock served", func() bool {
		n := e.read(t)
		switch {
		case n.Status == clockdata.ReadDisrupted:
			if disruptedFrom.IsZero() {
				disruptedFrom = time.Now()
			}
			return false
		case n.Marker == before.Marker:
			if n.Time.Cmp(last.Time) < 0 || n.Earliest.Cmp(last.Earliest) < 0 {
				t.Fatalf("time went back before the disruption: %+v after %+v", n, last)
			}
			last = n
			return false
		}
		servedAt = time.Now()
		return n.Status.HasTime()
	})
	if disruptedFrom.IsZero() {
		t.Fatal("readers were never told \"disrupted\"")
	}
	held := servedAt.Sub(disruptedFrom)
	if held < 2500*time.Millisecond {
		t.Errorf("disrupted for %v, want about max_disrupted_hold (3 s)", held)
	}
	if e.logs.FilterMessageSnippet("serving a clock that went back").Len() == 0 {
		t.Error("no error line for serving a clock that went back")
	}
	t.Logf("a 5 ms step back with 1 ms bounds: readers told \"disrupted\" for %v, then the new marker served", held.Round(time.Millisecond))
}

// readReport reads the agent's report as Dom0 does.
func (e *agentEnv) readReport(t *testing.T) report.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := e.host.Dom0.Read(ctx, "/local/domain/5/"+report.Node)
	if err != nil {
		return report.Report{}
	}
	r, err := report.Parse(b)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	return r
}

// TestReportOnTake: a record is reported in the wake-up that took it, not
// at the next tick: at a 10 s tick (and a 5 s heartbeat) the report still
// follows each record a second within a fraction of a second.
func TestReportOnTake(t *testing.T) {
	if testing.Short() {
		t.Skip("4 s of records a second")
	}
	e := startAgentTick(t, hostA(), 10*time.Second)
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		time.Sleep(reportEvery + 50*time.Millisecond) // after the last report (the first: at start)
		rec, err := e.host.Publish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 600*time.Millisecond, fmt.Sprintf("the report of generation %d", rec.Generation), func() bool {
			return e.readReport(t).Generation == rec.Generation
		})
	}
}

// TestTickDeferredByRecords: records at the tick's cadence feed the sinks
// and push the tick back, so the tick does not wake the agent as well.
func TestTickDeferredByRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("3 s of records")
	}
	const tick = 300 * time.Millisecond
	e := startAgentTick(t, hostA(), tick)
	ctx := context.Background()
	if _, err := e.host.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(tick / 2)
	e.agent.mu.Lock()
	ticks0 := e.agent.ticks
	e.agent.mu.Unlock()
	const records = 10
	for i := 0; i < records; i++ {
		time.Sleep(tick)
		if _, err := e.host.Publish(ctx); err != nil {
			t.Fatal(err)
		}
	}
	e.agent.mu.Lock()
	ticks := e.agent.ticks - ticks0
	e.agent.mu.Unlock()
	if ticks > records/2 {
		t.Errorf("%d ticks during %d records at the tick's cadence, want under %d", ticks, records, records/2)
	}
	time.Sleep(3 * tick) // no record: the tick resumes
	e.agent.mu.Lock()
	idle := e.agent.ticks - ticks0 - ticks
	e.agent.mu.Unlock()
	if idle < 1 {
		t.Errorf("no tick in %v without records", 3*tick)
	}
}

// TestSecondEventSameRecord: an event that leaves the record as taken (its
// permissions set again) is not read as a new record, so no refusal of a
// stale generation is counted or logged.
func TestSecondEventSameRecord(t *testing.T) {
	e := startAgent(t, hostA())
	ctx := context.Background()
	rec, err := e.host.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.waitGeneration(t, rec.Generation)
	for i := 0; i < 3; i++ {
		if err := e.host.Dom0.SetPerms(ctx, guesttest.ClockNode, guesttest.GuestReadable); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := e.agent.Stats().Refused; n != 0 {
		t.Errorf("%d refusals after events that left the record as it was", n)
	}
	if logs := e.logs.FilterMessageSnippet("refused").All(); len(logs) != 0 {
		t.Errorf("refusal logged: %v", logs[0].ContextMap())
	}
}
