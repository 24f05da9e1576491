//go:build linux

package clockdata

// The live page: a PageSize file mapped shared, written by one publisher
// (dom0d or domu-agent) and read by any number of processes without locks.
//
// Seqlock rule (written once, here and in docs/clockdata.md): the 64-bit word
// at offset 16 is 0 while the page has never been published, odd while the
// writer is updating it, and even otherwise; it advances by 2 per update and
// skips 0 on wrap. A reader loads it, copies the record, reads the counter,
// loads it again, and uses the copy only when both loads are equal, even and
// non-zero. Every word of the page is accessed with 64-bit atomic operations
// (sequentially consistent in Go), so the protocol is race-free in the Go
// memory model and the C reader's acquire loads pair with them.

import (
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/counter"
)

// Reader retry policy on a busy writer: spin this many times, then keep
// retrying (yielding the processor) until one odd seqlock value has lasted
// BusyDeadline, then give up with ErrBusy. Every change of the value (the
// writer finished one update and began the next) restarts the spins and the
// deadline: a live writer is never taken for a dead one, however long it
// keeps the page busy in total. A writer holds one value odd for well under
// a microsecond, so the deadline is only ever reached when a writer died
// mid-update (or was stopped in it).
const (
	busySpins    = 1000
	BusyDeadline = 100 * time.Millisecond
)

// le converts between a native word and its little-endian page value.
func le(v uint64) uint64 {
	if hostLE {
		return v
	}
	return bits.ReverseBytes64(v)
}

type mapping struct {
	f   *os.File
	mem []byte
	w   *words
}

func (m *mapping) load(i int) uint64     { return le(atomic.LoadUint64(&m.w[i])) }
func (m *mapping) store(i int, v uint64) { atomic.StoreUint64(&m.w[i], le(v)) }

func (m *mapping) close() error {
	var errs []error
	if m.mem != nil {
		errs = append(errs, unix.Munmap(m.mem))
		m.mem, m.w = nil, nil
	}
	if m.f != nil {
		errs = append(errs, m.f.Close())
		m.f = nil
	}
	return errors.Join(errs...)
}

// Writer publishes records into a page file. It is not safe for concurrent
// use; one process owns a page (an exclusive flock enforces it).
type Writer struct {
	m    mapping
	path string
}

// CreatePage opens the page file at path for writing, creating it (mode
// 0644, parent directories 0755) and sizing it to PageSize if needed; a
// path that is not a regular file is ErrNotRegular. An
// existing page keeps its seqlock value, so readers that have it mapped see
// the next update as newer; the file is never replaced, because readers hold
// a mapping of its inode.
func CreatePage(path string) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("clock page %s: %w", path, err)
	}
	f, err := openRegular(path, unix.O_RDWR|unix.O_CREAT)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("clock page %s: another writer holds it: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("clock page: %w", err)
	}
	if fi.Size() != PageSize {
		if err := f.Truncate(PageSize); err != nil {
			f.Close()
			return nil, fmt.Errorf("clock page %s: size it to %d bytes: %w", path, PageSize, err)
		}
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("clock page %s: mmap: %w", path, err)
	}
	pw := &Writer{m: mapping{f: f, mem: mem, w: (*words)(unsafe.Pointer(&mem[0]))}, path: path}
	var hdr words
	headerWords(&hdr)
	if w0 := pw.m.load(0); w0 != hdr[0] && pw.m.load(1) == hdr[1] && w0 == uint64(Magic)|uint64(MinRecordSize)<<32 {
		// A page of this version written before the flags word: its
		// record is valid and its flags word zero. Only the size grows, so
		// the seqlock continues and no reader's cached seq comes back with
		// another record.
		pw.m.store(0, hdr[0])
	}
	if pw.m.load(0) != hdr[0] || pw.m.load(1) != hdr[1] {
		// A foreign or older page: restart it as uninitialised.
		pw.m.store(seqWord, 0)
		for i := bodyWord; i < recordWords; i++ {
			pw.m.store(i, 0)
		}
		pw.m.store(0, hdr[0])
		pw.m.store(1, hdr[1])
	}
	return pw, nil
}

// Path returns the page file's path.
func (pw *Writer) Path() string { return pw.path }

// Publish validates r and writes it into the page under the seqlock, with
// zero flags (mode host).
func (pw *Writer) Publish(r *Record) error { return pw.PublishFlags(r, PageFlags{}) }

