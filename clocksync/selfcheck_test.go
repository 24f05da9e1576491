package clocksync_test

import (
	"testing"
)

// selfCheckSeedBase is a third seed set, neither the sweep's tuning seeds
// nor its held-out ones.
const selfCheckSeedBase = 5_000_001

// TestSelfCheck runs the families whose oscillators the filter's model
// does not describe (rate changes with load, abrupt rate steps, 1024 s
// polling with wander) on seeds the tuning never saw. Before the coverage
// self-check their error_bound covered 93%, 97% and 90% (worst runs of the
// sweep); with it, the bound widens where the stamps show it failing. The
// error itself must not change: the self-check only moves the bounds.
func TestSelfCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("a few simulated days per family")
	}
	want := map[string]float64{"load": 0.98, "rate-steps": 0.98, "poll-1024": 0.97}
	for _, f := range families {
		minCov, ok := want[f.name]
		if !ok {
			continue
		}
		for k := range uint64(3) {
			seed := selfCheckSeedBase + k
			r, err := runSweep(f, seed)
			if err != nil {
				t.Fatalf("%s seed %d: %v", f.name, seed, err)
			}
			t.Logf("%s seed %d: coverage %.2f%%, median |error| %.2f µs (RADclock %.2f), eb/err %.1f",
				f.name, seed, 100*r.cov, 1e6*r.estMed, 1e6*r.baseMed, r.estEbErr)
			if !(r.cov >= minCov) {
				t.Errorf("%s seed %d: error_bound coverage %.2f%%, want ≥ %.0f%%", f.name, seed, 100*r.cov, 100*minCov)
			}
			if r.meViol != 0 {
				t.Errorf("%s seed %d: %d max_error violations", f.name, seed, r.meViol)
			}
		}
	}
}
