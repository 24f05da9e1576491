package ntp

import (
	"math"
	"time"

	"github.com/xenradclock/xenradclock/counter"
	"golang.org/x/sys/unix"
)

// Method says how a raw counter stamp was obtained.
type Method uint8

const (
	// MethodUser is a counter read in user space, right before sendto or
	// right after recvmsg on a locked OS thread.
	MethodUser Method = iota
	// MethodKernel is the kernel's software timestamp (CLOCK_REALTIME)
	// mapped to the counter through a (realtime, counter, realtime) triple.
	MethodKernel
)

func (m Method) String() string {
	if m == MethodKernel {
		return "kernel"
	}
	return "user"
}

// Default limits of the kernel-stamp mapping.
const (
	DefaultMaxTripleWidth = 20 * time.Microsecond
	// DefaultMaxSlewPPM is the largest rate at which realtime may move
	// against MONOTONIC_RAW without being called a step: the kernel's
	// frequency limit (500 ppm) plus the same again for adjtime slews.
	DefaultMaxSlewPPM = 1000
	// stepSlack absorbs the read jitter of the step check itself.
	stepSlack = 20 * time.Microsecond
	// maxStampAge bounds how old a kernel timestamp may be when mapped: the
	// mapping uses the counter's nominal rate, good over microseconds to
	// milliseconds, not seconds.
	maxStampAge = 500 * time.Millisecond
)

// TripleFail says why a kernel timestamp was not used.
type TripleFail uint8

// Reasons a kernel timestamp fell back to the user-space read.
const (
	TripleOK          TripleFail = iota
	TripleNone                   // the kernel gave no timestamp
	TripleWide                   // the two realtime reads were too far apart
	TripleStep                   // realtime − monotonic-raw moved more than a slew allows
	TripleAge                    // the timestamp is in the future or too old
	TripleCounter                // the counter read failed or changed identity
	TripleImplausible            // the mapped stamp is outside the user reads' bracket
)

func (f TripleFail) String() string {
	return [...]string{"ok", "none", "wide", "step", "age", "counter", "implausible"}[min(int(f), 6)]
}

// mapper converts kernel CLOCK_REALTIME timestamps to counter values. It
// keeps the last realtime − monotonic-raw difference to notice steps of the
// system clock; a step between a packet's timestamp and the triple would
// otherwise move the stamp by the step.
type mapper struct {
	ctr      counter.Counter
	hz       float64
	isRaw    bool // the counter is MONOTONIC_RAW itself: no extra read needed
	maxWidth int64
	maxSlew  float64 // s/s
	haveLast bool
	lastDiff int64 // realtime − monotonic-raw, ns
	lastRaw  int64
}

func newMapper(c counter.Counter, maxWidth time.Duration, maxSlewPPM float64) *mapper {
	return &mapper{
		ctr:      c,
		hz:       c.NominalHz(),
		isRaw:    c.Kind() == counter.KindMonotonicRaw && c.NominalHz() == 1e9,
		maxWidth: int64(maxWidth),
		maxSlew:  maxSlewPPM * 1e-6,
	}
}

func realtimeNs() int64 { return time.Now().UnixNano() } // vDSO, ~50 ns

func monoRawNs() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &ts) != nil {
		return 0
	}
	return ts.Nano()
}

// mapStamp maps a kernel realtime timestamp to the counter. identity is
// the timeline the user-space reads of this exchange belong to. It returns
// the counter value, the triple's width, and why it failed if it did.
func (m *mapper) mapStamp(kernNs int64, identity uint64) (uint64, time.Duration, TripleFail) {
	if kernNs == 0 {
		return 0, 0, TripleNone
	}
	rt1 := realtimeNs()
	r, err := m.ctr.Read()
	rt2 := realtimeNs()
	width := time.Duration(rt2 - rt1)
	if err != nil || r.Identity != identity {
		return 0, width, TripleCounter
	}
	if rt2-rt1 > m.maxWidth || rt2 < rt1 {
		return 0, width, TripleWide
	}
	mid := rt1 + (rt2-rt1)/2
	var raw int64
	if m.isRaw {
		raw = int64(r.Count)
	} else {
		raw = monoRawNs()
	}
	if !m.checkStep(mid, raw) {
		return 0, width, TripleStep
	}
	age := mid - kernNs
	if age < 0 || age > int64(maxStampAge) {
		return 0, width, TripleAge
	}
	ticks := math.Round(float64(age) * m.hz / 1e9)
	if ticks > float64(r.Count) {
		return 0, width, TripleAge
	}
	return r.Count - uint64(ticks), width, TripleOK
}

// checkStep records realtime − monotonic-raw and reports whether it moved
// no more than a slew allows since the previous triple. After a step the new
// difference becomes the reference, so only the stamps around it are lost.
func (m *mapper) checkStep(rt, raw int64) bool {
	if raw == 0 {
		return false
	}
	diff := rt - raw
	ok := true
	if m.haveLast {
		moved := diff - m.lastDiff
		if moved < 0 {
			moved = -moved
		}
		el := raw - m.lastRaw
		if el < 0 {
			el = -el
		}
		ok = float64(moved) <= m.maxSlew*float64(el)+float64(stepSlack)
	}
	m.haveLast, m.lastDiff, m.lastRaw = true, diff, raw
	return ok
}
