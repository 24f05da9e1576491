package hostclock

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
)

// A single server that is wrong from the start cannot be caught by
// agreement: after a restart, its time 5 s away from the state file's clock
// is refused (nothing new published, the log and status say why) unless
// allow_initial_step is set. With no state file, a synchronised system
// clock is the prior.
func TestDaemonRefusesInitialStep(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs the daemon four times")
	}
	dir := t.TempDir()
	ctr := simCounter(t, dir, 7)
	good := startServers(t, []serverSpec{{}})
	cfg := testConfig(t, dir, good.addrs)
	r := startDaemon(t, cfg, Options{Counter: ctr})
	// The state file's clock is a prior only once it was synchronised: 22
	// stamps were not always enough on a loaded machine (a CI rehearsal).
	waitFor(t, 60*time.Second, "a first synchronised clock", func() bool {
		if !counted(r.d, 22)() {
			return false
		}
		last := r.d.Publisher().Last()
		return last != nil && last.State != clockdata.StateUnsynchronised && last.State != clockdata.StateUnknown
	})
	r.stop()
	first := r.d.Publisher().Last()

	// The same host restarts against one server 5 s off.
	bad := startServers(t, []serverSpec{{offset: 5 * time.Second}})
	bad.truth = good.truth
	cfg.Servers = nil
	if err := cfg.Set("server", bad.addrs[0]); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	r2 := startDaemon(t, cfg, Options{Counter: ctr, Log: zap.New(core)})
	waitFor(t, 20*time.Second, "the wrong server to count", func() bool {
		var doc StatusDoc
		r2.d.Engine().Snapshot(&doc)
		return doc.Servers[0].Stamps >= 22
	})
	st := r2.d.Status()
	if g := r2.d.Publisher().Last().Generation; g != first.Generation {
		t.Errorf("a clock 5 s off was published: generation %d → %d", first.Generation, g)
	}
	if !strings.Contains(st.SelectionReason, "initial step refused") || !strings.Contains(st.SelectionReason, "state file's clock") {
		t.Errorf("status reason %q", st.SelectionReason)
	}
	refused := logs.FilterMessageSnippet("initial step refused").All()
	if len(refused) != 1 {
		t.Errorf("%d refusal log lines, want 1", len(refused))
	} else {
		t.Logf("logged: %s %v", refused[0].Message, refused[0].ContextMap())
	}
	// The old clock is still within its (growing) bound of the truth.
	off, slack, n := pageOffset(t, cfg.Page, ctr, good.now)
	if off > float64(n.MaxErrorNs)*1e-9+slack || off < -float64(n.MaxErrorNs)*1e-9-slack {
		t.Errorf("held clock %.6f s off, max error %d ns", off, n.MaxErrorNs)
	}
	r2.stop()

	// The operator allows it: the step happens, with a new marker.
	cfg.AllowInitialStep = true
	r3 := startDaemon(t, cfg, Options{Counter: ctr})
	waitFor(t, 20*time.Second, "the allowed step", func() bool {
		l := r3.d.Publisher().Last()
		return l.Generation > first.Generation
	})
	if l := r3.d.Publisher().Last(); l.DisruptionMarker == first.DisruptionMarker {
		t.Error("a 5 s step kept the disruption marker")
	}
	r3.stop()

	// No state file, but a synchronised system clock at the true time.
	cfg.AllowInitialStep = false
	cfg.State = ""
	sys := func() (bintime.Time, time.Duration, bool) { return good.now(), 10 * time.Millisecond, true }
	r4 := startDaemon(t, cfg, Options{Counter: ctr, SystemClock: sys})
	waitFor(t, 20*time.Second, "the wrong server to count", func() bool {
		var doc StatusDoc
		r4.d.Engine().Snapshot(&doc)
		return doc.Servers[0].Stamps >= 22
	})
	if l := r4.d.Publisher().Last(); l != nil {
		t.Errorf("published against a synchronised system clock 5 s away: %+v", l)
	}
	if st := r4.d.Status(); !strings.Contains(st.SelectionReason, "synchronised system clock") {
		t.Errorf("status reason %q", st.SelectionReason)
	}
}
