//go:build linux

// Package discipline steers the system clock (CLOCK_REALTIME) onto the
// guest's clock with adjtimex, for guests that run no chronyd. It is off
// unless the agent's configuration enables it; chronyd fed through
// guestclock/chronysock is the preferred way.
//
// Each usable sample gives the offset clock − CLOCK_REALTIME (positive: the
// system clock is behind). The offset is handed to the kernel's PLL
// (ADJ_OFFSET in nanoseconds, STA_PLL), which slews the clock and trims its
// frequency; the kernel's maxerror/esterror are set from the sample's bounds
// plus the remaining offset, and STA_UNSYNC is cleared, so ntp_gettime
// readers see a synchronised clock with honest bounds. Only when a step
// threshold is configured and the offset exceeds it is the clock stepped, by
// the exact offset (ADJ_SETOFFSET, a relative step the kernel applies
// atomically). A pending leap is passed on as STA_INS/STA_DEL on the day it
// falls (the kernel applies it at the next UTC midnight), unless the
// smeared view is configured, which the PLL then follows instead.
//
// Every system call goes through the Syscalls interface, so tests never
// touch the machine's clock.
package discipline

import (
	"errors"
	"fmt"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/guestclock/leapsmear"
	"github.com/xenradclock/xenradclock/guestclock/sink"
)

// Syscalls is the one system call the discipline makes.
type Syscalls interface {
	Adjtimex(tx *unix.Timex) (state int, err error)
}

// System is the real Syscalls (golang.org/x/sys/unix); changing the clock
// needs CAP_SYS_TIME.
type System struct{}

// Adjtimex calls adjtimex(2).
func (System) Adjtimex(tx *unix.Timex) (int, error) { return unix.Adjtimex(tx) }

// Defaults for a zero Config.
const (
	// DefaultTimeConstant is the kernel PLL's time constant (0..10; the
	// PLL's averaging time grows as 2^constant): 2 follows a clock updated
	// every second closely.
	DefaultTimeConstant = 2
	// DefaultIntervalNs: at most one adjustment per second of
	// CLOCK_MONOTONIC, however often samples come.
	DefaultIntervalNs = 1_000_000_000
	// MaxSlewNs is the largest offset the kernel PLL takes (MAXPHASE).
	MaxSlewNs = 500_000_000
	// leapGuardNs: no adjustment this close to a leap's step.
	leapGuardNs = 2_000_000_000
	// maxErrorCapUs is the kernel's NTP_PHASE_LIMIT (16 s) in µs.
	maxErrorCapUs = 16_000_000
)

// Config configures the discipline. The zero value slews only, never steps.
type Config struct {
	// StepThresholdNs: offsets larger than this (in magnitude) are stepped
	// instead of slewed. 0: never step (offsets beyond MaxSlewNs are then
	// slewed MaxSlewNs at a time).
	StepThresholdNs int64
	// TimeConstant of the kernel PLL, 0..10 (0: DefaultTimeConstant).
	TimeConstant int64
	// IntervalNs between two adjustments (0: DefaultIntervalNs).
	IntervalNs int64
	// Smear steers the system clock onto the smeared view around a leap
	// (no STA_INS/STA_DEL).
	Smear bool
}

// Discipline is the adjtimex sink. Not safe for concurrent use.
type Discipline struct {
	cfg      Config
	sys      Syscalls
	log      *zap.Logger
	leaps    leapsmear.Tracker
	lastMono int64
	have     bool
	idle     bool // the last sample was not used (logged once)
	clamped  bool
	steps    uint64
}

var _ sink.Sink = (*Discipline)(nil)

// New makes the discipline over the real system calls.
func New(cfg Config, log *zap.Logger) (*Discipline, error) {
	return NewWithSyscalls(cfg, log, System{})
}

// NewWithSyscalls makes the discipline over sys (tests pass a fake).
func NewWithSyscalls(cfg Config, log *zap.Logger, sys Syscalls) (*Discipline, error) {
	if cfg.StepThresholdNs < 0 {
		return nil, fmt.Errorf("discipline: step threshold %d ns is negative", cfg.StepThresholdNs)
	}
	if cfg.TimeConstant < 0 || cfg.TimeConstant > 10 {
		return nil, fmt.Errorf("discipline: time constant %d not in 0..10", cfg.TimeConstant)
	}
	if cfg.TimeConstant == 0 {
		cfg.TimeConstant = DefaultTimeConstant
	}
	if cfg.IntervalNs <= 0 {
		cfg.IntervalNs = DefaultIntervalNs
	}
	if log == nil {
		log = zap.NewNop()
	}
	if sys == nil {
		return nil, errors.New("discipline: no syscalls")
	}
	return &Discipline{cfg: cfg, sys: sys, log: log}, nil
}

