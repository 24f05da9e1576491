package clockdata

// The record builder: from the previous published record and a new raw
// estimate, the next record, continuous with the previous one at the instant
// it takes over and slewed onto the raw estimate at a bounded rate, as
// FreeBSD's ffclock "lerp" clock does.

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/bits"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/counter"
)

// Raw is one raw clock estimate, as the estimator gives it, plus the
// publisher's identities. Its error bounds hold at RefCount.
type Raw struct {
	HostID          [16]byte
	CounterKind     counter.Kind
	CounterHz       uint64
	CounterIdentity uint64

	State  ClockState
	Status clocksync.Status

	RefCount    uint64
	RefTime     bintime.Time // Ca(RefCount), leaps before LeapAtCount applied
	Period      Period
	LocalPeriod Period // zero when unknown

	ErrorBoundNs         uint64
	MaxErrorNs           uint64
	RateErrorPsPerS      uint32
	ErrorGrowthPsPerS    uint32
	MaxErrorGrowthPsPerS uint32

	NextExpectedCount uint64 // 0: RefCount-independent default, now + one poll
	VoidAfterCount    uint64 // 0: the builder's default horizon
	PollNs            uint64

	TAIOffsetSec int16
	LeapNext     int8
	LeapAtCount  uint64

	// Disrupt forces a new disruption marker: the publisher knows of a
	// discontinuity the record cannot show (an estimator reset, a counter
	// re-opened).
	Disrupt bool
}

// Builder policy defaults.
const (
	// DefaultMaxSlewPPM caps the rate at which a correction is slewed in:
	// 500 ppm, the largest frequency error NTP's discipline admits, so the
	// slewed clock never runs faster or slower than a legitimately bad
	// oscillator. FreeBSD's ffclock allows 5000 ppm.
	DefaultMaxSlewPPM = 500
	// DefaultStepThresholdNs: a correction larger than this (ntpd's 128 ms
	// step threshold) would take over 4 minutes to slew, so it is stepped
	// instead and the record gets a new disruption marker.
	DefaultStepThresholdNs = 128_000_000
	// DefaultVoidAfterNs is the validity horizon after the last update when
	// the raw estimate does not give one: 1000 s, as ClockBound's void_after,
	// or ten polls if that is longer.
	DefaultVoidAfterNs = 1000_000_000_000
	// minSlewNs is the shortest slew, for publishers with no poll period.
	minSlewNs = 1_000_000_000
)

// Builder turns raw estimates into published records. The zero Builder uses
// the defaults above and crypto/rand markers.
type Builder struct {
	MaxSlewPPM      uint32        // 0: DefaultMaxSlewPPM
	StepThresholdNs uint64        // 0: DefaultStepThresholdNs
	NewMarker       func() uint64 // nil: random; must never return 0 or repeat
}

// Next is Builder{}.Next.
func Next(prev *Record, raw Raw, now uint64) (Record, error) {
	return Builder{}.Next(prev, raw, now)
}

func randomMarker() uint64 {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic("crypto/rand failed: " + err.Error()) // crypto/rand never fails on Linux
		}
		if m := binary.LittleEndian.Uint64(b[:]); m != 0 {
			return m
		}
	}
}

