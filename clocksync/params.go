package clocksync

import (
	"math"

	"github.com/xenradclock/xenradclock/bintime"
)

// Absolute reads the clock at counter value T: RefTime + Period·(T − RefCount)
// in exact fixed point (a 64×64→128-bit product of the 2^-(64+shift) period
// and the tick difference), for T before RefCount too. Once T reaches LeapAt
// the pending leap second is applied (UTC labels).
func (p Params) Absolute(T uint64) bintime.Time {
	frac, shift, ok := bintime.PeriodFrac(p.Period)
	t := p.RefTime
	if ok {
		if T >= p.RefCount {
			t = t.Add(bintime.MulFrac(frac, shift, T-p.RefCount))
		} else {
			t = t.Sub(bintime.MulFrac(frac, shift, p.RefCount-T))
		}
	}
	if p.LeapNext != 0 && p.LeapAt != 0 && T >= p.LeapAt {
		t = t.Sub(bintime.Time{Sec: int64(p.LeapNext)})
	}
	return t
}

// Age is the time in seconds between the reference point and T.
func (p Params) Age(T uint64) float64 {
	if T >= p.RefCount {
		return float64(T-p.RefCount) * p.Period
	}
	return float64(p.RefCount-T) * p.Period
}

// Bounds gives the two error bounds of Absolute(T), in seconds, grown with
// the age |T − RefCount|·Period: the statistical error_bound (≥99% coverage
// on symmetric paths) and the guaranteed max_error. error_bound never
// exceeds max_error: a statistical bound wider than the guaranteed one is
// meaningless (its quadratic growth overtakes max_error's linear one after
// days without an update).
func (p Params) Bounds(T uint64) (errorBound, maxError float64) {
	a := p.Age(T)
	maxError = p.MaxError + p.MaxErrorRate*a
	return min(p.ErrorBound+p.ErrorRate*a+p.ErrorDrift*a*a, maxError), maxError
}

// Difference is the difference clock Cd between counter values T1 and T2,
// T2 − T1 in seconds, using the local period (valid for intervals well
// under the SKM scale; it is exact fixed point only to float64 precision).
func (p Params) Difference(T1, T2 uint64) float64 {
	per := p.PeriodLocal
	if !(per > 0) {
		per = p.Period
	}
	if T2 >= T1 {
		return float64(T2-T1) * per
	}
	return -float64(T1-T2) * per
}

// StatusAt is Status as seen by a reader at counter value T: it adds
// StatusStarving when no stamp has been accepted for more than 10 poll
// periods (RefCount is the last accepted stamp's Tf).
func (p Params) StatusAt(T uint64) Status {
	s := p.Status
	if p.NextExpected > p.RefCount && T > p.RefCount {
		poll := float64(p.NextExpected - p.RefCount)
		if float64(T-p.RefCount) > 10*poll {
			s |= StatusStarving
		}
	}
	return s
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
