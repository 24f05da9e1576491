package ntp

import (
	"fmt"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/counter"
)

// SkewedClock is a deliberately wrong clock built on a counter, for the test
// server and the demo: at counter value c it reads
//
//	Base + Offset + (c − Count0)/NominalHz · (1 + SkewPPM·1e-6)
//
// so a client that recovers Offset and SkewPPM from its stamps is checked
// exactly.
type SkewedClock struct {
	Counter counter.Counter
	Base    bintime.Time // the time at Count0 before the offset
	Count0  uint64
	Offset  time.Duration
	SkewPPM float64
	Stratum uint8 // upstream stratum announced (0: serve as stratum 1)
	RefID   uint32
}

// NewSkewedClock starts a SkewedClock now: Base is the system time and
// Count0 the counter's current value (the system clock is read once, only
// to make the served time plausible).
func NewSkewedClock(c counter.Counter, offset time.Duration, skewPPM float64) (*SkewedClock, error) {
	r, err := c.Read()
	if err != nil {
		return nil, fmt.Errorf("ntp: skewed clock: %w", err)
	}
	now := time.Now()
	return &SkewedClock{
		Counter: c, Base: bintime.FromUnix(now.Unix(), int64(now.Nanosecond())), Count0: r.Count,
		Offset: offset, SkewPPM: skewPPM, RefID: 0x58524144, // "XRAD"
	}, nil
}

// At is the served time at counter value c.
func (k *SkewedClock) At(c uint64) bintime.Time {
	el := float64(int64(c-k.Count0)) / k.Counter.NominalHz() * (1 + k.SkewPPM*1e-6)
	return k.Base.Add(bintime.FromNanos(int64(k.Offset))).Add(bintime.MustFloat(el))
}

// Reading is a TimeFunc: the served time now, synchronised, with a small
// fixed bound.
func (k *SkewedClock) Reading() ServerReading {
	r, err := k.Counter.Read()
	if err != nil {
		return ServerReading{Synced: false}
	}
	t := k.At(r.Count)
	return ServerReading{
		Time: t, Synced: true, UpstreamStratum: k.Stratum, RefID: k.RefID,
		RefTime: t, MaxError: time.Millisecond,
	}
}