// Next returns the record that takes over from prev at counter value now
// (the publisher's counter read just before publishing) with the raw
// estimate raw. prev may be nil (the first record of a publisher that lost
// its state).
//
// When prev is valid, on the same host, counter and timeline, and the
// correction |raw(now) − prev(now)| is at most the step threshold, the new
// record keeps prev's disruption marker, starts exactly at prev's time at now
// and slews onto the raw line over max(one poll, correction/MaxSlewPPM); its
// error bounds include the correction still being slewed. Otherwise it
// starts on the raw line with a new disruption marker.
func (b Builder) Next(prev *Record, raw Raw, now uint64) (Record, error) {
	maxSlew := uint64(b.MaxSlewPPM)
	if maxSlew == 0 {
		maxSlew = DefaultMaxSlewPPM
	}
	stepNs := b.StepThresholdNs
	if stepNs == 0 {
		stepNs = DefaultStepThresholdNs
	}
	newMarker := b.NewMarker
	if newMarker == nil {
		newMarker = randomMarker
	}
	if err := checkPeriod(raw.Period, raw.CounterHz); err != nil {
		return Record{}, fmt.Errorf("raw estimate: %w", err)
	}

	r := Record{
		Version:              Version,
		HostID:               raw.HostID,
		CounterKind:          raw.CounterKind,
		CounterHz:            raw.CounterHz,
		CounterIdentity:      raw.CounterIdentity,
		State:                raw.State,
		Status:               raw.Status,
		RefCount:             now,
		RawPeriod:            raw.Period,
		LocalPeriod:          raw.LocalPeriod,
		RateErrorPsPerS:      raw.RateErrorPsPerS,
		ErrorGrowthPsPerS:    raw.ErrorGrowthPsPerS,
		MaxErrorGrowthPsPerS: raw.MaxErrorGrowthPsPerS,
		PollNs:               raw.PollNs,
		TAIOffsetSec:         raw.TAIOffsetSec,
		LeapNext:             raw.LeapNext,
		LeapAtCount:          raw.LeapAtCount,
	}
	if r.LeapNext == 0 {
		r.LeapAtCount = 0
	}
	rawNow := raw.RefTime.Add(raw.Period.mulSigned(now - raw.RefCount))
	if r.LeapNext != 0 && int64(now-r.LeapAtCount) >= 0 {
		// The leap is behind us: fold it into the reference time.
		rawNow.Sec -= int64(r.LeapNext)
		r.TAIOffsetSec += int16(r.LeapNext)
		r.LeapNext, r.LeapAtCount = 0, 0
	}
	r.RawRefTime = rawNow

	// The raw bounds, grown from the estimate's reference point to now.
	rawAge := absTicks(now - raw.RefCount)
	ageNs := nsOf(raw.Period.Mul(rawAge))
	errNs := grow(raw.ErrorBoundNs, ageNs, raw.ErrorGrowthPsPerS)
	maxNs := grow(raw.MaxErrorNs, ageNs, raw.MaxErrorGrowthPsPerS)

	continuous := prev != nil && !raw.Disrupt && prev.Validate() == nil &&
		prev.HostID == raw.HostID && prev.CounterKind == raw.CounterKind &&
		prev.CounterHz == raw.CounterHz && prev.CounterIdentity == raw.CounterIdentity
	var gap bintime.Time
	var gapNs uint64
	if continuous {
		gap = rawNow.Sub(prev.Absolute(now))
		gapNs = absNs(gap)
		continuous = gapNs <= stepNs
	}
	switch {
	case prev == nil:
		r.Generation = 1
	default:
		r.Generation = prev.Generation + 1
		if r.Generation == 0 {
			r.Generation = 1
		}
	}
	r.Period, r.SlewEndCount, r.RefTime, r.SlewEndTime = raw.Period, now, rawNow, rawNow
	if !continuous {
		r.DisruptionMarker = newMarker()
		if prev != nil && r.DisruptionMarker == prev.DisruptionMarker {
			return Record{}, fmt.Errorf("clock record builder: marker source repeated %016x", r.DisruptionMarker)
		}
		gapNs = 0
	} else {
		r.DisruptionMarker = prev.DisruptionMarker
		r.RefTime = rawNow.Sub(gap) // prev.Absolute(now), exactly
		if !gap.IsZero() {
			slewNs := max(raw.PollNs, minSlewNs, satMul(gapNs, 1_000_000)/maxSlew+1)
			ticks, p, err := slew(raw.Period, gap, slewNs)
			if err != nil {
				return Record{}, fmt.Errorf("clock record builder: %w", err)
			}
			r.Period, r.SlewEndCount = p, now+ticks
			r.SlewEndTime = r.RefTime.Add(p.Mul(ticks))
		} else {
			r.SlewEndTime = r.RefTime
		}
	}
	// Until the slew completes the published clock is off the estimate by
	// at most the correction; the bound says so.
	r.ErrorBoundNs = satAdd(errNs, gapNs)
	r.MaxErrorNs = satAdd(maxNs, gapNs)

	r.NextExpectedCount = raw.NextExpectedCount
	if r.NextExpectedCount == 0 && raw.PollNs > 0 {
		r.NextExpectedCount = now + ticksOf(raw.PollNs, raw.CounterHz)
	}
	r.VoidAfterCount = raw.VoidAfterCount
	if r.VoidAfterCount == 0 || int64(r.VoidAfterCount-now) <= 0 {
		h := max(DefaultVoidAfterNs, satMul(raw.PollNs, 10))
		r.VoidAfterCount = now + min(ticksOf(h, raw.CounterHz), math.MaxInt64)
	}
	if err := r.Validate(); err != nil {
		return Record{}, fmt.Errorf("clock record builder: %w", err)
	}
	return r, nil
}

