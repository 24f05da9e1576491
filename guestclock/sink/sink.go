// Package sink defines what the guest agent hands to each of its outputs
// besides the page (a ClockBound segment, a chronyd SOCK feed, the system
// clock's discipline): one Sample, taken at one instant, with the clock's time,
// its bounds and the local clocks read at the same instant.
//
// The agent produces a Sample after every change of its record or flags and
// at a steady cadence in between (so bounds that grow with age reach the
// outputs); every sink is fed the same Sample and decides for itself what to
// write. A sink never reads the counter or the record itself.
package sink

import "github.com/xenradclock/xenradclock/clockdata"

// Sample is the clock at one instant. Times are nanoseconds: absolute ones
// since the UNIX epoch (UTC, leap seconds not counted, as CLOCK_REALTIME),
// local ones on the clock their name gives.
type Sample struct {
	// Usable is false when the clock must not be trusted at all: no record,
	// a void record, a counter that is not the record's, or a disruption in
	// progress. A sink then marks its output unusable (ClockBound: status
	// unknown/disrupted; chrony: no sample), never a stale time.
	Usable bool
	// Disrupted is true from a migration, save/restore or other
	// discontinuity until the agent serves the new host's clock.
	Disrupted bool
	// State is the record's clock state (synchronised, free-running, ...).
	State clockdata.ClockState
	// Mode is how the guest gets its clock: "dependent" (Dom0's record) or
	// "independent" (its own NTP exchanges).
	Mode string

	// ClockNs is Ca at the instant, UTC nanoseconds since the epoch, exact
	// to the nanosecond (truncated).
	ClockNs int64
	// RealtimeNs, MonotonicNs and MonotonicCoarseNs are CLOCK_REALTIME,
	// CLOCK_MONOTONIC and CLOCK_MONOTONIC_COARSE read bracketing the counter
	// read that gave ClockNs (the midpoint of the bracket).
	RealtimeNs        int64
	MonotonicNs       int64
	MonotonicCoarseNs int64

	// ErrorBoundNs is the statistical bound at the instant (about 99%
	// coverage); MaxErrorNs the guaranteed one. ClockNs ± MaxErrorNs contains
	// the truth whenever the host's guarantee holds.
	ErrorBoundNs uint64
	MaxErrorNs   uint64
	// MaxErrorGrowthPsPerS is how fast MaxErrorNs grows while no new record
	// arrives (the clock's maximum drift), picoseconds per second.
	MaxErrorGrowthPsPerS uint32
	// VoidAfterMonotonicNs is the CLOCK_MONOTONIC instant after which the
	// current record must not be used (its validity horizon); 0: none known.
	VoidAfterMonotonicNs int64

	// DisruptionMarker changes on every discontinuity of the clock (a new
	// host, a restarted dom0d); readers that cache must start over.
	DisruptionMarker uint64
	// Generation is the record's generation (per DisruptionMarker).
	Generation uint64

	// LeapNext is the pending leap second (−1, 0, +1) and LeapAtUnixSec the
	// UTC second at whose start it takes effect (0: none pending).
	LeapNext      int8
	LeapAtUnixSec int64
}

// Sink is one output of the agent. Update is called from one goroutine;
// it must not block for long (no network round trips). Close releases what
// the sink holds and, where the output outlives the agent (a shared
// segment), marks it unusable first.
type Sink interface {
	Name() string
	Update(s *Sample) error
	Close() error
}