// PublishFlags is Publish with the publisher's flags (the guest agent's
// mode and disruption flags).
func (pw *Writer) PublishFlags(r *Record, f PageFlags) error {
	if pw.m.w == nil {
		return errors.New("clock page: writer closed")
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("clock page %s: refusing to publish: %w", pw.path, err)
	}
	w := r.toWords()
	w[flagsWord] = f.word()
	seq := pw.m.load(seqWord)
	if seq&1 == 0 {
		seq++
		pw.m.store(seqWord, seq) // odd: readers retry
	} // else a writer died mid-update; the page is already marked busy
	for i := bodyWord; i < recordWords; i++ {
		pw.m.store(i, w[i])
	}
	seq++
	if seq == 0 {
		seq = 2 // 0 means never published
	}
	pw.m.store(seqWord, seq)
	return nil
}

// Close unmaps and closes the page; the file stays for readers.
func (pw *Writer) Close() error { return pw.m.close() }

// Page is a read-only mapping of a page file. Its methods are safe for
// concurrent use.
type Page struct {
	m     mapping
	path  string
	cache atomic.Pointer[cachedRecord]
	clock func() time.Time // the busy policy's clock: time.Now
}

// cachedRecord is the record decoded and validated at one seqlock value;
// reads at the same value reuse it and only read the counter.
type cachedRecord struct {
	seq   uint64
	rec   Record
	flags PageFlags
	d     derived
}

// OpenPage maps the page file at path for reading. It fails when the file
// is missing, not a regular file (ErrNotRegular: a FIFO, device or
// directory, refused without blocking) or not PageSize bytes; an
// uninitialised page opens and reads give ErrUninitialised until a writer
// publishes.
func OpenPage(path string) (*Page, error) {
	f, err := openRegular(path, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("clock page: %w", err)
	}
	if fi.Size() < PageSize {
		f.Close()
		return nil, fmt.Errorf("clock page %s: %w: %d bytes, a page is %d", path, ErrTruncated, fi.Size(), PageSize)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, PageSize, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("clock page %s: mmap: %w", path, err)
	}
	return &Page{m: mapping{f: f, mem: mem, w: (*words)(unsafe.Pointer(&mem[0]))}, path: path, clock: time.Now}, nil
}

// openRegular opens path with flags (O_RDONLY, or O_RDWR|O_CREAT: mode
// 0644) and O_NONBLOCK, so that a FIFO with no writer (or a device) cannot
// block the open, and refuses anything fstat does not call a regular file.
func openRegular(path string, flags int) (*os.File, error) {
	fd, err := unix.Open(path, flags|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o644)
	if err == unix.EISDIR { // opened for writing
		return nil, fmt.Errorf("clock page %s: %w (a directory)", path, ErrNotRegular)
	}
	if err != nil {
		return nil, fmt.Errorf("clock page: %w", &fs.PathError{Op: "open", Path: path, Err: err})
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("clock page %s: fstat: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("clock page %s: %w (%s)", path, ErrNotRegular, fileType(st.Mode))
	}
	return os.NewFile(uintptr(fd), path), nil
}

// fileType names a stat mode's file type for error messages.
func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFSOCK:
		return "a socket"
	}
	return fmt.Sprintf("file type %#o", mode&unix.S_IFMT)
}

// Close unmaps the page. Reads after Close panic.
func (p *Page) Close() error { return p.m.close() }

// Path returns the page file's path.
func (p *Page) Path() string { return p.path }

// ErrNotRegular: the page path names something other than a regular file
// (a FIFO, a device, a directory), which no publisher creates.
var ErrNotRegular = errors.New("not a regular file")

// busyWait is one read's busy-writer policy (see BusyDeadline).
type busyWait struct {
	clock func() time.Time // time.Now; tests inject a clock
	seq   uint64           // the odd value the deadline runs for
	tries int
	start time.Time
}

// again reports whether to retry after seeing the odd seqlock value seq.
// A new value means the writer is alive and the deadline starts again; it
// returns false once one value has lasted past the deadline.
func (b *busyWait) again(seq uint64) bool {
	if seq != b.seq {
		*b = busyWait{clock: b.clock, seq: seq}
	}
	b.tries++
	if b.tries <= busySpins {
		return true
	}
	if b.start.IsZero() {
		b.start = b.clock()
	}
	runtime.Gosched()
	return b.clock().Sub(b.start) < BusyDeadline
}

