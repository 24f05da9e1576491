package clockbound

import (
	"encoding/binary"
	"errors"
	"testing"
)

func sampleSegment() Segment {
	return Segment{
		SegmentSize: SegmentSize, Version: Version, Generation: 10,
		AsOf: Timespec{100, 5}, VoidAfter: Timespec{160, 6},
		BoundNs: 12345, DisruptionMarker: 0x0102030405060708,
		MaxDriftPPB: 16000, Status: StatusFreeRunning, DisruptionSupport: 0,
	}
}

// The offsets of ClockBound's protocol v2, field by field.
func TestEncodeOffsets(t *testing.T) {
	s := sampleSegment()
	b := Encode(&s)
	ne := binary.NativeEndian
	if len(b) != 80 {
		t.Fatalf("%d bytes", len(b))
	}
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"magic0@0", uint64(ne.Uint32(b[0:])), 0x414D5A4E},
		{"magic1@4", uint64(ne.Uint32(b[4:])), 0x43420200},
		{"segsize@8", uint64(ne.Uint32(b[8:])), 80},
		{"version@12", uint64(ne.Uint16(b[12:])), 2},
		{"generation@14", uint64(ne.Uint16(b[14:])), 10},
		{"as_of.sec@16", ne.Uint64(b[16:]), 100},
		{"as_of.nsec@24", ne.Uint64(b[24:]), 5},
		{"void_after.sec@32", ne.Uint64(b[32:]), 160},
		{"void_after.nsec@40", ne.Uint64(b[40:]), 6},
		{"bound@48", ne.Uint64(b[48:]), 12345},
		{"disruption@56", ne.Uint64(b[56:]), 0x0102030405060708},
		{"max_drift@64", uint64(ne.Uint32(b[64:])), 16000},
		{"status@68", uint64(ne.Uint32(b[68:])), 2},
		{"support@72", uint64(b[72]), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	got, err := Decode(b)
	if err != nil || got != s {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	good := sampleSegment()
	ne := binary.NativeEndian
	cases := []struct {
		name string
		mut  func(b []byte) []byte
		want error
	}{
		{"short", func(b []byte) []byte { return b[:15] }, ErrNotInitialized},
		{"magic", func(b []byte) []byte { b[0] ^= 1; return b }, ErrNotInitialized},
		{"version 0", func(b []byte) []byte { ne.PutUint16(b[12:], 0); return b }, ErrNotInitialized},
		{"generation 0", func(b []byte) []byte { ne.PutUint16(b[14:], 0); return b }, ErrNotInitialized},
		{"version 3", func(b []byte) []byte { ne.PutUint16(b[12:], 3); return b }, ErrVersion},
		{"version 1", func(b []byte) []byte { ne.PutUint16(b[12:], 1); return b }, ErrVersion},
		{"segsize small", func(b []byte) []byte { ne.PutUint32(b[8:], 16); return b }, ErrMalformed},
		{"segsize beyond data", func(b []byte) []byte { ne.PutUint32(b[8:], 4096); return b }, ErrMalformed},
		{"truncated body", func(b []byte) []byte { return b[:60] }, ErrMalformed},
		{"odd generation", func(b []byte) []byte { ne.PutUint16(b[14:], 11); return b }, ErrBusy},
		{"drift", func(b []byte) []byte { ne.PutUint32(b[64:], 1e9); return b }, ErrMalformed},
		{"status", func(b []byte) []byte { ne.PutUint32(b[68:], 4); return b }, ErrMalformed},
		{"negative status", func(b []byte) []byte { ne.PutUint32(b[68:], 0xffffffff); return b }, ErrMalformed},
		{"nsec", func(b []byte) []byte { ne.PutUint64(b[24:], 1e9); return b }, ErrMalformed},
		{"void nsec", func(b []byte) []byte { ne.PutUint64(b[40:], ^uint64(0)); return b }, ErrMalformed},
		{"bound", func(b []byte) []byte { ne.PutUint64(b[48:], ^uint64(0)); return b }, ErrMalformed},
	}
	for _, c := range cases {
		_, err := Decode(c.mut(Encode(&good)))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestTimespec(t *testing.T) {
	for _, ns := range []int64{0, 1, -1, 999_999_999, 1e9, -1e9 - 1, 1_700_000_000_123_456_789} {
		ts := TimespecOf(ns)
		if ts.Nsec < 0 || ts.Nsec >= 1e9 {
			t.Errorf("%d: %+v", ns, ts)
		}
		if got, ok := ts.Ns(); !ok || got != ns {
			t.Errorf("%d: back %d %v", ns, got, ok)
		}
	}
	if _, ok := (Timespec{Sec: maxSec, Nsec: 999_999_999}).Ns(); ok {
		t.Error("overflowing timespec accepted")
	}
}
