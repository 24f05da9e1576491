package view

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
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
	} else if len(d.Notes) == 0 && behind(r.Generation, r.ReportedUnixNs, h) {
		// Only a current report can show a guest failing to follow: a
		// stale, undated or future one is already marked for what it is.
		d.Notes = append(d.Notes, NoteBehind)
	}
}

// behindSlack is how long after this host published a newer record a
// guest may still report an older generation without being "behind": the
// watch event, the agent's validation and its next report write.
const behindSlack = 3 * time.Second

// minRecordSpacing is the shortest plausible time between two of dom0d's
// records when they come faster than the poll (the start burst's 2 s).
const minRecordSpacing = 2 * time.Second

// maxGenerationGap: a guest this many generations back is behind whatever
// the times say (and the arithmetic below cannot overflow).
const maxGenerationGap = 1 << 20

// behind says whether a guest that reported generation gen at reportedNs
// (UNIX ns) lags host record h. Xenstore keeps only the latest record, so
// when generation gen+1 appeared is estimated, as late as it can have
// been: records are at least min(poll, minRecordSpacing) apart, so it
// appeared no later than h's reference time less that spacing for every
// generation between. The guest is behind when it reported gen more than
// behindSlack after that. A rule on the generation gap alone ("more than
// one behind") flagged live guests at 1 s polls, where two records can
// land between one report and the next, and missed a guest stuck one
// generation back at long polls.
func behind(gen uint64, reportedNs int64, h *clockdata.Record) bool {
	if gen >= h.Generation || reportedNs <= 0 {
		return false
	}
	gap := h.Generation - gen - 1 // guest-written gen: any value
	if gap > maxGenerationGap {
		return true
	}
	spacing := min(time.Duration(h.PollNs), minRecordSpacing)
	newerAt := h.RefTime.Nanos() - int64(gap)*int64(spacing)
	return reportedNs-newerAt > int64(behindSlack)
}
