package guestclock

import (
	"math/bits"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/guestclock/sink"
)

func clockNs(id int32) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(id, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

// monoNs is CLOCK_MONOTONIC, ns: the sinks' timebase (ClockBound's
// segment and chrony's SOCK samples are on it).
func monoNs() int64 { return clockNs(unix.CLOCK_MONOTONIC) }

// bootNs is CLOCK_BOOTTIME, ns: what the agent measures pauses and
// extrapolates the old clock across a migration with. A Xen guest's
// CLOCK_MONOTONIC stops while the domain is suspended for a live migration
// or a save (Linux's timekeeping resume injects the suspended time, read
// from Xen's wallclock, into CLOCK_REALTIME and CLOCK_BOOTTIME only): in
// the Xen test VMs a localhost migration measured a step of +530 ms and a
// save/restore +13.4 s, the pause itself, where the true step was about 0.
// Where nothing is suspended the two advance alike.
func bootNs() int64 { return clockNs(unix.CLOCK_BOOTTIME) }

// truncNs is t in ns since the epoch, truncated (not rounded).
func truncNs(t bintime.Time) int64 {
	hi, _ := bits.Mul64(t.Frac, 1_000_000_000)
	return t.Sec*1_000_000_000 + int64(hi)
}

// sampleLocked is the clock at counter reading rd, bracketed by the local
// clocks read around a fresh counter read (rd's count is used only when
// the fresh read fails).
func (a *Agent) sampleLocked(rd counter.Reading) sink.Sample {
	rt0, m0 := clockNs(unix.CLOCK_REALTIME), monoNs()
	if r2, err := a.c.Read(); err == nil {
		rd = r2
	}
	rt1, m1 := clockNs(unix.CLOCK_REALTIME), monoNs()
	s := sink.Sample{Mode: a.mode.String(), RealtimeNs: rt0 + (rt1-rt0)/2, MonotonicNs: m0 + (m1-m0)/2,
		MonotonicCoarseNs: clockNs(unix.CLOCK_MONOTONIC_COARSE), Disrupted: a.flags.Disrupted}
	if a.served == nil {
		return s
	}
	r := a.served
	n := r.Read(a.c.Kind(), rd)
	f := a.flags
	f.Mode = a.mode
	f.Apply(&n)
	s.State, s.DisruptionMarker, s.Generation = r.State, r.DisruptionMarker, r.Generation
	s.Disrupted = s.Disrupted || n.Status == clockdata.ReadDisrupted
	s.Usable = n.Status == clockdata.ReadFresh || n.Status == clockdata.ReadLate
	if !n.Status.HasTime() {
		return s
	}
	s.ClockNs, s.ErrorBoundNs, s.MaxErrorNs = truncNs(n.Time), n.ErrorBoundNs, n.MaxErrorNs
	s.MaxErrorGrowthPsPerS = r.MaxErrorGrowthPsPerS
	if left := r.VoidAfterCount - rd.Count; int64(left) > 0 {
		s.VoidAfterMonotonicNs = s.MonotonicNs + r.RawPeriod.Mul(left).Nanos()
	}
	if r.LeapNext != 0 {
		t := r.Absolute(r.LeapAtCount)
		t.Sec += int64(r.LeapNext)
		sec, _ := t.Split()
		s.LeapNext, s.LeapAtUnixSec = r.LeapNext, sec
	}
	return s
}

// feedLocked hands one sample to every sink and to the metrics.
func (a *Agent) feedLocked(rd counter.Reading) {
	s := a.sampleLocked(rd)
	a.fedMono = s.MonotonicNs
	a.metrics.sample(&s)
	for i, k := range a.sinks {
		err := k.Update(&s)
		switch {
		case err != nil && !a.sinkFailing[i]:
			a.log.Warn("sink update failing (logged once until it works again)", zap.String("sink", k.Name()), zap.Error(err))
		case err == nil && a.sinkFailing[i]:
			a.log.Info("sink works again", zap.String("sink", k.Name()))
		}
		a.sinkFailing[i] = err != nil
	}
}
