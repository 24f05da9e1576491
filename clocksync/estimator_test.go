package clocksync_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/clocksync/sim"
)

func TestConfigValidate(t *testing.T) {
	if err := clocksync.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := clocksync.DefaultConfig()
	c.PollPeriod = 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "PollPeriod") {
		t.Fatalf("err = %v", err)
	}
	c = clocksync.DefaultConfig()
	c.RateWander = math.NaN()
	if _, err := clocksync.New(c); err == nil || !strings.Contains(err.Error(), "RateWander") {
		t.Fatalf("err = %v", err)
	}
	for _, q := range []string{"poor", "good", "excellent"} {
		qq, err := clocksync.ParseTemperatureQuality(q)
		if err != nil || qq.String() != q {
			t.Fatal(q, err)
		}
		if err := clocksync.DefaultConfig().WithQuality(qq).Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := clocksync.ParseTemperatureQuality("tepid"); err == nil {
		t.Fatal("tepid accepted")
	}
}

func TestStatusString(t *testing.T) {
	s := clocksync.StatusWarmup | clocksync.StatusServerSuspect | clocksync.StatusRejected | 1<<29
	if got := s.String(); got != "warmup|server-suspect|rejected|0x20000000" {
		t.Fatal(got)
	}
	if clocksync.Status(0).String() != "ok" {
		t.Fatal("zero status")
	}
}

func TestFilterRejects(t *testing.T) {
	stamps, _ := lanStamps(t, 41, 600)
	e, _ := clocksync.New(clocksync.DefaultConfig())
	for _, s := range stamps[:20] {
		if r := e.Process(s); !r.Accepted {
			t.Fatalf("good stamp rejected: %s", r.Reason)
		}
	}
	before := e.Params()
	good := stamps[20]
	mod := func(f func(*clocksync.Stamp)) clocksync.Stamp { s := good; f(&s); return s }
	for _, c := range []struct {
		name string
		s    clocksync.Stamp
		want clocksync.Reason
	}{
		{"zero", mod(func(s *clocksync.Stamp) { s.Ta = 0 }), clocksync.ReasonZeroTimestamp},
		{"tf<ta", mod(func(s *clocksync.Stamp) { s.Tf = s.Ta - 1 }), clocksync.ReasonCounterOrder},
		{"te<tb", mod(func(s *clocksync.Stamp) { s.Te = s.Tb.Sub(bintime.FromNanos(1)) }), clocksync.ReasonServerTimeOrder},
		{"range", mod(func(s *clocksync.Stamp) { s.Tb.Sec = -5 }), clocksync.ReasonServerTimeRange},
		{"duplicate", stamps[19], clocksync.ReasonDuplicate},
		{"old", mod(func(s *clocksync.Stamp) { s.Ta, s.Tf = stamps[19].Ta-5, s.Tf-(s.Ta-stamps[19].Ta+5) }), clocksync.ReasonTaNotAfter},
		{"reordered", mod(func(s *clocksync.Stamp) { s.Ta, s.Tf = stamps[19].Ta+1, stamps[19].Tf-1 }), clocksync.ReasonTfNotAfter},
		{"tiny rtt", mod(func(s *clocksync.Stamp) { s.Tf = s.Ta + 100 }), clocksync.ReasonRTTTooSmall},
		{"li3", mod(func(s *clocksync.Stamp) { s.Side.Leap = 3 }), clocksync.ReasonUnsynchronised},
		{"stratum", mod(func(s *clocksync.Stamp) { s.Side.Stratum = 16 }), clocksync.ReasonStratum},
		{"hold", mod(func(s *clocksync.Stamp) { s.Te = s.Tb.Add(bintime.FromNanos(1e6)) }), clocksync.ReasonHoldExceedsRTT},
		{"rtt", mod(func(s *clocksync.Stamp) { s.Tf = s.Ta + 5e9 }), clocksync.ReasonRTTTooLarge},
	} {
		r := e.Process(c.s)
		if r.Accepted || r.Reason != c.want {
			t.Errorf("%s: accepted %v, reason %v, want %v", c.name, r.Accepted, r.Reason, c.want)
			continue
		}
		want := before
		want.Status |= clocksync.StatusRejected
		if r.Params != want {
			t.Errorf("%s: params changed on a rejected stamp", c.name)
		}
		if e.Params() != before {
			t.Errorf("%s: estimator params changed", c.name)
		}
		t.Logf("%s: %s", c.name, r.Detail())
	}
	if r := e.Process(good); !r.Accepted {
		t.Fatalf("good stamp after rejects: %s", r.Reason)
	}
}

