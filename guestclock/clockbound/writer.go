//go:build linux

package clockbound

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/guestclock/sink"
)

// Writer keeps a ClockBound segment up to date from the agent's samples. It
// implements sink.Sink. Not safe for concurrent use (the agent calls Update
// from one goroutine).
//
// Generation protocol (ClockBound's): the u16 at offset 14 is 0 until the
// first update, odd while the body is being written, even otherwise; it
// advances by 2 per update and wraps to 2, never 0. Every 8-byte word of the
// segment is written with a 64-bit atomic store, the generation inside the
// header word at offset 8 (its other fields never change), so readers'
// acquire loads pair with them.
type Writer struct {
	f      *os.File
	mem    []byte
	w      *[SegmentSize / 8]uint64
	header uint64 // native word at offset 8 with generation 0
	gen    uint16
	fill   filler
	last   Segment
	log    *zap.Logger
	path   string
	failed bool // the last update failed (logged once)
}

var _ sink.Sink = (*Writer)(nil)

// New opens (creating it, mode 0644, parents 0755) the segment at cfg.Path
// and holds an exclusive flock on it. An existing valid version-2 segment
// keeps its generation, so clients that have it mapped see the next update;
// anything else is wiped to an uninitialised segment (generation 0, which
// clients refuse to open) until the first Update. The file is never
// replaced: clients map its inode.
func New(cfg Config, log *zap.Logger) (*Writer, error) {
	cfg = cfg.withDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	var res unix.Timespec
	if err := unix.ClockGetres(unix.CLOCK_MONOTONIC_COARSE, &res); err != nil {
		return nil, fmt.Errorf("clockbound: resolution of CLOCK_MONOTONIC_COARSE: %w", err)
	}
	w := &Writer{fill: filler{cfg: cfg, coarseResNs: res.Nano()}, log: log, path: cfg.Path}
	if err := w.open(); err != nil {
		return nil, fmt.Errorf("clockbound segment %s: %w", cfg.Path, err)
	}
	log.Info("clockbound segment open", zap.String("path", cfg.Path), zap.Uint16("generation", w.gen))
	return w, nil
}

func (w *Writer) open() error {
	if err := os.MkdirAll(filepath.Dir(w.path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(w.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("another writer holds it: %w", err)
	}
	if err := w.adopt(f); err != nil {
		f.Close()
		return err
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, SegmentSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return fmt.Errorf("mmap: %w", err)
	}
	w.f, w.mem, w.w = f, mem, (*[SegmentSize / 8]uint64)(unsafe.Pointer(&mem[0]))
	hdr := Encode(&Segment{SegmentSize: SegmentSize, Version: Version})
	w.header = binary.NativeEndian.Uint64(hdr[8:])
	// Version 2 from now on (ClockBound's writer does the same after a
	// wipe); the generation stays as found.
	atomic.StoreUint64(&w.w[1], w.header|w.genBits(w.gen))
	return nil
}

// adopt reads what f holds: a valid segment keeps its generation; anything
// else is wiped to an uninitialised segment of SegmentSize bytes.
func (w *Writer) adopt(f *os.File) error {
	buf := make([]byte, SegmentSize+1)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read: %w", err)
	}
	s, derr := Decode(buf[:n])
	if n == SegmentSize && (derr == nil || errors.Is(derr, ErrBusy)) && s.SegmentSize == SegmentSize {
		w.gen = s.Generation
		return nil
	}
	if n > 0 {
		w.log.Info("clockbound segment: wiping what the file held", zap.Int("bytes", n), zap.NamedError("decode", derr))
	}
	wipe := Encode(&Segment{SegmentSize: SegmentSize})
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("wipe: %w", err)
	}
	if _, err := f.WriteAt(wipe, 0); err != nil {
		return fmt.Errorf("wipe: %w", err)
	}
	w.gen = 0
	return nil
}

// genBits places a generation into the header word at offset 8.
func (w *Writer) genBits(g uint16) uint64 {
	var b [8]byte
	binary.NativeEndian.PutUint16(b[6:], g)
	return binary.NativeEndian.Uint64(b[:])
}

// Name is the sink's name in logs and metrics.
func (w *Writer) Name() string { return "clockbound" }

// Update writes the segment for s: the bound from s.MaxErrorNs (never the
// statistical error bound) plus the distance from CLOCK_REALTIME, the status
// from s, void at once when s is not usable.
func (w *Writer) Update(s *sink.Sample) error {
	if w.w == nil {
		return errors.New("clockbound: segment closed")
	}
	seg := w.fill.fill(s)
	w.publish(&seg)
	if !s.Usable && !w.failed {
		w.log.Warn("clockbound segment marked unusable", zap.Stringer("status", seg.Status), zap.Bool("disrupted", s.Disrupted))
	}
	w.failed = !s.Usable
	return nil
}

// publish writes seg's body under the generation protocol.
func (w *Writer) publish(seg *Segment) {
	g := w.gen
	if g&1 == 0 {
		g++
	}
	atomic.StoreUint64(&w.w[1], w.header|w.genBits(g))
	var body [SegmentSize]byte
	encodeBody(body[:], seg)
	for i := 2; i < SegmentSize/8; i++ {
		atomic.StoreUint64(&w.w[i], binary.NativeEndian.Uint64(body[8*i:]))
	}
	g++
	if g == 0 {
		g = 2
	}
	atomic.StoreUint64(&w.w[1], w.header|w.genBits(g))
	w.gen = g
	w.last = *seg
	w.last.Generation = g
}

// Close marks the segment unusable (status unknown, void since its as-of)
// and unmaps it. The file stays: clients that have it mapped keep reading
// "unknown" until a writer opens it again.
func (w *Writer) Close() error {
	if w.w == nil {
		return nil
	}
	if w.gen != 0 {
		seg := w.last
		seg.Status, seg.VoidAfter = StatusUnknown, seg.AsOf
		w.publish(&seg)
	}
	errs := []error{unix.Munmap(w.mem), w.f.Close()}
	w.mem, w.w, w.f = nil, nil, nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clockbound segment %s: close: %w", w.path, err)
	}
	w.log.Info("clockbound segment closed", zap.String("path", w.path))
	return nil
}
