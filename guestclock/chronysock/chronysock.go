//go:build linux

// Package chronysock feeds chronyd the guest's clock through chrony's
// `refclock SOCK` protocol, so that chronyd disciplines the system clock
// from it (chrony slews; it steps only as its own makestep allows).
//
// chronyd creates and binds a datagram Unix socket at the path its
// configuration names:
//
//	refclock SOCK /run/chrony/xenradclock.sock refid XRC poll 0 precision 1e-7
//
// and every sample the sink sends is one datagram, a struct sock_sample in
// native byte order (40 bytes on 64-bit Linux):
//
//	 0  tv      struct timeval: CLOCK_REALTIME at the sample (s, µs)
//	16  offset  double: clock − CLOCK_REALTIME at tv, seconds
//	24  pulse   int: 0 (not a PPS sample)
//	28  leap    int: 0 none, 1 insert, 2 delete (at the end of this UTC day)
//	32  _pad    int: 0
//	36  magic   int: 0x534f434b ("SOCK")
//
// A sample that is not usable sends nothing: chronyd then sees the source go
// silent and deselects it, rather than being fed a stale time.
package chronysock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/guestclock/leapsmear"
	"github.com/xenradclock/xenradclock/guestclock/sink"
)

// Wire constants of struct sock_sample.
const (
	Magic      = 0x534f434b
	SampleSize = 40

	LeapNone   = 0
	LeapInsert = 1
	LeapDelete = 2

	// DefaultPath is the socket chronyd is configured to create.
	DefaultPath = "/run/chrony/xenradclock.sock"
	// DefaultLeapGuardNs: no sample is sent this close to a leap's step,
	// where the system clock and the clock may be on different sides of it.
	DefaultLeapGuardNs = 2_000_000_000
	// maxOffsetNs: chrony refuses insane offsets; so does the sink, rather
	// than send a sample chrony drops.
	maxOffsetNs = 1 << 52
)

// Config configures the feed. The zero value is sane: DefaultPath, no smear.
type Config struct {
	// Path of chronyd's refclock SOCK socket (default DefaultPath).
	Path string
	// Smear feeds the smeared view around a leap (leapsmear) and announces
	// no leap: the system clock never sees a 61st second.
	Smear bool
	// LeapGuardNs: see DefaultLeapGuardNs.
	LeapGuardNs int64
}

// Sample is one struct sock_sample.
type Sample struct {
	TvSec, TvUsec int64
	OffsetSec     float64
	Pulse, Leap   int32
}

// Encode lays the sample out as chronyd reads it.
func (s *Sample) Encode() []byte {
	b := make([]byte, SampleSize)
	ne := binary.NativeEndian
	ne.PutUint64(b[0:], uint64(s.TvSec))
	ne.PutUint64(b[8:], uint64(s.TvUsec))
	ne.PutUint64(b[16:], math.Float64bits(s.OffsetSec))
	ne.PutUint32(b[24:], uint32(s.Pulse))
	ne.PutUint32(b[28:], uint32(s.Leap))
	ne.PutUint32(b[36:], Magic)
	return b
}

// Decode reads a struct sock_sample (for tests and tools); it refuses a
// wrong size or magic.
func Decode(b []byte) (Sample, error) {
	if len(b) != SampleSize {
		return Sample{}, fmt.Errorf("sock sample: %d bytes, want %d", len(b), SampleSize)
	}
	ne := binary.NativeEndian
	if m := ne.Uint32(b[36:]); m != Magic {
		return Sample{}, fmt.Errorf("sock sample: magic %#x, want %#x", m, Magic)
	}
	return Sample{
		TvSec: int64(ne.Uint64(b[0:])), TvUsec: int64(ne.Uint64(b[8:])),
		OffsetSec: math.Float64frombits(ne.Uint64(b[16:])),
		Pulse:     int32(ne.Uint32(b[24:])), Leap: int32(ne.Uint32(b[28:])),
	}, nil
}

