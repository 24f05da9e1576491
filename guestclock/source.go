package guestclock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/hostclock"
	"github.com/xenradclock/xenradclock/xenstore"
)

// source is where records come from: Dom0 through Xenstore (dependent
// mode) or the agent's own estimator (independent mode).
type source interface {
	start(ctx context.Context, a *Agent) error
	// events delivers what the agent's loop must handle (nil: none).
	events() <-chan srcEvent
	handle(ctx context.Context, a *Agent, ev srcEvent)
	// poll runs on every tick.
	poll(ctx context.Context, a *Agent)
	err() error
	stop()
}

type srcKind uint8

const (
	evClock       srcKind = iota // the clock node changed (or its watch registered)
	evReconnected                // Xenstore reconnected: a resume, a new host, a restarted xenstored
	evControl                    // control/shutdown changed
)

type srcEvent struct{ kind srcKind }

// controlNode is the toolstack's request to the guest, relative to its home.
const controlNode = "control/shutdown"

// coalesceWindow gathers the events Xenstore fires together (a watch's
// registration event and the reconnection) into one re-read.
const coalesceWindow = 5 * time.Millisecond

// xsSource is dependent mode's source: the clock node watched in Xenstore.
type xsSource struct {
	xs     *xenstore.Client
	node   string
	out    chan srcEvent
	done   chan struct{} // closed by stop
	dead   chan struct{} // closed by the first watch that ends
	once   sync.Once
	wg     sync.WaitGroup
	mu     sync.Mutex
	failed error
	clockW *xenstore.Watch
	ctlW   *xenstore.Watch
	// taken is the clock node's value and permissions as last taken (the
	// agent's loop alone uses them).
	taken      []byte
	takenPerms xenstore.Perms
}

func (s *xsSource) events() <-chan srcEvent { return s.out }

func (s *xsSource) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *xsSource) start(ctx context.Context, a *Agent) error {
	s.out, s.done, s.dead = make(chan srcEvent), make(chan struct{}), make(chan struct{})
	var err error
	if s.clockW, err = s.xs.Watch(ctx, s.node, "xenradclock/clock"); err != nil {
		return fmt.Errorf("watch %s: %w", s.node, err)
	}
	if s.ctlW, err = s.xs.Watch(ctx, controlNode, "xenradclock/control"); err != nil {
		return fmt.Errorf("watch %s: %w", controlNode, err)
	}
	s.wg.Add(2)
	go s.pump(s.clockW, evClock)
	go s.pump(s.ctlW, evControl)
	// out closes once, after both pumps have returned: a watch that ends
	// stops the other pump too (dead), so the loop sees the closed channel
	// and the source's error. Two pumps closing it themselves could close
	// it twice, or send on it closed.
	go func() { s.wg.Wait(); close(s.out) }()
	go a.refreshNames(ctx)
	return nil
}

// pump forwards one watch's events. A change on a connection it has seen
// goes at once; the first event on a connection (the registration's, a
// reconnection's) opens a window that coalesces the burst, and a
// reconnection event inside it makes the burst one evReconnected.
func (s *xsSource) pump(w *xenstore.Watch, kind srcKind) {
	defer s.wg.Done()
	var seen uint64 // the connection of the last event forwarded
	for {
		var ev xenstore.Event
		var ok bool
		select {
		case <-s.done:
			return
		case <-s.dead:
			return
		case ev, ok = <-w.Events():
		}
		if !ok {
			s.watchEnded(w)
			return
		}
		out := srcEvent{kind: kind}
		if ev.Kind != xenstore.EventChange || ev.Conn != seen {
			var reconnected bool
			seen, reconnected = gatherBurst(w, ev)
			if reconnected {
				if kind != evClock {
					continue // the clock watch carries the reconnection; control is re-read after serving
				}
				out.kind = evReconnected
			}
		}
		select {
		case s.out <- out:
		case <-s.done:
			return
		case <-s.dead:
			return
		}
	}
}

// watchEnded records the first watch that ends and stops the other pump.
func (s *xsSource) watchEnded(w *xenstore.Watch) {
	s.once.Do(func() {
		s.mu.Lock()
		s.failed = fmt.Errorf("watch %s ended: %v", w.Path, w.Err())
		s.mu.Unlock()
		close(s.dead)
	})
}

// gatherBurst collects the events that follow ev within coalesceWindow (or
// until the watch ends; the burst is still forwarded). It returns the
// newest connection seen and whether the burst holds a reconnection.
func gatherBurst(w *xenstore.Watch, ev xenstore.Event) (conn uint64, reconnected bool) {
	conn, reconnected = ev.Conn, ev.Kind == xenstore.EventReconnected
	t := time.NewTimer(coalesceWindow)
	defer t.Stop()
	for {
		select {
		case ev2, ok2 := <-w.Events():
			if !ok2 {
				return conn, reconnected
			}
			conn = max(conn, ev2.Conn)
			reconnected = reconnected || ev2.Kind == xenstore.EventReconnected
		case <-t.C:
			return conn, reconnected
		}
	}
}

func (s *xsSource) handle(ctx context.Context, a *Agent, ev srcEvent) {
	switch ev.kind {
	case evClock:
		s.fetch(ctx, a)
	case evReconnected:
		a.mu.Lock()
		a.startDisruptionLocked("xenstore reconnected")
		a.dis.fromMono, a.dis.reqs, a.dis.trips = bootNs(), 0, 0
		a.mu.Unlock()
		s.fetch(ctx, a)
	case evControl:
		a.mu.Lock()
		busy := a.dis != nil
		a.ctlPending = busy
		a.mu.Unlock()
		if !busy {
			s.readControl(ctx, a)
		}
	}
}

