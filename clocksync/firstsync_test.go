package clocksync_test

import (
	"math/rand/v2"
	"testing"

	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/clocksync/sim"
)

// TestFirstSync: on every path and oscillator family of the sweep, and on
// the far server, at 1 s and 16 s polls with the live schedule (a burst of
// 8 at 2 s), the clock is synchronised (StatusUnsync clear) within 30 s of
// the first exchange (the loaded loopback, where every packet queues
// 0.5 ms on average, too), with max_error at most 1 ms beyond half the path's
// minimum RTT (which no guaranteed bound can beat: 5 ms for the far
// server) at that moment, and the truth inside it.
func TestFirstSync(t *testing.T) {
	const limitS, maxErrS = 30, 1e-3
	type cas struct {
		name string
		sc   sim.Scenario
	}
	var cases []cas
	for _, f := range families {
		seed := uint64(9_100_001)
		cases = append(cases, cas{f.name, f.draw(rand.New(rand.NewPCG(seed, 0xfa111e5)), seed)})
	}
	cases = append(cases, cas{"far", sim.Far(9_100_002, 600)},
		cas{"loaded-loopback", loadedLoopback(9_100_003, 16, 600)})
	for _, c := range cases {
		for _, poll := range []float64{1, 16} {
			sc := c.sc
			sc.Poll = sim.Live(poll, 120)
			s, err := sim.New(sc)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			est, _, err := newPair(sc)
			if err != nil {
				t.Fatal(err)
			}
			at, me, truthErr := -1.0, 0.0, 0.0
			for at < 0 {
				ex, ok := s.Next()
				if !ok {
					break
				}
				if ex.Lost {
					continue
				}
				p := est.Process(ex.Stamp).Params
				if p.Status&clocksync.StatusUnsync == 0 {
					tf := ex.Stamp.Tf
					at = ex.T
					_, me = p.Bounds(tf)
					truthErr = p.Absolute(tf).Sub(s.TrueTime(tf)).Float()
				}
			}
			t.Logf("%s at %.0f s: synchronised %.0f s after start, max_error %.0f µs, error %.1f µs", c.name, poll, at, 1e6*me, 1e6*truthErr)
			switch {
			case at < 0 || at > limitS:
				t.Errorf("%s at %.0f s: not synchronised within %d s (at %.0f s)", c.name, poll, limitS, at)
			case me > maxErrS+(sc.Path.MinFwd+sc.Path.MinBack)/2:
				t.Errorf("%s at %.0f s: max_error %.0f µs at first sync, want ≤ 1 ms + RTT/2", c.name, poll, 1e6*me)
			case !(abs(truthErr) <= me):
				t.Errorf("%s at %.0f s: error %.1f µs outside max_error %.1f µs", c.name, poll, 1e6*truthErr, 1e6*me)
			}
		}
	}
}

func abs(x float64) float64 { return max(x, -x) }
