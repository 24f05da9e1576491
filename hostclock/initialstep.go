package hostclock

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/clocksync"
)

// The first step onto the servers' time. Agreement cannot tell a single
// server (or all servers) wrong from the start, so the first clock
// published is compared with what the host already knows of the time: the
// state file's last record, carried to now by its period (the counter's
// rate) and bounded by its own max_error, and the system clock when the
// kernel says it is synchronised, bounded by the kernel's maxerror. A clock
// further from either than those bounds plus max_initial_step is refused
// (nothing is published, the refusal is logged and shown in the status)
// unless allow_initial_step says the operator wants it.

// SystemClock reads the system clock as a prior for the first step: its
// time, the kernel's bound on its error, and whether the kernel considers
// it synchronised (only then is it used).
type SystemClock func() (t bintime.Time, maxErr time.Duration, synced bool)

// KernelClock is the SystemClock of CLOCK_REALTIME with adjtimex(2)'s
// status: synchronised unless STA_UNSYNC is set or the clock is in
// TIME_ERROR.
func KernelClock() (bintime.Time, time.Duration, bool) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	now := time.Now()
	t := bintime.FromUnix(now.Unix(), int64(now.Nanosecond()))
	if err != nil || state == unix.TIME_ERROR || tx.Status&unix.STA_UNSYNC != 0 {
		return t, 0, false
	}
	return t, time.Duration(tx.Maxerror) * time.Microsecond, true
}

// NoSystemClock never offers the system clock as a prior (tests, the demo,
// whose servers are deliberately off the system time).
func NoSystemClock() (bintime.Time, time.Duration, bool) { return bintime.Time{}, 0, false }

// checkInitialStep is the engine's StepCheck.
func (d *Daemon) checkInitialStep(server string, p clocksync.Params) error {
	if d.cfg.MaxInitialStep <= 0 {
		return nil
	}
	rd, err := d.counter.Read()
	if err != nil {
		return fmt.Errorf("counter: %w", err)
	}
	clock := p.Absolute(rd.Count)
	limit := d.cfg.MaxInitialStep.Seconds()
	var far []string
	if pr := d.prior; pr != nil && pr.State != clockdata.StateUnsynchronised {
		if n := pr.Read(d.counter.Kind(), rd); n.Status.HasTime() {
			far = appendFar(far, "the state file's clock", clock.Sub(n.Time).Float(), float64(n.MaxErrorNs)*1e-9, limit)
		}
	}
	if t, maxErr, ok := d.opt.SystemClock(); ok {
		far = appendFar(far, "the synchronised system clock", clock.Sub(t).Float(), maxErr.Seconds(), limit)
	}
	if len(far) == 0 {
		return nil
	}
	if d.cfg.AllowInitialStep {
		d.log.Warn("initial step allowed by allow_initial_step", zap.String("server", server), zap.Strings("step", far))
		return nil
	}
	return errors.New(strings.Join(far, "; ") + " (allow_initial_step = yes or --allow-initial-step accepts it)")
}

// appendFar notes a step of offS seconds from a prior known within
// boundS, when it exceeds boundS + limitS.
func appendFar(far []string, prior string, offS, boundS, limitS float64) []string {
	if math.Abs(offS) <= boundS+limitS {
		return far
	}
	return append(far, fmt.Sprintf("%+.6f s from %s (known within %s; max_initial_step %s)",
		offS, prior, fmtSeconds(boundS), fmtSeconds(limitS)))
}