// slew returns the slew span in ticks (covering slewNs on period p) and the
// period that closes gap over it: p + gap/ticks, normalised.
func slew(p Period, gap bintime.Time, slewNs uint64) (uint64, Period, error) {
	// ticks = ceil(slewNs·2^(64+shift) / (1e9·frac))
	num := new(big.Int).Lsh(new(big.Int).SetUint64(slewNs), 64+uint(p.Shift))
	den := new(big.Int).Mul(big.NewInt(1_000_000_000), new(big.Int).SetUint64(p.Frac))
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if m.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsUint64() || q.Uint64() > math.MaxInt64 {
		return 0, Period{}, fmt.Errorf("slew of %d ns spans more than 2^63 ticks", slewNs)
	}
	ticks := q.Uint64()
	// period = frac/2^(64+shift) + gap/(2^64·ticks), gap in 2^-64 s units.
	g := new(big.Int).Lsh(big.NewInt(gap.Sec), 64)
	g.Add(g, new(big.Int).SetUint64(gap.Frac))
	per := new(big.Rat).SetFrac(new(big.Int).SetUint64(p.Frac), new(big.Int).Lsh(big.NewInt(1), 64+uint(p.Shift)))
	per.Add(per, new(big.Rat).SetFrac(g, new(big.Int).Lsh(new(big.Int).SetUint64(ticks), 64)))
	np, err := periodFromRat(per)
	return ticks, np, err
}

// periodFromRat normalises a positive period below 1 s, truncating.
func periodFromRat(x *big.Rat) (Period, error) {
	if x.Sign() <= 0 {
		return Period{}, fmt.Errorf("period %s not positive", x.FloatString(20))
	}
	for s := uint(0); s <= 63; s++ {
		v := new(big.Int).Lsh(x.Num(), 64+s)
		v.Quo(v, x.Denom())
		switch n := v.BitLen(); {
		case n == 64:
			return Period{Frac: v.Uint64(), Shift: uint8(s)}, nil
		case n > 64:
			return Period{}, fmt.Errorf("period %s s not below 1 s", x.FloatString(12))
		}
	}
	return Period{}, fmt.Errorf("period %s s too short", x.FloatString(30))
}

func absTicks(d uint64) uint64 {
	if int64(d) < 0 {
		return -d
	}
	return d
}

func nsOf(t bintime.Time) uint64 {
	if t.Sec < 0 {
		t = t.Neg()
	}
	if t.Sec >= math.MaxInt64/1_000_000_000-1 {
		return math.MaxInt64
	}
	return uint64(t.Nanos())
}

