//go:build linux

package clockdata

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/counter"
)

func TestPageFileLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "clock")
	if _, err := OpenPage(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing page: %v", err)
	}
	w, err := CreatePage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := CreatePage(path); err == nil {
		t.Error("a second writer got the page")
	}
	p, err := OpenPage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := p.Record(); !errors.Is(err, ErrUninitialised) {
		t.Errorf("fresh page: %v", err)
	}
	r := testRecord(t)
	fc := &fakeCounter{kind: r.CounterKind, count: r.RefCount, id: r.CounterIdentity}
	if _, err := p.Now(fc); !errors.Is(err, ErrUninitialised) {
		t.Errorf("Now on a fresh page: %v", err)
	}
	bad := r
	bad.RawPeriod = Period{}
	if err := w.Publish(&bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("published an invalid record: %v", err)
	}
	if err := w.Publish(&r); err != nil {
		t.Fatal(err)
	}
	got, seq, err := p.Record()
	if err != nil || seq != 2 || !reflect.DeepEqual(got, r) {
		t.Fatalf("after publish: %v seq %d", err, seq)
	}
	n, err := p.Now(fc)
	if err != nil || n.Status != ReadFresh || n.Time != r.RefTime {
		t.Fatalf("Now: %v %+v", err, n)
	}
	// The file on disk is exactly the encoder's page.
	disk, _ := os.ReadFile(path)
	if want := EncodePage(&r, 2); !reflect.DeepEqual(disk, want) {
		t.Error("page file differs from EncodePage")
	}

	// A restarted writer keeps the seqlock running.
	w.Close()
	w2, err := CreatePage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	r.Generation++
	if err := w2.Publish(&r); err != nil {
		t.Fatal(err)
	}
	if _, seq, err := p.Record(); err != nil || seq != 4 {
		t.Errorf("after writer restart: seq %d, %v", seq, err)
	}

	// A page left odd by a writer that died mid-update: readers give up
	// after the deadline with ErrBusy.
	atomic.StoreUint64(&w2.m.w[seqWord], le(5))
	if _, _, err := p.Record(); !errors.Is(err, ErrBusy) {
		t.Errorf("odd page: %v", err)
	}

	// A foreign file of the right size.
	other := filepath.Join(t.TempDir(), "other")
	os.WriteFile(other, append([]byte("not a clock page"), make([]byte, PageSize)...), 0o644)
	po, err := OpenPage(other)
	if err != nil {
		t.Fatal(err)
	}
	defer po.Close()
	if _, _, err := po.Record(); !errors.Is(err, ErrMagic) {
		t.Errorf("foreign page: %v", err)
	}
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, make([]byte, 100), 0o644)
	if _, err := OpenPage(short); !errors.Is(err, ErrTruncated) {
		t.Errorf("short file: %v", err)
	}
}

// TestMigrationBetweenPageAndCounter injects a migration between the page
// read and the counter read: the counter's identity changes inside Read,
// after the reader copied the record. The read must say "disrupted" and
// carry no time, and a counter of the wrong kind "counter mismatch".
func TestMigrationBetweenPageAndCounter(t *testing.T) {
	r := testRecord(t)
	_, p := publishedPage(t, &r)
	fc := &fakeCounter{kind: r.CounterKind, count: r.RefCount + 1000, id: r.CounterIdentity}
	fc.onRead = func(f *fakeCounter) { f.id = 0xdead; f.count = 42 } // now on another host
	n, err := p.Now(fc)
	if err != nil {
		t.Fatal(err)
	}
	if n.Status != ReadDisrupted || !n.Time.IsZero() || !n.Latest.IsZero() {
		t.Errorf("migration between page and counter read: %+v", n)
	}
	fc = &fakeCounter{kind: r.CounterKind + 1, count: r.RefCount, id: r.CounterIdentity}
	if n, _ := p.Now(fc); n.Status != ReadCounterMismatch || !n.Time.IsZero() {
		t.Errorf("wrong counter kind: %+v", n)
	}
}