// TestRejectLabelsBounded: a server that lies in ever new ways (a hold
// time longer than the RTT by a different amount each time, every invalid
// stratum) gives a fixed, small set of reasons, each with its figures in the
// detail. Before the reasons were an enum, each of these stamps was a new
// metric label.
func TestRejectLabelsBounded(t *testing.T) {
	stamps, _ := lanStamps(t, 41, 3000)
	e, _ := clocksync.New(clocksync.DefaultConfig())
	for _, s := range stamps[:20] {
		e.Process(s)
	}
	labels := map[string]int{}
	details := map[string]bool{}
	for i, s := range stamps[20:120] {
		if i%2 == 0 {
			s.Te = s.Tb.Add(bintime.FromNanos(int64(s.Tf-s.Ta)*1001/1000 + 1000 + int64(i)))
		} else {
			s.Side.Stratum = uint8(16 + i)
		}
		r := e.Process(s)
		if r.Accepted {
			t.Fatalf("lying stamp %d accepted", i)
		}
		labels[r.Reason.String()]++
		details[r.Detail()] = true
	}
	if len(labels) != 2 || labels["hold_exceeds_rtt"] != 50 || labels["bad_stratum"] != 50 {
		t.Errorf("labels %v, want hold_exceeds_rtt and bad_stratum 50 each", labels)
	}
	if len(details) != 100 {
		t.Errorf("%d distinct details for 100 distinct lies: figures lost", len(details))
	}
	for _, r := range clocksync.Reasons() {
		if n := r.String(); strings.HasPrefix(n, "reason_") || strings.ContainsAny(n, " 0123456789") {
			t.Errorf("reason %d has label %q", r, n)
		}
	}
}

func TestDeterministicAndBounded(t *testing.T) {
	stamps, _ := lanStamps(t, 42, 2*day)
	a, _ := clocksync.New(clocksync.DefaultConfig())
	b, _ := clocksync.New(clocksync.DefaultConfig())
	var size1k int
	for i, s := range stamps {
		if a.Process(s) != b.Process(s) {
			t.Fatalf("stamp %d: two runs differ", i)
		}
		if i == 1000 {
			d, _ := a.MarshalState()
			size1k = len(d)
		}
	}
	d, _ := a.MarshalState()
	if len(d) != size1k {
		t.Fatalf("state grew from %d to %d bytes", size1k, len(d))
	}
	t.Logf("state is %d bytes after 1000 and after %d stamps", len(d), len(stamps))
}

// A poll-period change (16 s → 64 s → 16 s) keeps the accuracy.
func TestPollChange(t *testing.T) {
	sc := sim.LAN(43, dur(3*day))
	sc.Poll.Changes = []sim.PollChange{{At: 0.8 * day, Period: 64}, {At: 1.6 * day, Period: 16}}
	st := runScenario(t, sc, runOpts{grid: 120})
	checkCommon(t, st, true)
	checkAccuracy(t, st, 4e-6, 12e-6)
	if st.statusOr&clocksync.StatusPollChanged == 0 {
		t.Error("poll change not reported")
	}
}