func (p *Page) snapshot(w *words) {
	w[0], w[1] = p.m.load(0), p.m.load(1)
	for i := bodyWord; i < recordWords; i++ {
		w[i] = p.m.load(i)
	}
}

func (p *Page) decode(w *words, seq uint64) (*cachedRecord, error) {
	if err := checkHeader(w[0], w[1], PageSize); err != nil {
		return nil, fmt.Errorf("clock page %s: %w", p.path, err)
	}
	if uint32(w[0]>>32) < RecordSize {
		w[flagsWord] = 0 // a page written before the flags word
	}
	r, err := fromWords(w)
	if err == nil {
		err = r.Validate()
	}
	var f PageFlags
	if err == nil {
		f, err = flagsFromWord(w[flagsWord])
	}
	if err != nil {
		return nil, fmt.Errorf("clock page %s (seq %d): %w", p.path, seq, err)
	}
	c := &cachedRecord{seq: seq, rec: r, flags: f, d: r.derive()}
	p.cache.Store(c)
	return c, nil
}

// badSeq turns an unusable seqlock value into an error: the header's error
// if the page is foreign or blank, else ErrUninitialised or ErrBusy.
func (p *Page) badSeq(seq uint64) error {
	if err := checkHeader(p.m.load(0), p.m.load(1), PageSize); err != nil {
		return fmt.Errorf("clock page %s: %w", p.path, err)
	}
	return fmt.Errorf("clock page %s: %w", p.path, checkSeq(seq))
}

// Record returns a consistent, validated copy of the published record and
// its seqlock value.
func (p *Page) Record() (Record, uint64, error) {
	r, _, seq, err := p.RecordFlags()
	return r, seq, err
}

// RecordFlags is Record with the publisher's flags.
func (p *Page) RecordFlags() (Record, PageFlags, uint64, error) {
	busy := busyWait{clock: p.clock}
	for {
		s1 := p.m.load(seqWord)
		if s1 != 0 && s1&1 == 0 {
			if c := p.cache.Load(); c != nil && c.seq == s1 {
				return c.rec, c.flags, s1, nil
			}
			var w words
			p.snapshot(&w)
			if p.m.load(seqWord) == s1 {
				c, err := p.decode(&w, s1)
				if err != nil {
					return Record{}, PageFlags{}, s1, err
				}
				return c.rec, c.flags, s1, nil
			}
		} else if s1 == 0 || !busy.again(s1) {
			return Record{}, PageFlags{}, s1, p.badSeq(s1)
		}
	}
}

// Now reads the clock: the record and one reading of c, taken inside the
// same seqlock loop, so a reading whose identity differs from the record's
// (a migration between the two) gives ReadDisrupted and no time. c must be
// the counter the record names; another kind gives ReadCounterMismatch.
func (p *Page) Now(c counter.Counter) (Now, error) {
	var n Now
	err := p.ReadInto(c, &n)
	return n, err
}

// ReadInto is Now writing into *n, for hot loops. It does not allocate
// while the record is unchanged. A new record is decoded and cached before
// the counter is read (then the loop goes round again), so the reading is
// never taken tens of µs before the call returns.
func (p *Page) ReadInto(c counter.Counter, n *Now) error {
	busy := busyWait{clock: p.clock}
	for {
		s1 := p.m.load(seqWord)
		if s1 != 0 && s1&1 == 0 {
			cur := p.cache.Load()
			if cur == nil || cur.seq != s1 {
				var w words
				p.snapshot(&w)
				if p.m.load(seqWord) != s1 {
					continue // torn: the writer was at work
				}
				if _, err := p.decode(&w, s1); err != nil {
					*n = Now{}
					return err
				}
				continue
			}
			rd, err := c.Read()
			if err != nil {
				*n = Now{}
				return fmt.Errorf("clock page %s: read counter %s: %w", p.path, c.Name(), err)
			}
			if p.m.load(seqWord) == s1 {
				cur.rec.eval(&cur.d, c.Kind(), rd, n)
				applyFlags(n, cur.flags)
				return nil
			}
		} else if s1 == 0 || !busy.again(s1) {
			*n = Now{}
			return p.badSeq(s1)
		}
	}
}