// absNs is |t| in ns, rounded up, saturating.
func absNs(t bintime.Time) uint64 {
	if t.Sec < 0 {
		t = t.Neg()
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

func satAdd(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	if c != 0 {
		return math.MaxUint64
	}
	return s
}

func satMul(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

// ticksOf converts ns to ticks at the nominal frequency, saturating.
func ticksOf(ns, hz uint64) uint64 {
	hi, lo := bits.Mul64(ns, hz)
	if hi >= 1_000_000_000 {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, 1_000_000_000)
	return q
}

// StateFromStatus derives the record-level clock state from the estimator's
// status bits.
func StateFromStatus(s clocksync.Status) ClockState {
	switch {
	case s&clocksync.StatusUnsync != 0:
		return StateUnsynchronised
	case s&clocksync.StatusWarmup != 0:
		return StateWarmUp
	case s&clocksync.StatusStarving != 0:
		return StateStarving
	}
	return StateSynchronised
}

// CounterInfo names the counter and timeline a raw estimate is made on.
type CounterInfo struct {
	Kind     counter.Kind
	Hz       uint64
	Identity uint64
}

// psPerS converts a dimensionless rate (s/s) to ps/s, rounding up and
// saturating at the field's range.
func psPerS(name string, v float64) (uint32, error) {
	if math.IsNaN(v) || v < 0 {
		return 0, fmt.Errorf("%w: %s %g", ErrInvalid, name, v)
	}
	ps := math.Ceil(v * 1e12)
	if ps > math.MaxUint32 {
		return math.MaxUint32, nil
	}
	return uint32(ps), nil
}

// nsCeil converts non-negative seconds to ns, rounding up, saturating.
func nsCeil(name string, v float64) (uint64, error) {
	if math.IsNaN(v) || v < 0 {
		return 0, fmt.Errorf("%w: %s %g s", ErrInvalid, name, v)
	}
	ns := math.Ceil(v * 1e9)
	if ns >= math.MaxInt64 {
		return math.MaxInt64, nil
	}
	return uint64(ns), nil
}

// RawFromParams converts the estimator's parameters into a raw estimate for
// Next. The float64 fields of Params are small quantities (periods, bounds,
// rates); the absolute time RefTime is carried exactly.
func RawFromParams(p clocksync.Params, host [16]byte, c CounterInfo, pollNs uint64) (Raw, error) {
	per, ok := PeriodFromFloat(p.Period)
	if !ok {
		return Raw{}, fmt.Errorf("%w: period %g s/tick", ErrInvalid, p.Period)
	}
	var local Period
	if p.PeriodLocal > 0 {
		if local, ok = PeriodFromFloat(p.PeriodLocal); !ok {
			return Raw{}, fmt.Errorf("%w: local period %g s/tick", ErrInvalid, p.PeriodLocal)
		}
	}
	raw := Raw{
		HostID: host, CounterKind: c.Kind, CounterHz: c.Hz, CounterIdentity: c.Identity,
		State: StateFromStatus(p.Status), Status: p.Status,
		RefCount: p.RefCount, RefTime: p.RefTime, Period: per, LocalPeriod: local,
		NextExpectedCount: p.NextExpected, PollNs: pollNs,
		LeapNext: p.LeapNext, LeapAtCount: p.LeapAt,
	}
	if p.LeapTotal < math.MinInt16 || p.LeapTotal > math.MaxInt16 {
		return Raw{}, fmt.Errorf("%w: TAI-UTC %d s", ErrInvalid, p.LeapTotal)
	}
	raw.TAIOffsetSec = int16(p.LeapTotal)
	var err error
	if raw.ErrorBoundNs, err = nsCeil("error bound", p.ErrorBound); err != nil {
		return Raw{}, err
	}
	if raw.MaxErrorNs, err = nsCeil("max error", p.MaxError); err != nil {
		return Raw{}, err
	}
	if raw.RateErrorPsPerS, err = psPerS("rate error bound", p.RateErrorBound); err != nil {
		return Raw{}, err
	}
	if raw.ErrorGrowthPsPerS, err = psPerS("error rate", p.ErrorRate); err != nil {
		return Raw{}, err
	}
	if raw.MaxErrorGrowthPsPerS, err = psPerS("max error rate", p.MaxErrorRate); err != nil {
		return Raw{}, err
	}
	return raw, nil
}