// A new counter re-initialises the estimator, which is good again within
// minutes.
func TestCounterChange(t *testing.T) {
	stamps, _ := lanStamps(t, 44, 3600)
	e, _ := clocksync.New(clocksync.DefaultConfig())
	for _, s := range stamps {
		e.Process(s)
	}
	e.CounterChanged(3e9)
	sc := sim.LAN(45, 3600)
	sc.Osc.NominalHz = 3e9
	sc.Osc.StartCount = 1000
	s, _ := sim.New(sc)
	var errs []float64
	first := true
	for _, ex := range s.Run() {
		if ex.Lost {
			continue
		}
		p := e.Process(ex.Stamp).Params
		if first && p.Status&clocksync.StatusCounterReset == 0 {
			t.Error("counter reset not reported")
		}
		first = false
		if ex.T < 600 {
			errs = append(errs, math.Abs(p.Absolute(ex.Stamp.Tf).Sub(s.TrueTime(ex.Stamp.Tf)).Float()))
		}
	}
	t.Logf("after a counter change: median |error| in the first 10 min %.2fµs", quantile(errs, 0.5)*1e6)
	if m := quantile(errs, 0.5); m > 6e-6 {
		t.Errorf("median %.2fµs", m*1e6)
	}

	// Without being told (a reboot under a restored state), a counter far
	// behind is detected; a slightly reordered reply is only rejected.
	e, _ = clocksync.New(clocksync.DefaultConfig())
	for _, s := range stamps {
		e.Process(s)
	}
	last := stamps[len(stamps)-1]
	re := last
	re.Ta, re.Tf = last.Ta+1000, last.Tf-1000
	re.Tb = re.Tb.Add(bintime.FromNanos(1000))
	if r := e.Process(re); r.Accepted {
		t.Error("reordered reply accepted")
	}
	sc.Osc.NominalHz = 1e9
	s, _ = sim.New(sc)
	errs = errs[:0]
	first = true
	// One bogus stamp far behind is rejected and changes nothing.
	bogus := stamps[5]
	before := e.Params()
	if r := e.Process(bogus); r.Accepted || e.Params() != before {
		t.Fatal("bogus old stamp accepted or changed the clock")
	}
	if r := e.Process(re); r.Accepted {
		t.Fatal("state disturbed by one bogus stamp")
	}
	n := 0
	for _, ex := range s.Run() {
		if ex.Lost {
			continue
		}
		r := e.Process(ex.Stamp)
		n++
		if n == 1 {
			if r.Accepted {
				t.Fatal("first stamp far behind accepted without confirmation")
			}
			continue
		}
		if !r.Accepted {
			t.Fatalf("stamp after a counter restart rejected: %s", r.Reason)
		}
		if first && r.Params.Status&clocksync.StatusCounterReset == 0 {
			t.Error("counter restart not reported")
		}
		first = false
		if ex.T < 600 {
			errs = append(errs, math.Abs(r.Params.Absolute(ex.Stamp.Tf).Sub(s.TrueTime(ex.Stamp.Tf)).Float()))
		}
	}
	if m := quantile(errs, 0.5); m > 6e-6 {
		t.Errorf("after a counter restart: median %.2fµs", m*1e6)
	}
}

// A 50 ms lie right after a 23.5 h outage is still rejected; an honest
// server after a 6 h outage is followed at once.
func TestLieAfterLongGap(t *testing.T) {
	sc := sim.LAN(46, dur(3*day))
	gapEnd := 20000 + 23.5*3600
	sc.Server.Outages = []sim.Interval{{Start: 20000, End: gapEnd}}
	sc.Server.Faults = []sim.Fault{{Start: gapEnd, End: gapEnd + 600, Offset: 0.05}}
	var worst float64
	flagged, during := 0, 0
	runScenario(t, sc, runOpts{report: func(ex sim.Exchange, r clocksync.Result, e float64) {
		if ex.T >= gapEnd {
			worst = max(worst, math.Abs(e))
		}
		if ex.ServerErr != 0 {
			during++
			if r.Params.Status&clocksync.StatusServerSuspect != 0 {
				flagged++
			}
		}
	}})
	t.Logf("50 ms lie after a 23.5 h gap: %d of %d lying stamps flagged, max |error| %.1fµs", flagged, during, worst*1e6)
	if during == 0 || flagged < during*9/10 || worst > 5e-3 {
		t.Errorf("lie after a long gap followed: flagged %d/%d, worst %.1fµs", flagged, during, worst*1e6)
	}

	sc = sim.LAN(47, dur(2*day))
	sc.Server.Outages = []sim.Interval{{Start: 20000, End: 20000 + 6*3600}}
	suspect := 0
	runScenario(t, sc, runOpts{report: func(ex sim.Exchange, r clocksync.Result, e float64) {
		if r.Params.Status&clocksync.StatusServerSuspect != 0 {
			suspect++
		}
	}})
	if suspect != 0 {
		t.Errorf("%d honest stamps flagged suspect around a 6 h outage", suspect)
	}
}

