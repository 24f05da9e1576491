package hostclock

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/ntp"
)

// Source selection against lying servers, on real UDP servers on loopback:
// honest servers serve the true time through an emulated 3 ms path, liars
// serve their own clock (offset, drifting) with no delay (the best path)
// and claim a tight bound. The published clock, read through the shared
// page, must be within its max_error of the truth at every sample, from the
// daemon's start on.

// servedClock is one test server's clock: the truth, moved by its own offset
// and rate, with the root dispersion it announces.
type servedClock struct {
	clk     ntp.SkewedClock
	extraNs atomic.Int64  // a jump made while running
	maxErr  time.Duration // announced bound (0: the SkewedClock's)
}

func (s *servedClock) reading() ntp.ServerReading {
	r := s.clk.Reading()
	if x := s.extraNs.Load(); x != 0 {
		r.Time = r.Time.Add(bintime.FromNanos(x))
		r.RefTime = r.Time
	}
	if s.maxErr > 0 {
		r.MaxError = s.maxErr
	}
	return r
}

// serverSpec is one test server: its error against the truth and its path.
type serverSpec struct {
	offset time.Duration
	ppm    float64
	maxErr time.Duration
	path   pathDelay
}

// honestPath is a 3 ms round trip with some jitter.
var honestPath = pathDelay{base: 1500 * time.Microsecond, jitter: 200 * time.Microsecond}

func honest() serverSpec { return serverSpec{path: honestPath} }

// liar serves the truth offset by off, drifting by ppm, with no delay and a
// 20 µs claimed bound.
func liar(off time.Duration, ppm float64) serverSpec {
	return serverSpec{offset: off, ppm: ppm, maxErr: 20 * time.Microsecond}
}

// emulatedDelay is an ntp.ServerConfig.Delay for path p (nil: plain
// loopback, kernel timestamps on both sides).
func emulatedDelay(p pathDelay, seed uint64) func() (time.Duration, time.Duration) {
	if p == (pathDelay{}) {
		return nil
	}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 2))
	return func() (time.Duration, time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		j1 := time.Duration(rng.Int64N(int64(p.jitter) + 1))
		j2 := time.Duration(rng.Int64N(int64(p.jitter) + 1))
		return p.base + p.asym + j1, p.base + j2
	}
}

type testServers struct {
	truth  *ntp.SkewedClock
	clocks []*servedClock
	addrs  []string
}

func (s *testServers) now() bintime.Time {
	r, err := s.truth.Counter.Read()
	if err != nil {
		panic(err)
	}
	return s.truth.At(r.Count)
}

func startServers(t *testing.T, specs []serverSpec) *testServers {
	t.Helper()
	mono, err := counter.Open("monotonic-raw")
	if err != nil {
		t.Fatal(err)
	}
	truth, err := ntp.NewSkewedClock(mono, 1300*time.Millisecond, 20)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &testServers{truth: truth}
	for i, sp := range specs {
		sc := &servedClock{clk: *truth, maxErr: sp.maxErr}
		sc.clk.Offset += sp.offset
		sc.clk.SkewPPM += sp.ppm
		srv, err := ntp.NewServer(ntp.ServerConfig{Addr: "127.0.0.1:0", Time: sc.reading, Delay: emulatedDelay(sp.path, uint64(i+1))})
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ctx)
		t.Cleanup(func() { srv.Close() })
		s.clocks = append(s.clocks, sc)
		s.addrs = append(s.addrs, srv.Addr().String())
	}
	return s
}

// boundWatch samples the published clock against the truth.
type boundWatch struct {
	samples, violations int
	worst               float64 // largest |offset| / max_error
	states              map[clockdata.ClockState]int
}

// sample reads the page once, if a record exists, and checks the bound.
func (w *boundWatch) sample(t *testing.T, d *Daemon, page string, ctr counter.Counter, truth func() bintime.Time) {
	t.Helper()
	if d.Publisher().Last() == nil {
		return
	}
	off, slack, n := pageOffset(t, page, ctr, truth)
	maxErr := float64(n.MaxErrorNs)*1e-9 + slack
	w.samples++
	if w.states == nil {
		w.states = map[clockdata.ClockState]int{}
	}
	w.states[n.State]++
	if r := math.Abs(off) / maxErr; r > w.worst {
		w.worst = r
	}
	if math.Abs(off) > maxErr {
		w.violations++
		if w.violations <= 5 {
			t.Errorf("published clock %.6f s from the truth, outside its max error %.6f s (state %v, generation %d)",
				off, maxErr, n.State, n.Generation)
		}
	}
}

