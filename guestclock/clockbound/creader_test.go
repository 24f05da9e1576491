//go:build linux

package clockbound

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/internal/testtool"
)

func buildCReader(t *testing.T) string {
	t.Helper()
	gcc := testtool.Require(t, "gcc")
	bin := filepath.Join(t.TempDir(), "cb_reader")
	out, err := exec.Command(gcc, "-O2", "-Wall", "-Wextra", "-Werror", "-std=gnu11",
		"-o", bin, filepath.Join("testdata", "cb_reader.c")).CombinedOutput()
	if err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return bin
}

// A C reader of ClockBound's layout reads the same segment as the Go reader
// and computes the same bounds, which contain the sample's own interval.
func TestCReader(t *testing.T) {
	bin := buildCReader(t)
	w, path := newWriter(t, Config{})
	for i, c := range []struct {
		offsetNs int64
		maxErrNs uint64
		state    clockdata.ClockState
		at       int64 // client instant, ns after the sample
	}{
		{1_234_567, 50_000, clockdata.StateSynchronised, 0},
		{-40_000_000, 2_000_000, clockdata.StateFreeRunning, 3e9},
		{0, 1, clockdata.StateSynchronised, 7e9},
		{5_000, 900_000_000, clockdata.StateWarmUp, 100e9},
	} {
		s := liveSample(t, c.offsetNs, c.maxErrNs)
		s.State = c.state
		w.Update(&s)
		real, coarse := s.RealtimeNs+c.at, s.MonotonicCoarseNs+c.at
		out, err := exec.Command(bin, path, strconv.FormatInt(real, 10), strconv.FormatInt(coarse, 10)).CombinedOutput()
		if err != nil {
			t.Fatalf("case %d: cb_reader: %v: %s", i, err, out)
		}
		r, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		seg, err := r.Snapshot()
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		b, err := seg.BoundsAt(real, coarse)
		if err != nil {
			t.Fatal(err)
		}
		as, _ := seg.AsOf.Ns()
		va, _ := seg.VoidAfter.Ns()
		want := fmt.Sprintf("%d %d %d %d %d %d %d %d %d %d", seg.Generation, as, va, seg.BoundNs, seg.DisruptionMarker,
			seg.MaxDriftPPB, seg.Status, b.EarliestNs, b.LatestNs, b.Status)
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("case %d:\n C  %s\n Go %s", i, got, want)
		}
		// The sample's interval, carried along CLOCK_REALTIME to the
		// client's instant, is inside what the readers report.
		lo := s.ClockNs - int64(s.MaxErrorNs) + c.at
		hi := s.ClockNs + int64(s.MaxErrorNs) + c.at
		if b.EarliestNs > lo || b.LatestNs < hi {
			t.Errorf("case %d: [%d, %d] misses the sample's [%d, %d]", i, b.EarliestNs, b.LatestNs, lo, hi)
		}
	}
}
