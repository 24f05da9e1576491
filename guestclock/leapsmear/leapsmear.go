// Package leapsmear is the optional smeared view of the clock around a leap
// second: a 24-hour linear smear centred on the leap, from noon UTC before
// it to noon UTC after it, as the large cloud providers publish theirs. A
// smeared clock never shows a 61st second and never steps; instead it runs
// slow (positive leap) or fast (negative leap) by 1/86400 for the 24 hours.
//
// Times are int64 nanoseconds. Two timelines appear:
//
//   - the continuous time c: seconds since the epoch counted without the
//     leap's step (the clock before the step, extended past it);
//   - the stepped time u: UTC as POSIX clocks show it (CLOCK_REALTIME, the
//     agent's ClockNs): u = c before the step and u = c − Next·1 s from the
//     step on. A positive leap repeats the second before midnight; a
//     negative one skips it.
//
// A Leap names the step by its continuous instant AtUnixSec (the value
// sink.Sample.LeapAtUnixSec carries). AtUnixSec lies within a second of a
// UTC midnight M: M itself for a positive leap (23:59:60 is inserted before
// M), M − 1 s for a negative one (23:59:59 is skipped). The smear spans the
// continuous interval [M − 12 h, M + 12 h + Next·1 s) and maps it linearly
// onto the stepped interval [M − 12 h, M + 12 h), so it meets the stepped
// time at both ends. The arithmetic is exact integer arithmetic: the smeared
// time is floor(A + (c − A)·86400/(86400 + Next)) nanoseconds.
package leapsmear

import (
	"fmt"
	"math/bits"
)

const (
	secNs = int64(1_000_000_000)
	// DaySec is the length of the UTC day in POSIX seconds and of the smear
	// in smeared (stepped) seconds.
	DaySec     = 86400
	halfDaySec = DaySec / 2
)

// Leap is a leap second: Next is +1 (inserted) or −1 (deleted) and
// AtUnixSec the continuous UNIX second at which the stepped clock steps.
type Leap struct {
	AtUnixSec int64
	Next      int8
}

// Validate says whether l is a leap second a smear can be built for: Next
// ±1 and AtUnixSec at the UTC midnight it belongs to (M for +1, M − 1 for
// −1).
func (l Leap) Validate() error {
	if l.Next != 1 && l.Next != -1 {
		return fmt.Errorf("leap %d: not ±1", l.Next)
	}
	if l.AtUnixSec < halfDaySec || l.AtUnixSec > (1<<62)/secNs {
		return fmt.Errorf("leap at %d s: out of range", l.AtUnixSec)
	}
	m := l.Midnight()
	want := m
	if l.Next < 0 {
		want = m - 1
	}
	if l.AtUnixSec != want {
		return fmt.Errorf("leap %+d at %d s: not at the end of a UTC day (midnight %d s)", l.Next, l.AtUnixSec, m)
	}
	return nil
}

// Midnight is the UTC midnight (UNIX seconds) the leap belongs to: the
// multiple of 86400 nearest AtUnixSec.
func (l Leap) Midnight() int64 {
	return floorDiv(l.AtUnixSec+halfDaySec, DaySec) * DaySec
}

// StepNs is the continuous instant of the step, ns.
func (l Leap) StepNs() int64 { return l.AtUnixSec * secNs }

// Window is the smear's continuous interval [startNs, endNs).
func (l Leap) Window() (startNs, endNs int64) {
	m := l.Midnight()
	startNs = (m - halfDaySec) * secNs
	endNs = startNs + (DaySec+int64(l.Next))*secNs
	return startNs, endNs
}

// Stepped is UTC as POSIX clocks show it at continuous time cNs.
func Stepped(cNs int64, l Leap) int64 {
	if cNs < l.StepNs() {
		return cNs
	}
	return cNs - int64(l.Next)*secNs
}

// Smear is the smeared UTC at continuous time cNs. It is the identity before
// the window, equals Stepped after it, and in between runs at
// 86400/(86400 + Next) of the continuous rate, rounding down. l must pass
// Validate; otherwise Smear returns Stepped(cNs, l).
func Smear(cNs int64, l Leap) int64 {
	if l.Validate() != nil {
		return Stepped(cNs, l)
	}
	a, b := l.Window()
	switch {
	case cNs < a:
		return cNs
	case cNs >= b:
		return cNs - int64(l.Next)*secNs
	}
	// 0 <= cNs − a < 86401 s, so the product fits in 128 bits and the
	// quotient in 64.
	hi, lo := bits.Mul64(uint64(cNs-a), DaySec)
	q, _ := bits.Div64(hi, lo, uint64(DaySec+int64(l.Next)))
	return a + int64(q)
}

// SmearOffsetNs is Smear(cNs) − Stepped(cNs): what the smeared view adds to
// the stepped clock at cNs (between −1 s and +1 s).
func SmearOffsetNs(cNs int64, l Leap) int64 { return Smear(cNs, l) - Stepped(cNs, l) }

// RatePPB is the smear's rate offset against the continuous clock, parts per
// billion, rounded away from zero: 1/86401 slow for +1, 1/86399 fast for −1.
func RatePPB(l Leap) int64 {
	d := int64(DaySec + int64(l.Next))
	r := (secNs + d - 1) / d
	if l.Next > 0 {
		return -r
	}
	return r
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Ahead says whether the step is still to come at continuous time cNs and
// falls at the end of the current UTC day: what NTP's leap indicator, the
// kernel's STA_INS/STA_DEL and chrony's leap field announce (each applies
// the leap at the next UTC midnight, so announcing earlier would be wrong).
func (l Leap) Ahead(cNs int64) bool {
	if l.Next == 0 || cNs >= l.StepNs() {
		return false
	}
	return cNs >= (l.Midnight()-DaySec)*secNs
}

// Near says whether continuous time cNs is within guardNs of the step.
func (l Leap) Near(cNs, guardNs int64) bool {
	if l.Next == 0 {
		return false
	}
	d := cNs - l.StepNs()
	return d > -guardNs && d < guardNs
}