// Feed is the chronyd SOCK sink. Not safe for concurrent use.
type Feed struct {
	cfg    Config
	fd     int
	addr   unix.SockaddrUnix
	leaps  leapsmear.Tracker
	log    *zap.Logger
	down   error // the last send error, logged when it first appears
	sent   uint64
	closed bool
}

var _ sink.Sink = (*Feed)(nil)

// New makes the feed's socket (unbound, non-blocking). chronyd need not be
// running yet: until it is, Update reports that the socket is not there.
func New(cfg Config, log *zap.Logger) (*Feed, error) {
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if cfg.LeapGuardNs <= 0 {
		cfg.LeapGuardNs = DefaultLeapGuardNs
	}
	if len(cfg.Path) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, fmt.Errorf("chrony SOCK path %q: longer than a Unix socket path may be", cfg.Path)
	}
	if log == nil {
		log = zap.NewNop()
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("chrony SOCK feed: socket: %w", err)
	}
	return &Feed{cfg: cfg, fd: fd, addr: unix.SockaddrUnix{Name: cfg.Path}, log: log}, nil
}

// Name is the sink's name in logs and metrics.
func (f *Feed) Name() string { return "chrony-sock" }

// Sent is the number of samples chronyd has been sent.
func (f *Feed) Sent() uint64 { return f.sent }

// Update sends one sample for s, or nothing when s is not usable, cannot be
// placed around a leap, or falls within the leap guard. It never blocks: a
// full socket drops the sample. It returns the send error (chronyd not
// running, ...), which it also logs once when it first appears.
func (f *Feed) Update(s *sink.Sample) error {
	if f.closed {
		return errors.New("chrony SOCK feed: closed")
	}
	smp, ok := f.sample(s)
	if !ok {
		return nil
	}
	err := unix.Sendto(f.fd, smp.Encode(), 0, &f.addr)
	if err != nil {
		if f.down == nil || !errors.Is(err, f.down) {
			f.log.Warn("chronyd SOCK feed: cannot send", zap.String("path", f.cfg.Path), zap.Error(err))
		}
		f.down = err
		return fmt.Errorf("chrony SOCK %s: %w", f.cfg.Path, err)
	}
	if f.down != nil {
		f.log.Info("chronyd SOCK feed: sending again", zap.String("path", f.cfg.Path))
		f.down = nil
	}
	f.sent++
	return nil
}

// sample builds the datagram for s; ok false: send nothing.
func (f *Feed) sample(s *sink.Sample) (Sample, bool) {
	if !s.Usable || s.Disrupted || s.ClockNs == 0 {
		return Sample{}, false
	}
	cNs, leap, placed := f.leaps.Observe(s.ClockNs, s.MonotonicNs, s.LeapNext, s.LeapAtUnixSec)
	if !placed || leap.Near(cNs, f.cfg.LeapGuardNs) {
		return Sample{}, false
	}
	clock, code := s.ClockNs, int32(LeapNone)
	switch {
	case f.cfg.Smear:
		clock = leapsmear.Smear(cNs, leap)
	case leap.Ahead(cNs) && leap.Next > 0:
		code = LeapInsert
	case leap.Ahead(cNs):
		code = LeapDelete
	}
	sec, nsec := s.RealtimeNs/1e9, s.RealtimeNs%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	usec := nsec / 1000
	tvNs := sec*1e9 + usec*1000
	offsetNs := clock - tvNs // exact in int64 ns; overflow is caught below
	if (clock >= tvNs) != (offsetNs >= 0) || offsetNs > maxOffsetNs || offsetNs < -maxOffsetNs {
		return Sample{}, false
	}
	return Sample{TvSec: sec, TvUsec: usec, OffsetSec: float64(offsetNs) / 1e9, Leap: code}, true
}

// Close closes the socket. chronyd notices the silence and deselects the
// source after its own timeout.
func (f *Feed) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	if err := unix.Close(f.fd); err != nil {
		return fmt.Errorf("chrony SOCK feed: close: %w", err)
	}
	return nil
}
