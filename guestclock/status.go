package guestclock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
)

// Exit codes of `domu-agent status` and `waitsync` (the first five are
// `xlclock now`'s).
const (
	ExitUsable   = 0 // fresh, synchronised (or free-running within its bounds)
	ExitLate     = 1 // usable, but the next record is overdue
	ExitUnsync   = 2 // not synchronised: unsynchronised, warm-up, server fault
	ExitVoid     = 3 // void, disrupted, no clock
	ExitUsage    = 4 // usage or I/O error
	ExitTimedOut = 5 // waitsync: not usable within --max-error before --timeout
)

// PageStatus is what a read of the page says, for status and waitsync.
type PageStatus struct {
	Page         string `json:"page"`
	Mode         string `json:"mode"`
	Counter      string `json:"counter"`
	Status       string `json:"status"` // the read status: fresh, late, void, disrupted, ...
	State        string `json:"state"`  // the record's clock state
	Imminent     bool   `json:"disruption_imminent"`
	Disrupted    bool   `json:"disrupted"`
	Time         string `json:"time,omitempty"` // decimal UNIX seconds, 9 decimals
	ErrorBoundNs uint64 `json:"error_bound_ns"`
	MaxErrorNs   uint64 `json:"max_error_ns"`
	Generation   uint64 `json:"generation"`
	Exit         int    `json:"exit"`
	Reason       string `json:"reason,omitempty"` // why there is no clock
}

// ReadPageStatus reads the page once with counter c (nil: the counter the
// record names, opened by name).
func ReadPageStatus(path string, c counter.Counter) PageStatus {
	st := PageStatus{Page: path, Exit: ExitVoid, Status: "no-clock"}
	p, err := clockdata.OpenPage(path)
	if err != nil {
		st.Reason = err.Error()
		return st
	}
	defer p.Close()
	r, f, _, err := p.RecordFlags()
	if err != nil {
		st.Reason = err.Error()
		return st
	}
	st.Mode, st.State, st.Imminent, st.Disrupted, st.Generation = f.Mode.String(), r.State.String(), f.DisruptionImminent, f.Disrupted, r.Generation
	st.Counter = r.CounterKind.String()
	if c == nil {
		if c, err = counter.Open(st.Counter); err != nil {
			st.Reason = fmt.Sprintf("cannot read counter %s: %v", st.Counter, err)
			return st
		}
		if cl, ok := c.(interface{ Close() error }); ok {
			defer cl.Close()
		}
	}
	n, err := p.Now(c)
	if err != nil {
		st.Reason = err.Error()
		return st
	}
	st.Status, st.State = n.Status.String(), n.State.String()
	if n.Status.HasTime() {
		st.Time, st.ErrorBoundNs, st.MaxErrorNs = n.Time.Format9(), n.ErrorBoundNs, n.MaxErrorNs
	}
	st.Exit = exitFor(n)
	return st
}

func exitFor(n clockdata.Now) int {
	switch n.Status {
	case clockdata.ReadFresh, clockdata.ReadLate:
	default:
		return ExitVoid
	}
	switch n.State {
	case clockdata.StateUnknown, clockdata.StateUnsynchronised, clockdata.StateWarmUp, clockdata.StateServerFault:
		return ExitUnsync
	}
	if n.Status == clockdata.ReadLate {
		return ExitLate
	}
	return ExitUsable
}

// ErrTimedOut: the clock was not usable within the bound before the
// deadline.
var ErrTimedOut = errors.New("clock not usable within the bound before the timeout")

// WaitSync polls the page until the clock is usable (fresh or late, synchronised)
// with max error at most maxErrorNs (0: any), or ctx ends (ErrTimedOut,
// with the last status).
func WaitSync(ctx context.Context, path string, c counter.Counter, maxErrorNs uint64, every time.Duration) (PageStatus, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		st := ReadPageStatus(path, c)
		if st.Exit <= ExitLate && (maxErrorNs == 0 || st.MaxErrorNs <= maxErrorNs) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ErrTimedOut
		case <-t.C:
		}
	}
}
