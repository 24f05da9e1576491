//go:build linux

package clockbound

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/guestclock/sink"
)

// liveSample is a synchronised sample taken now from the machine's clocks,
// with the clock offsetNs ahead of CLOCK_REALTIME.
func liveSample(t testing.TB, offsetNs int64, maxErrNs uint64) sink.Sample {
	t.Helper()
	var rt, mono, coarse unix.Timespec
	for id, ts := range map[int32]*unix.Timespec{unix.CLOCK_REALTIME: &rt, unix.CLOCK_MONOTONIC: &mono, unix.CLOCK_MONOTONIC_COARSE: &coarse} {
		if err := unix.ClockGettime(id, ts); err != nil {
			t.Fatal(err)
		}
	}
	return sink.Sample{
		Usable: true, State: clockdata.StateSynchronised, Mode: "dependent",
		ClockNs: rt.Nano() + offsetNs, RealtimeNs: rt.Nano(),
		MonotonicNs: mono.Nano(), MonotonicCoarseNs: coarse.Nano(),
		ErrorBoundNs: maxErrNs / 10, MaxErrorNs: maxErrNs,
		MaxErrorGrowthPsPerS: 15_000_000, // 15 ppm
		VoidAfterMonotonicNs: mono.Nano() + 600e9,
		DisruptionMarker:     0xfeedface, Generation: 42,
	}
}

func newWriter(t testing.TB, cfg Config) (*Writer, string) {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "clockbound", "shm0")
	}
	w, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, cfg.Path
}
