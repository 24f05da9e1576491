package clocksync

import (
	"math"

	"github.com/xenradclock/xenradclock/bintime"
)

// The coverage self-check: error_bound promises 99%, and the daemon checks
// that promise against its own stamps. The filter's model of the
// oscillator (its rate wander) and of the path is an assumption; where the
// real oscillator wanders more, or the rate moves, the clock's error makes
// slow excursions that one stamp's noise hides but a few minutes of
// stamps on both sides of a moment reveal. So each published clock is
// judged in retrospect, covHalf stamps later: a weighted line through the
// usable stamps within covHalf stamps (and covSpanS seconds) on each side
// gives the server's time at that moment with a small, known variance, and
// the published clock is a miss if it lies outside √(error_bound² +
// covZ²·variance) of it. BoundScale, the factor on error_bound and its
// growth, follows the miss rate with a stochastic-approximation quantile
// tracker: log-scale steps of covGain·(miss − covMissRate), each weighted
// by how much the fit can tell, error_bound²/(error_bound² +
// covZ²·variance). It never goes below 1 (the model's bound is the floor:
// quiet stretches do not narrow it) nor above covMaxScale.
//
// Everything is kept in a fixed frame set at the first stamp (counter
// origin, server time, period), so that anchor moves and period updates do
// not move the stamps already kept.
const (
	covHalf     = 16
	covRing     = 2*covHalf + 1
	covSpanS    = 1200
	covMinSide  = 3 // usable stamps needed on each side of the moment judged
	covMissRate = 0.01
	covZ        = 2.576
	covGain     = 0.1
	covMaxScale = 8
	covVarW     = 1.0 / 256
	covVarMin   = 64
)

// covEntry is one stamp as the self-check keeps it, in the frame's terms.
type covEntry struct {
	T     float64 // counter midpoint of the exchange, s since the frame's origin
	Z     float64 // server midpoint, corrected for the carried asymmetry, minus the frame's line, s
	W     float64 // 1/variance of Z, 1/s² (0: not usable)
	Pub   float64 // the clock published after this stamp, at T, minus the frame's line, s
	EB    float64 // its error_bound at T, s
	EB0   float64 // the same before BoundScale widened it, s
	Judge bool    // past the fast start: this clock's bound is judged
}

// covCheck is the self-check's state: the frame and the last covRing stamps.
type covCheck struct {
	Set    bool
	Origin uint64       // counter value of the frame's origin
	Time   bintime.Time // server time at the origin
	Per    float64      // the frame's period, s per tick
	N      int64        // stamps kept so far (the ring holds the last covRing)
	Misses int64        // judged clocks that missed
	Judged int64
	Track  float64 // the quantile tracker's scale (≥ 1; 0 in a fresh state means 1)
	// EWMAs of the judged clocks' squared error, less the fit's variance,
	// and of their unwidened bound's variance (error_bound/covZ)².
	Err2, Bound2 float64
	Ring         [covRing]covEntry
}

// selfCheck keeps stamp s (usable: an accepted offset update of good
// quality, whose naive offset has variance noiseVar) with the clock just
// published, and judges the clock published covHalf stamps ago.
func (e *Estimator) selfCheck(s Stamp, noiseVar float64, usable bool) {
	st := &e.st
	c := &st.Cov
	mid := s.Ta + (s.Tf-s.Ta)/2
	if !c.Set || mid < c.Origin {
		*c = covCheck{Set: true, Origin: mid, Time: s.Tb, Per: st.Phat}
	}
	t := float64(mid-c.Origin) * c.Per
	line := func(x bintime.Time) float64 { return x.Sub(c.Time).Float() - t }
	server := s.Tb.Add(bintime.MustFloat(s.Te.Sub(s.Tb).Float() / 2))
	eb, _ := st.P.Bounds(mid)
	en := covEntry{T: t, Z: line(server) - st.Beta, Pub: line(st.P.Absolute(mid)), EB: eb, EB0: eb / max(st.BoundScale, 1),
		Judge: st.Updates >= 16 && st.I > e.fastWarm() && finite(eb) && eb > 0}
	if usable && noiseVar > 0 {
		en.W = 1 / noiseVar
	}
	c.Ring[c.N%covRing] = en
	c.N++
	if c.N < covRing {
		return
	}
	e.judge(&c.Ring[(c.N-1-covHalf)%covRing])
}

// judge fits the stamps around clock j and moves BoundScale.
func (e *Estimator) judge(j *covEntry) {
	st := &e.st
	c := &st.Cov
	if !j.Judge {
		return
	}
	span := max(covSpanS, covMinSide*1.5*st.Poll)
	var sw, st1, st2, sz, stz float64
	before, after := 0, 0
	for k := range c.Ring {
		en := &c.Ring[k]
		dt := en.T - j.T
		if en.W == 0 || math.Abs(dt) > span {
			continue
		}
		if dt < 0 {
			before++
		} else if dt > 0 {
			after++
		}
		sw += en.W
		st1 += en.W * dt
		st2 += en.W * dt * dt
		sz += en.W * en.Z
		stz += en.W * dt * en.Z
	}
	det := sw*st2 - st1*st1
	if before < covMinSide || after < covMinSide || !(det > 0) {
		return
	}
	at := (st2*sz - st1*stz) / det // the fitted line at j.T
	v := st2 / det                 // its variance
	eb2, noise := j.EB*j.EB, covZ*covZ*v
	d := j.Pub - at
	miss := 0.0
	if d*d > eb2+noise {
		miss = 1
		c.Misses++
	}
	c.Judged++
	l := math.Log(max(c.Track, 1)) + covGain*eb2/(eb2+noise)*(miss-covMissRate)
	c.Track = min(max(math.Exp(l), 1), covMaxScale)
	w := max(covVarW, 1/float64(c.Judged))
	c.Err2 += (d*d - v - c.Err2) * w
	c.Bound2 += (j.EB0*j.EB0/(covZ*covZ) - c.Bound2) * w
	byVar := 1.0
	if c.Judged >= covVarMin && c.Err2 > 0 && c.Bound2 > 0 {
		byVar = math.Sqrt(c.Err2 / c.Bound2)
	}
	st.BoundScale = min(max(c.Track, byVar, 1), covMaxScale)
}