// A persistent server step is accepted after SuspectHold, loudly.
func TestPersistentStepAccepted(t *testing.T) {
	sc := sim.LAN(48, dur(2*day))
	sc.Server.Faults = []sim.Fault{{Start: 30000, End: 1e9, Offset: 0.01}}
	accepted := -1.0
	runScenario(t, sc, runOpts{report: func(ex sim.Exchange, r clocksync.Result, e float64) {
		if r.Params.Status&clocksync.StatusServerStep != 0 && accepted < 0 {
			accepted = ex.T
		}
		if accepted > 0 && ex.T > accepted+600 && math.Abs(e-0.01) > 50e-6 {
			t.Fatalf("not following the accepted step at %v: error %v", ex.T, e)
		}
	}})
	t.Logf("10 ms step accepted after %.0f s", accepted-30000)
	if accepted < 30000+1800 || accepted > 30000+1800+60 {
		t.Errorf("step accepted at %v", accepted)
	}
}

// Leap second: the estimator runs on a continuous timescale and publishes
// UTC labels with LeapTotal, applying the leap at the right counter value.
func TestLeapSecond(t *testing.T) {
	leap := time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC).Unix()
	sc := sim.LAN(49, 4*3600)
	sc.Epoch = bintime.Time{Sec: leap - 3*3600}
	s, _ := sim.New(sc)
	e, _ := clocksync.New(clocksync.DefaultConfig())
	L := bintime.Time{Sec: leap}
	var worst float64
	sawPending := false
	for _, ex := range s.Run() {
		if ex.Lost {
			continue
		}
		st := ex.Stamp
		// The server inserts a second at L: its UTC labels fall 1 s behind.
		if ex.TrueTb.Cmp(L) >= 0 {
			st.Tb = st.Tb.Sub(bintime.Time{Sec: 1})
		}
		if ex.TrueTe.Cmp(L) >= 0 {
			st.Te = st.Te.Sub(bintime.Time{Sec: 1})
		} else if ex.TrueTe.Sec >= leap-86400 {
			st.Side.Leap = 1
		}
		p := e.Process(st).Params
		if p.Status&clocksync.StatusLeapPending != 0 {
			sawPending = true
		}
		truth := s.TrueTime(st.Tf)
		if truth.Cmp(L) >= 0 {
			truth = truth.Sub(bintime.Time{Sec: 1})
		}
		if ex.T > 600 {
			worst = max(worst, math.Abs(p.Absolute(st.Tf).Sub(truth).Float()))
		}
		// Reading ahead across the leap with the pre-leap params.
		if p.LeapNext == 1 && p.LeapAt > st.Tf {
			if d := p.Absolute(p.LeapAt).Sub(p.Absolute(p.LeapAt - 1)).Float(); d > -0.99 {
				t.Fatalf("leap not applied at LeapAt: step %v", d)
			}
		}
	}
	p := e.Params()
	t.Logf("leap second: max |UTC error| %.2fµs, LeapTotal %d", worst*1e6, p.LeapTotal)
	if !sawPending || p.LeapTotal != 38 || worst > 20e-6 {
		t.Errorf("leap: pending %v, LeapTotal %d, worst %.2fµs", sawPending, p.LeapTotal, worst*1e6)
	}
}

// A lie early in the fast start (after the first 16 updates) is not let in
// by the fast start's refits.
func TestEarlyLie(t *testing.T) {
	sc := sim.LAN(52, 2*3600)
	sc.Server.Faults = []sim.Fault{{Start: 400, End: 800, Offset: 0.05}}
	var worst float64
	runScenario(t, sc, runOpts{report: func(ex sim.Exchange, r clocksync.Result, e float64) {
		if ex.T > 300 {
			worst = max(worst, math.Abs(e))
		}
	}})
	t.Logf("50 ms lie from 400 s to 800 s: max |error| %.1fµs", worst*1e6)
	if worst > 100e-6 {
		t.Errorf("early lie followed: max |error| %.1fµs", worst*1e6)
	}
}