// watchFor samples every 50 ms for dur.
func (w *boundWatch) watchFor(t *testing.T, dur time.Duration, d *Daemon, page string, ctr counter.Counter, truth func() bintime.Time) {
	t.Helper()
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		w.sample(t, d, page, ctr, truth)
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDaemonFalsetickers runs the daemon against honest servers and liars;
// liars far enough off to be told apart are marked falsetickers and never
// preferred; a liar inside the honest servers' bounds (drifting) cannot be
// told apart, but the published max_error, covering the whole interval on
// which a majority agrees, still contains the truth.
func TestDaemonFalsetickers(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs the daemon against five sets of servers")
	}
	const tenYears = 10 * 365 * 24 * time.Hour
	cases := []struct {
		name   string
		specs  []serverSpec
		liars  []int // indices of the detectable liars
		agreed int   // truechimers expected at the end
	}{
		{"3 honest + liar at +50 ms", []serverSpec{honest(), liar(50*time.Millisecond, 0), honest(), honest()}, []int{1}, 3},
		{"3 honest + liar at +10 years", []serverSpec{liar(tenYears, 0), honest(), honest(), honest()}, []int{0}, 3},
		{"1 liar among 3", []serverSpec{honest(), liar(-50*time.Millisecond, 0), honest()}, []int{1}, 2},
		{"2 colluding liars among 5", []serverSpec{liar(50*time.Millisecond, 0), honest(), liar(50*time.Millisecond, 0), honest(), honest()}, []int{0, 2}, 3},
		{"liar drifting at 10 ppm among 4", []serverSpec{honest(), honest(), liar(200*time.Microsecond, 10), honest()}, nil, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ctr := simCounter(t, dir, 12)
			srv := startServers(t, tc.specs)
			cfg := testConfig(t, dir, srv.addrs)
			r := startDaemon(t, cfg, Options{Counter: ctr})
			var w boundWatch
			deadline := time.Now().Add(25 * time.Second)
			for !counted(r.d, 22)() && time.Now().Before(deadline) {
				w.sample(t, r.d, cfg.Page, ctr, srv.now)
				time.Sleep(50 * time.Millisecond)
			}
			w.watchFor(t, 8*time.Second, r.d, cfg.Page, ctr, srv.now)
			st := r.d.Status()
			t.Logf("%d samples, worst |offset|/max_error %.3f, states %v; preferred %s, truechimers %d, clock %s, max error %s",
				w.samples, w.worst, w.states, st.Preferred, st.Truechimers, st.Clock.State, fmtSeconds(st.Clock.MaxError))
			if w.samples < 50 {
				t.Errorf("only %d samples of a published clock", w.samples)
			}
			for _, i := range tc.liars {
				if st.Preferred == srv.addrs[i] {
					t.Errorf("the liar %s is preferred", srv.addrs[i])
				}
				if !st.Servers[i].Falseticker {
					t.Errorf("the liar %s is not marked a falseticker", srv.addrs[i])
				}
			}
			for i, sd := range st.Servers {
				isLiar := false
				for _, j := range tc.liars {
					isLiar = isLiar || i == j
				}
				if !isLiar && sd.Falseticker {
					t.Errorf("honest server %s marked a falseticker", sd.Address)
				}
			}
			// Honest servers on a 3 ms path take more than these seconds to
			// bring the rate bound under the estimator's threshold: the state
			// may still be unsynchronised, but it is the agreed clock's.
			if st.Truechimers != tc.agreed || !st.Clock.Published || st.Preferred == "" ||
				st.Clock.State == clockdata.StateServerFault.String() || st.Clock.State == clockdata.StateFreeRunning.String() {
				t.Errorf("truechimers %d (want %d), preferred %q, clock published %v in state %s",
					st.Truechimers, tc.agreed, st.Preferred, st.Clock.Published, st.Clock.State)
			}
		})
	}
}

