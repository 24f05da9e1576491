package clockbound

import (
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/guestclock/leapsmear"
	"github.com/xenradclock/xenradclock/guestclock/sink"
)

func baseSample() sink.Sample {
	return sink.Sample{
		Usable: true, State: clockdata.StateSynchronised,
		ClockNs: 1_800_000_000_000_000_000, RealtimeNs: 1_800_000_000_000_000_000 - 2_000_000,
		MonotonicNs: 500e9, MonotonicCoarseNs: 500e9 - 3_000_000,
		ErrorBoundNs: 7_000, MaxErrorNs: 80_000, MaxErrorGrowthPsPerS: 15_000_500,
		VoidAfterMonotonicNs: 530e9, DisruptionMarker: 9,
	}
}

func newFiller(cfg Config) *filler {
	return &filler{cfg: cfg.withDefaults(), coarseResNs: 4_000_000}
}

// The bound is max_error (never the statistical error bound) plus the
// distance of CLOCK_REALTIME from the clock plus the read margin, so that
// the client's interval around realtime contains the clock's own.
func TestFillBoundFromMaxError(t *testing.T) {
	s := baseSample()
	seg := newFiller(Config{}).fill(&s)
	if want := int64(80_000 + 2_000_000 + DefaultReadMarginNs); seg.BoundNs != want {
		t.Fatalf("bound %d, want %d", seg.BoundNs, want)
	}
	s.ErrorBoundNs = 1e9 // must not matter
	if seg2 := newFiller(Config{}).fill(&s); seg2.BoundNs != seg.BoundNs {
		t.Fatal("the statistical error bound leaked into the bound")
	}
	b, err := seg.BoundsAt(s.RealtimeNs, s.MonotonicCoarseNs)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := s.ClockNs-int64(s.MaxErrorNs), s.ClockNs+int64(s.MaxErrorNs)
	if b.EarliestNs > lo || b.LatestNs < hi {
		t.Fatalf("client interval [%d, %d] misses the clock's [%d, %d]", b.EarliestNs, b.LatestNs, lo, hi)
	}
	if want := uint32(15001 + DefaultRealtimeDriftPPB); seg.MaxDriftPPB != want {
		t.Errorf("max drift %d ppb, want %d", seg.MaxDriftPPB, want)
	}
	if seg.DisruptionMarker != 9 || seg.DisruptionSupport != 0 || seg.Status != StatusSynchronized {
		t.Errorf("%+v", seg)
	}
	if ao, _ := seg.AsOf.Ns(); ao != s.MonotonicCoarseNs {
		t.Errorf("as-of %d", ao)
	}
	// void-after: 30 s on, moved to the coarse clock less one coarse tick.
	if va, _ := seg.VoidAfter.Ns(); va != s.MonotonicCoarseNs+30e9-4_000_000 {
		t.Errorf("void-after %d", va-s.MonotonicCoarseNs)
	}
}

func TestFillValidityCap(t *testing.T) {
	s := baseSample()
	s.VoidAfterMonotonicNs = 0
	seg := newFiller(Config{ValidityNs: 5e9}).fill(&s)
	if va, _ := seg.VoidAfter.Ns(); va != s.MonotonicCoarseNs+5e9 {
		t.Errorf("void-after %d", va-s.MonotonicCoarseNs)
	}
	s.VoidAfterMonotonicNs = s.MonotonicNs - 1e9 // already past
	seg = newFiller(Config{}).fill(&s)
	if seg.VoidAfter != seg.AsOf || seg.Status != StatusUnknown {
		t.Errorf("past horizon not void: %+v", seg)
	}
}

func TestFillStatus(t *testing.T) {
	cases := []struct {
		usable, disrupted bool
		state             clockdata.ClockState
		want              Status
	}{
		{true, false, clockdata.StateSynchronised, StatusSynchronized},
		{true, false, clockdata.StateWarmUp, StatusSynchronized},
		{true, false, clockdata.StateFreeRunning, StatusFreeRunning},
		{true, false, clockdata.StateStarving, StatusFreeRunning},
		{true, false, clockdata.StateServerFault, StatusFreeRunning},
		{true, false, clockdata.StateUnsynchronised, StatusUnknown},
		{true, false, clockdata.StateUnknown, StatusUnknown},
		{false, false, clockdata.StateSynchronised, StatusUnknown},
		{false, true, clockdata.StateSynchronised, StatusDisrupted},
		{true, true, clockdata.StateSynchronised, StatusDisrupted},
	}
	for _, c := range cases {
		s := baseSample()
		s.Usable, s.Disrupted, s.State = c.usable, c.disrupted, c.state
		seg := newFiller(Config{}).fill(&s)
		if seg.Status != c.want {
			t.Errorf("%+v: %v", c, seg.Status)
		}
		if c.want == StatusUnknown || c.want == StatusDisrupted {
			if seg.VoidAfter != seg.AsOf {
				t.Errorf("%+v: unusable segment not void", c)
			}
		}
	}
}

var dec2026 = leapsmear.Leap{AtUnixSec: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), Next: 1}

// Without smear, near a leap the bound carries one more second; far from
// it, it does not. The leap reaches the segment only that way: protocol v2
// has no leap field.
func TestFillLeapWithoutSmear(t *testing.T) {
	f := newFiller(Config{})
	step := dec2026.StepNs()
	for _, c := range []struct {
		cNs   int64
		extra bool
	}{
		{step - 3600e9, false}, {step - 9e9, true}, {step - 500e6, true}, {step + 500e6, true}, {step + 9e9, true}, {step + 11e9, false},
	} {
		s := baseSample()
		s.ClockNs = leapsmear.Stepped(c.cNs, dec2026)
		s.RealtimeNs = s.ClockNs
		s.MonotonicNs = c.cNs - step + 1000e9
		s.LeapNext, s.LeapAtUnixSec = 1, dec2026.AtUnixSec
		seg := f.fill(&s)
		base := int64(80_000 + DefaultReadMarginNs)
		if got := seg.BoundNs - base; (got == 1e9) != c.extra || (got != 0 && got != 1e9) {
			t.Errorf("step%+d ns: bound %d over base", c.cNs-step, got)
		}
	}
}

// With smear, the bound is taken against the smeared clock: a system clock
// that follows the smear keeps a tight bound through the leap, with the
// smear's rate added to the drift.
func TestFillLeapWithSmear(t *testing.T) {
	f := newFiller(Config{Smear: true})
	step := dec2026.StepNs()
	for c := step - 3*3600e9; c < step+3*3600e9; c += 300e9 + 123 {
		s := baseSample()
		s.ClockNs = leapsmear.Stepped(c, dec2026)
		s.RealtimeNs = leapsmear.Smear(c, dec2026) // the system clock follows the smear
		s.MonotonicNs = c - step + 100000e9
		s.LeapNext, s.LeapAtUnixSec = 1, dec2026.AtUnixSec
		seg := f.fill(&s)
		if seg.BoundNs != 80_000+DefaultReadMarginNs {
			t.Fatalf("step%+d ns: bound %d", c-step, seg.BoundNs)
		}
		if seg.MaxDriftPPB != 15001+DefaultRealtimeDriftPPB+11574 {
			t.Fatalf("drift %d", seg.MaxDriftPPB)
		}
	}
}
