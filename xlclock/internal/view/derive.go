package view

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
)

// Notes on a domain's report (Domain.Notes).
const (
	NoteStale     = "stale"
	NoteFuture    = "future"
	NoteOtherHost = "other-host"
	NoteBehind    = "behind"
	NoteUndated   = "undated"
)

// minStaleAfter is the shortest default staleness limit: an agent rewrites
// its report at least on every record (one poll) and every state change.
const minStaleAfter = 10 * time.Second

// futureSlack: a report written later than now by more than this is marked
// "future" (the guest's clock is wrong, or the report lies).
const futureSlack = 2 * time.Second

// derive fills the host summary and every domain's age and notes.
func (s *Snapshot) derive(staleAfter time.Duration) {
	now := bintime.FromUnix(0, s.NowUnixNs)
	if r := s.Host.Record; r != nil {
		s.Host.Clock = &HostRecord{
			Generation: r.Generation, Marker: fmt.Sprintf("%016x", r.DisruptionMarker),
			Counter: r.CounterKind.String(), State: r.State.String(), Status: r.Status.String(),
			ErrorBoundNs: r.ErrorBoundNs, MaxErrorNs: r.MaxErrorNs,
			RefTime: r.RefTime.Format9(), AgeNs: now.Sub(r.RefTime).Nanos(), PollNs: r.PollNs,
		}
		if poll := 3 * time.Duration(r.PollNs); staleAfter <= 0 && poll > minStaleAfter {
			staleAfter = poll
		}
	}
	if staleAfter <= 0 {
		staleAfter = minStaleAfter
	}
	for i := range s.Domains {
		s.Domains[i].derive(s, staleAfter)
	}
}

func (d *Domain) derive(s *Snapshot, staleAfter time.Duration) {
	r := d.Report
	if r == nil {
		return
	}
	switch {
	case r.ReportedUnixNs <= 0:
		d.Notes = append(d.Notes, NoteUndated)
	case s.NowUnixNs-r.ReportedUnixNs > int64(staleAfter):
		d.Notes = append(d.Notes, NoteStale)
	case s.NowUnixNs-r.ReportedUnixNs < -int64(futureSlack):
		d.Notes = append(d.Notes, NoteFuture)
	}
	if r.ReportedUnixNs > 0 {
		d.DataAgeNs = s.NowUnixNs - r.ReportedUnixNs
	}
	h := s.Host.Record
	if r.Mode != "dependent" || h == nil {
		return
	}
	if r.HostID != hex.EncodeToString(h.HostID[:]) {
		d.Notes = append(d.Notes, NoteOtherHost)
	} else if r.Generation+1 < h.Generation {
		d.Notes = append(d.Notes, NoteBehind)
	}
}