// TestDaemonTwoServersDisagree: with two servers 50 ms apart neither is
// trusted: no clock is published at all (there never was an agreed one),
// both are falsetickers, and the status says there is no majority.
func TestDaemonTwoServersDisagree(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs the daemon for a few seconds")
	}
	dir := t.TempDir()
	ctr := simCounter(t, dir, 12)
	srv := startServers(t, []serverSpec{honest(), liar(50*time.Millisecond, 0)})
	cfg := testConfig(t, dir, srv.addrs)
	r := startDaemon(t, cfg, Options{Counter: ctr})
	var w boundWatch
	w.watchFor(t, 6*time.Second, r.d, cfg.Page, ctr, srv.now)
	st := r.d.Status()
	t.Logf("%d samples, states %v; status: preferred %q, truechimers %d, reason %q, clock %s",
		w.samples, w.states, st.Preferred, st.Truechimers, st.SelectionReason, st.Clock.State)
	if l := r.d.Publisher().Last(); l != nil {
		t.Errorf("a clock was published from two servers that never agreed: %+v", l)
	}
	for state, n := range w.states {
		if state != clockdata.StateUnsynchronised && state != clockdata.StateServerFault {
			t.Errorf("%d samples of a clock in state %v from two servers that disagree", n, state)
		}
	}
	if st.Truechimers != 0 || st.Preferred != "" || !st.Servers[0].Falseticker || !st.Servers[1].Falseticker {
		t.Errorf("status: preferred %q, truechimers %d, falsetickers %v %v", st.Preferred, st.Truechimers,
			st.Servers[0].Falseticker, st.Servers[1].Falseticker)
	}
	if st.Servers[0].Stamps < 10 || st.Servers[1].Stamps < 10 {
		t.Errorf("servers polled too little: %d and %d stamps", st.Servers[0].Stamps, st.Servers[1].Stamps)
	}
}

// TestDaemonHoldsAgreedClockWhenServersSplit: two servers agree, then one
// jumps 50 ms (its estimator accepts the step after a 2 s suspect hold
// here instead of 30 min). Without a majority the last agreed clock is
// published once more as server-fault and then only ages: read through the
// page it stays within its growing max_error of the truth.
func TestDaemonHoldsAgreedClockWhenServersSplit(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs the daemon for a few seconds")
	}
	dir := t.TempDir()
	ctr := simCounter(t, dir, 12)
	srv := startServers(t, []serverSpec{{}, {path: pathDelay{base: 300 * time.Microsecond, jitter: 50 * time.Microsecond}}})
	cfg := testConfig(t, dir, srv.addrs)
	base := clocksync.DefaultConfig()
	base.SuspectHold = 2
	r := startDaemon(t, cfg, Options{Counter: ctr, Factory: &ClocksyncFactory{Base: &base}})
	var w boundWatch
	deadline := time.Now().Add(25 * time.Second)
	synced := func() bool {
		l := r.d.Publisher().Last()
		return counted(r.d, 22)() && l.State == clockdata.StateSynchronised
	}
	for !synced() && time.Now().Before(deadline) {
		w.sample(t, r.d, cfg.Page, ctr, srv.now)
		time.Sleep(50 * time.Millisecond)
	}
	agreed := r.d.Publisher().Last()
	if agreed == nil || agreed.State != clockdata.StateSynchronised || r.d.Status().Truechimers != 2 {
		t.Fatalf("no agreed clock: %+v", r.d.Status())
	}
	srv.clocks[1].extraNs.Store(int64(50 * time.Millisecond))
	deadline = time.Now().Add(20 * time.Second)
	for r.d.Publisher().Last().State != clockdata.StateServerFault && time.Now().Before(deadline) {
		w.sample(t, r.d, cfg.Page, ctr, srv.now)
		time.Sleep(50 * time.Millisecond)
	}
	held := r.d.Publisher().Last()
	if held.State != clockdata.StateServerFault {
		t.Fatalf("the servers split but the clock is %v (status %+v)", held.State, r.d.Status())
	}
	w.watchFor(t, 3*time.Second, r.d, cfg.Page, ctr, srv.now)
	st := r.d.Status()
	t.Logf("%d samples, worst |offset|/max_error %.3f, states %v; reason %q", w.samples, w.worst, w.states, st.SelectionReason)
	// While the servers stay split, only the held clock is served. The
	// jumped server's estimator may end the split within the watch: by
	// declaring its own estimate unusable (it then abstains, and the other
	// server stands alone, as TestEngineInsaneEstimate requires) or by
	// absorbing the step until the intervals overlap again. Either is
	// reported; the bound was checked at every sample regardless.
	if st.Truechimers != 0 {
		t.Logf("the split ended within the watch (truechimers %d, reason %q)", st.Truechimers, st.SelectionReason)
		return
	}
	if l := r.d.Publisher().Last(); l.Generation != held.Generation || l.DisruptionMarker != agreed.DisruptionMarker {
		t.Errorf("after the split: generation %d → %d, marker %x → %x; want the held clock only, continuous",
			held.Generation, l.Generation, agreed.DisruptionMarker, l.DisruptionMarker)
	}
	if st.Preferred != "" || !strings.Contains(st.SelectionReason, "no majority") {
		t.Errorf("status: preferred %q, reason %q", st.Preferred, st.SelectionReason)
	}
}
