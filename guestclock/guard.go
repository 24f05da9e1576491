package guestclock

// The never-backwards guard. Every record the agent takes (a dom0d update,
// a restarted dom0d's first record, the new host's record after a
// migration) is compared with what the page promised readers at the same
// instant: the time P and its interval [P − Ep, P + Ep]. A reader's time
// and its earliest bound (time − max_error) must not go back, so:
//
//   - incoming time ≥ P and incoming earliest ≥ P − Ep: the record is
//     published as it is;
//   - otherwise, when the two intervals intersect (both promises hold, so
//     the truth is in the intersection [lo, hi]): the page holds. It
//     publishes a record that starts at max(P, incoming time), with the
//     smallest symmetric bound that covers [lo, hi], and slews onto the
//     incoming clock's raw line at no more than 500 ppm (clockdata's
//     builder); the bound grows by the slew rate on top of the incoming
//     growth, so it keeps containing the truth while the clock converges.
//     Its earliest bound is ≥ lo ≥ P − Ep: nothing goes back;
//   - when the intervals are disjoint (a promise was broken) or the gap is
//     beyond the builder's step threshold (128 ms, minutes of slewing): the
//     incoming record is published with the disrupted flag, readers get
//     "disrupted" and no time, until the incoming clock has caught up with
//     what the page promised (or the configured hold limit passes).
//
// A record in state unsynchronised (or unknown) promises nothing: its time
// is a guess and its bound is not held (readers are told so). Intersecting
// it with the incoming record would carry the guess's wrong bound into the
// synchronised record that replaces it, so against a guess only the
// reader's time is kept from going back: the hold covers the incoming
// interval alone, and its earliest bound may be below the guess's.

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
)

// MonotonicRatePPM bounds the rate error of the guest's CLOCK_BOOTTIME when
// the old host's clock is extrapolated across a migration pause (NTP never
// slews the kernel's clock faster than 500 ppm).
const MonotonicRatePPM = 500

// promise is what the page promised readers at one instant: time and max
// error (both as exact Times; MaxErr ≥ 0).
type promise struct {
	Time, MaxErr bintime.Time
	// Guess: the record was unsynchronised: Time and MaxErr promise
	// nothing, only Time must not go back.
	Guess bool
}

// isGuess: a record whose time readers are told is a guess.
func isGuess(r *clockdata.Record) bool {
	return r.State == clockdata.StateUnsynchronised || r.State == clockdata.StateUnknown
}

func (p promise) earliest() bintime.Time { return p.Time.Sub(p.MaxErr) }
func (p promise) latest() bintime.Time   { return p.Time.Add(p.MaxErr) }

// promiseAt is record r read at counter value T, exactly as readers
// compute it (the bound to the 2^-64 s, not rounded to ns).
func promiseAt(r *clockdata.Record, T uint64) promise {
	t := r.Absolute(T)
	earliest, _ := r.Bounds(T)
	return promise{Time: t, MaxErr: t.Sub(earliest), Guess: isGuess(r)}
}

// extrapolate carries p across elapsedNs of CLOCK_BOOTTIME: the time
// advances by elapsedNs, the bound by the record's growth plus the
// monotonic clock's own rate bound.
func (p promise) extrapolate(elapsedNs int64, growthPsPerS uint32) promise {
	if elapsedNs < 0 {
		elapsedNs = 0
	}
	rate := uint64(growthPsPerS) + MonotonicRatePPM*1_000_000
	hi, lo := bits.Mul64(uint64(elapsedNs), rate)
	q, rem := bits.Div64(hi, lo, 1_000_000_000_000) // hi < 2^33 < 10^12
	if rem != 0 {
		q++
	}
	return promise{Time: p.Time.Add(bintime.FromNanos(elapsedNs)), MaxErr: p.MaxErr.Add(nsTime(q)), Guess: p.Guess}
}

// nsTime is ns as a Time, the fraction rounded down, as readers turn a
// record's MaxErrorNs into a Time.
func nsTime(ns uint64) bintime.Time {
	q, _ := bits.Div64(ns%1_000_000_000, 0, 1_000_000_000)
	return bintime.Time{Sec: int64(ns / 1_000_000_000), Frac: q}
}

