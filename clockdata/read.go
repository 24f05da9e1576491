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

// The bounds grow linearly with the age of the record. To keep the read
// path free of divisions, each growth rate (ps/s in the record) is turned
// once per record into a 2^-64 fraction per second, rounded up, and the
// bound is kept as a Time until it is reported in ns (rounded up).

// derived holds the per-record constants of the read path. The page reader
// computes them once per published record.
type derived struct {
	maxErrBase, errBase bintime.Time // MaxErrorNs, ErrorBoundNs as Times
	maxGrowQ, errGrowQ  uint64       // growth per second of age, 2^-64 s, rounded up
}

// growQ returns ceil(ratePsPerS·2^64/10^12).
func growQ(ratePsPerS uint32) uint64 {
	q, rem := bits.Div64(uint64(ratePsPerS), 0, 1_000_000_000_000) // rate·2^64 / 10^12; rate < 10^12
	if rem != 0 {
		q++
	}
	return q
}

func (r *Record) derive() derived {
	return derived{
		maxErrBase: nsTime(r.MaxErrorNs), errBase: nsTime(r.ErrorBoundNs),
		maxGrowQ: growQ(r.MaxErrorGrowthPsPerS), errGrowQ: growQ(r.ErrorGrowthPsPerS),
	}
}

// age returns |T − RefCount| on the raw period, as a non-negative Time.
func (r *Record) age(T uint64) bintime.Time {
	d := T - r.RefCount
	if int64(d) < 0 {
		d = -d
	}
	return r.RawPeriod.Mul(d)
}

// grown returns base + age·q·2^-64, rounded up to the next 2^-64 s when the
// product is not exact. age is non-negative.
func grown(base, age bintime.Time, q uint64) bintime.Time {
	shi, slo := bits.Mul64(uint64(age.Sec), q) // whole seconds · q: shi seconds + slo fraction
	fhi, flo := bits.Mul64(age.Frac, q)        // fraction · q: fhi fraction + flo below 2^-64
	f, c := bits.Add64(slo, fhi, 0)
	if flo != 0 {
		var c2 uint64
		f, c2 = bits.Add64(f, 1, 0)
		c += c2
	}
	return base.Add(bintime.Time{Sec: int64(shi + c), Frac: f})
}

// CeilNs returns a non-negative Time in ns, rounded up, saturating (0 for
// a negative Time): how a bound held as a Time is reported in ns.
func CeilNs(t bintime.Time) uint64 { return ceilNs(t) }

// ceilNs returns a non-negative Time in ns, rounded up, saturating.
func ceilNs(t bintime.Time) uint64 {
	if t.Sec < 0 {
		return 0
	}
	if t.Sec >= math.MaxInt64/1_000_000_000-1 {
		return math.MaxInt64
	}
	hi, lo := bits.Mul64(t.Frac, 1_000_000_000)
	if lo != 0 {
		hi++
	}
	return uint64(t.Sec)*1_000_000_000 + hi
}

// grow returns base + ageNs·rate/10^12 (rate in ps/s), rounded up,
// saturating. The builder uses it; readers use grown.
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

// maxErrorTime is the guaranteed bound at T as a Time.
func (r *Record) maxErrorTime(d *derived, T uint64) bintime.Time {
	return grown(d.maxErrBase, r.age(T), d.maxGrowQ)
}

// MaxErrorAt returns the guaranteed error bound at counter value T in ns,
// rounded up: MaxErrorNs grown at MaxErrorGrowthPsPerS over the age of the
// record (|T − RefCount| on the raw period).
func (r *Record) MaxErrorAt(T uint64) uint64 {
	d := r.derive()
	return ceilNs(r.maxErrorTime(&d, T))
}

// ErrorBoundAt returns the statistical error bound at counter value T, ns.
func (r *Record) ErrorBoundAt(T uint64) uint64 {
	d := r.derive()
	return ceilNs(grown(d.errBase, r.age(T), d.errGrowQ))
}

// Bounds returns the interval [earliest, latest] that contains true UTC at
// counter value T if the publisher's guarantee holds: Absolute(T) ∓ the
// grown max error.
func (r *Record) Bounds(T uint64) (earliest, latest bintime.Time) {
	d := r.derive()
	ca := r.Absolute(T)
	e := r.maxErrorTime(&d, T)
	return ca.Sub(e), ca.Add(e)
}

// nsTime converts ns to a Time, the fraction rounded down, so that ceilNs
// gives ns back exactly.
func nsTime(ns uint64) bintime.Time {
	q, _ := bits.Div64(ns%1_000_000_000, 0, 1_000_000_000)
	return bintime.Time{Sec: int64(ns / 1_000_000_000), Frac: q}
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
	// Flags are the page publisher's (mode, disruption imminent,
	// disrupted); zero for a record read outside a page.
	Flags PageFlags
}

// Read evaluates the record at one counter reading taken from a counter of
// the given kind. A reading of another kind gives ReadCounterMismatch, one
// of another timeline ReadDisrupted; neither carries a time. Callers that
// read the record and the counter separately must take the reading after the
// record, as the page reader does inside its seqlock loop.
func (r *Record) Read(kind counter.Kind, rd counter.Reading) Now {
	d := r.derive()
	var n Now
	r.eval(&d, kind, rd, &n)
	return n
}

// eval is Read with the per-record constants already derived: the hot
// path, multiplications only.
func (r *Record) eval(d *derived, kind counter.Kind, rd counter.Reading, n *Now) {
	*n = Now{State: r.State, Count: rd.Count, Generation: r.Generation, Marker: r.DisruptionMarker}
	if kind != r.CounterKind {
		n.Status = ReadCounterMismatch
		return
	}
	if rd.Identity != r.CounterIdentity {
		n.Status = ReadDisrupted
		return
	}
	n.Status = r.Age(rd.Count)
	n.Time = r.Absolute(rd.Count)
	age := r.age(rd.Count)
	e := grown(d.maxErrBase, age, d.maxGrowQ)
	n.MaxErrorNs = ceilNs(e)
	n.ErrorBoundNs = ceilNs(grown(d.errBase, age, d.errGrowQ))
	n.Earliest, n.Latest = n.Time.Sub(e), n.Time.Add(e)
}
