// Package clockdata is the published clock record of xenradclock, its three
// encodings (the Xenstore text line, the binary shared page, JSON) and the
// stateless read function that turns a record and a raw counter reading into
// an absolute time with bounds.
//
// A record carries everything a reader needs and nothing a reader must
// remember: a guest that has just been migrated reads the new host's record
// and the new host's counter and gets the new host's clock. The time path is
// integer fixed point only (seconds plus 2^-64 fractions, 128-bit
// counter×period products); no float64 is ever formed from an absolute time.
//
// docs/clockdata.md documents every field and every encoding byte for byte.
package clockdata

import (
	"errors"
	"fmt"
	"math/big"
	"math/bits"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/counter"
)

// Version is the record format version this package writes and the only one
// it reads. Fields appended later grow the page's size field; an incompatible
// change bumps Version.
const Version = 1

// Period is a counter period, Frac·2^-(64+Shift) seconds per tick. A valid
// period is normalised: Frac >= 2^63, so all 64 bits carry precision (a
// 3 GHz TSC keeps about 19 significant decimal digits), as VMClock's
// counter_period_frac_sec with counter_period_shift. The zero Period is "no
// period" and is invalid where a period is required.
type Period struct {
	Frac  uint64
	Shift uint8
}

// Mul returns Period·ticks exactly, truncated to 2^-64 s, for any ticks.
// It equals bintime.MulFrac for the shifts a valid record has (0..62) and
// is small enough to inline into the read path; Go defines hi<<64 as 0, so
// shift 0 needs no branch.
func (p Period) Mul(ticks uint64) bintime.Time {
	hi, lo := bits.Mul64(p.Frac, ticks)
	s := uint(p.Shift) & 63
	return bintime.Time{Sec: int64(hi >> s), Frac: lo>>s | hi<<(64-s)}
}

// mulSigned returns Period·d where d is a wrapping counter difference read as
// a signed 64-bit number, so spans up to 2^63-1 ticks either way are exact.
func (p Period) mulSigned(d uint64) bintime.Time {
	if int64(d) >= 0 {
		return p.Mul(d)
	}
	return p.Mul(-d).Neg()
}

// IsNormal reports whether p is a normalised non-zero period.
func (p Period) IsNormal() bool { return p.Frac >= 1<<63 }

// Float returns the period in seconds per tick, for display and validation
// only.
func (p Period) Float() float64 { return bintime.PeriodFloat(p.Frac, uint(p.Shift)) }

// PeriodFromFloat encodes a period in seconds per tick. It fails for periods
// that are not positive, not below one second, or not finite.
func PeriodFromFloat(s float64) (Period, bool) {
	f, sh, ok := bintime.PeriodFrac(s)
	if !ok || sh > 255 {
		return Period{}, false
	}
	return Period{Frac: f, Shift: uint8(sh)}, true
}

// ClockState is the record-level state of the host clock: what a reader
// should make of the time, independent of the estimator's detailed status
// bits.
type ClockState uint8

// Clock states. The numbers are ABI: they appear in every encoding.
const (
	// StateUnknown: the publisher did not say (the zero value).
	StateUnknown ClockState = 0
	// StateUnsynchronised: no usable reference yet; the time is a guess.
	StateUnsynchronised ClockState = 1
	// StateWarmUp: the estimator is in warm-up; bounds are wide.
	StateWarmUp ClockState = 2
	// StateSynchronised: the clock tracks its references.
	StateSynchronised ClockState = 3
	// StateFreeRunning: references are lost for a while; the clock runs
	// on its last period, max_error grows with age.
	StateFreeRunning ClockState = 4
	// StateStarving: no valid stamp for more than ten polls.
	StateStarving ClockState = 5
	// StateServerFault: the references disagree or lie; do not trust the
	// time beyond its max_error.
	StateServerFault ClockState = 6
)

var stateNames = [...]string{"unknown", "unsynchronised", "warm-up", "synchronised", "free-running", "starving", "server-fault"}

