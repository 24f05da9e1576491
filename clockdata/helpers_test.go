package clockdata

import (
	"testing"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/counter"
)

// seqMarkers returns a deterministic marker source for tests.
func seqMarkers(start uint64) func() uint64 {
	m := start
	return func() uint64 { m++; return m }
}

// testRaw is a raw estimate of a 3 GHz TSC running 12.5 ppm fast of nominal,
// referenced at count 1e12 to 2023-11-14T22:13:20.25Z.
func testRaw() Raw {
	p, ok := PeriodFromFloat(1 / 3e9 * (1 - 12.5e-6))
	if !ok {
		panic("period")
	}
	lp, _ := PeriodFromFloat(1 / 3e9 * (1 - 12.4e-6))
	return Raw{
		HostID:      [16]byte{0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8},
		CounterKind: counter.KindTSC, CounterHz: 3_000_000_000, CounterIdentity: 0xabcdef0123456789,
		State: StateSynchronised, Status: clocksync.Status(0x40),
		RefCount: 1_000_000_000_000, RefTime: bintime.Time{Sec: 1700000000, Frac: 1 << 62},
		Period: p, LocalPeriod: lp,
		ErrorBoundNs: 25_000, MaxErrorNs: 180_000,
		RateErrorPsPerS: 100_000, ErrorGrowthPsPerS: 200_000, MaxErrorGrowthPsPerS: 15_000_000,
		PollNs: 16_000_000_000, TAIOffsetSec: 37,
	}
}

// testRecord is the first record built from testRaw, 1 s after its
// reference point.
func testRecord(t testing.TB) Record {
	t.Helper()
	raw := testRaw()
	r, err := Builder{NewMarker: seqMarkers(0x5eed0000)}.Next(nil, raw, raw.RefCount+3_000_000_000)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fakeCounter is an in-test counter.Counter: a settable count and identity.
type fakeCounter struct {
	kind  counter.Kind
	count uint64
	id    uint64
	step  uint64 // added to count after each read
	// onRead runs inside Read, before the value is taken: the hook that
	// injects a migration between the page read and the counter read.
	onRead func(*fakeCounter)
}

func (f *fakeCounter) Name() string       { return f.kind.String() }
func (f *fakeCounter) Kind() counter.Kind { return f.kind }
func (f *fakeCounter) NominalHz() float64 { return 3e9 }
func (f *fakeCounter) Read() (counter.Reading, error) {
	if f.onRead != nil {
		f.onRead(f)
	}
	rd := counter.Reading{Count: f.count, Identity: f.id}
	f.count += f.step
	return rd, nil
}
