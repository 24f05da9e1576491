//go:build linux

package clockbound

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWriterReaderRoundTrip(t *testing.T) {
	w, path := newWriter(t, Config{})
	if _, err := Open(path); err == nil {
		t.Fatal("an uninitialised segment (generation 0) opened")
	}
	s := liveSample(t, 1_234_567, 50_000)
	if err := w.Update(&s); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seg, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if seg != w.last || seg.Generation != 2 {
		t.Fatalf("read %+v, wrote %+v", seg, w.last)
	}
	b, _, err := r.Now()
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != StatusSynchronized {
		t.Errorf("status %v", b.Status)
	}
	// Now is later than the sample: the clock's interval carried to now
	// along CLOCK_REALTIME must still be inside.
	lo := s.ClockNs - int64(s.MaxErrorNs) - s.RealtimeNs
	hi := s.ClockNs + int64(s.MaxErrorNs) - s.RealtimeNs
	mid := (b.EarliestNs + b.LatestNs) / 2
	if b.EarliestNs-mid > lo || b.LatestNs-mid < hi {
		t.Errorf("interval ±%d ns misses [%d, %d]", (b.LatestNs-b.EarliestNs)/2, lo, hi)
	}
	for i := 0; i < 3; i++ {
		w.Update(&s)
	}
	if seg, _ := r.Snapshot(); seg.Generation != 8 {
		t.Errorf("generation %d after 4 updates", seg.Generation)
	}
	info, _ := os.Stat(path)
	if info.Size() != SegmentSize || info.Mode().Perm() != 0o644 {
		t.Errorf("file %d bytes, mode %v", info.Size(), info.Mode())
	}
}

func TestGenerationWrapsToTwo(t *testing.T) {
	w, path := newWriter(t, Config{})
	w.gen = 0xfffe
	s := liveSample(t, 0, 1000)
	w.Update(&s)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if seg, _ := r.Snapshot(); seg.Generation != 2 {
		t.Fatalf("generation %d after wrap", seg.Generation)
	}
}

// A restarted writer keeps the generation (clients have the file mapped and
// cache by generation); a second writer is refused.
func TestReopenKeepsGeneration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shm0")
	w, err := New(Config{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := liveSample(t, 0, 1000)
	w.Update(&s)
	w.Update(&s)
	if _, err := New(Config{Path: path}, nil); err == nil {
		t.Fatal("a second writer opened the segment")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seg, _ := r.Snapshot()
	if seg.Status != StatusUnknown || seg.VoidAfter != seg.AsOf || seg.Generation != 6 {
		t.Fatalf("closed segment not marked unusable: %+v", seg)
	}
	w2, err := New(Config{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	w2.Update(&s)
	if seg, _ := r.Snapshot(); seg.Generation != 8 || seg.Status != StatusSynchronized {
		t.Fatalf("after reopen: %+v", seg)
	}
}

func TestGarbageFileWiped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shm0")
	for _, junk := range [][]byte{[]byte("not a segment"), make([]byte, 4096)} {
		os.WriteFile(path, junk, 0o644)
		w, err := New(Config{Path: path}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		if len(b) != SegmentSize || binary.NativeEndian.Uint32(b) != Magic0 || binary.NativeEndian.Uint16(b[14:]) != 0 {
			t.Fatalf("not wiped: %x", b)
		}
		w.Close()
	}
}

// Readers racing the writer never see a torn body: every update writes a
// body whose fields agree (bound = marker = as-of seconds).
func TestConcurrentReaders(t *testing.T) {
	w, path := newWriter(t, Config{})
	consistent := func(i int64) *Segment {
		return &Segment{SegmentSize: 80, Version: 2, AsOf: Timespec{i, 0}, VoidAfter: Timespec{i, 0},
			BoundNs: i, DisruptionMarker: uint64(i), Status: StatusSynchronized}
	}
	w.publish(consistent(0))
	var stop atomic.Bool
	var wg sync.WaitGroup
	var torn, reads atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := Open(path)
			if err != nil {
				t.Error(err)
				return
			}
			defer r.Close()
			for !stop.Load() {
				seg, err := r.Snapshot()
				if err != nil {
					continue
				}
				reads.Add(1)
				if uint64(seg.BoundNs) != seg.DisruptionMarker || seg.AsOf.Sec != seg.BoundNs {
					torn.Add(1)
				}
			}
		}()
	}
	// Half a second of back-to-back updates (a torn read needs a reader's
	// copy to overlap an update, so the race is run for long enough).
	for i, end := int64(1), time.Now().Add(500*time.Millisecond); time.Now().Before(end); i++ {
		w.publish(consistent(i))
	}
	stop.Store(true)
	wg.Wait()
	if torn.Load() != 0 {
		t.Fatalf("%d torn reads of %d", torn.Load(), reads.Load())
	}
	t.Logf("%d consistent reads", reads.Load())
}