// A counter that jumps forward (the clock's reading jumps with it) looks
// like a server step: flagged, then accepted after SuspectHold, after which
// the clock is accurate again.
func TestCounterJumpForward(t *testing.T) {
	sc := sim.LAN(53, 6*3600)
	s, _ := sim.New(sc)
	e, _ := clocksync.New(clocksync.DefaultConfig())
	const jump = uint64(1000e9)
	var flagged, after int
	var worst float64
	var acceptedAt float64
	for _, ex := range s.Run() {
		if ex.Lost {
			continue
		}
		st := ex.Stamp
		if ex.T >= 7200 {
			st.Ta += jump
			st.Tf += jump
		}
		p := e.Process(st).Params
		if p.Status&clocksync.StatusServerSuspect != 0 {
			flagged++
		}
		if p.Status&clocksync.StatusServerStep != 0 && acceptedAt == 0 {
			acceptedAt = ex.T
		}
		if acceptedAt > 0 && ex.T > acceptedAt+600 {
			after++
			worst = max(worst, math.Abs(p.Absolute(st.Tf).Sub(s.TrueTime(st.Tf-jump)).Float()))
		}
	}
	t.Logf("counter jump of 1000 s: %d stamps flagged, accepted after %.0f s, max |error| from 10 min later %.2fµs", flagged, acceptedAt-7200, worst*1e6)
	if flagged < 100 || acceptedAt == 0 || after < 100 || worst > 12e-6 {
		t.Errorf("counter jump: flagged %d, accepted at %v, worst %.2fµs", flagged, acceptedAt, worst*1e6)
	}
}

// Starving means no accepted stamp for more than 10 polls (RADclock's
// STARVING). A run of stamps that arrive but fail the offset quality gate
// is OFFSET_QUALITY (free-running), not starving; a stamp after a silence
// of more than 10 polls is starving.
func TestStarvingIsNoValidStamp(t *testing.T) {
	sc := sim.LAN(49, 40000)
	// A 1 ms symmetric RTT rise for 1000 s (~62 stamps at 16 s, under the
	// 100-stamp shift window): every stamp fails the offset quality gate.
	shift := sim.LevelShift{Start: 20000, End: 21000, Fwd: 0.5e-3, Back: 0.5e-3}
	sc.Path.Shifts = []sim.LevelShift{shift}
	// A silence of 30 polls later on.
	sc.Server.Outages = []sim.Interval{{Start: 30000, End: 30000 + 30*16}}
	quality, starvingInShift, starvingAfter, starvingElse := 0, 0, 0, 0
	first := true
	runScenario(t, sc, runOpts{report: func(ex sim.Exchange, r clocksync.Result, e float64) {
		st := r.Params.Status
		starving := st&clocksync.StatusStarving != 0
		switch {
		case ex.T >= shift.Start && ex.T < shift.End:
			if st&clocksync.StatusOffsetQuality != 0 {
				quality++
			}
			if starving {
				starvingInShift++
			}
		case ex.T >= 30000+30*16 && first:
			first = false
			if starving {
				starvingAfter++
			}
		case starving:
			starvingElse++
		}
	}})
	t.Logf("starving: %d offset-quality stamps in the shift, %d of them starving; first stamp after a 30-poll silence starving: %v; other starving stamps: %d",
		quality, starvingInShift, starvingAfter == 1, starvingElse)
	if quality < 50 {
		t.Errorf("only %d stamps failed the offset quality gate during the shift", quality)
	}
	if starvingInShift != 0 {
		t.Errorf("%d stamps arriving every poll flagged starving", starvingInShift)
	}
	if starvingAfter != 1 {
		t.Error("the first stamp after a 30-poll silence is not flagged starving")
	}
	if starvingElse != 0 {
		t.Errorf("%d other stamps flagged starving", starvingElse)
	}
}
