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
