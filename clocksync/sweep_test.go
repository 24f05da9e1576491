package clocksync_test

import (
	"math"
	"testing"

	"github.com/xenradclock/xenradclock/clocksync/sim"
)

// TestSeeds repeats the main LAN, 64 s, 1024 s and far-server checks on
// further seeds, so the thresholds are not properties of one lucky run.
func TestSeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("seed sweep skipped in -short")
	}
	for seed := uint64(100); seed < 103; seed++ {
		a := runScenario(t, sim.LAN(seed, 3*day), runOpts{})
		checkCommon(t, a, true)
		checkAccuracy(t, a, 4e-6, 12e-6)
		if r := quantile(a.ebs, 0.5) / quantile(a.errs, 0.5); r > 5 {
			t.Errorf("seed %d: median error_bound %.2f × median error", seed, r)
		}
		if m := quantile(a.early, 0.5); m > 6e-6 {
			t.Errorf("seed %d: first 10 min median %.2fµs", seed, m*1e6)
		}
		sc := sim.LAN(seed, 8*day)
		sc.Poll.Period = 1024
		b := runScenario(t, sc, runOpts{grid: 300})
		checkCommon(t, b, true)
		checkAccuracy(t, b, 6e-6, 12e-6)
		checkEarly(t, b)
		sc = sim.LAN(seed, 4*day)
		sc.Poll.Period = 64
		c := runScenario(t, sc, runOpts{grid: 300})
		checkCommon(t, c, true)
		checkAccuracy(t, c, 4e-6, 12e-6)
		checkEarly(t, c)
		f := runScenario(t, sim.Far(seed, 4*day), runOpts{})
		checkCommon(t, f, false)
		d := f.deAsym
		if m := quantile(d, 0.5); m > 30e-6 {
			t.Errorf("seed %d far: median |error − asymmetry/2| %.1fµs", seed, m*1e6)
		}
	}
}

// TestEarlySeeds: the first 10 minutes at 64 s and 1024 s polling, over 40
// LAN seeds, with the live schedule (burst, 16 s fast start, then the poll).
// Without the fast start 4 of these seeds were above 6 µs at 64 s (up to
// 9.0 µs) and 13 at 1024 s (up to 13.5 µs). Only the first 20 minutes are
// simulated: a run's start does not depend on its length.
func TestEarlySeeds(t *testing.T) {
	for _, poll := range []float64{64, 1024} {
		worst, worstSeed := 0.0, uint64(0)
		var medians []float64
		cov, covN := 0, 0
		for seed := uint64(1); seed <= 40; seed++ {
			sc := sim.LAN(seed, 1200)
			sc.Poll.Period = poll
			st := runScenario(t, sc, runOpts{})
			m := quantile(st.early, 0.5)
			if len(st.early) < 30 || math.IsNaN(m) {
				t.Fatalf("poll %v s, seed %d: %d stamps in the first 10 minutes", poll, seed, len(st.early))
			}
			if m > 6e-6 {
				t.Errorf("poll %v s, seed %d: first 10 min median |error| %.2fµs > 6µs", poll, seed, m*1e6)
			}
			if m > worst {
				worst, worstSeed = m, seed
			}
			medians = append(medians, m)
			cov += st.earlyEbOver
			covN += st.earlyEbN
		}
		t.Logf("poll %v s, LAN seeds 1-40: first 10 min median |error| worst %.2fµs (seed %d), median over seeds %.2fµs; error_bound coverage in the first 20 min %.2f%%",
			poll, worst*1e6, worstSeed, quantile(medians, 0.5)*1e6, 100*float64(cov)/float64(max(covN, 1)))
	}
}
