// Package clockbound serves the guest's clock to ClockBound clients: it
// writes the shared memory segment ClockBound's daemon writes (protocol
// version 2, default /var/run/clockbound/shm0), so that ClockBound's own
// client libraries (the Rust clock-bound-client, the C libclockbound) and
// third-party readers read this clock unchanged; and it reads that segment
// (Decode, Reader) the way those clients do.
//
// The segment is 80 bytes, native byte order, laid out as ClockBound's
// daemon lays it out (docs/ecosystem.md gives the table):
//
//	 0  magic        2 × u32: 0x414D5A4E, 0x43420200
//	 8  segsize      u32 (80)
//	12  version      u16 (2)
//	14  generation   u16, odd while the writer updates the body
//	16  as_of        timespec (i64 s, i64 ns) on CLOCK_MONOTONIC_COARSE
//	32  void_after   timespec on CLOCK_MONOTONIC_COARSE
//	48  bound        i64 ns: |CLOCK_REALTIME − true time| at as_of
//	56  disruption   u64 disruption marker
//	64  max_drift    u32 ppb: how fast bound grows after as_of
//	68  status       i32: 0 unknown, 1 synchronized, 2 free-running, 3 disrupted
//	72  disruption support u8 (0 here: no VMClock device is paired), 7 bytes padding
//
// ClockBound's bound is a hard bound on CLOCK_REALTIME, not on this
// project's clock: the writer fills it from the sample's max_error plus the
// distance between CLOCK_REALTIME and the clock at the sample's instant, so
// that a client's [realtime − bound, realtime + bound] contains the clock's
// own [Ca − max_error, Ca + max_error].
package clockbound

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Layout constants of protocol version 2.
const (
	Magic0      uint32 = 0x414D5A4E
	Magic1      uint32 = 0x43420200
	Version     uint16 = 2
	SegmentSize        = 80
	headerSize         = 16

	// DefaultPath is where ClockBound's daemon keeps its segment and where
	// its clients look by default.
	DefaultPath = "/var/run/clockbound/shm0"

	// MaxDriftLimitPPB: ClockBound's clients refuse a segment whose max
	// drift is this or more.
	MaxDriftLimitPPB = 1_000_000_000

	offAsOf       = 16
	offVoidAfter  = 32
	offBound      = 48
	offDisruption = 56
	offMaxDrift   = 64
	offStatus     = 68
	offSupport    = 72
)

// Status is ClockBound's clock status. The numbers are ClockBound's ABI.
type Status int32

// ClockBound's clock statuses.
const (
	StatusUnknown      Status = 0
	StatusSynchronized Status = 1
	StatusFreeRunning  Status = 2
	StatusDisrupted    Status = 3
)

var statusNames = [...]string{"unknown", "synchronized", "free-running", "disrupted"}

func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", int32(s))
}

// Timespec is a struct timespec as the segment holds it.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// Ns is the timespec in nanoseconds; ok is false when it does not fit or
// Nsec is not in [0, 1e9).
func (t Timespec) Ns() (ns int64, ok bool) {
	if t.Nsec < 0 || t.Nsec >= 1e9 || t.Sec >= maxSec || t.Sec <= -maxSec {
		return 0, false
	}
	return t.Sec*1e9 + t.Nsec, true
}

const maxSec = math.MaxInt64 / 1_000_000_000

// TimespecOf splits ns into a timespec with 0 <= Nsec < 1e9.
func TimespecOf(ns int64) Timespec {
	s, n := ns/1e9, ns%1e9
	if n < 0 {
		s, n = s-1, n+1e9
	}
	return Timespec{Sec: s, Nsec: n}
}

// Segment is the content of a segment.
type Segment struct {
	SegmentSize       uint32
	Version           uint16
	Generation        uint16
	AsOf              Timespec // CLOCK_MONOTONIC_COARSE
	VoidAfter         Timespec // CLOCK_MONOTONIC_COARSE
	BoundNs           int64
	DisruptionMarker  uint64
	MaxDriftPPB       uint32
	Status            Status
	DisruptionSupport uint8
}

// Errors of Decode and Reader. They mirror what ClockBound's client reports.
var (
	ErrNotInitialized = errors.New("clockbound segment not initialized")
	ErrMalformed      = errors.New("clockbound segment malformed")
	ErrVersion        = errors.New("clockbound segment version not supported")
	ErrBusy           = errors.New("clockbound segment: writer busy")
	ErrCausality      = errors.New("clockbound segment: as-of is in the future (causality breach)")
)

