package clockdata

// The stateless read function: a record plus one counter reading gives the
// absolute time, its bounds and a status. Integer fixed point only.

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/counter"
)

// ReadStatus says how far a read may be trusted. The numbers are ABI: the C
// reader returns the same values.
type ReadStatus uint8

const (
	// ReadInvalid: no read happened (the zero value).
	ReadInvalid ReadStatus = 0
	// ReadFresh: the counter is before the record's next expected update.
	ReadFresh ReadStatus = 1
	// ReadLate: the next update is overdue, the record is still valid;
	// the bounds have grown with age.
	ReadLate ReadStatus = 2
	// ReadVoid: the counter is past the record's validity horizon. The time
	// is computed but must not be trusted.
	ReadVoid ReadStatus = 3
	// ReadCounterMismatch: the counter read is not the kind the record is
	// defined on. No time.
	ReadCounterMismatch ReadStatus = 4
	// ReadDisrupted: the counter's timeline identity is not the record's
	// (a migration or restore happened between the record read and the
	// counter read). No time.
	ReadDisrupted ReadStatus = 5
)

var readStatusNames = [...]string{"invalid", "fresh", "late", "void", "counter-mismatch", "disrupted"}

func (s ReadStatus) String() string {
	if int(s) < len(readStatusNames) {
		return readStatusNames[s]
	}
	return fmt.Sprintf("read-status(%d)", uint8(s))
}

// HasTime reports whether a read with this status carries a time.
func (s ReadStatus) HasTime() bool { return s == ReadFresh || s == ReadLate || s == ReadVoid }

// Absolute returns Ca(T), the absolute (UTC) clock at counter value T. It is
// exact up to the 2^-64 s truncation of each product, for any T within 2^63
// ticks of the record's reference points. It does not check T's identity or
// age; Read does.
func (r *Record) Absolute(T uint64) bintime.Time {
	var t bintime.Time
	if int64(T-r.SlewEndCount) < 0 {
		t = r.RefTime.Add(r.Period.mulSigned(T - r.RefCount))
	} else {
		t = r.SlewEndTime.Add(r.RawPeriod.mulSigned(T - r.SlewEndCount))
	}
	if r.LeapNext != 0 && int64(T-r.LeapAtCount) >= 0 {
		t.Sec -= int64(r.LeapNext)
	}
	return t
}

// Difference returns the difference clock Cd = RawPeriod·(T2 − T1): the best
// estimate of the time elapsed between two counter values of the same
// timeline, free of the offset corrections and slews of the absolute clock.
// A negative result means T2 is before T1.
func (r *Record) Difference(T1, T2 uint64) bintime.Time {
	return r.RawPeriod.mulSigned(T2 - T1)
}

// ageNs is the time since the record's reference point, |T − RefCount| on
// the raw period, in ns, saturating.
func (r *Record) ageNs(T uint64) uint64 {
	d := T - r.RefCount
	if int64(d) < 0 {
		d = -d
	}
	a := r.RawPeriod.Mul(d)
	if a.Sec >= math.MaxInt64/1_000_000_000-1 {
		return math.MaxInt64
	}
	return uint64(a.Nanos())
}

// grow returns base + ageNs·rate/10^12 (rate in ps/s), saturating.
func grow(base, ageNs uint64, ratePsPerS uint32) uint64 {
	hi, lo := bits.Mul64(ageNs, uint64(ratePsPerS)) // hi < 2^32 < 10^12: Div64 cannot overflow
	q, rem := bits.Div64(hi, lo, 1_000_000_000_000)
	if rem != 0 {
		q++ // a bound rounds outwards
	}
	s, c := bits.Add64(base, q, 0)
	if c != 0 {
		return math.MaxUint64
	}
	return s
}

// MaxErrorAt returns the guaranteed error bound at counter value T, ns:
// MaxErrorNs grown at MaxErrorGrowthPsPerS over the age of the record.
func (r *Record) MaxErrorAt(T uint64) uint64 {
	return grow(r.MaxErrorNs, r.ageNs(T), r.MaxErrorGrowthPsPerS)
}

// ErrorBoundAt returns the statistical error bound at counter value T, ns.
func (r *Record) ErrorBoundAt(T uint64) uint64 {
	return grow(r.ErrorBoundNs, r.ageNs(T), r.ErrorGrowthPsPerS)
}

// Bounds returns the interval [earliest, latest] that contains true UTC at
// counter value T if the publisher's guarantee holds: Absolute(T) ∓
// MaxErrorAt(T).
func (r *Record) Bounds(T uint64) (earliest, latest bintime.Time) {
	ca := r.Absolute(T)
	e := nsTime(r.MaxErrorAt(T))
	return ca.Sub(e), ca.Add(e)
}

func nsTime(ns uint64) bintime.Time {
	if ns > math.MaxInt64 {
		ns = math.MaxInt64
	}
	return bintime.FromNanos(int64(ns))
}

// Age returns the status of a read at counter value T by age alone: fresh,
// late or void.
func (r *Record) Age(T uint64) ReadStatus {
	if int64(T-r.VoidAfterCount) > 0 {
		return ReadVoid
	}
	if r.NextExpectedCount != 0 && int64(T-r.NextExpectedCount) > 0 {
		return ReadLate
	}
	return ReadFresh
}

// Now is the result of one read of the clock.
type Now struct {
	Status       ReadStatus
	State        ClockState   // the record's clock state
	Count        uint64       // the counter value read
	Time         bintime.Time // Ca(Count); zero unless Status.HasTime()
	Earliest     bintime.Time
	Latest       bintime.Time
	ErrorBoundNs uint64
	MaxErrorNs   uint64
	Generation   uint64 // of the record used
	Marker       uint64 // its disruption marker
}

// Read evaluates the record at one counter reading taken from a counter of
// the given kind. A reading of another kind gives ReadCounterMismatch, one
// of another timeline ReadDisrupted; neither carries a time. Callers that
// read the record and the counter separately must take the reading after the
// record, as the page reader does inside its seqlock loop.
func (r *Record) Read(kind counter.Kind, rd counter.Reading) Now {
	n := Now{State: r.State, Count: rd.Count, Generation: r.Generation, Marker: r.DisruptionMarker}
	if kind != r.CounterKind {
		n.Status = ReadCounterMismatch
		return n
	}
	if rd.Identity != r.CounterIdentity {
		n.Status = ReadDisrupted
		return n
	}
	n.Status = r.Age(rd.Count)
	n.Time = r.Absolute(rd.Count)
	n.MaxErrorNs = r.MaxErrorAt(rd.Count)
	n.ErrorBoundNs = r.ErrorBoundAt(rd.Count)
	e := nsTime(n.MaxErrorNs)
	n.Earliest, n.Latest = n.Time.Sub(e), n.Time.Add(e)
	return n
}
