package clocksync_test

import (
	"math"
	"testing"

	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/clocksync/sim"
)

// stepRun runs a scenario with the estimator and plain RADclock side by
// side and scores both over [from, to) s: max |error| of each, and the
// estimator's error_bound coverage and max_error violations there.
type stepRun struct {
	estMax, baseMax  float64
	covered, n, viol int
	suspect          int // stamps flagged server-suspect
}

func runSideBySide(t *testing.T, sc sim.Scenario, from, to float64) stepRun {
	t.Helper()
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	est, base, err := newPair(sc)
	if err != nil {
		t.Fatal(err)
	}
	var out stepRun
	for {
		ex, ok := s.Next()
		if !ok {
			return out
		}
		if ex.Lost {
			continue
		}
		r := est.Process(ex.Stamp)
		base.Process(ex.Stamp)
		if ex.T < from || ex.T >= to {
			continue
		}
		tf := ex.Stamp.Tf
		truth := s.TrueTime(tf)
		e := math.Abs(r.Params.Absolute(tf).Sub(truth).Float())
		eb, me := r.Params.Bounds(tf)
		out.estMax = max(out.estMax, e)
		out.baseMax = max(out.baseMax, math.Abs(base.Absolute(tf).Sub(truth).Float()))
		out.n++
		if e <= eb {
			out.covered++
		}
		if e > me {
			out.viol++
		}
		if r.Params.Status&clocksync.StatusServerSuspect != 0 {
			out.suspect++
		}
	}
}

// TestRateStep: a 0.1 ppm step of the oscillator's rate at a 16 s poll,
// after the long warm-up of both clocks. The estimator must not lose more
// than plain RADclock does (max |error| from the step on; measured 9.7–26.5
// µs against RADclock's 29.5–38.3 µs). Before the rate-change test the
// filter flagged the stamps server-suspect, free-ran on the old rate and
// reached 178 µs 30 minutes after the step (seed 3), until SuspectHold
// accepted a step in offset with the rate still wrong (this test failed on
// that code for every seed). error_bound's coverage from the step on is
// 97.9–99.6% (96.6–99.6% before the runs' departures widened it): the
// 99% the estimator promises is not yet met on every seed; 97.5% is
// asserted so that it cannot get worse unnoticed.
func TestRateStep(t *testing.T) {
	for _, seed := range []uint64{3, 4, 5, 6} {
		for _, ppm := range []float64{0.1, -0.1} {
			sc := sim.LAN(seed, 12*3600)
			sc.Osc.Steps = []sim.RateStep{{At: 6 * 3600, PPM: ppm}}
			r := runSideBySide(t, sc, 6*3600, 12*3600)
			cov := float64(r.covered) / float64(r.n)
			t.Logf("seed %d, %+.1f ppm: max |error| %.1fµs (RADclock %.1fµs), error_bound coverage %.2f%%, suspect flags %d",
				seed, ppm, r.estMax*1e6, r.baseMax*1e6, 100*cov, r.suspect)
			if r.estMax > r.baseMax {
				t.Errorf("seed %d, %+.1f ppm: max |error| %.1fµs above RADclock's %.1fµs", seed, ppm, r.estMax*1e6, r.baseMax*1e6)
			}
			if cov < 0.975 || r.viol > 0 {
				t.Errorf("seed %d, %+.1f ppm: coverage %.2f%%, %d max_error violations", seed, ppm, 100*cov, r.viol)
			}
		}
	}
}

// TestLearnedWander: on the sweep's flicker family (tuning seeds 1–3) the
// learnt rate wander keeps error_bound's coverage above 88% (90.8–95.2%;
// with RateWander fixed, before the learning, the family's worst tuning
// run was at 82.5%) and the p99 error within 1.25 × plain RADclock's
// (7.1–8.4 µs against 7.5–13.7 µs; before, up to twice RADclock's). The
// target, 99%, is not met.
func TestLearnedWander(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		r, err := runSweep(families[1], seed)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("flicker seed %d: coverage %.2f%%, p99 %.2fµs (RADclock %.2fµs)", seed, 100*r.cov, r.estP99*1e6, r.baseP99*1e6)
		if r.cov < 0.88 || r.estP99 > 1.25*r.baseP99 || r.meViol > 0 {
			t.Errorf("flicker seed %d: coverage %.2f%%, p99 %.2fµs vs RADclock %.2fµs, %d max_error violations",
				seed, 100*r.cov, r.estP99*1e6, r.baseP99*1e6, r.meViol)
		}
	}
}
