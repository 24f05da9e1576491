package clockbound

import (
	"math"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/guestclock/leapsmear"
	"github.com/xenradclock/xenradclock/guestclock/sink"
)

// Defaults for a zero Config.
const (
	// DefaultRealtimeDriftPPB is how fast CLOCK_REALTIME may drift away
	// from the clock between two updates (1 ppm, ClockBound's own default
	// max drift); it is added to the clock's max-error growth.
	DefaultRealtimeDriftPPB = 1000
	// DefaultReadMarginNs covers the gap between the CLOCK_REALTIME read
	// and the counter read a sample pairs (the agent reads both back to
	// back, the realtime value is the midpoint of its bracket).
	DefaultReadMarginNs = 1000
	// DefaultValidityNs caps void-after − as-of: a segment whose writer
	// stopped goes unknown after this long even if the record is still
	// valid.
	DefaultValidityNs = 60_000_000_000
	// DefaultLeapGuardNs: without smear, the bound carries an extra second
	// this close to a leap, where CLOCK_REALTIME may be either side of the
	// step (it exceeds the client's 5 s grace plus the agent's cadence).
	DefaultLeapGuardNs = 10_000_000_000
)

// Config configures the ClockBound segment. The zero value is sane:
// DefaultPath and the defaults above.
type Config struct {
	// Path of the segment file (default DefaultPath).
	Path string
	// RealtimeDriftPPB: see DefaultRealtimeDriftPPB.
	RealtimeDriftPPB uint32
	// ReadMarginNs: see DefaultReadMarginNs.
	ReadMarginNs int64
	// ValidityNs: see DefaultValidityNs.
	ValidityNs int64
	// LeapGuardNs: see DefaultLeapGuardNs.
	LeapGuardNs int64
	// Smear: CLOCK_REALTIME follows the smeared view (the system clock is
	// disciplined from the smeared feed), so the bound is taken against
	// the smeared clock and a leap needs no extra second.
	Smear bool
}

func (c Config) withDefaults() Config {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.RealtimeDriftPPB == 0 {
		c.RealtimeDriftPPB = DefaultRealtimeDriftPPB
	}
	if c.ReadMarginNs <= 0 {
		c.ReadMarginNs = DefaultReadMarginNs
	}
	if c.ValidityNs <= 0 {
		c.ValidityNs = DefaultValidityNs
	}
	if c.LeapGuardNs <= 0 {
		c.LeapGuardNs = DefaultLeapGuardNs
	}
	return c
}

// filler turns samples into segment contents. It keeps the leap tracker,
// the only state carried from one sample to the next.
type filler struct {
	cfg         Config
	coarseResNs int64 // resolution of CLOCK_MONOTONIC_COARSE
	leaps       leapsmear.Tracker
}

// statusOf maps the sample to ClockBound's status. Warm-up is synchronized:
// its bound is wide but honest, and the bound is what clients use.
func statusOf(s *sink.Sample) Status {
	switch {
	case s.Disrupted:
		return StatusDisrupted
	case !s.Usable:
		return StatusUnknown
	}
	switch s.State {
	case clockdata.StateSynchronised, clockdata.StateWarmUp:
		return StatusSynchronized
	case clockdata.StateFreeRunning, clockdata.StateStarving, clockdata.StateServerFault:
		return StatusFreeRunning
	}
	return StatusUnknown
}

const maxBoundNs = math.MaxInt64 / 4

// fill is the segment body for sample s (header fields included, generation
// left to the writer).
func (f *filler) fill(s *sink.Sample) Segment {
	seg := Segment{
		SegmentSize:      SegmentSize,
		Version:          Version,
		DisruptionMarker: s.DisruptionMarker,
		Status:           statusOf(s),
		AsOf:             TimespecOf(s.MonotonicCoarseNs),
		VoidAfter:        TimespecOf(s.MonotonicCoarseNs),
	}
	cNs, leap, placed := s.ClockNs, leapsmear.Leap{}, true
	if s.Usable && s.ClockNs != 0 {
		cNs, leap, placed = f.leaps.Observe(s.ClockNs, s.MonotonicNs, s.LeapNext, s.LeapAtUnixSec)
	}
	ref, extraNs, extraPPB := s.ClockNs, int64(0), int64(0)
	switch {
	case f.cfg.Smear && !placed:
		// The smeared time cannot be told inside the repeated second.
		seg.Status, extraNs = StatusUnknown, 1_000_000_000
	case f.cfg.Smear:
		ref = leapsmear.Smear(cNs, leap)
		if a, b := leap.Window(); leap.Next != 0 && cNs >= a-f.cfg.ValidityNs && cNs < b {
			extraPPB = abs(leapsmear.RatePPB(leap))
		}
	case !placed || leap.Near(cNs, f.cfg.LeapGuardNs):
		extraNs = 1_000_000_000
	}
	if s.ClockNs != 0 && s.MaxErrorNs != 0 {
		bound := clampBound(s.MaxErrorNs)
		bound = satAdd(bound, abs(ref-s.RealtimeNs))
		bound = satAdd(bound, f.cfg.ReadMarginNs+extraNs)
		seg.BoundNs = min(bound, maxBoundNs)
	}
	drift := int64(s.MaxErrorGrowthPsPerS+999)/1000 + int64(f.cfg.RealtimeDriftPPB) + extraPPB
	seg.MaxDriftPPB = uint32(min(drift, MaxDriftLimitPPB-1))
	if seg.Status == StatusUnknown || seg.Status == StatusDisrupted {
		return seg // void at once: as-of = void-after
	}
	void := satAdd(s.MonotonicCoarseNs, f.cfg.ValidityNs)
	if s.VoidAfterMonotonicNs != 0 {
		// Moved onto the coarse clock, less one coarse tick: a client's
		// coarse reading lags CLOCK_MONOTONIC by up to a tick.
		v := satAdd(s.MonotonicCoarseNs, satAdd(s.VoidAfterMonotonicNs-s.MonotonicNs, -f.coarseResNs))
		void = min(void, v)
	}
	if void <= s.MonotonicCoarseNs {
		// The record's horizon has passed: unknown, whatever the state
		// says (a client would keep the written status for its 5 s
		// grace).
		seg.Status = StatusUnknown
		return seg
	}
	seg.VoidAfter = TimespecOf(void)
	return seg
}

func clampBound(v uint64) int64 {
	if v > maxBoundNs {
		return maxBoundNs
	}
	return int64(v)
}

func abs(v int64) int64 {
	if v < 0 {
		if v == math.MinInt64 {
			return math.MaxInt64
		}
		return -v
	}
	return v
}
