//go:build linux && amd64 && cgo

package cclock

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
)

// tscPage publishes a record on this machine's tsc counter, referenced to
// the system clock, and returns the page path and the counter.
func tscPage(tb testing.TB) (string, counter.Counter, clockdata.Record) {
	tb.Helper()
	tsc, err := counter.Open("tsc")
	if err != nil {
		tb.Skipf("no usable tsc counter here, so no dependent-read benchmark: %v", err)
	}
	rd, err := tsc.Read()
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	per, ok := clockdata.PeriodFromFloat(1 / tsc.NominalHz())
	if !ok {
		tb.Fatalf("tsc frequency %g Hz", tsc.NominalHz())
	}
	raw := clockdata.Raw{
		HostID: [16]byte{1}, CounterKind: counter.KindTSC, CounterHz: uint64(tsc.NominalHz()), CounterIdentity: rd.Identity,
		State: clockdata.StateSynchronised, RefCount: rd.Count, RefTime: bintime.FromUnix(now.Unix(), int64(now.Nanosecond())),
		Period: per, ErrorBoundNs: 1000, MaxErrorNs: 50_000, MaxErrorGrowthPsPerS: 15_000_000, PollNs: 16e9,
	}
	rec, err := clockdata.Next(nil, raw, rd.Count)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "clock")
	w, err := clockdata.CreatePage(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Close() })
	if err := w.Publish(&rec); err != nil {
		tb.Fatal(err)
	}
	return path, tsc, rec
}

// TestCAndGoAgreeOnTSC reads the same page with the tsc counter through the
// Go reader, the C reader, and the Go reader again: both fresh, and the C
// time between the two Go times (the reads are ordered on one counter).
// Equality to the 2^-64 s at fixed counter values is checked in
// clockdata's TestCReaderVectors and in FuzzGoVsCPage.
func TestCAndGoAgreeOnTSC(t *testing.T) {
	path, tsc, _ := tscPage(t)
	page, err := clockdata.OpenPage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	k, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	runtime.LockOSThread() // one CPU's TSC for all three reads
	defer runtime.UnlockOSThread()
	rd, _ := tsc.Read()
	g1, err := page.Now(tsc)
	if err != nil || g1.Status != clockdata.ReadFresh {
		t.Fatalf("Go: %v %+v", err, g1)
	}
	c, err := k.BenchNowTSC(rd.Identity, 1)
	if err != nil || c.Status != int(clockdata.ReadFresh) {
		t.Fatalf("C: %v %+v", err, c)
	}
	g2, _ := page.Now(tsc)
	ct := bintime.Time{Sec: c.Sec, Frac: c.Frac}
	if ct.Cmp(g1.Time) < 0 || ct.Cmp(g2.Time) > 0 || c.Count < g1.Count || c.Count > g2.Count {
		t.Errorf("C read %s (count %d) not between the Go reads %s (%d) and %s (%d)", ct, c.Count, g1.Time, g1.Count, g2.Time, g2.Count)
	}
	if c2, _ := k.BenchNowTSC(rd.Identity^1, 1); c2.Status != int(clockdata.ReadDisrupted) {
		t.Errorf("C with a wrong identity: status %d", c2.Status)
	}
}

// threadCPU returns this OS thread's CPU time in ns. The machine running
// the benchmarks is shared, so wall-clock ns/op swing with other load; the
// thread's own CPU time per operation (cpu-ns/op) does not.
func threadCPU() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return ts.Nano()
}

// BenchmarkClockRead prints, side by side in one run, the cost of one
// dependent clock read through the shared page with the tsc counter, in Go
// (go-page-tsc) and in C (c-page-tsc, the loop runs in C), against
// time.Now() and clock_gettime(CLOCK_REALTIME) from C, plus the bare counter
// reads. Each sub-benchmark reports cpu-ns/op (the benchmark thread's own
// CPU time, robust on a loaded machine) and x-time.Now (cpu-ns/op relative
// to time.Now's), so the target, a dependent read no dearer than time.Now,
// reads off directly.
func BenchmarkClockRead(b *testing.B) {
	path, tsc, _ := tscPage(b)
	page, err := clockdata.OpenPage(path)
	if err != nil {
		b.Fatal(err)
	}
	defer page.Close()
	k, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	rd, _ := tsc.Read()

	var baseNs float64
	// measure runs body(b.N) on a locked OS thread and reports its CPU cost.
	measure := func(b *testing.B, base bool, body func(n int)) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		b.ResetTimer()
		c0 := threadCPU()
		body(b.N)
		cpu := float64(threadCPU()-c0) / float64(b.N)
		b.StopTimer()
		b.ReportMetric(cpu, "cpu-ns/op")
		if base {
			baseNs = cpu
		}
		if baseNs > 0 {
			b.ReportMetric(cpu/baseNs, "x-time.Now")
		}
	}
	var sink int64
	b.Run("time.Now", func(b *testing.B) {
		measure(b, true, func(n int) {
			for range n {
				sink += time.Now().UnixNano()
			}
		})
	})
	b.Run("clock_gettime-C", func(b *testing.B) {
		measure(b, false, func(n int) { sink += BenchClockGettime(n) })
	})
	b.Run("tsc-read-go", func(b *testing.B) {
		measure(b, false, func(n int) {
			for range n {
				r, _ := tsc.Read()
				sink += int64(r.Count)
			}
		})
	})
	b.Run("tsc-read-C", func(b *testing.B) {
		measure(b, false, func(n int) { sink += int64(BenchRDTSC(n)) })
	})
	b.Run("go-page-tsc", func(b *testing.B) {
		var n clockdata.Now
		measure(b, false, func(iters int) {
			for range iters {
				page.ReadInto(tsc, &n)
			}
		})
		if n.Status != clockdata.ReadFresh {
			b.Fatalf("status %v", n.Status)
		}
	})
	b.Run("c-page-tsc", func(b *testing.B) {
		var r Result
		var err error
		measure(b, false, func(n int) { r, err = k.BenchNowTSC(rd.Identity, n) })
		if err != nil || r.Status != int(clockdata.ReadFresh) {
			b.Fatalf("%v status %d", err, r.Status)
		}
	})
	_ = sink
}

// TestGoReadAllocs pins that a dependent read allocates nothing.
func TestGoReadAllocs(t *testing.T) {
	path, tsc, _ := tscPage(t)
	page, err := clockdata.OpenPage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	page.Now(tsc)
	if a := testing.AllocsPerRun(100, func() { page.Now(tsc) }); a != 0 {
		t.Errorf("page.Now allocates %.1f times per read", a)
	}
}
