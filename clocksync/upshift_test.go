package clocksync_test

import (
	"math"
	"testing"

	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/clocksync/sim"
)

// A permanent +1 ms RTT step (both ways) preceded by a stretch of loaded
// stamps (RTT about 1.38 ms, above the new level) must be accepted within 3
// minutes at 1 s polling and within 10 polls at 16 s: the failure
// took a loaded pre-shift stamp for the new level's minimum.
func TestPermanentUpshift(t *testing.T) {
	for _, c := range []struct {
		poll   float64
		loaded bool
	}{{1, true}, {16, true}, {1, false}, {16, false}} {
		poll := c.poll
		const start = 20000.0
		sc := sim.LAN(21, start+3600)
		sc.Poll = sim.Live(poll, start+3600)
		sc.Path.Shifts = []sim.LevelShift{
			{Start: start - 20*poll, End: start, Fwd: 0.64e-3, Back: 0.64e-3},
			{Start: start, End: 1e12, Fwd: 0.5e-3, Back: 0.5e-3},
		}
		if !c.loaded {
			sc.Path.Shifts = sc.Path.Shifts[1:]
		}
		accepted := -1.0
		var worst float64
		runScenario(t, sc, runOpts{cfg: func(c *clocksync.Config) { c.QuickUpshift = true }, report: func(ex sim.Exchange, r clocksync.Result, e float64) {
			if ex.T < start {
				return
			}
			if accepted < 0 && r.Params.Status&(clocksync.StatusOffsetQuality|clocksync.StatusOffsetSanity) == 0 {
				accepted = ex.T - start
			}
			if ex.T > start+600 {
				worst = max(worst, math.Abs(e))
			}
		}})
		limit := 180.0
		if poll == 16 {
			limit = 10 * poll
		}
		t.Logf("poll %.0f s, loaded before %v: permanent +1 ms step accepted after %.0f s (limit %.0f s); max |error| after 10 min %.1fµs",
			poll, c.loaded, accepted, limit, worst*1e6)
		if accepted < 0 || accepted > limit {
			t.Errorf("poll %.0f s: permanent step accepted after %.0f s, want within %.0f s", poll, accepted, limit)
		}
		if worst > 50e-6 {
			t.Errorf("poll %.0f s: max |error| after the step %.1fµs > 50µs", poll, worst*1e6)
		}
	}
}