func maxTime(a, b bintime.Time) bintime.Time {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

func minTime(a, b bintime.Time) bintime.Time {
	if a.Cmp(b) <= 0 {
		return a
	}
	return b
}

// Verdict is what the guard decided for one incoming record.
type Verdict uint8

const (
	// VerdictServe: the incoming record is published as it is.
	VerdictServe Verdict = iota
	// VerdictHold: a hold record (continuous with the promise, slewing
	// onto the incoming clock) is published instead.
	VerdictHold
	// VerdictDisrupt: the incoming record is published with the
	// disrupted flag: serving it would move time or its earliest bound
	// back.
	VerdictDisrupt
)

var verdictNames = [...]string{"serve", "hold", "disrupt"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// guardResult is the guard's decision for an incoming record read at T.
type guardResult struct {
	Verdict Verdict
	Rec     clockdata.Record // what to publish (the incoming record or the hold)
	StepNs  int64            // incoming time − promised time at T (0 without a promise)
	In      promise          // the incoming record at T
}

// guard decides what to publish for incoming record in at counter value T
// given the page's promise prev at the same instant (nil: no promise, the
// agent's first record).
func guard(prev *promise, in *clockdata.Record, T uint64) (guardResult, error) {
	inP := promiseAt(in, T)
	res := guardResult{Verdict: VerdictServe, Rec: *in, In: inP}
	if prev == nil {
		return res, nil
	}
	step := inP.Time.Sub(prev.Time)
	res.StepNs = step.Nanos()
	oe, ne := prev.earliest(), inP.earliest()
	if step.Sec >= 0 && (ne.Cmp(oe) >= 0 || prev.Guess) {
		return res, nil
	}
	lo, hi := maxTime(oe, ne), minTime(prev.latest(), inP.latest())
	if prev.Guess {
		lo, hi = ne, inP.latest() // only the incoming record promises
	}
	held := maxTime(prev.Time, inP.Time)
	gap := held.Sub(inP.Time)
	if lo.Cmp(hi) > 0 || gap.Cmp(nsTime(clockdata.DefaultStepThresholdNs)) > 0 {
		res.Verdict = VerdictDisrupt
		return res, nil
	}
	e := maxTime(held.Sub(lo), hi.Sub(held))
	// The record carries the bound in whole ns (rounded up); moving the
	// start up by the rounding keeps the earliest bound exactly at
	// held − e, and the interval still covers [lo, hi].
	eNs := ceilNs(e)
	held = held.Add(nsTime(eNs).Sub(e))
	h, err := holdRecord(in, T, held, eNs)
	if err != nil {
		return res, err
	}
	res.Verdict, res.Rec = VerdictHold, h
	return res, nil
}

// holdRecord is the record that starts at held (max error eNs) at counter
// value T and slews onto in's raw line (the line in reaches at its slew
// end) at no more than the builder's 500 ppm.
func holdRecord(in *clockdata.Record, T uint64, held bintime.Time, eNs uint64) (clockdata.Record, error) {
	p := *in
	p.RefCount, p.RefTime, p.RawRefTime = T, held, held
	p.Period, p.SlewEndCount, p.SlewEndTime = in.RawPeriod, T, held
	p.MaxErrorNs, p.ErrorBoundNs = eNs, eNs
	raw := clockdata.Raw{
		HostID: in.HostID, CounterKind: in.CounterKind, CounterHz: in.CounterHz, CounterIdentity: in.CounterIdentity,
		State: in.State, Status: in.Status,
		RefCount: in.SlewEndCount, RefTime: in.SlewEndTime, Period: in.RawPeriod, LocalPeriod: in.LocalPeriod,
		ErrorBoundNs: in.ErrorBoundNs, MaxErrorNs: in.MaxErrorNs, RateErrorPsPerS: in.RateErrorPsPerS,
		ErrorGrowthPsPerS: in.ErrorGrowthPsPerS, MaxErrorGrowthPsPerS: in.MaxErrorGrowthPsPerS,
		NextExpectedCount: in.NextExpectedCount, VoidAfterCount: in.VoidAfterCount, PollNs: in.PollNs,
		TAIOffsetSec: in.TAIOffsetSec, LeapNext: in.LeapNext, LeapAtCount: in.LeapAtCount,
	}
	b := clockdata.Builder{NewMarker: func() uint64 { return in.DisruptionMarker ^ 1 }}
	h, err := b.Next(&p, raw, T)
	if err != nil {
		return clockdata.Record{}, fmt.Errorf("hold record: %w", err)
	}
	if h.DisruptionMarker != in.DisruptionMarker {
		return clockdata.Record{}, errors.New("hold record: the builder stepped instead of slewing")
	}
	// The builder's bound is the incoming one plus the correction; the
	// guard's is the intersection of both promises, grown by the slew rate.
	h.Generation = in.Generation
	h.MaxErrorNs = eNs
	h.ErrorBoundNs = min(h.ErrorBoundNs, h.MaxErrorNs)
	h.MaxErrorGrowthPsPerS = satU32(uint64(in.MaxErrorGrowthPsPerS) + slewPsPerS(&h) + 1_000_000)
	h.ErrorGrowthPsPerS = min(h.ErrorGrowthPsPerS, h.MaxErrorGrowthPsPerS)
	if err := h.Validate(); err != nil {
		return clockdata.Record{}, fmt.Errorf("hold record: %w", err)
	}
	return h, nil
}

// slewPsPerS is the rate at which r's first segment departs from its raw
// period, ps/s, rounded up: |SlewEndTime − RefTime − RawPeriod·span| / span.
func slewPsPerS(r *clockdata.Record) uint64 {
	span := r.SlewEndCount - r.RefCount
	if span == 0 {
		return 0
	}
	dur := r.RawPeriod.Mul(span)
	diff := r.SlewEndTime.Sub(r.RefTime).Sub(dur)
	if diff.Sec < 0 {
		diff = diff.Neg()
	}
	durNs, diffNs := ceilNs(dur), ceilNs(diff)
	if durNs == 0 {
		return math.MaxUint32
	}
	hi, lo := bits.Mul64(diffNs, 1_000_000_000_000)
	if hi >= durNs {
		return math.MaxUint32
	}
	q, rem := bits.Div64(hi, lo, durNs)
	if rem != 0 {
		q++
	}
	return q
}

// ceilNs is a non-negative Time in ns, rounded up, saturating.
func ceilNs(t bintime.Time) uint64 { return clockdata.CeilNs(t) }

func satU32(v uint64) uint32 { return uint32(min(v, math.MaxUint32)) }
