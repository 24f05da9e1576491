//go:build linux && amd64 && cgo

package cclock

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
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
// decision (same error class), decode a valid page to the same record,
// field for field, and return the same status, time to the 2^-64 s and
// bounds.
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
		cr, code := DecodeRecord(b)
		if code != cCode(err) {
			t.Fatalf("Go: %v; C: error %d", err, code)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(r, cr) {
			t.Fatalf("records differ:\n Go %+v\n  C %+v", r, cr)
		}
		sameRead(t, &r, flags, count, func() (Result, int) { return DecodeEval(b, uint16(r.CounterKind), count, r.CounterIdentity) })
	})
}

// sameRead requires the C read to equal the Go read of r at count.
func sameRead(t *testing.T, r *clockdata.Record, flags clockdata.PageFlags, count uint64, c func() (Result, int)) {
	t.Helper()
	res, code := c()
	if code != 0 {
		t.Fatalf("C read: error %d", code)
	}
	g := r.Read(r.CounterKind, counter.Reading{Count: count, Identity: r.CounterIdentity})
	flags.Apply(&g)
	if res.Status != int(g.Status) || res.Sec != g.Time.Sec || res.Frac != g.Time.Frac ||
		res.MaxErrorNs != g.MaxErrorNs || res.ErrorBoundNs != g.ErrorBoundNs {
		t.Fatalf("count %d:\n Go %+v\n  C %+v", count, g, res)
	}
}

// FuzzGoVsCText checks the two text parsers in both directions: a line Go
// refuses, C refuses with the same error class; a line Go accepts, C
// accepts with the same record, field for field, and evaluates
// identically. The seeds include lines with out-of-range values (a leap
// of 257, a state of 262, a negative error) that C once wrapped.
func FuzzGoVsCText(f *testing.F) {
	files, _ := filepath.Glob("../testdata/*.txt")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), uint64(1003000000000))
		line := string(b)
		for _, m := range [][2]string{{"leap=0", "leap=257"}, {"state=3", "state=262"}, {"err=", "err=-"}, {"tai=37", "tai=+37"}} {
			f.Add(strings.Replace(line, m[0], m[1], 1), uint64(1003000000000))
		}
	}
	f.Fuzz(func(t *testing.T, s string, count uint64) {
		if strings.IndexByte(s, 0) >= 0 {
			return // a C string ends at NUL; Go rejects NUL anyway
		}
		r, err := clockdata.ParseText(s)
		cr, code := ParseRecord(s)
		if code != cCode(err) {
			t.Fatalf("Go: %v; C: error %d\n%q", err, code, s)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(r, cr) {
			t.Fatalf("records differ for %q:\n Go %+v\n  C %+v", s, r, cr)
		}
		sameRead(t, &r, clockdata.PageFlags{}, count, func() (Result, int) { return ParseEval(s, uint16(r.CounterKind), count, r.CounterIdentity) })
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
	base := xenSystemRecord(t)
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

// xenSystemRecord is a synchronised record on the xen-system counter
// (1 GHz, identity 5), referenced at count 1e12 to 1700000000 s.
func xenSystemRecord(t testing.TB) clockdata.Record {
	t.Helper()
	per, _ := clockdata.PeriodFromFloat(1e-9)
	r, err := clockdata.Builder{NewMarker: func() uint64 { return 99 }}.Next(nil, clockdata.Raw{
		HostID: [16]byte{1}, CounterKind: counter.KindXenSystem, CounterHz: 1e9, CounterIdentity: 5,
		State: clockdata.StateSynchronised, RefCount: 1e12, RefTime: bintime.Time{Sec: 1700000000},
		Period: per, MaxErrorNs: 1000, PollNs: 16e9,
	}, 1e12)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
