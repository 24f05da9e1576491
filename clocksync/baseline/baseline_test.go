package baseline_test

import (
	"math"
	"sort"
	"testing"

	"github.com/xenradclock/xenradclock/clocksync/baseline"
	"github.com/xenradclock/xenradclock/clocksync/sim"
)

type result struct {
	errs       []float64 // |error| at each stamp's Tf after the first hour
	covered, n int
	maxAbs     float64
}

func run(t *testing.T, sc sim.Scenario) result {
	t.Helper()
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseline.DefaultConfig()
	cfg.CounterHz, cfg.PollPeriod = sc.Osc.NominalHz, sc.Poll.Period
	c := baseline.New(cfg)
	var res result
	for {
		ex, ok := s.Next()
		if !ok {
			return res
		}
		if ex.Lost || !c.Process(ex.Stamp) || ex.T < 3600 {
			continue
		}
		e := math.Abs(c.Absolute(ex.Stamp.Tf).Sub(s.TrueTime(ex.Stamp.Tf)).Float())
		res.errs = append(res.errs, e)
		res.maxAbs = max(res.maxAbs, e)
		res.n++
		if e <= c.ErrorBound(ex.Stamp.Tf) {
			res.covered++
		}
	}
}

func quantile(xs []float64, q float64) float64 {
	c := append([]float64(nil), xs...)
	sort.Float64s(c)
	return c[max(int(math.Ceil(q*float64(len(c))))-1, 0)]
}

// TestLAN: on the LAN preset plain RADclock tracks the server to a few µs
// (a mean over 64 nearly uniformly weighted stamps, 17 minutes, moved
// forward with the local rate): 2.36–2.44 µs median, as measured outside
// the project on a similar trace (2.35 µs). Without the local-rate
// correction the daily cycle's lag made it 10.6–10.9 µs.
func TestLAN(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		r := run(t, sim.LAN(seed, 2*86400))
		med, p99 := quantile(r.errs, 0.5), quantile(r.errs, 0.99)
		t.Logf("seed %d: median %.2fµs p99 %.2fµs max %.2fµs, bound coverage %.2f%%", seed, med*1e6, p99*1e6, r.maxAbs*1e6,
			100*float64(r.covered)/float64(r.n))
		if med < 1e-6 || med > 5e-6 || p99 > 15e-6 {
			t.Errorf("seed %d: median %.2fµs p99 %.2fµs", seed, med*1e6, p99*1e6)
		}
	}
}

// TestForwardShiftBiases: RADclock takes no asymmetry into account, so a
// 1 ms forward-only level shift that lasts past its detection moves the
// clock by about half of it (the weakness the estimator's asymmetry carry
// fixes). Before detection (ShiftWin stamps) it free-runs.
func TestForwardShiftBiases(t *testing.T) {
	sc := sim.LAN(7, 86400)
	sc.Path.Shifts = []sim.LevelShift{{Start: 6 * 3600, End: 12 * 3600, Fwd: 1e-3}}
	s, _ := sim.New(sc)
	c := baseline.New(baseline.DefaultConfig())
	worst := 0.0
	for {
		ex, ok := s.Next()
		if !ok {
			break
		}
		if ex.Lost || !c.Process(ex.Stamp) {
			continue
		}
		if ex.T > 9*3600 && ex.T < 12*3600 {
			worst = max(worst, math.Abs(c.Absolute(ex.Stamp.Tf).Sub(s.TrueTime(ex.Stamp.Tf)).Float()))
		}
	}
	t.Logf("max |error| late in the shift: %.1fµs", worst*1e6)
	if worst < 300e-6 || worst > 700e-6 {
		t.Errorf("max |error| during the shift %.1fµs, want about 500µs", worst*1e6)
	}
}
