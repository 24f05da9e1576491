package main

// The outputs besides the page, one config key each (docs/domu-agent.md §7,
// docs/ecosystem.md). A value is "on" (the output's default path), a path,
// and options after commas: "smear" (the 24-hour leap smear), and for the
// discipline "step=DURATION" (step beyond it; default never).

import (
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/guestclock"
	"github.com/xenradclock/xenradclock/guestclock/chronysock"
	"github.com/xenradclock/xenradclock/guestclock/clockbound"
	"github.com/xenradclock/xenradclock/guestclock/discipline"
	"github.com/xenradclock/xenradclock/guestclock/sink"
)

func init() {
	guestclock.RegisterSink("clockbound", func(v string, log *zap.Logger) (sink.Sink, error) {
		o, err := parseSinkValue(v)
		if err != nil {
			return nil, err
		}
		return clockbound.New(clockbound.Config{Path: o.path, Smear: o.smear}, log)
	})
	guestclock.RegisterSink("chrony_sock", func(v string, log *zap.Logger) (sink.Sink, error) {
		o, err := parseSinkValue(v)
		if err != nil {
			return nil, err
		}
		return chronysock.New(chronysock.Config{Path: o.path, Smear: o.smear}, log)
	})
	guestclock.RegisterSink("discipline", func(v string, log *zap.Logger) (sink.Sink, error) {
		o, err := parseSinkValue(v)
		if err != nil {
			return nil, err
		}
		if o.path != "" && o.path != "slew" {
			return nil, fmt.Errorf("%q: want on or slew, then options", o.path)
		}
		return discipline.New(discipline.Config{StepThresholdNs: o.step.Nanoseconds(), Smear: o.smear}, log)
	})
}

type sinkValue struct {
	path  string // "" for "on"
	smear bool
	step  time.Duration
}

func parseSinkValue(v string) (sinkValue, error) {
	parts := strings.Split(v, ",")
	o := sinkValue{path: strings.TrimSpace(parts[0])}
	if o.path == "on" {
		o.path = ""
	}
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		switch {
		case p == "smear":
			o.smear = true
		case strings.HasPrefix(p, "step="):
			d, err := time.ParseDuration(strings.TrimPrefix(p, "step="))
			if err != nil || d <= 0 {
				return o, fmt.Errorf("option %q: want step=DURATION > 0", p)
			}
			o.step = d
		default:
			return o, fmt.Errorf("unknown option %q (smear, step=DURATION)", p)
		}
	}
	return o, nil
}
