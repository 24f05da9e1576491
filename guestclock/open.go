package guestclock

import (
	"context"
	"fmt"
	"time"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/xenstore"
)

// openSource dials Xenstore (unless given or "none") and picks the source:
// Dom0's record (dependent), the agent's own estimator (independent), or,
// for mode auto, Dom0's record when Xenstore has one within AutoWait.
func (a *Agent) openSource() error {
	if a.xs == nil && a.cfg.Xenstore != "none" {
		ctx, cancel := context.WithTimeout(context.Background(), xsTimeout)
		defer cancel()
		opts := []xenstore.Option{xenstore.WithLogger(a.log.Named("xenstore")), xenstore.WithBackoff(10*time.Millisecond, time.Second)}
		var err error
		if a.cfg.Xenstore == "auto" {
			a.xs, err = xenstore.Dial(ctx, opts...)
		} else {
			a.xs, err = xenstore.DialSocket(ctx, a.cfg.Xenstore, opts...)
		}
		if err != nil && a.cfg.Mode == "dependent" {
			return fmt.Errorf("dependent mode needs Xenstore: %w", err)
		}
		if err != nil {
			a.log.Info("no Xenstore; independent mode")
		}
	}
	mode := a.cfg.Mode
	if mode == "auto" {
		mode = a.autoMode()
	}
	switch mode {
	case "dependent":
		if a.xs == nil {
			return fmt.Errorf("dependent mode needs Xenstore (--xenstore is %q)", a.cfg.Xenstore)
		}
		a.mode = clockdata.ModeDependent
		a.src = &xsSource{xs: a.xs, node: a.cfg.ClockNode}
	default:
		a.mode = clockdata.ModeIndependent
		src, err := newIndepSource(a.cfg, a.c, a.log)
		if err != nil {
			return err
		}
		a.src = src
	}
	return nil
}

// autoMode is dependent when Dom0's record appears within AutoWait (or
// when no NTP server is configured to run independently), else independent.
func (a *Agent) autoMode() string {
	if a.xs == nil {
		return "independent"
	}
	if len(a.cfg.Servers) == 0 {
		return "dependent"
	}
	deadline := time.Now().Add(a.cfg.AutoWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), xsTimeout)
		ok, _ := a.xs.Exists(ctx, a.cfg.ClockNode)
		cancel()
		if ok {
			return "dependent"
		}
		if time.Now().After(deadline) {
			return "independent"
		}
		time.Sleep(200 * time.Millisecond)
	}
}
