// Package bintime holds instants and intervals exactly, as whole seconds plus a
// binary fraction in units of 2^-64 s, the representation of FreeBSD's struct
// bintime and of the published clock record.
//
// A float64 of UNIX seconds resolves only about 0.24 µs today, and forming
// Period·T + K in float64 cancels catastrophically, so every quantity that is
// an absolute time travels as a Time and only small differences are ever
// converted to float64.
package bintime

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Time is Sec + Frac·2^-64 seconds. It is used both for instants (seconds
// since the UNIX epoch) and for signed intervals: a negative value has a
// negative Sec and a Frac that still counts upwards, so -0.25 s is
// {Sec: -1, Frac: 0xC000000000000000}.
type Time struct {
	Sec  int64
	Frac uint64
}

const nsPerSec = 1_000_000_000

// FromNanos converts a count of nanoseconds (may be negative) exactly
// rounded to the nearest 2^-64 s.
func FromNanos(ns int64) Time {
	sec := ns / nsPerSec
	rem := ns % nsPerSec
	if rem < 0 {
		rem += nsPerSec
		sec--
	}
	return Time{Sec: sec, Frac: nsToFrac(uint64(rem))}
}

// FromUnix builds a Time from seconds and nanoseconds, as time.Time gives.
func FromUnix(sec int64, nsec int64) Time {
	return Time{Sec: sec}.Add(FromNanos(nsec))
}

// nsToFrac converts 0 <= ns < 1e9 to a 2^-64 fraction, rounded to nearest.
func nsToFrac(ns uint64) uint64 {
	// frac = ns·2^64/1e9 = (ns << 64) / 1e9, a 128/64 division.
	q, r := bits.Div64(ns, 0, nsPerSec)
	if r >= nsPerSec/2 {
		q++
	}
	return q
}

// fracToNs converts a 2^-64 fraction to nanoseconds rounded to nearest; the
// result may be 1e9 when the fraction rounds up to a whole second.
func fracToNs(f uint64) uint64 {
	hi, lo := bits.Mul64(f, nsPerSec)
	if lo >= 1<<63 {
		hi++
	}
	return hi
}

// Add returns t+u.
func (t Time) Add(u Time) Time {
	f, c := bits.Add64(t.Frac, u.Frac, 0)
	return Time{Sec: t.Sec + u.Sec + int64(c), Frac: f}
}

// Sub returns t-u.
func (t Time) Sub(u Time) Time {
	f, b := bits.Sub64(t.Frac, u.Frac, 0)
	return Time{Sec: t.Sec - u.Sec - int64(b), Frac: f}
}

// Neg returns -t.
func (t Time) Neg() Time { return Time{}.Sub(t) }

// Cmp compares t and u: -1, 0 or +1.
func (t Time) Cmp(u Time) int {
	switch {
	case t.Sec < u.Sec:
		return -1
	case t.Sec > u.Sec:
		return 1
	case t.Frac < u.Frac:
		return -1
	case t.Frac > u.Frac:
		return 1
	}
	return 0
}

// IsZero reports whether t is exactly zero.
func (t Time) IsZero() bool { return t.Sec == 0 && t.Frac == 0 }

// Float returns t in seconds as a float64. Use it only on differences; on an
// absolute UNIX time it loses everything below about 0.24 µs.
func (t Time) Float() float64 {
	return float64(t.Sec) + float64(t.Frac)*0x1p-64
}

// FromFloat converts seconds to a Time, exact to the float64's precision.
// NaN and infinities give ok=false.
func FromFloat(s float64) (Time, bool) {
	if math.IsNaN(s) || math.IsInf(s, 0) || s >= 0x1p63 || s < -0x1p63 {
		return Time{}, false
	}
	sec := math.Floor(s)
	frac := s - sec // exact: Sterbenz
	f := frac * 0x1p64
	var uf uint64
	if f >= 0x1p64 {
		uf = math.MaxUint64
	} else {
		uf = uint64(f)
	}
	return Time{Sec: int64(sec), Frac: uf}, true
}

// MustFloat is FromFloat for values expected to be finite and in range. It
// never panics: a value at or beyond +2^63 s, +Inf and NaN saturate to the
// largest Time, a value below −2^63 s and −Inf to the smallest (Sec
// math.MinInt64, Frac 0).
func MustFloat(s float64) Time {
	t, ok := FromFloat(s)
	if !ok {
		if s < 0 {
			return Time{Sec: math.MinInt64}
		}
		return Time{Sec: math.MaxInt64, Frac: math.MaxUint64}
	}
	return t
}

// Nanos returns t rounded to the nearest nanosecond. It saturates outside
// the int64 nanosecond range (about ±292 years), so use it on intervals or
// after subtracting an epoch.
func (t Time) Nanos() int64 {
	if t.Sec > math.MaxInt64/nsPerSec-1 {
		return math.MaxInt64
	}
	if t.Sec < math.MinInt64/nsPerSec+1 {
		return math.MinInt64
	}
	return t.Sec*nsPerSec + int64(fracToNs(t.Frac))
}

// Split returns t rounded to the nearest nanosecond as seconds and
// nanoseconds in [0, 1e9), as time.Unix takes them.
func (t Time) Split() (sec int64, nsec int64) {
	ns := fracToNs(t.Frac)
	if ns >= nsPerSec {
		return t.Sec + 1, int64(ns - nsPerSec)
	}
	return t.Sec, int64(ns)
}

// Format9 prints t as decimal seconds with exactly nine decimals, rounded to
// the nearest nanosecond: "1700000000.123456789", "-0.250000000".
func (t Time) Format9() string {
	neg := t.Sec < 0
	a := t
	if neg {
		a = t.Neg()
	}
	sec, ns := a.Split()
	s := strconv.FormatInt(sec, 10) + "." + fmt.Sprintf("%09d", ns)
	if neg && (sec != 0 || ns != 0) {
		return "-" + s
	}
	return s
}

// String is Format9.
func (t Time) String() string { return t.Format9() }

// ErrSyntax is returned (wrapped) by Parse for malformed input.
var ErrSyntax = errors.New("malformed decimal seconds")

// Parse reads decimal seconds such as "1700000000.123456789", "-12.5" or
// "17". Up to 18 fractional digits are honoured (rounded to the nearest
// 2^-64 s); more digits are an error rather than silently dropped, as are
// exponents, hex and empty parts.
func Parse(s string) (Time, error) {
	orig := s
	if s == "" {
		return Time{}, fmt.Errorf("%w: empty", ErrSyntax)
	}
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, fracPart, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && fracPart == "") {
		return Time{}, fmt.Errorf("%w: %q", ErrSyntax, orig)
	}
	for _, c := range intPart + fracPart {
		if c < '0' || c > '9' {
			return Time{}, fmt.Errorf("%w: %q", ErrSyntax, orig)
		}
	}
	if len(fracPart) > 18 {
		return Time{}, fmt.Errorf("%w: %q has more than 18 decimals", ErrSyntax, orig)
	}
	sec, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return Time{}, fmt.Errorf("%w: %q: seconds out of range", ErrSyntax, orig)
	}
	var frac uint64
	if fracPart != "" {
		// digits / 10^n as a 2^-64 fraction: (digits << 64) / 10^n, rounded.
		d, _ := strconv.ParseUint(fracPart, 10, 64)
		p := uint64(1)
		for range len(fracPart) {
			p *= 10
		}
		q, r := bits.Div64(d, 0, p)
		if r >= (p+1)/2 {
			q++
		}
		frac = q
		if q == 0 && d != 0 && r >= (p+1)/2 {
			// q overflowed from 2^64-1 to 0: the fraction rounds up to one second.
			sec++
		}
	}
	t := Time{Sec: sec, Frac: frac}
	if neg {
		t = t.Neg()
	}
	return t, nil
}

