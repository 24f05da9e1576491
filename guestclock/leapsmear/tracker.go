package leapsmear

// Tracker recovers the continuous time from a stream of stepped times. A
// stepped time alone is ambiguous in the second a positive leap repeats, and
// the agent's samples stop announcing a leap once the record has folded it
// in; so a sink that needs the continuous time (to smear, or to tell whether
// a leap is still ahead) feeds every sample through one Tracker, which
// remembers the last leap announced and where the clock was on
// CLOCK_MONOTONIC.
//
// Tracker is not safe for concurrent use.
type Tracker struct {
	leap   Leap
	have   bool
	anchor bool
	cNs    int64 // continuous time of the last resolved sample
	monoNs int64 // its CLOCK_MONOTONIC instant
}

// anchorMaxNs bounds how far CLOCK_MONOTONIC may have moved since the last
// resolved sample for it to settle an ambiguous one: the frequency error of
// CLOCK_MONOTONIC over it (well under 1 ms) must stay far below the 1 s the
// candidates differ by.
const anchorMaxNs = 600 * secNs

// forgetAfterNs: a leap is forgotten this long after its smear window ends.
const forgetAfterNs = 3600 * secNs

// Observe takes one sample's stepped time, CLOCK_MONOTONIC instant and leap
// fields (next ∈ {−1, 0, +1}, atUnixSec as in Leap). It returns the
// continuous time, the leap in force (Next 0: none), and ok false when the
// stepped time cannot be placed (inside the repeated or skipped second with
// no recent sample to go by): a sink then skips the sample.
func (t *Tracker) Observe(steppedNs, monoNs int64, next int8, atUnixSec int64) (cNs int64, l Leap, ok bool) {
	if next != 0 {
		if nl := (Leap{AtUnixSec: atUnixSec, Next: next}); nl.Validate() == nil {
			t.leap, t.have = nl, true
		}
	}
	if !t.have {
		t.setAnchor(steppedNs, monoNs)
		return steppedNs, Leap{}, true
	}
	step := t.leap.StepNs()
	if next == 0 && steppedNs < step-2*secNs {
		// The record no longer announces a leap that is still ahead:
		// it was withdrawn.
		t.have = false
		t.setAnchor(steppedNs, monoNs)
		return steppedNs, Leap{}, true
	}
	pre, post := steppedNs, steppedNs+int64(t.leap.Next)*secNs
	preOK, postOK := pre < step, post >= step
	switch {
	case preOK && !postOK:
		cNs = pre
	case postOK && !preOK:
		cNs = post
	default:
		// Both (a repeated second) or neither (a skipped one): the
		// nearer to where the last sample puts the clock.
		if !t.anchor || monoNs < t.monoNs || monoNs-t.monoNs > anchorMaxNs {
			t.anchor = false
			return 0, t.leap, false
		}
		want := t.cNs + (monoNs - t.monoNs)
		cNs = pre
		if abs(post-want) < abs(pre-want) {
			cNs = post
		}
	}
	l = t.leap
	if _, end := l.Window(); cNs >= end+forgetAfterNs {
		t.have = false
		l = Leap{}
	}
	t.anchor, t.cNs, t.monoNs = true, cNs, monoNs
	return cNs, l, true
}

func (t *Tracker) setAnchor(cNs, monoNs int64) {
	t.anchor, t.cNs, t.monoNs = true, cNs, monoNs
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
