// Package compare is the accuracy comparison of dom0d with chronyd on real
// sockets (`make compare`, docs/compare.md). One emulation server per
// scenario serves every client from the same delay streams; the served clock
// is a known function of CLOCK_MONOTONIC_RAW, so each client's error is exact.
package compare

import (
	"math"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
)

// Served is the served clock S: at CLOCK_MONOTONIC_RAW reading raw (ns)
//
//	S = Base + Offset + el + el·SkewPPM·1e-6 + W(el),   el = raw − Raw0
//
// where W is a sinusoidal wander of the rate by ±WanderPPM with period
// WanderPeriod: W(el) = WanderPPM·1e-6·P/2π·(1 − cos 2π·el/P).
type Served struct {
	Base         bintime.Time // CLOCK_REALTIME at Raw0
	Raw0         int64
	Offset       time.Duration
	SkewPPM      float64
	WanderPPM    float64
	WanderPeriod time.Duration
}

// At is the served time at raw count raw (ns). The integer part of the
// elapsed time is exact; only the rate terms (at most milliseconds over a
// run) are computed in float64.
func (s *Served) At(raw int64) bintime.Time {
	el := raw - s.Raw0
	small := float64(el) * s.SkewPPM * 1e-6
	if s.WanderPPM != 0 && s.WanderPeriod > 0 {
		p := float64(s.WanderPeriod)
		small += s.WanderPPM * 1e-6 * p / (2 * math.Pi) * (1 - math.Cos(2*math.Pi*float64(el)/p))
	}
	return s.Base.Add(bintime.FromNanos(int64(s.Offset) + el + int64(math.Round(small))))
}

// RatePPM is the served clock's rate error against CLOCK_MONOTONIC_RAW at
// raw count raw: the frequency a client should estimate.
func (s *Served) RatePPM(raw int64) float64 {
	r := s.SkewPPM
	if s.WanderPPM != 0 && s.WanderPeriod > 0 {
		r += s.WanderPPM * math.Sin(2*math.Pi*float64(raw-s.Raw0)/float64(s.WanderPeriod))
	}
	return r
}