// Name is the sink's name in logs and metrics.
func (d *Discipline) Name() string { return "adjtimex" }

// Steps is how many times the clock was stepped.
func (d *Discipline) Steps() uint64 { return d.steps }

// Update adjusts the system clock from s, at most once per interval. An
// unusable or disrupted sample changes nothing (the kernel's own maxerror
// keeps growing until a good sample comes).
func (d *Discipline) Update(s *sink.Sample) error {
	if !s.Usable || s.Disrupted || s.ClockNs == 0 {
		if !d.idle {
			d.log.Warn("system clock discipline paused: clock not usable", zap.Bool("disrupted", s.Disrupted))
			d.idle = true
		}
		return nil
	}
	if d.idle {
		d.log.Info("system clock discipline resumed")
		d.idle = false
	}
	if d.have && s.MonotonicNs-d.lastMono < d.cfg.IntervalNs && s.MonotonicNs >= d.lastMono {
		return nil
	}
	cNs, leap, placed := d.leaps.Observe(s.ClockNs, s.MonotonicNs, s.LeapNext, s.LeapAtUnixSec)
	if !placed || leap.Near(cNs, leapGuardNs) {
		return nil
	}
	ref := s.ClockNs
	if d.cfg.Smear {
		ref = leapsmear.Smear(cNs, leap)
	}
	offsetNs := ref - s.RealtimeNs
	d.have, d.lastMono = true, s.MonotonicNs
	if t := d.cfg.StepThresholdNs; t > 0 && (offsetNs > t || offsetNs < -t) {
		return d.step(offsetNs)
	}
	return d.slew(s, offsetNs, leap, cNs)
}

func (d *Discipline) step(offsetNs int64) error {
	sec, ns := offsetNs/1e9, offsetNs%1e9
	if ns < 0 {
		sec, ns = sec-1, ns+1e9
	}
	// With ADJ_NANO the timeval's second field holds nanoseconds.
	tx := unix.Timex{Modes: unix.ADJ_SETOFFSET | unix.ADJ_NANO, Time: unix.Timeval{Sec: sec, Usec: ns}}
	if _, err := d.sys.Adjtimex(&tx); err != nil {
		return fmt.Errorf("discipline: step the system clock by %d ns: %w", offsetNs, err)
	}
	d.steps++
	d.log.Warn("stepped the system clock", zap.Int64("offset_ns", offsetNs), zap.Int64("threshold_ns", d.cfg.StepThresholdNs))
	return nil
}

func (d *Discipline) slew(s *sink.Sample, offsetNs int64, leap leapsmear.Leap, cNs int64) error {
	off := min(max(offsetNs, -MaxSlewNs), MaxSlewNs)
	if off != offsetNs && !d.clamped {
		d.log.Warn("system clock offset beyond the slew range; stepping is not configured, slewing at most 0.5 s per update",
			zap.Int64("offset_ns", offsetNs))
	}
	d.clamped = off != offsetNs
	status := int32(unix.STA_PLL)
	if !d.cfg.Smear && leap.Ahead(cNs) {
		if leap.Next > 0 {
			status |= unix.STA_INS
		} else {
			status |= unix.STA_DEL
		}
	}
	res := abs(offsetNs)
	tx := unix.Timex{
		Modes: unix.ADJ_OFFSET | unix.ADJ_NANO | unix.ADJ_STATUS | unix.ADJ_TIMECONST |
			unix.ADJ_MAXERROR | unix.ADJ_ESTERROR,
		Offset:   off,
		Status:   status,
		Constant: d.cfg.TimeConstant,
		Maxerror: usCeil(s.MaxErrorNs, res),
		Esterror: usCeil(s.ErrorBoundNs, res),
	}
	if _, err := d.sys.Adjtimex(&tx); err != nil {
		return fmt.Errorf("discipline: slew the system clock by %d ns: %w", off, err)
	}
	return nil
}

// usCeil is ceil((boundNs + residualNs)/1000) µs, capped at the kernel's
// 16 s limit.
func usCeil(boundNs uint64, residualNs int64) int64 {
	const capNs = maxErrorCapUs * 1000
	if residualNs < 0 || boundNs >= capNs || residualNs >= capNs || boundNs+uint64(residualNs) >= capNs {
		return maxErrorCapUs
	}
	return int64((boundNs + uint64(residualNs) + 999) / 1000)
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// Close leaves the kernel's state as it is: the clock keeps its frequency
// and the kernel's maxerror grows until something disciplines it again.
func (d *Discipline) Close() error { return nil }
