package hostclock

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/xenstore"
)

// GuestReadable is the permission of the published nodes: owned by Dom0,
// readable by every domain, writable by none but Dom0 (Xen's "r0": the first
// entry names the owner and gives every other domain read access).
var GuestReadable = xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}}

// RecordPublisher turns the preferred server's clock into clock records,
// each continuous with the previous one (clockdata's builder slews the
// correction in), and writes them to the shared page and to Xenstore.
type RecordPublisher struct {
	mu      sync.Mutex
	log     *zap.Logger
	builder clockdata.Builder
	counter counter.Counter
	hz      float64
	host    [16]byte
	prev    *clockdata.Record
	page    *clockdata.Writer
	xs      *XenstoreSink
	metrics *Metrics
	// syncedMarker is the disruption marker under which a record that was
	// not unsynchronised was published: its clock is no longer a guess.
	syncedMarker uint64
}

// NewRecordPublisher publishes to page and xs (either may be nil). prev,
// from the state file, makes the first record continuous with what readers
// saw before a restart; without it the first record has a new disruption
// marker.
//
// hz is the nominal frequency records carry (the daemon's, see Daemon.hz).
func NewRecordPublisher(c counter.Counter, hz float64, page *clockdata.Writer, xs *XenstoreSink, prev *clockdata.Record, m *Metrics, log *zap.Logger) (*RecordPublisher, error) {
	host, err := HostID(c)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	p := &RecordPublisher{log: log, counter: c, hz: hz, host: host, prev: prev, page: page, xs: xs, metrics: m}
	if prev != nil && prev.State != clockdata.StateUnsynchronised {
		p.syncedMarker = prev.DisruptionMarker
	}
	return p, nil
}

// HostID is the record's host identity: stable for one boot of the
// physical host, derived from Dom0's boot id (Dom0 boots with the host)
// and the counter's timeline identity.
func HostID(c counter.Counter) ([16]byte, error) {
	var id [16]byte
	r, err := c.Read()
	if err != nil {
		return id, fmt.Errorf("host identity: %w", err)
	}
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	h := sha256.New()
	h.Write([]byte("xenradclock host\x00"))
	h.Write([]byte(strings.TrimSpace(string(boot))))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], r.Identity)
	h.Write(b[:])
	copy(id[:], h.Sum(nil))
	return id, nil
}

// Last is the last published record (nil before the first).
func (p *RecordPublisher) Last() *clockdata.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.prev == nil {
		return nil
	}
	r := *p.prev
	return &r
}

// Publish implements Publisher. It returns the new record's generation
// whenever a record was made, with an error joining the sinks that failed.
func (p *RecordPublisher) Publish(u Update) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rd, err := p.counter.Read()
	if err != nil {
		return 0, fmt.Errorf("counter: %w", err)
	}
	raw, err := clockdata.RawFromParams(u.Params, p.host, clockdata.CounterInfo{
		Kind: p.counter.Kind(), Hz: uint64(p.hz + 0.5), Identity: rd.Identity,
	}, uint64(u.Poll))
	if err != nil {
		return 0, err
	}
	if u.State != clockdata.StateUnknown {
		raw.State = u.State
	}
	// Until the clock first synchronises its time is a guess; slewing from
	// a guess at 500 ppm would drag its error on for minutes. The clock
	// steps once, onto the first synchronised estimate, with a new
	// disruption marker; after that it only slews, even when the state dips
	// to unsynchronised and back (the clock was continuous meanwhile).
	firstSync := p.prev != nil && p.prev.State == clockdata.StateUnsynchronised && raw.State != clockdata.StateUnsynchronised &&
		p.prev.DisruptionMarker != p.syncedMarker
	raw.Disrupt = firstSync
	rec, err := p.builder.Next(p.prev, raw, rd.Count)
	if err != nil {
		return 0, err
	}
	switch {
	case firstSync:
		p.log.Info("clock synchronised: stepped onto the first synchronised estimate", zap.String("server", u.Server),
			zap.String("marker", fmt.Sprintf("%016x", rec.DisruptionMarker)))
	case p.prev != nil && rec.DisruptionMarker != p.prev.DisruptionMarker:
		p.log.Warn("clock disruption: correction too large to slew, stepped with a new marker", zap.String("server", u.Server),
			zap.String("marker", fmt.Sprintf("%016x", rec.DisruptionMarker)))
	}
	p.prev = &rec
	if rec.State != clockdata.StateUnsynchronised {
		p.syncedMarker = rec.DisruptionMarker
	}
	var errs []error
	if p.page != nil {
		if err := p.page.Publish(&rec); err != nil {
			p.metrics.PublishError("page")
			errs = append(errs, err)
		}
	}
	if p.xs != nil {
		// Queued: written on the sink's goroutine, failures counted there.
		if err := p.xs.Publish(&rec); err != nil {
			p.metrics.PublishError("xenstore")
			errs = append(errs, err)
		}
	}
	return rec.Generation, errors.Join(errs...)
}

