package hostclock

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/clocksync"
)

// leapVoter tells whether a server's leap indicator counts in the vote: it
// has a clock in the agreement, is not a falseticker, and is reachable (an
// accepted stamp within the starvation limit of its poll). Servers awaited
// at start count as voting "no leap".
func (e *Engine) leapVoter(s *serverState, ag Agreement) bool {
	if !e.candidate(s) || !s.haveStamp {
		return false
	}
	if ok, has := ag.Truechimer[s.cfg.Address]; has && !ok {
		return false
	}
	gap := e.now(e.lastCount - min(s.lastTf, e.lastCount))
	return !(PathInput{Poll: s.cfg.Poll, Gap: gap}).Starving()
}

// voteLeap takes the latest leap indicator of every voter, votes
// (clocksync.VoteLeap: a majority, and only at the end of June or
// December) and hands the outcome to every estimator, so that no single
// server's indicator schedules a leap. With no voter the last vote holds.
func (e *Engine) voteLeap(ag Agreement) {
	var lis []uint8
	var announcing []string
	var nowUTC int64
	awaited := 0
	for _, s := range e.servers {
		if !e.leapVoter(s, ag) {
			if e.awaited(s) {
				awaited++
			}
			continue
		}
		if len(lis) == 0 {
			nowUTC = s.params.Absolute(e.lastCount).Sec
		}
		lis = append(lis, s.side.Leap)
		if s.side.Leap == 1 || s.side.Leap == 2 {
			announcing = append(announcing, s.cfg.Address)
		}
	}
	if len(lis) > 0 {
		// A server awaited at start counts as not announcing, as in the
		// agreement's majority: the first to answer cannot outvote the rest.
		lis = append(lis, make([]uint8, awaited)...)
		e.leap = clocksync.VoteLeap(lis, nowUTC)
		e.noteLeap(e.leap, announcing)
	}
	for _, s := range e.servers {
		s.est.SetLeap(e.leap.Next, e.leap.At)
	}
}

// noteLeap logs a change of the leap vote once: a scheduled leap at info,
// an announcement ignored (a minority, or outside June and December) at
// warn.
func (e *Engine) noteLeap(v clocksync.LeapVote, announcing []string) {
	key := fmt.Sprint(v.Next, v.At, v.WrongMonth, announcing)
	if key == e.leapKey {
		return
	}
	e.leapKey = key
	fields := []zap.Field{zap.Strings("announcing", announcing), zap.Int("inserting", v.Inserting),
		zap.Int("deleting", v.Deleting), zap.Int("usable", v.Usable)}
	switch {
	case v.Next != 0:
		e.cfg.Log.Info("leap second scheduled by the servers' majority",
			append(fields, zap.Int8("leap", v.Next), zap.Int64("at_utc", v.At))...)
	case v.WrongMonth:
		e.cfg.Log.Warn("leap second announced outside June and December: ignored", fields...)
	case len(announcing) > 0:
		e.cfg.Log.Warn("leap second announced by a minority of the usable servers: ignored", fields...)
	}
}
