package clocksync_test

import (
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
		checkAccuracy(t, b, 6e-6, 22e-6) // 1024 s: see TestLAN64And1024
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