// XenstoreSink owns the clock node in Xenstore: one node holding the whole
// text-encoded record, written with one WRITE (atomic, one watch event),
// with the node and its parent owned by Dom0 and readable by all (r0).
//
// Writes happen on the sink's own goroutine, newest record first (records
// queued meanwhile are superseded), so a slow or restarting xenstored never
// holds up the daemon loop or the shared page. After a reconnection the sink
// writes the last record and both permissions again.
type XenstoreSink struct {
	c       *xenstore.Client
	path    string
	log     *zap.Logger
	timeout time.Duration
	// OnError, when set before the first Publish, is called (on the sink's
	// goroutine) for every failed write.
	OnError func(error)
	// HostName, when set before the first Publish, is written beside the
	// clock node (HostNameNode) with the same permissions, and again after
	// every reconnection; guests name hosts by it in their logs and reports.
	HostName string

	mu        sync.Mutex
	cond      *sync.Cond
	last      []byte
	seq       uint64 // of last
	written   uint64 // seq of the last record written
	tried     uint64 // seq of the last record a write was attempted for
	lastErr   error
	permsDone bool
	failing   bool
	kick      chan struct{}
	stop      chan struct{}
	done      chan struct{}
}

// NewXenstoreSink publishes to node (e.g. /xenradclock/clock) through c
// until Close.
func NewXenstoreSink(c *xenstore.Client, node string, log *zap.Logger) *XenstoreSink {
	if log == nil {
		log = zap.NewNop()
	}
	x := &XenstoreSink{c: c, path: node, log: log, timeout: 5 * time.Second,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	x.cond = sync.NewCond(&x.mu)
	go x.loop()
	return x
}

// Path is the node written.
func (x *XenstoreSink) Path() string { return x.path }

// Client is the Xenstore connection.
func (x *XenstoreSink) Client() *xenstore.Client { return x.c }

func (x *XenstoreSink) loop() {
	defer close(x.done)
	reconnected := x.c.Reconnected()
	for {
		again := false
		select {
		case <-x.stop:
			return
		case <-x.kick:
		case <-reconnected:
			reconnected = x.c.Reconnected()
			again = true
			x.mu.Lock()
			x.permsDone = false
			x.mu.Unlock()
		}
		x.mu.Lock()
		text, seq := x.last, x.seq
		x.mu.Unlock()
		if text == nil {
			continue
		}
		err := x.write(text)
		x.mu.Lock()
		x.lastErr, x.tried = err, seq
		if err == nil {
			x.written = seq
		}
		wasFailing := x.failing
		x.failing = err != nil
		x.cond.Broadcast()
		x.mu.Unlock()
		switch {
		case err != nil:
			if x.OnError != nil {
				x.OnError(err)
			}
			if !wasFailing {
				x.log.Warn("xenstore: publication failing (retried on the next record and after reconnection)", zap.Error(err))
			}
		case again:
			x.log.Info("xenstore: reconnected, record and permissions re-published", zap.String("path", x.path))
		case wasFailing:
			x.log.Info("xenstore: publication works again", zap.String("path", x.path))
		}
	}
}

// Publish queues the record's text encoding for writing and returns at
// once; an encoding error is returned, write errors go to OnError and the
// log.
func (x *XenstoreSink) Publish(r *clockdata.Record) error {
	text, err := r.MarshalText()
	if err != nil {
		return err
	}
	x.mu.Lock()
	x.last = text
	x.seq++
	x.mu.Unlock()
	select {
	case x.kick <- struct{}{}:
	default:
	}
	return nil
}

// Sync waits until the last published record is written, or its write
// failed, or ctx ends.
func (x *XenstoreSink) Sync(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		x.mu.Lock()
		x.cond.Broadcast()
		x.mu.Unlock()
	})
	defer stop()
	x.mu.Lock()
	defer x.mu.Unlock()
	target := x.seq
	for x.written < target {
		if x.tried >= target && x.lastErr != nil {
			return x.lastErr
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		x.cond.Wait()
	}
	return nil
}

