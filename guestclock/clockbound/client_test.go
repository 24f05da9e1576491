//go:build linux

package clockbound

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/clockdata"
)

// cbcheckPath is one of our readers built on ClockBound's own client
// libraries by testdata/build-clockbound-client.sh: cbcheck (Rust,
// clock-bound-client) or cbcheck-c (C, libclockbound).
func cbcheckPath(t *testing.T, name string) string {
	dir := os.Getenv("XENRADCLOCK_CLOCKBOUND_BIN")
	if dir == "" {
		dir = "/var/tmp/xenradclock-clockbound/bin"
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("ClockBound's client is not built (%v): run guestclock/clockbound/testdata/build-clockbound-client.sh CLOCKBOUND_SRC, or set XENRADCLOCK_CLOCKBOUND_BIN to the directory holding %s", err, name)
	}
	return p
}

type clientResult struct {
	earliest, latest int64
	status           string
	t0, t1           int64 // CLOCK_REALTIME around the client's run
}

func runClient(t *testing.T, bin, path string) (clientResult, string) {
	t.Helper()
	var r clientResult
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
	r.t0 = ts.Nano()
	out, err := exec.Command(bin, path, filepath.Join(filepath.Dir(path), "no-vmclock")).Output()
	unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
	r.t1 = ts.Nano()
	line := strings.TrimSpace(string(out))
	if err != nil {
		return r, line
	}
	if _, err := fmt.Sscanf(line, "earliest_ns=%d latest_ns=%d status=%s", &r.earliest, &r.latest, &r.status); err != nil {
		t.Fatalf("client output %q: %v", line, err)
	}
	return r, ""
}

// ClockBound's own client reads our segment: its interval around
// CLOCK_REALTIME contains the clock's [Ca − max_error, Ca + max_error]
// carried to the client's instant, it is no wider than the written bound
// plus its growth, and the status follows the sample.
func TestClockBoundClient(t *testing.T) {
	t.Run("rust", func(t *testing.T) { testClient(t, cbcheckPath(t, "cbcheck"), "kind=SegmentNotInitialized") })
	t.Run("libclockbound", func(t *testing.T) { testClient(t, cbcheckPath(t, "cbcheck-c"), "kind=2") })
}

func testClient(t *testing.T, bin, notInitialised string) {
	w, path := newWriter(t, Config{})
	if _, msg := runClient(t, bin, path); !strings.Contains(msg, notInitialised) {
		t.Fatalf("client on an uninitialised segment: %q", msg)
	}
	const offsetNs, maxErrNs = 1_234_567, 50_000
	s := liveSample(t, offsetNs, maxErrNs)
	if err := w.Update(&s); err != nil {
		t.Fatal(err)
	}
	r, msg := runClient(t, bin, path)
	if msg != "" {
		t.Fatalf("client: %s", msg)
	}
	if r.status != "Synchronized" {
		t.Errorf("status %s", r.status)
	}
	mid, half := (r.earliest+r.latest)/2, (r.latest-r.earliest)/2
	if mid < r.t0-1 || mid > r.t1+1 {
		t.Errorf("client's realtime %d outside its run [%d, %d]", mid, r.t0, r.t1)
	}
	if need := int64(offsetNs + maxErrNs); half < need {
		t.Errorf("client half-width %d ns < |Ca − realtime| + max_error = %d ns", half, need)
	}
	maxHalf := w.last.BoundNs + growthNs(uint64(r.t1-s.RealtimeNs)+4_000_000, w.last.MaxDriftPPB) + 1
	if half < w.last.BoundNs || half > maxHalf {
		t.Errorf("client half-width %d ns not in [%d, %d]", half, w.last.BoundNs, maxHalf)
	}
	t.Logf("ClockBound client: ±%d ns (written bound %d ns, drift %d ppb), status %s, run %.1f ms",
		half, w.last.BoundNs, w.last.MaxDriftPPB, r.status, float64(r.t1-r.t0)/1e6)

	for _, c := range []struct {
		name string
		mut  func()
		want string
	}{
		{"free-running", func() { s.State = clockdata.StateFreeRunning }, "FreeRunning"},
		{"disrupted", func() { s.Disrupted = true }, "Disrupted"},
		{"unusable", func() { s.Usable = false }, "Unknown"},
		{"void record", func() { s.VoidAfterMonotonicNs = s.MonotonicNs - 1 }, "Unknown"},
	} {
		s = liveSample(t, offsetNs, maxErrNs)
		c.mut()
		w.Update(&s)
		if r, msg := runClient(t, bin, path); msg != "" || r.status != c.want {
			t.Errorf("%s: status %q (%s), want %s", c.name, r.status, msg, c.want)
		}
	}
	s = liveSample(t, offsetNs, maxErrNs)
	w.Update(&s)
	w.Close()
	if r, msg := runClient(t, bin, path); msg != "" || r.status != "Unknown" {
		t.Errorf("after Close: status %q (%s)", r.status, msg)
	}
}
