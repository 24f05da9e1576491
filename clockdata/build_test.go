package clockdata

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/counter"
)

// slewedRecord follows testRecord with a raw estimate 200 µs later and
// 0.1 ppm faster, 16 s on: a record with a real slew segment.
func slewedRecord(t testing.TB) Record {
	t.Helper()
	prev := testRecord(t)
	raw := testRaw()
	raw.RefCount += 16 * 3_000_000_000
	raw.RefTime = prev.Absolute(raw.RefCount).Add(bintime.FromNanos(200_000))
	raw.Period.Frac -= raw.Period.Frac / 10_000_000
	r, err := Builder{NewMarker: seqMarkers(0x5eed1000)}.Next(&prev, raw, raw.RefCount+1_500_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if r.SlewEndCount == r.RefCount {
		t.Fatal("no slew segment")
	}
	return r
}

// rawLine is the raw estimate's own clock at T (no leap).
func rawLine(raw Raw, T uint64) bintime.Time {
	return raw.RefTime.Add(raw.Period.mulSigned(T - raw.RefCount))
}

func slewPPM(r *Record) float64 {
	return (r.Period.Float()/r.RawPeriod.Float() - 1) * 1e6
}

// TestContinuity builds a chain of records from raw estimates with random
// corrections below the step threshold and checks, at every hand-over:
// the new record starts exactly at the old one's time, the clock read with
// the record in force never steps back, the slew rate stays within the cap,
// the slew lands on the raw line and the bounds cover the correction.
func TestContinuity(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := Builder{NewMarker: seqMarkers(100)}
	raw := testRaw()
	now := raw.RefCount + 1000
	prev, err := b.Next(nil, raw, now)
	if err != nil {
		t.Fatal(err)
	}
	const hz = 3_000_000_000
	last := prev.Absolute(now)
	for i := range 200 {
		// The next estimate: a poll later, with a correction of up to ±50 ms
		// and a rate change of up to ±20 ppm.
		raw.RefCount = now + uint64(rng.IntN(16*hz))
		corr := bintime.FromNanos(rng.Int64N(100_000_000) - 50_000_000)
		raw.RefTime = prev.Absolute(raw.RefCount).Add(corr)
		base, _ := PeriodFromFloat((1 / 3e9) * (1 + (rng.Float64()-0.5)*40e-6))
		raw.Period = base
		next := raw.RefCount + uint64(rng.IntN(hz))

		// Sweep the old record up to the hand-over.
		for T := now; int64(T-next) < 0; T += uint64(rng.IntN(hz/4) + 1) {
			c := prev.Absolute(T)
			if c.Cmp(last) < 0 {
				t.Fatalf("step %d: clock went back at %d: %s < %s", i, T, c, last)
			}
			last = c
		}
		r, err := b.Next(&prev, raw, next)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if r.DisruptionMarker != prev.DisruptionMarker || r.Generation != prev.Generation+1 {
			t.Fatalf("step %d: marker %x gen %d after %x gen %d", i, r.DisruptionMarker, r.Generation, prev.DisruptionMarker, prev.Generation)
		}
		if a, b := r.Absolute(next), prev.Absolute(next); a != b {
			t.Fatalf("step %d: discontinuous at hand-over: %s vs %s", i, a, b)
		}
		if ppm := slewPPM(&r); ppm > DefaultMaxSlewPPM || ppm < -DefaultMaxSlewPPM {
			t.Fatalf("step %d: slew %.3f ppm beyond the cap", i, ppm)
		}
		gap := absNs(rawLine(raw, next).Sub(prev.Absolute(next)))
		if r.MaxErrorNs < gap || r.ErrorBoundNs < gap {
			t.Fatalf("step %d: bounds %d/%d ns do not cover the %d ns correction", i, r.ErrorBoundNs, r.MaxErrorNs, gap)
		}
		for _, T := range []uint64{r.SlewEndCount, r.SlewEndCount + 1, r.SlewEndCount + 50*hz} {
			if d := absNs(r.Absolute(T).Sub(rawLine(raw, T))); d > 1 {
				t.Fatalf("step %d: %d ns off the raw line after the slew", i, d)
			}
		}
		prev, now = r, next
	}
}

func TestStepAndReset(t *testing.T) {
	b := Builder{NewMarker: seqMarkers(100)}
	raw := testRaw()
	prev, _ := b.Next(nil, raw, raw.RefCount)
	now := raw.RefCount + 3_000_000_000

	big := raw
	big.RefTime = big.RefTime.Add(bintime.FromNanos(DefaultStepThresholdNs + 1))
	r, err := b.Next(&prev, big, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.DisruptionMarker == prev.DisruptionMarker {
		t.Error("a step kept the disruption marker")
	}
	if r.Absolute(now) != rawLine(big, now) || r.SlewEndCount != r.RefCount {
		t.Error("a step does not start on the raw line")
	}

	for name, mod := range map[string]func(*Raw){
		"host":     func(r *Raw) { r.HostID[0] ^= 1 },
		"identity": func(r *Raw) { r.CounterIdentity++ },
		"kind":     func(r *Raw) { r.CounterKind = counter.KindSimulated },
		"forced":   func(r *Raw) { r.Disrupt = true },
	} {
		x := raw
		mod(&x)
		r, err := b.Next(&prev, x, now)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.DisruptionMarker == prev.DisruptionMarker {
			t.Errorf("%s change kept the disruption marker", name)
		}
	}
}

func TestBuilderLeap(t *testing.T) {
	b := Builder{NewMarker: seqMarkers(1)}
	raw := testRaw()
	raw.LeapNext, raw.LeapAtCount = 1, raw.RefCount+10*3_000_000_000
	r, err := b.Next(nil, raw, raw.RefCount)
	if err != nil {
		t.Fatal(err)
	}
	before, after := r.Absolute(raw.LeapAtCount-1), r.Absolute(raw.LeapAtCount)
	if d := after.Sub(before); d.Sec != -1 || d.Frac > 1<<40 {
		t.Errorf("positive leap: clock moved %s s at the leap, want -1 s + 1 tick", d)
	}
	// A record built after the leap folds it in and stays continuous.
	now := raw.LeapAtCount + 3_000_000_000
	r2, err := b.Next(&r, raw, now)
	if err != nil {
		t.Fatal(err)
	}
	if r2.LeapNext != 0 || r2.TAIOffsetSec != raw.TAIOffsetSec+1 || r2.Absolute(now) != r.Absolute(now) {
		t.Errorf("after the leap: leap %d tai %d, %s vs %s", r2.LeapNext, r2.TAIOffsetSec, r2.Absolute(now), r.Absolute(now))
	}
	if r2.DisruptionMarker != r.DisruptionMarker {
		t.Error("a leap changed the disruption marker")
	}
}

func TestRawFromParams(t *testing.T) {
	p := clocksync.Params{
		RefCount: 5_000_000, RefTime: bintime.Time{Sec: 1750000000, Frac: 99},
		Period: 1e-9 * (1 + 3e-6), PeriodLocal: 1e-9 * (1 + 3.1e-6),
		ErrorBound: 12.3e-6, MaxError: 250e-6, ErrorRate: 1e-7, MaxErrorRate: 15e-6, RateErrorBound: 2e-8,
		Status: clocksync.StatusWarmup, NextExpected: 21_000_000_000, LeapTotal: 37, LeapNext: -1, LeapAt: 9e15,
	}
	raw, err := RawFromParams(p, [16]byte{1}, CounterInfo{Kind: counter.KindXenSystem, Hz: 1e9, Identity: 7}, 16e9)
	if err != nil {
		t.Fatal(err)
	}
	if raw.State != StateWarmUp || raw.ErrorBoundNs != 12300 || raw.MaxErrorNs != 250000 ||
		raw.MaxErrorGrowthPsPerS != 15_000_000 || raw.RateErrorPsPerS != 20_000 || raw.ErrorGrowthPsPerS != 100_000 ||
		raw.TAIOffsetSec != 37 || raw.LeapNext != -1 || raw.RefTime != p.RefTime {
		t.Errorf("converted: %+v", raw)
	}
	if got := raw.Period.Float(); got != p.Period {
		t.Errorf("period %g, want %g", got, p.Period)
	}
	r, err := Next(nil, raw, p.RefCount)
	if err != nil {
		t.Fatal(err)
	}
	if r.Absolute(p.RefCount) != p.RefTime {
		t.Errorf("record at RefCount %s, want %s", r.Absolute(p.RefCount), p.RefTime)
	}
	for _, bad := range []clocksync.Params{{Period: 0}, {Period: 1e-9, MaxError: -1}, {Period: 1e-9, ErrorRate: nanF()}} {
		if _, err := RawFromParams(bad, [16]byte{}, CounterInfo{}, 0); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

func nanF() float64 { z := 0.0; return z / z }

func TestPeriodFromRat(t *testing.T) {
	for _, hz := range []int64{1000, 10_000_000, 14_318_180, 1_000_000_000, 3_000_000_000, 5_000_000_000} {
		p, err := periodFromRat(big.NewRat(1, hz))
		if err != nil || !p.IsNormal() {
			t.Fatalf("%d Hz: %v %+v", hz, err, p)
		}
		f, _ := PeriodFromFloat(1 / float64(hz))
		if d := int64(f.Frac - p.Frac); f.Shift != p.Shift || d > 4096 || d < -4096 {
			t.Errorf("%d Hz: %+v vs float %+v", hz, p, f)
		}
	}
	if _, err := periodFromRat(big.NewRat(1, 1)); err == nil {
		t.Error("1 s period accepted")
	}
}