// TestConcurrentWriter runs a writer publishing a stream of records while
// readers read through a second mapping of the same file. Every record
// the writer publishes satisfies an invariant a torn copy would break (its
// generation is encoded in its reference time and error bound); readers
// must never see a torn or invalid record and must see generations in
// order. Run under -race by make test.
func TestConcurrentWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	w, err := CreatePage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	base := testRecord(t)
	mk := func(g uint64) Record {
		r := base
		r.Generation = g
		r.RefTime = bintime.Time{Sec: base.RefTime.Sec + int64(g), Frac: g}
		r.SlewEndTime = r.RefTime.Add(r.Period.Mul(r.SlewEndCount - r.RefCount))
		r.RawRefTime = r.RefTime
		r.ErrorBoundNs, r.MaxErrorNs = g, 2*g
		return r
	}
	first := mk(1)
	w.Publish(&first)

	const updates = 3000
	var wg sync.WaitGroup
	var done atomic.Bool
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
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := OpenPage(path)
			if err != nil {
				t.Error(err)
				return
			}
			defer p.Close()
			fc := &fakeCounter{kind: base.CounterKind, count: base.RefCount, id: base.CounterIdentity, step: 1}
			last := uint64(0)
			for reads := 0; !done.Load() || reads < 100; reads++ {
				r, _, err := p.Record()
				if err != nil {
					t.Errorf("read %d: %v", reads, err)
					return
				}
				g := r.Generation
				if r.RefTime.Sec != base.RefTime.Sec+int64(g) || r.RefTime.Frac != g || r.MaxErrorNs != 2*g || r.ErrorBoundNs != g {
					t.Errorf("torn record: generation %d with %+v", g, r)
					return
				}
				if g < last {
					t.Errorf("generation went back: %d after %d", g, last)
					return
				}
				last = g
				n, err := p.Now(fc)
				if err != nil || n.Status != ReadFresh || n.Generation < g {
					t.Errorf("Now: %v %+v", err, n)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestSeqWrapAndDeadWriter pins the seqlock rules: a wrap skips 0 (which
// means "never published"), and a writer restarting over a page a dead
// writer left odd completes it to an even value.
func TestSeqWrapAndDeadWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	w, err := CreatePage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := testRecord(t)
	p, err := OpenPage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	atomic.StoreUint64(&w.m.w[seqWord], le(^uint64(0)-1)) // the last even value
	if err := w.Publish(&r); err != nil {
		t.Fatal(err)
	}
	if _, seq, err := p.Record(); err != nil || seq != 2 {
		t.Errorf("after the wrap: seq %d, %v (want 2)", seq, err)
	}
	atomic.StoreUint64(&w.m.w[seqWord], le(7)) // a writer died mid-update
	r.Generation++
	if err := w.Publish(&r); err != nil {
		t.Fatal(err)
	}
	if got, seq, err := p.Record(); err != nil || seq != 8 || got.Generation != r.Generation {
		t.Errorf("after a dead writer: seq %d gen %d, %v", seq, got.Generation, err)
	}
}

// hookCounter runs before() inside Read, then reads the real counter: a
// migration injected between the page read and the counter read.
type hookCounter struct {
	counter.Counter
	before func()
}

func (h hookCounter) Read() (counter.Reading, error) {
	if h.before != nil {
		h.before()
	}
	return h.Counter.Read()
}

// TestSimulatedMigrationDuringRead uses the real simulated counter: a guest
// on host A reads a page published for A's timeline; the guest is migrated
// to host B inside the counter read. The read must be "disrupted" with no
// time; once the page is republished for B's timeline it reads fresh.
func TestSimulatedMigrationDuringRead(t *testing.T) {
	dir := t.TempDir()
	hostA, hostB, guest := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "guest")
	if err := counter.CreateSimHost(hostA, counter.SimHostConfig{HostID: 1, NominalHz: 1e9, PPM: 10, Offset: 5e12}); err != nil {
		t.Fatal(err)
	}
	if err := counter.CreateSimHost(hostB, counter.SimHostConfig{HostID: 2, NominalHz: 1e9, PPM: -30, Offset: 9e12}); err != nil {
		t.Fatal(err)
	}
	if err := counter.MigrateSim(guest, hostA); err != nil {
		t.Fatal(err)
	}
	sim, err := counter.OpenSimulated(guest)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	publish := func(w *Writer, prev *Record) Record {
		rd, err := sim.Read()
		if err != nil {
			t.Fatal(err)
		}
		per, _ := PeriodFromFloat(1e-9)
		raw := Raw{HostID: [16]byte{byte(rd.Identity)}, CounterKind: counter.KindSimulated, CounterHz: 1e9,
			CounterIdentity: rd.Identity, State: StateSynchronised, RefCount: rd.Count,
			RefTime: bintime.Time{Sec: 1700000000}, Period: per, MaxErrorNs: 1000, PollNs: 16e9}
		r, err := Next(prev, raw, rd.Count)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Publish(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	path := filepath.Join(dir, "clock")
	w, err := CreatePage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ra := publish(w, nil)
	p, err := OpenPage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if n, err := p.Now(sim); err != nil || n.Status != ReadFresh {
		t.Fatalf("before the migration: %v %+v", err, n)
	}
	migrating := hookCounter{Counter: sim, before: func() {
		if err := counter.MigrateSim(guest, hostB); err != nil {
			t.Fatal(err)
		}
	}}
	n, err := p.Now(migrating)
	if err != nil {
		t.Fatal(err)
	}
	if n.Status != ReadDisrupted || !n.Time.IsZero() || n.Generation != ra.Generation {
		t.Fatalf("migration inside the counter read: %+v", n)
	}
	rb := publish(w, &ra) // the new host's publisher catches up
	if rb.DisruptionMarker == ra.DisruptionMarker {
		t.Error("a new timeline kept the disruption marker")
	}
	if n, err := p.Now(sim); err != nil || n.Status != ReadFresh || n.Generation != rb.Generation {
		t.Fatalf("after republishing: %v %+v", err, n)
	}
}

// TestCounterReadAfterDecode: on a new record the counter is read only
// once the record is decoded and cached, so the reading is not taken
// before the decoding's tens of µs (the demo's offsets were 15-60 µs off
// from that). The counter checks the cache at the moment it is read.
func TestCounterReadAfterDecode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	w, err := CreatePage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	p, err := OpenPage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r := testRecord(t)
	fc := &fakeCounter{kind: r.CounterKind, count: r.RefCount, id: r.CounterIdentity}
	var stale int
	fc.onRead = func(*fakeCounter) {
		if c := p.cache.Load(); c == nil || c.seq != p.m.load(seqWord) {
			stale++
		}
	}
	for i := range 3 {
		r.Generation = uint64(10 + i)
		if err := w.Publish(&r); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Now(fc); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Now(fc); err != nil {
			t.Fatal(err)
		}
	}
	if stale != 0 {
		t.Errorf("the counter was read %d times before the new record was decoded", stale)
	}
}

// steppingWriter is a writer that holds the page odd and moves its
// seqlock between odd values in steps, driven by the reader's busy-policy
// clock: every clock reading advances fake time by tick and moves the seq
// to the next odd value; after steps moves it completes the update.
type steppingWriter struct {
	t       *testing.T
	w       *Writer
	r       Record
	tick    time.Duration
	steps   int
	now     time.Time
	elapsed time.Duration
	moved   int
}

func (s *steppingWriter) clock() time.Time {
	s.now = s.now.Add(s.tick)
	s.elapsed += s.tick
	seq := le(atomic.LoadUint64(&s.w.m.w[seqWord]))
	switch {
	case seq&1 == 0: // done
	case s.moved < s.steps:
		s.moved++
		atomic.StoreUint64(&s.w.m.w[seqWord], le(seq+2))
	default:
		if err := s.w.Publish(&s.r); err != nil { // completes the odd page
			s.t.Error(err)
		}
	}
	return s.now
}

// TestBusyWriterMakingProgress: a live writer whose seqlock changes between
// odd values is busy, not dead, however long it stays busy in total; the
// reader restarts its deadline on every change and gets the record. A
// writer that holds one odd value past the deadline is dead (ErrBusy).
// Deterministic: the fake clock drives the writer, no real time is
// measured.
func TestBusyWriterMakingProgress(t *testing.T) {
	r := testRecord(t)
	w, p := publishedPage(t, &r)
	fc := &fakeCounter{kind: r.CounterKind, count: r.RefCount, id: r.CounterIdentity}
	reads := map[string]func() (uint64, error){
		"Record": func() (uint64, error) { got, _, err := p.Record(); return got.Generation, err },
		"Now":    func() (uint64, error) { n, err := p.Now(fc); return n.Generation, err },
	}
	for _, name := range []string{"Record", "Now"} {
		r.Generation++
		sw := &steppingWriter{t: t, w: w, r: r, tick: BusyDeadline / 3, steps: 40}
		p.clock = sw.clock
		seq := le(atomic.LoadUint64(&w.m.w[seqWord]))
		atomic.StoreUint64(&w.m.w[seqWord], le(seq+1)) // the writer starts an update
		gen, err := reads[name]()
		if err != nil || gen != r.Generation {
			t.Errorf("%s with a writer busy for %v of fake time in %d steps: generation %d, %v (want %d)",
				name, sw.elapsed, sw.moved, gen, err, r.Generation)
		}
		if sw.moved != sw.steps || sw.elapsed < 5*BusyDeadline {
			t.Errorf("%s: the writer moved %d of %d steps in %v: the test did not exercise the policy", name, sw.moved, sw.steps, sw.elapsed)
		}

		// A dead writer: odd, never moving.
		if err := w.Publish(&r); err != nil { // even again, whatever happened above
			t.Fatal(err)
		}
		dead := &steppingWriter{t: t, w: w, tick: BusyDeadline / 3}
		p.clock = func() time.Time { dead.now = dead.now.Add(dead.tick); dead.elapsed += dead.tick; return dead.now }
		seq = le(atomic.LoadUint64(&w.m.w[seqWord]))
		atomic.StoreUint64(&w.m.w[seqWord], le(seq+1))
		if _, err := reads[name](); !errors.Is(err, ErrBusy) || dead.elapsed < BusyDeadline {
			t.Errorf("%s with a dead writer: %v after %v of fake time", name, err, dead.elapsed)
		}
		if err := w.Publish(&r); err != nil { // a restarted writer completes the page
			t.Fatal(err)
		}
	}
}

// TestOpenPageNotARegularFile: a FIFO, a device and a directory at the page
// path are refused at once with an error naming the path, by the reader
// and by the writer; none of them blocks the open (a FIFO with no writer
// used to hang the reader).
func TestOpenPageNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, "/dev/null", dir} {
		if w, err := CreatePage(path); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), path) {
			t.Errorf("CreatePage(%s): %v (want ErrNotRegular naming the path)", path, err)
			if err == nil {
				w.Close()
			}
		}
		done := make(chan error, 1)
		go func() {
			p, err := OpenPage(path)
			if err == nil {
				p.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), path) {
				t.Errorf("%s: %v (want ErrNotRegular naming the path)", path, err)
			}
		case <-time.After(20 * time.Second): // a hang, not a timing assertion
			t.Fatalf("OpenPage(%s) hangs", path)
		}
	}
}

// publishedPage creates a page file in a temporary directory, publishes r
// and maps the page for reading; both are closed when the test ends.
func publishedPage(t *testing.T, r *Record) (*Writer, *Page) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clock")
	w, err := CreatePage(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Publish(r); err != nil {
		t.Fatal(err)
	}
	p, err := OpenPage(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return w, p
}
