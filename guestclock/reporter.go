package guestclock

import (
	"context"
	"encoding/hex"
	"time"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/guestclock/report"
)

// reportEvery is the report's minimum spacing: under a second, so a
// record a second (a record's arrival jitters) is reported as it is taken,
// in the wake-up that took it.
const reportEvery = 900 * time.Millisecond

// reportHeartbeat: a report is rewritten at least this often even when
// nothing changed (an independent guest at a 16 s poll, a quiet host), so a
// reader can tell a live agent from a dead one by the report's age; xlclock
// calls a report stale after 10 s at the least.
const reportHeartbeat = 5 * time.Second

// StateName is the served state as the report, status and logs name it:
// "no-clock", "disrupted", "void", or the record's clock state.
func (a *Agent) stateNameLocked(rd counter.Reading) string {
	switch {
	case a.served == nil:
		return "no-clock"
	case a.flags.Disrupted || a.served.CounterIdentity != rd.Identity:
		return "disrupted"
	case a.served.Age(rd.Count) == clockdata.ReadVoid:
		return "void"
	}
	return a.served.State.String()
}

// reportLocked is the agent's report at counter reading rd.
func (a *Agent) reportLocked(rd counter.Reading) report.Report {
	r := report.Report{Version: report.Version, AgentVersion: a.version, Mode: a.mode.String(), Counter: a.c.Name(),
		State: a.stateNameLocked(rd), ReportedUnixNs: time.Now().UnixNano(), Disruptions: a.stats.Disruptions,
		LastMigration: a.stats.LastMigration}
	if a.served == nil {
		r.Mode = "none"
		return r
	}
	s := a.served
	if n := s.Read(a.c.Kind(), rd); n.Status.HasTime() {
		r.ErrorBoundNs, r.MaxErrorNs = n.ErrorBoundNs, n.MaxErrorNs
	}
	r.Generation, r.HostID = s.Generation, hex.EncodeToString(s.HostID[:])
	r.HostName = a.hostNames[s.HostID]
	if a.last.valid {
		r.UpdatedUnixNs = time.Now().UnixNano() - (bootNs() - a.last.rd.bootNs)
	}
	return r
}

// maybeReport writes the report when something changed, at most once per
// reportEvery, and not while a migration's host names are being read (at
// most xsTimeout, under the heartbeat).
func (a *Agent) maybeReport(ctx context.Context) {
	if a.xs == nil {
		return
	}
	a.mu.Lock()
	since := time.Since(a.reportAt)
	due := (a.reportDirty && since >= reportEvery && !a.namesPending || since >= reportHeartbeat) && a.dis == nil
	if !due {
		a.mu.Unlock()
		return
	}
	rd, err := a.c.Read()
	if err != nil {
		a.mu.Unlock()
		return
	}
	if a.reporting {
		a.mu.Unlock()
		return
	}
	rep := a.reportLocked(rd)
	a.reportDirty, a.reportAt, a.reporting = false, time.Now(), true
	a.countLocked(1, 1)
	a.mu.Unlock()
	// Written off the loop: a write waits while Xenstore reconnects.
	go func() {
		defer func() {
			a.mu.Lock()
			a.reporting = false
			a.mu.Unlock()
		}()
		b, err := rep.Encode()
		if err != nil {
			a.log.Warn("report not written", zap.Error(err))
			return
		}
		cctx, cancel := context.WithTimeout(ctx, xsTimeout)
		defer cancel()
		if err := a.xs.Write(cctx, report.Node, b); err != nil {
			a.log.Debug("report not written", zap.String("node", report.Node), zap.Error(err))
		}
	}()
}