func (s ClockState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Record is one published clock: the counter it is defined on, a reference
// pair and periods, error bounds, status, validity horizon and leap fields.
//
// The absolute clock it defines is piecewise linear in the counter value T:
//
//	T <  SlewEndCount:  Ca(T) = RefTime     + Period·(T − RefCount)
//	T >= SlewEndCount:  Ca(T) = SlewEndTime + RawPeriod·(T − SlewEndCount)
//
// minus LeapNext seconds once T >= LeapAtCount. The first segment slews the
// previous record's clock onto the new estimate at a bounded rate; the second
// is the raw estimate itself; SlewEndTime is the first segment evaluated at
// SlewEndCount, so the two meet exactly. RawRefTime keeps the raw estimate at
// RefCount for tools (the clock the estimator would show without slewing).
//
// All counter values are 64-bit cumulative counts; comparisons between them
// are wrapping differences read as signed, so a record may span up to 2^63
// ticks. The zero Record is not a valid record.
type Record struct {
	Version          uint16
	Generation       uint64   // +1 every update; restarts with a new DisruptionMarker
	DisruptionMarker uint64   // never repeats; changes on any discontinuity
	HostID           [16]byte // stable per physical host boot

	CounterKind     counter.Kind
	CounterHz       uint64 // nominal frequency, ticks per second
	CounterIdentity uint64 // the counter.Reading.Identity this record applies to

	State  ClockState
	Status clocksync.Status // the estimator's status bits

	RefCount     uint64       // counter value at which this record took over
	RefTime      bintime.Time // Ca(RefCount), UTC-labelled (leaps before LeapAtCount applied)
	Period       Period       // slewed period, used before SlewEndCount
	SlewEndCount uint64       // counter value where the slew ends (== RefCount: no slew)
	SlewEndTime  bintime.Time // RefTime + Period·(SlewEndCount − RefCount), exactly
	RawPeriod    Period       // the estimated long-term period, used from SlewEndCount on
	RawRefTime   bintime.Time // the raw estimate at RefCount (tools only)
	LocalPeriod  Period       // the estimated local period (tools; zero when unknown)

	ErrorBoundNs         uint64 // statistical error bound at RefCount, ns
	MaxErrorNs           uint64 // guaranteed error bound at RefCount, ns
	RateErrorPsPerS      uint32 // bound on the relative error of RawPeriod, ps/s (1e-12)
	ErrorGrowthPsPerS    uint32 // growth of ErrorBoundNs with age, ps/s
	MaxErrorGrowthPsPerS uint32 // growth of MaxErrorNs with age (the max drift), ps/s

	NextExpectedCount uint64 // the next update is due here; later reads are "late"
	VoidAfterCount    uint64 // after this counter value the record must not be trusted
	PollNs            uint64 // the publisher's poll period, ns

	TAIOffsetSec int16  // TAI − UTC, s, valid before LeapAtCount
	LeapNext     int8   // pending leap second: −1, 0 or +1
	LeapAtCount  uint64 // counter value at which LeapNext takes effect (0: none)
}

// Decoding and validation errors. Every decoder error wraps one of these (and
// ErrInvalid for all but the page-state ones), so callers can classify with
// errors.Is while the message says what was wrong where.
var (
	ErrInvalid         = errors.New("invalid clock record")
	ErrVersion         = errors.New("unsupported clock record version")
	ErrTruncated       = errors.New("truncated clock record")
	ErrOversized       = errors.New("oversized clock record")
	ErrMagic           = errors.New("wrong magic")
	ErrUninitialised   = errors.New("clock page not initialised")
	ErrBusy            = errors.New("clock page writer busy")
	ErrStaleGeneration = errors.New("clock record generation did not advance")
	ErrSyntax          = errors.New("malformed clock record text")
)

// minRefSec is 2000-01-01T00:00:00Z: a reference time before it is a clock
// that was never set, not a clock.
const minRefSec = 946684800

// maxRefSec is 2200-01-01: later is as impossible as before 2000.
const maxRefSec = 7258118400

// Limits on a believable counter: 1 kHz to 100 GHz.
const (
	minCounterHz = 1_000
	maxCounterHz = 100_000_000_000
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Validate reports the first impossible value in r, or nil. It checks what a
// reader relies on: version, identities, periods consistent with the nominal
// frequency, reference time in 2000..2200, the exact joint of the two
// segments, the horizon within half a wrap, and the leap fields.
func (r *Record) Validate() error {
	if r.Version != Version {
		return fmt.Errorf("%w: version %d (want %d)", ErrVersion, r.Version, Version)
	}
	if r.Generation == 0 {
		return invalid("generation 0")
	}
	if r.DisruptionMarker == 0 {
		return invalid("disruption marker 0")
	}
	if r.CounterKind == counter.KindUnknown || r.CounterKind.String() == "unknown" {
		return invalid("unknown counter kind %d", r.CounterKind)
	}
	if r.CounterHz < minCounterHz || r.CounterHz > maxCounterHz {
		return invalid("counter frequency %d Hz outside %d..%d", r.CounterHz, minCounterHz, uint64(maxCounterHz))
	}
	if int(r.State) >= len(stateNames) {
		return invalid("clock state %d", r.State)
	}
	for _, p := range []struct {
		name string
		p    Period
		opt  bool
	}{{"period", r.Period, false}, {"raw period", r.RawPeriod, false}, {"local period", r.LocalPeriod, true}} {
		if p.opt && p.p == (Period{}) {
			continue
		}
		if err := checkPeriod(p.p, r.CounterHz); err != nil {
			return fmt.Errorf("%w (%s)", err, p.name)
		}
	}
	for _, t := range []struct {
		name string
		t    bintime.Time
	}{{"reference time", r.RefTime}, {"slew end time", r.SlewEndTime}, {"raw reference time", r.RawRefTime}} {
		if t.t.Sec < minRefSec || t.t.Sec >= maxRefSec {
			return invalid("%s %s outside 2000..2200", t.name, t.t.Format9())
		}
	}
	if int64(r.SlewEndCount-r.RefCount) < 0 {
		return invalid("slew end %d before reference count %d", r.SlewEndCount, r.RefCount)
	}
	if want := r.RefTime.Add(r.Period.Mul(r.SlewEndCount - r.RefCount)); want != r.SlewEndTime {
		return invalid("slew end time %s is not the slewed line's %s", r.SlewEndTime.Format9(), want.Format9())
	}
	if int64(r.VoidAfterCount-r.RefCount) <= 0 {
		return invalid("void-after %d not after reference count %d (or more than half a wrap)", r.VoidAfterCount, r.RefCount)
	}
	if r.LeapNext < -1 || r.LeapNext > 1 {
		return invalid("leap %d not in -1..1", r.LeapNext)
	}
	if r.LeapNext != 0 && r.LeapAtCount == 0 {
		return invalid("leap %d pending without a counter value", r.LeapNext)
	}
	return nil
}

func checkPeriod(p Period, hz uint64) error {
	if !p.IsNormal() {
		return invalid("period fraction %#x not normalised (zero or below 2^63)", p.Frac)
	}
	if p.Shift > 62 {
		return invalid("period shift %d above 62", p.Shift)
	}
	// The estimate may differ from the nominal frequency by the oscillator's
	// error and a slew, which together stay far below 1%. Checked exactly,
	// as the C reader checks it: frac·hz within 2^(64+shift)·(1 ± 1/100),
	// the 1/100 truncated.
	one := new(big.Int).Lsh(big.NewInt(1), 64+uint(p.Shift))
	tol := new(big.Int).Quo(one, big.NewInt(100))
	prod := new(big.Int).Mul(new(big.Int).SetUint64(p.Frac), new(big.Int).SetUint64(hz))
	if prod.Cmp(new(big.Int).Sub(one, tol)) < 0 || prod.Cmp(new(big.Int).Add(one, tol)) > 0 {
		return invalid("period %.6g s/tick disagrees with nominal %d Hz by more than 1%%", p.Float(), hz)
	}
	return nil
}

// CheckGeneration rejects a record that does not advance on the last one a
// reader accepted: same disruption marker and a generation not above
// lastGen. A new marker starts a new sequence and is always accepted.
func CheckGeneration(lastMarker, lastGen uint64, r *Record) error {
	if r.DisruptionMarker == lastMarker && r.Generation <= lastGen {
		return fmt.Errorf("%w: generation %d after %d (marker %016x)", ErrStaleGeneration, r.Generation, lastGen, lastMarker)
	}
	return nil
}
