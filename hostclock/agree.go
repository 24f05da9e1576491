package hostclock

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/xenradclock/xenradclock/bintime"
)

// Source agreement, after NTP's intersection algorithm (Marzullo's
// algorithm as RFC 5905 §11.2.1 and chrony use it): each server with a clock
// claims an interval that contains the true time, its clock read now ± its
// guaranteed bound (max_error, which holds half the path's RTT and the
// server's root distance, grown with the age of its last stamp). A lying
// server's interval misses the truth; honest servers' intervals all contain
// it. So, when honest servers are a majority, the truth is among the points
// that a majority of intervals contain, and the servers whose intervals
// contain none of those points are falsetickers.
//
// The agreement interval [Lo, Hi] is the span of the points a majority
// contains: it holds the truth as long as fewer than half of the servers
// lie, even when a liar's interval overlaps the honest ones (a liar that
// drifts away slowly cannot be told apart until it has left them). The
// published max_error covers it.

// SourceInterval is one server's claim at one instant: the true time is in
// [Center − Half, Center + Half].
type SourceInterval struct {
	Name   string
	Center bintime.Time
	Half   float64 // s, ≥ 0
}

// Agreement is the outcome of one intersection.
type Agreement struct {
	// Base is the number of servers a majority is counted among: every
	// server with a clock, and servers that may still get one (at start).
	Base int
	// Majority is the number of agreeing intervals needed: Base/2 + 1.
	Majority int
	// Depth is the largest number of intervals with a common point.
	Depth int
	// OK: some point is in at least Majority intervals.
	OK bool
	// Truechimer[name] for every interval: true when it contains a point of
	// a majority; false for a falseticker (all are false without a majority).
	Truechimer map[string]bool
	// Truechimers counts the true entries of Truechimer.
	Truechimers int
	// Lo and Hi bound the agreement interval (valid when OK): Lo is
	// LoFrom.Center − LoFrom.Half, Hi is HiFrom.Center + HiFrom.Half.
	LoFrom, HiFrom SourceInterval
}

// edge is one end of an interval on the line, relative to a reference.
type edge struct {
	x     float64 // s from the reference
	start bool
	i     int
}

// Intersect finds the points that a majority of base servers' intervals
// contain. base below len(iv) counts as len(iv).
func Intersect(iv []SourceInterval, base int) Agreement {
	base = max(base, len(iv))
	a := Agreement{Base: base, Majority: base/2 + 1, Truechimer: make(map[string]bool, len(iv))}
	for _, s := range iv {
		a.Truechimer[s.Name] = false
	}
	if len(iv) == 0 {
		return a
	}
	// Positions relative to the first centre: differences of bintimes are
	// exact, and float64 keeps ns resolution for centres up to weeks apart
	// (a liar years off is still far outside every honest interval).
	ref := iv[0].Center
	edges := make([]edge, 0, 2*len(iv))
	for i, s := range iv {
		c := s.Center.Sub(ref).Float()
		h := s.Half
		if math.IsNaN(h) || h < 0 {
			h = 0
		}
		edges = append(edges, edge{c - h, true, i}, edge{c + h, false, i})
	}
	// Starts before ends at the same point: touching intervals agree.
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].x != edges[j].x {
			return edges[i].x < edges[j].x
		}
		return edges[i].start && !edges[j].start
	})
	// Sweep: record each stretch where at least Majority intervals overlap.
	type stretch struct{ lo, hi float64 }
	var maj []stretch
	depth := 0
	loIdx, hiIdx := -1, -1
	for _, e := range edges {
		if e.start {
			depth++
			a.Depth = max(a.Depth, depth)
			if depth == a.Majority {
				maj = append(maj, stretch{lo: e.x})
				if loIdx < 0 {
					loIdx = e.i
				}
			}
			continue
		}
		if depth == a.Majority {
			maj[len(maj)-1].hi = e.x
			hiIdx = e.i
		}
		depth--
	}
	if len(maj) == 0 {
		return a
	}
	a.OK = true
	a.LoFrom, a.HiFrom = iv[loIdx], iv[hiIdx]
	for i, s := range iv {
		c := s.Center.Sub(ref).Float()
		lo, hi := c-s.Half, c+s.Half
		for _, m := range maj {
			if lo <= m.hi && hi >= m.lo {
				a.Truechimer[iv[i].Name] = true
				a.Truechimers++
				break
			}
		}
	}
	return a
}

// Cover is the half-width of the smallest interval centred on c that holds
// the agreement interval, s.
func (a Agreement) Cover(c bintime.Time) float64 {
	if !a.OK {
		return math.Inf(1)
	}
	lo := c.Sub(a.LoFrom.Center).Float() + a.LoFrom.Half
	hi := a.HiFrom.Center.Sub(c).Float() + a.HiFrom.Half
	return max(lo, hi, 0)
}

// Width is the agreement interval's width, s (+Inf without agreement).
func (a Agreement) Width() float64 {
	if !a.OK {
		return math.Inf(1)
	}
	return a.HiFrom.Center.Sub(a.LoFrom.Center).Float() + a.LoFrom.Half + a.HiFrom.Half
}

// Falsetickers lists the servers outside the agreement, sorted.
func (a Agreement) Falsetickers() []string {
	var out []string
	for n, ok := range a.Truechimer {
		if !ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Summary says in one line how the servers agree, for the status and logs.
func (a Agreement) Summary(minSources int) string {
	ft := a.Falsetickers()
	switch {
	case len(a.Truechimer) == 0:
		return "no server has a clock yet"
	case !a.OK && len(a.Truechimer) < a.Base:
		return fmt.Sprintf("waiting for servers to agree: %d of %d have a clock, %d needed in agreement",
			len(a.Truechimer), a.Base, a.Majority)
	case !a.OK:
		return fmt.Sprintf("no majority: at most %d of %d servers agree, %d needed; none trusted (%s)",
			a.Depth, a.Base, a.Majority, strings.Join(ft, ", "))
	case a.Truechimers < minSources:
		return fmt.Sprintf("%d servers agree, minsources is %d", a.Truechimers, minSources)
	case len(ft) > 0:
		return fmt.Sprintf("%d of %d servers agree; falsetickers: %s", a.Truechimers, len(a.Truechimer), strings.Join(ft, ", "))
	}
	return fmt.Sprintf("%d of %d servers agree", a.Truechimers, len(a.Truechimer))
}
