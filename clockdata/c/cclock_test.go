//go:build linux && amd64 && cgo

package cclock

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
)

// TestHeaderConstants pins every XRC_OFF_* and size constant of the C
// header to the Go constants (which TestPageLayout pins to PageLayout).
func TestHeaderConstants(t *testing.T) {
	want := []int{
		clockdata.OffMagic, clockdata.OffSize, clockdata.OffVersion, clockdata.OffSeq, clockdata.OffGeneration,
		clockdata.OffDisruptionMarker, clockdata.OffHostID, clockdata.OffCounterKind, clockdata.OffPeriodShift,
		clockdata.OffRawPeriodShift, clockdata.OffLocalPeriodShift, clockdata.OffClockState, clockdata.OffLeapNext,
		clockdata.OffTAIOffset, clockdata.OffStatus, clockdata.OffCounterHz, clockdata.OffCounterIdentity,
		clockdata.OffRefCount, clockdata.OffRefTimeSec, clockdata.OffRefTimeFrac, clockdata.OffPeriodFrac,
		clockdata.OffSlewEndCount, clockdata.OffSlewEndTimeSec, clockdata.OffSlewEndTimeFrac,
		clockdata.OffRawPeriodFrac, clockdata.OffRawRefTimeSec, clockdata.OffRawRefTimeFrac,
		clockdata.OffLocalPeriodFrac, clockdata.OffErrorBoundNs, clockdata.OffMaxErrorNs, clockdata.OffRateErrorPs,
		clockdata.OffErrorGrowthPs, clockdata.OffMaxErrorGrowthPs, clockdata.OffNextExpectedCount,
		clockdata.OffVoidAfterCount, clockdata.OffPollNs, clockdata.OffLeapAtCount,
		int(clockdata.Magic), clockdata.Version, clockdata.PageSize, clockdata.RecordSize, 1000,
	}
	got := Constants()
	if len(got) != len(want) {
		t.Fatalf("C table has %d entries, Go %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: C %d, Go %d", i, got[i], want[i])
		}
	}
}

// cCode maps a Go decoding error to the C reader's error code.
func cCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, clockdata.ErrUninitialised):
		return -2
	case errors.Is(err, clockdata.ErrMagic):
		return -3
	case errors.Is(err, clockdata.ErrVersion):
		return -4
	case errors.Is(err, clockdata.ErrTruncated), errors.Is(err, clockdata.ErrOversized):
		return -5
	case errors.Is(err, clockdata.ErrBusy):
		return -6
	}
	return -7
}

// FuzzGoVsCPage is a differential fuzz of the two page decoders and read
// functions: for any bytes and counter value, Go and C must take the same
// decision (same error class) and, for a valid page, return the same
// status, time to the 2^-64 s and bounds.
func FuzzGoVsCPage(f *testing.F) {
	files, _ := filepath.Glob("../testdata/*.page")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), clockdata.RecordSize+8)], uint64(1003000000000))
		f.Add(b[:min(len(b), clockdata.RecordSize)], uint64(1<<63))
	}
	f.Fuzz(func(t *testing.T, b []byte, count uint64) {
		r, flags, _, err := clockdata.DecodePageFlags(b)
		c, code := DecodeEval(b, uint16(r.CounterKind), count, r.CounterIdentity)
		if code != cCode(err) {
			t.Fatalf("Go: %v; C: error %d", err, code)
		}
		if err != nil {
			return
		}
		g := r.Read(r.CounterKind, counter.Reading{Count: count, Identity: r.CounterIdentity})
		flags.Apply(&g)
		if c.Status != int(g.Status) || c.Sec != g.Time.Sec || c.Frac != g.Time.Frac ||
			c.MaxErrorNs != g.MaxErrorNs || c.ErrorBoundNs != g.ErrorBoundNs {
			t.Fatalf("count %d:\n Go %+v\n  C %+v", count, g, c)
		}
	})
}

// FuzzGoVsCText: whatever line the strict Go parser accepts, the sscanf
// parser of the C header accepts too and evaluates identically. (C is more
// lenient about spacing and hex width; that direction is not checked.)
func FuzzGoVsCText(f *testing.F) {
	files, _ := filepath.Glob("../testdata/*.txt")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), uint64(1003000000000))
	}
	f.Fuzz(func(t *testing.T, s string, count uint64) {
		if strings.IndexByte(s, 0) >= 0 {
			return // a C string ends at NUL; Go rejects NUL anyway
		}
		r, err := clockdata.ParseText(s)
		if err != nil {
			return
		}
		c, code := ParseEval(s, uint16(r.CounterKind), count, r.CounterIdentity)
		if code != 0 {
			t.Fatalf("Go accepted, C error %d: %q", code, s)
		}
		g := r.Read(r.CounterKind, counter.Reading{Count: count, Identity: r.CounterIdentity})
		if c.Status != int(g.Status) || c.Sec != g.Time.Sec || c.Frac != g.Time.Frac ||
			c.MaxErrorNs != g.MaxErrorNs || c.ErrorBoundNs != g.ErrorBoundNs {
			t.Fatalf("count %d:\n Go %+v\n  C %+v", count, g, c)
		}
	})
}

// TestConcurrentWriterCReader: a Go writer publishes a stream of records
// while the C reader (cached xrc_reader) reads the same file; every record
// carries its generation in its reference time and error bound, so a torn
// read would show. The C reader must never see one, nor go back a
// generation. Run under -race by make test (the writer's side is Go).
func TestConcurrentWriterCReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	w, err := clockdata.CreatePage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	per, _ := clockdata.PeriodFromFloat(1e-9)
	base, err := clockdata.Builder{NewMarker: func() uint64 { return 99 }}.Next(nil, clockdata.Raw{
		HostID: [16]byte{1}, CounterKind: counter.KindXenSystem, CounterHz: 1e9, CounterIdentity: 5,
		State: clockdata.StateSynchronised, RefCount: 1e12, RefTime: bintime.Time{Sec: 1700000000},
		Period: per, MaxErrorNs: 1000, PollNs: 16e9,
	}, 1e12)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(g uint64) clockdata.Record {
		r := base
		r.Generation = g
		r.RefTime = bintime.Time{Sec: base.RefTime.Sec + int64(g)}
		r.SlewEndTime, r.RawRefTime = r.RefTime, r.RefTime
		r.ErrorBoundNs, r.MaxErrorNs = g, 2*g
		return r
	}
	first := mk(1)
	w.Publish(&first)
	k, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()

	const updates = 3000
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer done.Store(true)
		for g := uint64(2); g <= updates; g++ {
			r := mk(g)
			if err := w.Publish(&r); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	rd := k.NewReader()
	defer rd.Free()
	last := uint64(0)
	for reads := 0; !done.Load() || reads < 100; reads++ {
		res, code := rd.Read(uint16(counter.KindXenSystem), 1e12, 5)
		if code != 0 {
			t.Fatalf("read %d: C error %d", reads, code)
		}
		g := res.Generation
		if res.Status != int(clockdata.ReadFresh) || res.Sec != base.RefTime.Sec+int64(g) || res.Frac != 0 ||
			res.MaxErrorNs != 2*g || res.ErrorBoundNs != g {
			t.Fatalf("torn read: %+v", res)
		}
		if g < last {
			t.Fatalf("generation went back: %d after %d", g, last)
		}
		last = g
	}
	wg.Wait()
	if res, _ := rd.Read(uint16(counter.KindXenSystem), 1e12, 5); res.Generation != updates {
		t.Errorf("final generation %d, want %d", res.Generation, updates)
	}
}
