package hostclock

import (
	"math"
	"time"
)

// Preferred-server selection, after RADclock v0.8's multi-server daemon: each
// server has its own estimator and clock; the published clock is that of the
// server with the smallest path penalty, and the choice only changes when it
// is worth it (anti-churn).
//
// The penalty, in seconds, bounds how wrong the server's clock may be:
//
//	penalty = relasym·minRTT        path asymmetry can hide up to this much offset
//	        + TV                    EWMA of the RTT baseline's movements (route changes)
//	        + errorBound            the estimator's own quality at its last stamp
//	        + gap·rateErrorBound    only for a starving server: drift since its last stamp
//
// A server counts only after MinStamps accepted stamps, and never while it
// is a falseticker. Until some server
// counts, the clock of the server with most stamps is published as a
// provisional choice, so the host has a clock during warm-up.

// PathInput is what the selector needs to know about one server at one
// instant. It is plain data, filled from the server's estimator.
type PathInput struct {
	Name           string
	Usable         bool    // false after a kiss-o'-death DENY/RSTR or a fatal error
	Stamps         int     // stamps accepted by the server's estimator
	MinRTT         float64 // s
	ErrorBound     float64 // s, at the last accepted stamp
	RateErrorBound float64 // relative
	Gap            time.Duration
	Poll           time.Duration
	// Falseticker: the server's interval is outside the servers' agreement
	// (see Intersect); it cannot be chosen, not even provisionally.
	Falseticker bool
	// Unsynced: the server's estimate is still unsynchronised (a guess).
	Unsynced bool
}

// Starving tells whether the server has had no accepted stamp for more than
// ten poll periods (RADclock's STARVING rule).
func (p PathInput) Starving() bool { return p.Poll > 0 && p.Gap > 10*p.Poll }

// SelectConfig holds the selection's tuning.
type SelectConfig struct {
	MinStamps    int
	Hold         time.Duration // no switch within Hold of the previous one
	Gain         float64       // a switch needs penalty < (1−Gain)·current
	RelAsymBound float64
	TVAlpha      float64 // EWMA weight of the baseline total variation
}

// DefaultRateErrorBound stands in for a server whose estimator reported
// none (RADclock's rate_error_bound for "good" quality, as
// clocksync.Config.OscRateErrorSpec).
const DefaultRateErrorBound = 5e-7

// Decision is the outcome of one selection.
type Decision struct {
	Preferred   string // "" when no server has a clock yet
	Provisional bool   // no server has MinStamps yet
	Switched    bool   // Preferred differs from the previous choice
	Previous    string
	Reason      string
	Penalties   map[string]float64 // per server; +Inf for servers that do not count
}

// Selector is the selection's state: the current choice, when it was made,
// and each server's smoothed RTT-baseline variation. It does no I/O and
// reads no clock: time enters as the now argument.
type Selector struct {
	cfg         SelectConfig
	current     string
	lastSwitch  time.Duration
	tv          map[string]*tvState
	counted     map[string]bool // servers that counted at the previous Choose
	provisional bool            // the current choice was provisional
	switches    int
}

type tvState struct {
	last float64
	tv   float64
	seen bool
}

// NewSelector makes a selector; zero fields of cfg get RADclock's values.
func NewSelector(cfg SelectConfig) *Selector {
	if cfg.MinStamps <= 0 {
		cfg.MinStamps = DefaultSelectStamps
	}
	if cfg.Gain <= 0 || cfg.Gain >= 1 {
		cfg.Gain = DefaultSelectGain
	}
	if cfg.RelAsymBound <= 0 {
		cfg.RelAsymBound = 0.5
	}
	if cfg.TVAlpha <= 0 || cfg.TVAlpha > 1 {
		cfg.TVAlpha = 0.1
	}
	return &Selector{cfg: cfg, tv: map[string]*tvState{}, counted: map[string]bool{}}
}

// SetConfig changes the tuning (after a reload) and keeps the state.
func (s *Selector) SetConfig(cfg SelectConfig) {
	s.cfg = NewSelector(cfg).cfg
}

// Current is the present choice ("" before any).
func (s *Selector) Current() string { return s.current }

// Switches counts the changes of preferred server so far.
func (s *Selector) Switches() int { return s.switches }

// ObserveBaseline feeds the server's RTT baseline (its estimator's minimum
// RTT) after each accepted stamp, to track how much the path moves.
func (s *Selector) ObserveBaseline(name string, minRTT float64) {
	if math.IsNaN(minRTT) || math.IsInf(minRTT, 0) || minRTT < 0 {
		return
	}
	st := s.tv[name]
	if st == nil {
		st = &tvState{}
		s.tv[name] = st
	}
	if st.seen {
		st.tv = (1-s.cfg.TVAlpha)*st.tv + s.cfg.TVAlpha*math.Abs(minRTT-st.last)
	}
	st.last = minRTT
	st.seen = true
}

// Variation is the smoothed RTT-baseline variation of a server, s.
func (s *Selector) Variation(name string) float64 {
	if st := s.tv[name]; st != nil {
		return st.tv
	}
	return 0
}