// Encode lays s out as a segment of SegmentSize bytes.
func Encode(s *Segment) []byte {
	b := make([]byte, SegmentSize)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], Magic0)
	ne.PutUint32(b[4:], Magic1)
	ne.PutUint32(b[8:], s.SegmentSize)
	ne.PutUint16(b[12:], s.Version)
	ne.PutUint16(b[14:], s.Generation)
	encodeBody(b, s)
	return b
}

func encodeBody(b []byte, s *Segment) {
	ne := binary.NativeEndian
	ne.PutUint64(b[offAsOf:], uint64(s.AsOf.Sec))
	ne.PutUint64(b[offAsOf+8:], uint64(s.AsOf.Nsec))
	ne.PutUint64(b[offVoidAfter:], uint64(s.VoidAfter.Sec))
	ne.PutUint64(b[offVoidAfter+8:], uint64(s.VoidAfter.Nsec))
	ne.PutUint64(b[offBound:], uint64(s.BoundNs))
	ne.PutUint64(b[offDisruption:], s.DisruptionMarker)
	ne.PutUint32(b[offMaxDrift:], s.MaxDriftPPB)
	ne.PutUint32(b[offStatus:], uint32(s.Status))
	b[offSupport] = s.DisruptionSupport
	clear(b[offSupport+1 : SegmentSize])
}

// Decode reads a segment from b and checks it as ClockBound's client does
// (magic, a non-zero generation, version 2, a segment size that covers the
// body and b) and further: an even generation, timespecs in range, a max
// drift below 1e9 ppb, a known status, a non-negative bound. It never
// panics, whatever b holds.
func Decode(b []byte) (Segment, error) {
	var s Segment
	if len(b) < headerSize {
		return s, fmt.Errorf("%w: %d bytes, header needs %d", ErrNotInitialized, len(b), headerSize)
	}
	ne := binary.NativeEndian
	if ne.Uint32(b[0:]) != Magic0 || ne.Uint32(b[4:]) != Magic1 {
		return s, fmt.Errorf("%w: bad magic %#x %#x", ErrNotInitialized, ne.Uint32(b[0:]), ne.Uint32(b[4:]))
	}
	s.SegmentSize, s.Version, s.Generation = ne.Uint32(b[8:]), ne.Uint16(b[12:]), ne.Uint16(b[14:])
	switch {
	case s.Version == 0 || s.Generation == 0:
		return s, fmt.Errorf("%w: version %d, generation %d", ErrNotInitialized, s.Version, s.Generation)
	case s.Version != Version:
		return s, fmt.Errorf("%w: version %d, want %d", ErrVersion, s.Version, Version)
	case s.SegmentSize < SegmentSize || int64(s.SegmentSize) > int64(len(b)):
		return s, fmt.Errorf("%w: segment size %d (have %d bytes, body needs %d)", ErrMalformed, s.SegmentSize, len(b), SegmentSize)
	case s.Generation&1 != 0:
		return s, fmt.Errorf("%w: generation %d is odd", ErrBusy, s.Generation)
	}
	decodeBody(b, &s)
	return s, s.check()
}

func decodeBody(b []byte, s *Segment) {
	ne := binary.NativeEndian
	s.AsOf = Timespec{int64(ne.Uint64(b[offAsOf:])), int64(ne.Uint64(b[offAsOf+8:]))}
	s.VoidAfter = Timespec{int64(ne.Uint64(b[offVoidAfter:])), int64(ne.Uint64(b[offVoidAfter+8:]))}
	s.BoundNs = int64(ne.Uint64(b[offBound:]))
	s.DisruptionMarker = ne.Uint64(b[offDisruption:])
	s.MaxDriftPPB = ne.Uint32(b[offMaxDrift:])
	s.Status = Status(int32(ne.Uint32(b[offStatus:])))
	s.DisruptionSupport = b[offSupport]
}

func (s *Segment) check() error {
	if _, ok := s.AsOf.Ns(); !ok {
		return fmt.Errorf("%w: as-of %d s %d ns", ErrMalformed, s.AsOf.Sec, s.AsOf.Nsec)
	}
	if _, ok := s.VoidAfter.Ns(); !ok {
		return fmt.Errorf("%w: void-after %d s %d ns", ErrMalformed, s.VoidAfter.Sec, s.VoidAfter.Nsec)
	}
	if s.MaxDriftPPB >= MaxDriftLimitPPB {
		return fmt.Errorf("%w: max drift %d ppb", ErrMalformed, s.MaxDriftPPB)
	}
	if s.Status < StatusUnknown || s.Status > StatusDisrupted {
		return fmt.Errorf("%w: status %d", ErrMalformed, int32(s.Status))
	}
	if s.BoundNs < 0 {
		return fmt.Errorf("%w: bound %d ns", ErrMalformed, s.BoundNs)
	}
	return nil
}