func (x *XenstoreSink) write(text []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), x.timeout)
	defer cancel()
	if !x.permsDone {
		// Make and lock down the parent first, so no instant exists where
		// the node is reachable with the creator-inherited permissions.
		parent := path.Dir(x.path)
		if parent != "/" {
			if err := x.c.Mkdir(ctx, parent); err != nil {
				return fmt.Errorf("xenstore mkdir %s: %w", parent, err)
			}
			if err := x.c.SetPerms(ctx, parent, GuestReadable); err != nil {
				return fmt.Errorf("xenstore set perms %s: %w", parent, err)
			}
		}
	}
	if err := x.c.Write(ctx, x.path, text); err != nil {
		return fmt.Errorf("xenstore write %s: %w", x.path, err)
	}
	if !x.permsDone {
		if err := x.c.SetPerms(ctx, x.path, GuestReadable); err != nil {
			return fmt.Errorf("xenstore set perms %s: %w", x.path, err)
		}
		if err := x.writeHostName(ctx); err != nil {
			return err
		}
		x.permsDone = true
	}
	return nil
}

// HostNameNode is the host's name, a sibling of the clock node.
const HostNameNode = "host-name"

// maxHostName bounds the published host name.
const maxHostName = 64

// SanitizeHostName keeps the bytes [A-Za-z0-9._-] of s, at most 64 of
// them: the name reaches guests' logs and terminals.
func SanitizeHostName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < maxHostName; i++ {
		if c := s[i]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// DefaultHostName is the sanitised os.Hostname ("" when unknown). The
// kernel's placeholder "(none)", a host whose name was never set (the Xen
// test VMs' Dom0), is unknown too: it sanitised to "none", and guests logged
// "migrated domU none -> none".
func DefaultHostName() string {
	h, _ := os.Hostname()
	return hostNameOf(h)
}

func hostNameOf(kernelName string) string {
	if kernelName == "(none)" {
		return ""
	}
	return SanitizeHostName(kernelName)
}

func (x *XenstoreSink) writeHostName(ctx context.Context) error {
	name := SanitizeHostName(x.HostName)
	if name == "" {
		return nil
	}
	p := path.Join(path.Dir(x.path), HostNameNode)
	if err := x.c.Write(ctx, p, []byte(name)); err != nil {
		return fmt.Errorf("xenstore write %s: %w", p, err)
	}
	if err := x.c.SetPerms(ctx, p, GuestReadable); err != nil {
		return fmt.Errorf("xenstore set perms %s: %w", p, err)
	}
	return nil
}

// Close stops the sink's goroutine; the connection stays the caller's.
func (x *XenstoreSink) Close() {
	close(x.stop)
	<-x.done
}
