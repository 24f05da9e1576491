//go:build linux

package clockbound

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reader reads a ClockBound segment the way ClockBound's clients do: map it,
// copy the body between two equal, even generation loads.
type Reader struct {
	f   *os.File
	mem []byte
	w   *[SegmentSize / 8]uint64
}

// busyDeadline: a writer holds the generation odd for well under a
// microsecond; a reader that sees it odd this long gives up (ErrBusy).
const busyDeadline = 100 * time.Millisecond

// Open maps the segment at path read-only. It refuses a file that does not
// hold an initialised version-2 segment of at least SegmentSize bytes.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("clockbound segment: %w", err)
	}
	buf := make([]byte, SegmentSize)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		f.Close()
		return nil, fmt.Errorf("clockbound segment %s: %w", path, err)
	}
	if _, err := Decode(buf[:n]); err != nil && !errors.Is(err, ErrBusy) {
		f.Close()
		return nil, fmt.Errorf("clockbound segment %s: %w", path, err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, SegmentSize, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("clockbound segment %s: mmap: %w", path, err)
	}
	return &Reader{f: f, mem: mem, w: (*[SegmentSize / 8]uint64)(unsafe.Pointer(&mem[0]))}, nil
}

// Snapshot returns a consistent copy of the segment.
func (r *Reader) Snapshot() (Segment, error) {
	var b [SegmentSize]byte
	start := time.Now()
	for tries := 0; ; tries++ {
		h1 := atomic.LoadUint64(&r.w[1])
		for i := range SegmentSize / 8 {
			binary.NativeEndian.PutUint64(b[8*i:], atomic.LoadUint64(&r.w[i]))
		}
		h2 := atomic.LoadUint64(&r.w[1])
		s, err := Decode(b[:])
		if h1 == h2 && !errors.Is(err, ErrBusy) {
			return s, err
		}
		if tries > 1000 {
			if time.Since(start) > busyDeadline {
				return Segment{}, ErrBusy
			}
			runtime.Gosched()
		}
	}
}

// Now is Snapshot followed by BoundsAt at the current CLOCK_REALTIME and
// CLOCK_MONOTONIC_COARSE, as ClockBound's clients compute it.
func (r *Reader) Now() (Bounds, Segment, error) {
	s, err := r.Snapshot()
	if err != nil {
		return Bounds{}, s, err
	}
	var rt, mc unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &rt); err != nil {
		return Bounds{}, s, fmt.Errorf("clockbound: CLOCK_REALTIME: %w", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &mc); err != nil {
		return Bounds{}, s, fmt.Errorf("clockbound: CLOCK_MONOTONIC_COARSE: %w", err)
	}
	b, err := s.BoundsAt(rt.Nano(), mc.Nano())
	return b, s, err
}

// Close unmaps the segment.
func (r *Reader) Close() error {
	if r.mem == nil {
		return nil
	}
	err := unix.Munmap(r.mem)
	r.mem, r.w = nil, nil
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}
