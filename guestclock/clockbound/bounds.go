package clockbound

import (
	"fmt"
	"math"
	"math/bits"
)

// Client-side constants of ClockBound's reader: a segment keeps its written
// status for RestartGraceNs after as-of, then reads as free-running until
// void-after and unknown after it; an as-of up to CausalityBlurNs in the
// future is taken as now.
const (
	RestartGraceNs  = 5_000_000_000
	CausalityBlurNs = 1000
)

// Bounds is what a ClockBound client reports at one instant: the interval
// that contains true time, and the clock status.
type Bounds struct {
	EarliestNs int64 // UNIX ns
	LatestNs   int64
	Status     Status
}

// BoundsAt is what ClockBound's client computes from s at the instant where
// CLOCK_REALTIME reads realtimeNs and CLOCK_MONOTONIC_COARSE reads coarseNs:
// bound + max_drift·(coarse − as_of) either side of realtime, and the status
// aged as above. It grows the bound with exact integer arithmetic, rounding
// up (ClockBound's client truncates a float64 product, so its interval can
// be up to a nanosecond narrower).
func (s *Segment) BoundsAt(realtimeNs, coarseNs int64) (Bounds, error) {
	if s.MaxDriftPPB >= MaxDriftLimitPPB {
		return Bounds{}, fmt.Errorf("%w: max drift %d ppb", ErrMalformed, s.MaxDriftPPB)
	}
	asOf, ok1 := s.AsOf.Ns()
	voidAfter, ok2 := s.VoidAfter.Ns()
	if !ok1 || !ok2 || s.BoundNs < 0 {
		return Bounds{}, fmt.Errorf("%w: as-of, void-after or bound out of range", ErrMalformed)
	}
	b := Bounds{Status: s.Status}
	if s.Status == StatusSynchronized || s.Status == StatusFreeRunning {
		switch {
		case coarseNs < satAdd(asOf, RestartGraceNs):
		case coarseNs < voidAfter:
			b.Status = StatusFreeRunning
		default:
			b.Status = StatusUnknown
		}
	}
	var age uint64
	switch {
	case coarseNs >= asOf:
		age = uint64(coarseNs - asOf) // no overflow: both are int64 and coarse >= asOf
	case coarseNs > asOf-CausalityBlurNs:
	default:
		return Bounds{}, fmt.Errorf("%w: as-of %d ns, now %d ns", ErrCausality, asOf, coarseNs)
	}
	bound := satAdd(s.BoundNs, growthNs(age, s.MaxDriftPPB))
	b.EarliestNs, b.LatestNs = satAdd(realtimeNs, -bound), satAdd(realtimeNs, bound)
	return b, nil
}

// growthNs is ceil(ageNs·ppb/1e9), saturated at MaxInt64.
func growthNs(ageNs uint64, ppb uint32) int64 {
	hi, lo := bits.Mul64(ageNs, uint64(ppb))
	lo, c := bits.Add64(lo, 1e9-1, 0)
	hi += c
	if hi >= 1e9 {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, 1e9)
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// satAdd is a + b saturated to the int64 range.
func satAdd(a, b int64) int64 {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		if b > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return s
}
