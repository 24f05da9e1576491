package guestclock

import (
	"testing"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
)

const testHz = 1_000_000_000

// lineRecord is a record on a 1 GHz counter: time t0 + offsetNs at count
// ref, bound maxErrNs growing at growth ps/s, marker m.
func lineRecord(t testing.TB, ref uint64, offsetNs int64, maxErrNs uint64, m uint64) clockdata.Record {
	t.Helper()
	per, _ := clockdata.PeriodFromFloat(1e-9)
	raw := clockdata.Raw{HostID: [16]byte{1}, CounterKind: counter.KindSimulated, CounterHz: testHz, CounterIdentity: 7,
		State: clockdata.StateSynchronised, RefCount: ref, RefTime: bintime.Time{Sec: 1_700_000_000}.Add(bintime.FromNanos(int64(ref) + offsetNs)),
		Period: per, ErrorBoundNs: maxErrNs / 2, MaxErrorNs: maxErrNs, MaxErrorGrowthPsPerS: 10_000_000, ErrorGrowthPsPerS: 1_000_000,
		PollNs: 1e9, VoidAfterCount: ref + 1000e9}
	r, err := clockdata.Builder{NewMarker: func() uint64 { return m }}.Next(nil, raw, ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestGuardNegativeStep: a new clock 300 µs behind the old one, with
// overlapping bounds, is held: at the switch and for every later count the
// served time and earliest bound never go below what was promised, the
// interval always contains the incoming record's and the old one's common
// part at the switch, and the hold converges onto the new clock.
func TestGuardNegativeStep(t *testing.T) {
	const T0 = 5_000_000_000
	old := lineRecord(t, 1_000_000_000, 0, 1_000_000, 11)
	in := lineRecord(t, T0-1_000_000, -300_000, 800_000, 22) // 300 µs behind, dom0d restarted
	prev := promiseAt(&old, T0)
	g, err := guard(&prev, &in, T0)
	if err != nil {
		t.Fatal(err)
	}
	if g.Verdict != VerdictHold || g.StepNs > -299_000 || g.StepNs < -301_000 {
		t.Fatalf("verdict %v step %d ns, want hold and -300 µs", g.Verdict, g.StepNs)
	}
	h := &g.Rec
	lastTime, lastEarliest := prev.Time, prev.earliest()
	for T := uint64(T0); T < T0+3_000_000_000; T += 997_001 {
		p := promiseAt(h, T)
		if p.Time.Cmp(lastTime) < 0 || p.earliest().Cmp(lastEarliest) < 0 {
			t.Fatalf("count %d: time %s earliest %s went back from %s / %s", T, p.Time, p.earliest(), lastTime, lastEarliest)
		}
		lastTime, lastEarliest = p.Time, p.earliest()
		// Truth is in both promises; the hold must contain their common
		// part: the incoming one's interval ∩ the old one's.
		a, b := promiseAt(&in, T), promiseAt(&old, T)
		lo, hi := maxTime(a.earliest(), b.earliest()), minTime(a.latest(), b.latest())
		if lo.Cmp(hi) <= 0 && (p.earliest().Cmp(lo) > 0 || p.latest().Cmp(hi) < 0) {
			t.Fatalf("count %d: hold [%s, %s] does not cover [%s, %s]", T, p.earliest(), p.latest(), lo, hi)
		}
	}
	if d := h.Absolute(T0 + 3_000_000_000).Sub(in.Absolute(T0 + 3_000_000_000)).Nanos(); d < -1 || d > 1 {
		t.Errorf("hold has not converged onto the new clock after 3 s: %d ns off", d)
	}
	t.Logf("step %d ns held; slew ends after %.3f s; bound at the switch %d ns (incoming %d ns)",
		g.StepNs, float64(h.SlewEndCount-T0)/1e9, h.MaxErrorNs, in.MaxErrorAt(T0))
}

// TestGuardForwardAndDisjoint: a clock ahead within bounds is served as
// is; one whose interval does not meet the promise is "disrupted".
func TestGuardForwardAndDisjoint(t *testing.T) {
	const T0 = 5_000_000_000
	old := lineRecord(t, 1_000_000_000, 0, 1_000_000, 11)
	prev := promiseAt(&old, T0)
	fwd := lineRecord(t, T0-1000, 200_000, 500_000, 33)
	if g, _ := guard(&prev, &fwd, T0); g.Verdict != VerdictServe {
		t.Errorf("forward step with a tighter bound: %v, want serve", g.Verdict)
	}
	far := lineRecord(t, T0-1000, -5_000_000, 1_000_000, 44)
	if g, _ := guard(&prev, &far, T0); g.Verdict != VerdictDisrupt {
		t.Errorf("5 ms back with 1 ms bounds: %v, want disrupt", g.Verdict)
	}
	if g, _ := guard(nil, &far, T0); g.Verdict != VerdictServe {
		t.Errorf("no promise: %v, want serve", g.Verdict)
	}
}

// TestGuardAfterGuess: an unsynchronised record (a guess, whose bound
// readers are told not to trust) followed by a synchronised one 600 µs
// behind it. The truth is in the incoming interval but below the guess's
// earliest bound: the published record must contain it, at the switch and
// for every later count, and its time must not go back. Intersecting the
// two intervals (as against a real promise) published a synchronised
// record whose max_error missed the truth.
func TestGuardAfterGuess(t *testing.T) {
	const T0 = 5_000_000_000
	old := lineRecord(t, 1_000_000_000, 0, 1_000_000, 11)
	old.State = clockdata.StateUnsynchronised
	in := lineRecord(t, T0-1_000_000, -600_000, 500_000, 22) // [-1.1 ms, -0.1 ms] around the guess
	prev := promiseAt(&old, T0)
	if !prev.Guess {
		t.Fatal("an unsynchronised record's promise is not marked a guess")
	}
	g, err := guard(&prev, &in, T0)
	if err != nil {
		t.Fatal(err)
	}
	if g.Verdict == VerdictDisrupt {
		t.Fatalf("verdict %v, want serve or hold", g.Verdict)
	}
	if g.Rec.State != clockdata.StateSynchronised {
		t.Fatalf("published state %v, want the incoming synchronised", g.Rec.State)
	}
	lastTime := prev.Time
	for T := uint64(T0); T < T0+3_000_000_000; T += 997_001 {
		p, a := promiseAt(&g.Rec, T), promiseAt(&in, T)
		if p.Time.Cmp(lastTime) < 0 {
			t.Fatalf("count %d: time %s went back from %s", T, p.Time, lastTime)
		}
		lastTime = p.Time
		// The truth may be anywhere in the incoming interval, e.g. 50 µs
		// above its earliest bound: below the guess's.
		truth := a.earliest().Add(bintime.FromNanos(50_000))
		if truth.Cmp(p.earliest()) < 0 || truth.Cmp(p.latest()) > 0 {
			t.Fatalf("count %d (%.3f s after the switch): truth %s outside the published [%s, %s] (verdict %v)",
				T, float64(T-T0)/1e9, truth, p.earliest(), p.latest(), g.Verdict)
		}
	}
	t.Logf("verdict %v, step %d ns, published bound %d ns at the switch (incoming %d ns)",
		g.Verdict, g.StepNs, g.Rec.MaxErrorNs, in.MaxErrorAt(T0))

	// A guess the incoming clock is ahead of, with a lower earliest bound:
	// served as it is (the guess's earliest bound promised nothing).
	fwd := lineRecord(t, T0-1000, 200_000, 1_500_000, 33)
	if g, _ := guard(&prev, &fwd, T0); g.Verdict != VerdictServe {
		t.Errorf("ahead of a guess with a wider bound: %v, want serve", g.Verdict)
	}
}