// MulFrac returns period·ticks where period is in units of 2^-(64+shift)
// seconds per tick: the exact product, truncated to 2^-64 s. It is the core
// of every counter-to-time conversion and is exact for any ticks < 2^64.
func MulFrac(period uint64, shift uint, ticks uint64) Time {
	hi, lo := bits.Mul64(period, ticks)
	if shift == 0 {
		return Time{Sec: int64(hi), Frac: lo}
	}
	if shift >= 64 {
		return Time{Sec: 0, Frac: hi >> (shift - 64)}
	}
	lo = lo>>shift | hi<<(64-shift)
	hi >>= shift
	return Time{Sec: int64(hi), Frac: lo}
}

// PeriodFrac encodes a period in seconds per tick as (frac, shift) with frac
// in units of 2^-(64+shift) s and shift the largest that keeps frac < 2^64,
// so frac >= 2^63 and the full 64 bits carry precision (as VMClock's
// counter_period_shift). Periods must be positive and below 1 s.
func PeriodFrac(p float64) (frac uint64, shift uint, ok bool) {
	if !(p > 0) || p >= 1 || math.IsInf(p, 0) {
		return 0, 0, false
	}
	m, e := math.Frexp(p) // p = m·2^e, m in [0.5,1), e <= 0
	// frac = p·2^(64+shift) = m·2^(e+64+shift); choose e+shift = 0.
	shift = uint(-e)
	if shift > 191 {
		return 0, 0, false
	}
	frac = uint64(m * 0x1p64)
	return frac, shift, true
}

// PeriodFloat is the inverse of PeriodFrac.
func PeriodFloat(frac uint64, shift uint) float64 {
	return math.Ldexp(float64(frac), -64-int(shift))
}