// Forget drops a server's history (it was removed by a reload).
func (s *Selector) Forget(name string) {
	delete(s.tv, name)
	delete(s.counted, name)
	if s.current == name {
		s.current = ""
	}
}

// Penalty is the path penalty of one server, in seconds; +Inf when the
// server does not count (unusable or too few stamps).
func (s *Selector) Penalty(p PathInput) float64 {
	if !p.Usable || p.Falseticker || p.Stamps < s.cfg.MinStamps || p.Stamps <= 0 {
		return math.Inf(1)
	}
	return s.rawPenalty(p)
}

func (s *Selector) rawPenalty(p PathInput) float64 {
	pen := s.cfg.RelAsymBound*finite(p.MinRTT) + s.Variation(p.Name) + finite(p.ErrorBound)
	if p.Starving() {
		rate := p.RateErrorBound
		if !(rate > 0) || math.IsInf(rate, 0) {
			rate = DefaultRateErrorBound
		}
		pen += p.Gap.Seconds() * rate
	}
	return pen
}

func finite(x float64) float64 {
	if math.IsNaN(x) || x < 0 {
		return 0
	}
	if math.IsInf(x, 0) {
		return math.MaxFloat64 / 4
	}
	return x
}

// aboutToCount: a usable server within a quarter of MinStamps of counting
// whose stamps still arrive.
func (s *Selector) aboutToCount(p PathInput) bool {
	return p.Usable && !p.Falseticker && p.Stamps > 0 && p.Stamps >= s.cfg.MinStamps-max(s.cfg.MinStamps/4, 1) &&
		!p.Starving() && (p.Poll <= 0 || p.Gap <= 2*p.Poll)
}

// Choose makes the selection at monotonic instant now. paths is in
// configuration order, which breaks ties.
func (s *Selector) Choose(now time.Duration, paths []PathInput) Decision {
	d := Decision{Previous: s.current, Penalties: make(map[string]float64, len(paths))}
	best, bestPen := -1, math.Inf(1)
	cur, curPen := -1, math.Inf(1)
	newcomer := map[string]bool{}
	counted := make(map[string]bool, len(paths))
	for i, p := range paths {
		pen := s.Penalty(p)
		d.Penalties[p.Name] = pen
		if !math.IsInf(pen, 1) {
			counted[p.Name] = true
			newcomer[p.Name] = !s.counted[p.Name]
		}
		if pen < bestPen {
			best, bestPen = i, pen
		}
		if p.Name == s.current {
			cur, curPen = i, pen
		}
	}
	// The hold protects a choice made among servers that counted, not a
	// provisional one.
	held := now-s.lastSwitch < s.cfg.Hold && !s.provisional
	switch {
	case best >= 0 && cur >= 0 && !math.IsInf(curPen, 1):
		// The current server counts: switch only for a clear improvement,
		// and only after the hold time, except to a server that has just
		// come to count (it could not compete when the choice was made).
		d.Preferred = s.current
		d.Reason = "kept"
		bn := paths[best].Name
		// Never from a synchronised clock to a guess: the published state
		// would dip to unsynchronised.
		guess := paths[best].Unsynced && !paths[cur].Unsynced
		if best != cur && bestPen < (1-s.cfg.Gain)*curPen && !guess {
			switch {
			case !held:
				d.Preferred, d.Reason = bn, "better path"
			case newcomer[bn]:
				d.Preferred, d.Reason = bn, "better path, new server"
			}
		}
	case best >= 0 && cur >= 0 && s.aboutToCount(paths[cur]):
		// A provisional choice a few stamps short of counting, and still
		// fed: wait for it rather than switch away and maybe back.
		d.Preferred, d.Provisional = s.current, true
		d.Reason = "provisional, about to count"
	case best >= 0:
		// The current server does not count (none yet, provisional, lost,
		// too few stamps after a reset): take the best that counts now.
		d.Preferred = paths[best].Name
		switch {
		case s.current == "":
			d.Reason = "first server with enough stamps"
		case cur < 0 || !paths[cur].Usable:
			d.Reason = "previous server unusable"
		case paths[cur].Falseticker:
			d.Reason = "previous server is a falseticker"
		default:
			d.Reason = "previous server does not count"
		}
	default:
		// Nobody counts yet: provisional, keep the current one while it
		// has stamps, otherwise the one with most stamps.
		d.Provisional = true
		if cur >= 0 && paths[cur].Usable && !paths[cur].Falseticker && paths[cur].Stamps > 0 {
			d.Preferred = s.current
			d.Reason = "provisional, kept"
			break
		}
		most := -1
		for i, p := range paths {
			if p.Usable && !p.Falseticker && p.Stamps > 0 && (most < 0 || p.Stamps > paths[most].Stamps) {
				most = i
			}
		}
		if most >= 0 {
			d.Preferred = paths[most].Name
			d.Reason = "provisional, most stamps"
		} else {
			d.Reason = "no server has a clock yet"
		}
	}
	s.counted = counted
	s.provisional = d.Provisional
	if d.Preferred != s.current {
		d.Switched = true
		s.current = d.Preferred
		if d.Preferred != "" {
			s.lastSwitch = now
			s.switches++
		}
	}
	return d
}
