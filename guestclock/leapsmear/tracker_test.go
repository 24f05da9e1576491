package leapsmear

import "testing"

// A stream of samples every 250 ms across the leap, as the agent produces
// them: the stepped clock, CLOCK_MONOTONIC, and the leap fields until the
// record folds the leap in (two seconds after the step).
func TestTrackerRecoversContinuousTime(t *testing.T) {
	for _, l := range []Leap{dec2016, jun2015, jun2026} {
		var tr Tracker
		step := l.StepNs()
		const monoBase = 1_000 * secNs
		start := step - 30*secNs
		for c := start; c < step+30*secNs; c += 250_000_000 {
			next, at := l.Next, l.AtUnixSec
			if c >= step+2*secNs {
				next, at = 0, 0
			}
			got, gl, ok := tr.Observe(Stepped(c, l), monoBase+(c-start), next, at)
			if !ok || got != c {
				t.Fatalf("%+v at step%+d ns: got %d ok=%v", l, c-step, got-step, ok)
			}
			if gl != l {
				t.Fatalf("%+v at step%+d ns: leap %+v", l, c-step, gl)
			}
		}
	}
}

func TestTrackerAmbiguousWithoutHistory(t *testing.T) {
	var tr Tracker
	step := dec2016.StepNs()
	// First sample inside the repeated second: cannot tell.
	if _, _, ok := tr.Observe(step-500_000_000, 5*secNs, 1, dec2016.AtUnixSec); ok {
		t.Fatal("placed a sample in the repeated second without history")
	}
	// Outside it, fine; and then the repeated second resolves.
	if c, _, ok := tr.Observe(step+200_000_000, 5*secNs+700_000_000, 0, 0); !ok || c != step+secNs+200_000_000 {
		t.Fatalf("after the step: %d %v", c-step, ok)
	}
	// A sample whose monotonic clock went backwards (another boot) does
	// not resolve against the old anchor.
	if _, _, ok := tr.Observe(step-500_000_000, 1*secNs, 1, dec2016.AtUnixSec); ok {
		t.Fatal("resolved against an anchor from the future")
	}
}

func TestTrackerWithdrawnLeap(t *testing.T) {
	var tr Tracker
	step := dec2016.StepNs()
	tr.Observe(step-3600*secNs, 0, 1, dec2016.AtUnixSec)
	// The announcement disappears before the step: no leap.
	c, l, ok := tr.Observe(step-3000*secNs, 600*secNs, 0, 0)
	if !ok || c != step-3000*secNs || l.Next != 0 {
		t.Fatalf("withdrawn leap still in force: %d %+v %v", c-step, l, ok)
	}
	// And the repeated second is no longer special.
	if c, _, ok := tr.Observe(step-500_000_000, 3100*secNs, 0, 0); !ok || c != step-500_000_000 {
		t.Fatal("withdrawn leap still resolves")
	}
}

func TestTrackerForgets(t *testing.T) {
	var tr Tracker
	step := dec2016.StepNs()
	tr.Observe(step-secNs*10, 0, 1, dec2016.AtUnixSec)
	_, end := dec2016.Window()
	if _, l, _ := tr.Observe(end-secNs+forgetAfterNs+secNs, 20, 0, 0); l.Next != 0 {
		t.Fatal("leap kept long after its window")
	}
}

func TestTrackerIgnoresInvalidLeap(t *testing.T) {
	var tr Tracker
	if c, l, ok := tr.Observe(1_700_000_000*secNs, 0, 1, 1_700_000_123); !ok || l.Next != 0 || c != 1_700_000_000*secNs {
		t.Fatal("a leap that is not at a day's end was taken")
	}
}