func (s *xsSource) poll(ctx context.Context, a *Agent) {
	a.mu.Lock()
	retry := a.dis != nil && time.Since(a.lastFetch) >= time.Second
	ctl := a.ctlPending && a.dis == nil
	a.ctlPending = a.ctlPending && !ctl
	a.mu.Unlock()
	if retry {
		s.fetch(ctx, a)
	}
	if ctl {
		s.readControl(ctx, a)
	}
}

func (s *xsSource) stop() {
	if s.done != nil {
		close(s.done)
		s.wg.Wait()
	}
}

// countLocked counts Xenstore requests (and round trips) of the agent.
func (a *Agent) countLocked(reqs, trips int) {
	a.stats.Requests += uint64(reqs)
	if a.dis != nil {
		a.dis.reqs += reqs
		a.dis.trips += trips
	}
}

// fetch reads the clock node and its permissions (READ and GET_PERMS in
// one write: one round trip), checks the record and takes it.
func (s *xsSource) fetch(ctx context.Context, a *Agent) bool {
	cctx, cancel := context.WithTimeout(ctx, xsTimeout)
	defer cancel()
	before, ok := a.readCounter() // the incarnation the read starts on
	if !ok {
		return false
	}
	val, ps, err := s.xs.ReadWithPerms(cctx, s.node)
	a.mu.Lock()
	a.countLocked(2, 1)
	a.lastFetch = time.Now()
	a.mu.Unlock()
	if err != nil {
		a.noRecordLog(err)
		return false
	}
	if s.unchanged(a, val, ps) {
		return false
	}
	rd, ok := a.readCounter()
	if !ok {
		return false
	}
	rec, err := a.hist.accept(val, ps, a.c, before.Identity, rd.Reading)
	if err != nil {
		a.mu.Lock()
		a.stats.Refused++
		// The same reason again (a retry while a disruption lasts) is
		// logged once a minute, a new reason at once.
		repeat := err.Error() == a.lastRefusal && time.Since(a.lastRefusalAt) < time.Minute
		if !repeat {
			a.lastRefusal, a.lastRefusalAt = err.Error(), time.Now()
		}
		a.mu.Unlock()
		a.metrics.refused()
		if !repeat {
			a.log.Warn("clock record refused; the page keeps the previous good record (its bounds grow with age)",
				zap.String("node", s.node), zap.Error(err))
		}
		return false
	}
	a.mu.Lock()
	a.noRecord = false
	_, known := a.hostNames[rec.HostID]
	moving := a.dis != nil
	a.mu.Unlock()
	a.take(rec, rd)
	s.taken, s.takenPerms = val, ps.Clone()
	if !known && !moving {
		go a.refreshNames(ctx)
	}
	return true
}

// unchanged: the node holds what was last taken, and nothing is being
// handled that must re-read it (a disruption, a held-back record). A
// second event for one record (its permissions set, then its value
// written) is no new record, and no refusal of a stale generation.
func (s *xsSource) unchanged(a *Agent, val []byte, ps xenstore.Perms) bool {
	a.mu.Lock()
	calm := a.dis == nil && a.waiting == nil
	a.mu.Unlock()
	return calm && s.taken != nil && bytes.Equal(val, s.taken) && slices.Equal(ps, s.takenPerms)
}

func (a *Agent) noRecordLog(err error) {
	a.mu.Lock()
	first := !a.noRecord
	a.noRecord = true
	a.mu.Unlock()
	if !first {
		return
	}
	if errors.Is(err, xenstore.ErrNotFound) {
		a.log.Info("no clock record in Xenstore (is dom0d running?); waiting for it", zap.String("node", a.cfg.ClockNode))
		return
	}
	a.log.Warn("clock record cannot be read from Xenstore", zap.String("node", a.cfg.ClockNode), zap.Error(err))
}

// readControl reads control/shutdown: "suspend" announces a save or
// migration (disruption imminent).
func (s *xsSource) readControl(ctx context.Context, a *Agent) {
	cctx, cancel := context.WithTimeout(ctx, xsTimeout)
	defer cancel()
	v, err := s.xs.Read(cctx, controlNode)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.countLocked(1, 1)
	if err != nil && !errors.Is(err, xenstore.ErrNotFound) {
		a.log.Debug("control node unreadable", zap.Error(err))
		return
	}
	suspend := strings.TrimSpace(string(v)) == "suspend"
	if suspend == a.flags.DisruptionImminent {
		return
	}
	a.flags.DisruptionImminent = suspend
	if suspend {
		a.log.Info("suspend requested: disruption imminent (readers see the flag; time still served)")
	}
	a.republishLocked()
}

// refreshNames learns the guest's name and the host's name (after serving,
// never on the way to it).
func (a *Agent) refreshNames(ctx context.Context) {
	xs := a.xs
	if xs == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, xsTimeout)
	defer cancel()
	guest := a.cfg.Name
	n := 0
	if guest == "" {
		n++
		if v, err := xs.Read(cctx, "name"); err == nil {
			guest = hostclock.SanitizeHostName(string(v))
		} else if d, err := xs.OwnDomid(cctx); err == nil {
			n++
			guest = "domain-" + strconv.FormatUint(uint64(d), 10)
		}
	}
	a.mu.Lock()
	host, ok := [16]byte{}, a.served != nil
	if ok {
		host = a.served.HostID
	}
	a.mu.Unlock()
	var hostName string
	if ok {
		n++
		if v, err := xs.Read(cctx, DefaultHostName); err == nil {
			hostName = hostclock.SanitizeHostName(string(v))
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Requests += uint64(n)
	if guest != "" {
		a.guest = guest
	}
	if hostName != "" {
		if len(a.hostNames) >= maxHosts {
			clear(a.hostNames)
		}
		a.hostNames[host] = hostName
	}
}
