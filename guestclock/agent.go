package guestclock

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/guestclock/report"
	"github.com/xenradclock/xenradclock/guestclock/sink"
	"github.com/xenradclock/xenradclock/xenstore"
)

// Options are the agent's collaborators; nil fields are made from Config.
type Options struct {
	Log      *zap.Logger
	Counter  counter.Counter  // nil: opened from Config.Counter
	Xenstore *xenstore.Client // nil: dialled from Config.Xenstore (unless "none")
	Sinks    []sink.Sink
	Version  string // the agent's version, for the report
}

// Stats are the agent's counters, for tests, metrics and status.
type Stats struct {
	Requests    uint64 // Xenstore requests the agent made
	Published   uint64 // page updates
	Refused     uint64 // records refused
	Disruptions uint64
	// RequestsToServe is how many Xenstore requests the last disruption
	// took between its start (or the reconnection, if later) and serving
	// again; ServeDelayNs how long since the reconnection (or start).
	RequestsToServe   int
	RoundTripsToServe int
	ServeDelayNs      int64
	LastMigration     *report.Migration
	LastVerdict       Verdict
}

// xsTimeout bounds every Xenstore call of the agent's loop.
const xsTimeout = 3 * time.Second

// Fast cadence while a disruption is announced or in progress: the old
// clock's last reading stays within 10 ms of the pause.
const fastTick = 10 * time.Millisecond

// Agent is the dependent clock of one guest. Run drives it; Stats may be
// called from any goroutine.
type Agent struct {
	cfg     Config
	log     *zap.Logger
	c       counter.Counter
	xs      *xenstore.Client
	page    *clockdata.Writer
	sinks   []sink.Sink
	mode    clockdata.Mode
	version string
	metrics *Metrics
	src     source
	ctx     context.Context

	mu          sync.Mutex
	hist        history
	served      *clockdata.Record // what the page promises (never a record published disrupted)
	flags       clockdata.PageFlags
	last        lastRead
	waiting     *clockdata.Record // a record that would have gone back, published disrupted
	waitSince   int64
	dis         *disruption
	stats       Stats
	counterErr  error
	ctlPending  bool
	guest       string
	hostNames   map[[16]byte]string
	reportDirty bool
	reporting   bool
	sinkFailing []bool
	// lastRefusal is the last refusal's reason, for rate-limiting its log.
	lastRefusal   string
	lastRefusalAt time.Time
	reportAt      time.Time
	lastFetch     time.Time
	noRecord      bool
	fedMono       int64 // CLOCK_MONOTONIC of the sinks' last sample
	ticks         uint64
	namesPending  bool // a migration's host names are being read
}

// lastRead is the last good read of the served record.
type lastRead struct {
	valid  bool
	rd     stamp
	p      promise
	growth uint32
}

// disruption is a migration, restore or reconnection being handled.
type disruption struct {
	cause      string
	startMono  int64
	fromMono   int64 // reconnection time once reconnected, else startMono
	lastOld    lastRead
	oldHost    [16]byte
	oldCounter uint64
	reqs       int
	trips      int
}

// New makes an agent from cfg. It opens the counter (failing, with the
// counter's reason, when it cannot be read: the agent refuses to serve
// time it cannot compose) and the page, and dials Xenstore.
func New(cfg Config, opt Options) (*Agent, error) {
	log := opt.Log
	if log == nil {
		log = zap.NewNop()
	}
	a := &Agent{cfg: cfg, log: log, c: opt.Counter, xs: opt.Xenstore, sinks: opt.Sinks, version: opt.Version,
		hostNames: map[[16]byte]string{}, guest: cfg.Name, mode: clockdata.ModeDependent,
		sinkFailing: make([]bool, len(opt.Sinks))}
	if a.version == "" {
		a.version = "dev"
	}
	if err := a.openCounter(); err != nil {
		markPageDisrupted(cfg.Page, log)
		return nil, err
	}
	if err := a.openPage(); err != nil {
		return nil, err
	}
	if err := a.openSource(); err != nil {
		a.page.Close()
		return nil, err
	}
	if a.cfg.Metrics != "" {
		a.metrics = newMetrics() // nil (every update a no-op) when off
	}
	return a, nil
}

func (a *Agent) openCounter() error {
	if a.c != nil {
		return nil
	}
	purpose := counter.Dependent
	if a.cfg.Mode == "independent" {
		purpose = counter.Independent
	}
	var err error
	if a.cfg.Counter == "auto" {
		a.c, err = counter.Detect(purpose)
	} else {
		a.c, err = counter.OpenFor(a.cfg.Counter, purpose)
	}
	if err != nil {
		return fmt.Errorf("refusing to serve time: cannot read the counter: %w", err)
	}
	if _, err := a.c.Read(); err != nil {
		return fmt.Errorf("refusing to serve time: counter %s cannot be read: %w", a.c.Name(), err)
	}
	return nil
}

// openPage opens the guest's page. A record already there (an earlier run)
// is what readers were promised: the guard keeps to it.
func (a *Agent) openPage() error {
	if p, err := clockdata.OpenPage(a.cfg.Page); err == nil {
		if r, f, _, err := p.RecordFlags(); err == nil && !f.Disrupted {
			a.served = &r
		}
		p.Close()
	}
	w, err := clockdata.CreatePage(a.cfg.Page)
	if err != nil {
		return err
	}
	a.page = w
	return nil
}

// markPageDisrupted tells the readers of an existing page that its record
// must not be used (the agent cannot read the counter).
func markPageDisrupted(path string, log *zap.Logger) {
	p, err := clockdata.OpenPage(path)
	if err != nil {
		return
	}
	r, f, _, err := p.RecordFlags()
	p.Close()
	if err != nil {
		return
	}
	w, err := clockdata.CreatePage(path)
	if err != nil {
		return
	}
	defer w.Close()
	f.Disrupted = true
	if err := w.PublishFlags(&r, f); err == nil {
		log.Warn("page marked disrupted: the counter cannot be read", zap.String("page", path))
	}
}

// Counter is the counter the agent reads.
func (a *Agent) Counter() counter.Counter { return a.c }

// Mode is the page mode the agent serves.
func (a *Agent) Mode() clockdata.Mode {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mode
}

// Stats returns a snapshot of the agent's counters.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	if m := s.LastMigration; m != nil {
		mc := *m
		s.LastMigration = &mc
	}
	return s
}

func (a *Agent) tickEvery() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.flags.DisruptionImminent || a.dis != nil || a.waiting != nil {
		return min(fastTick, a.cfg.Tick)
	}
	return a.cfg.Tick
}

// Run serves until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	a.ctx = ctx
	defer a.close()
	if err := a.src.start(ctx, a); err != nil {
		return err
	}
	if a.cfg.Metrics != "" {
		stop, err := a.metrics.serve(a.cfg.Metrics, a.log)
		if err != nil {
			return err
		}
		defer stop()
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-a.src.events():
			if !ok {
				if ctx.Err() != nil {
					return nil // shutdown closed the watches: not a failure
				}
				return a.src.err()
			}
			if a.handleFed(ctx, ev) {
				t.Reset(a.tickAfterFeed())
			}
		case <-t.C:
			a.onTick(ctx)
			t.Reset(a.tickEvery())
		}
	}
}

// tickSlack: after a taken record fed the sinks, the next tick waits a
// tick and an eighth, so a record a tick reaches the agent before its tick
// and the tick never wakes it (one wake a record, not two).
const tickSlack = 8

// handleFed handles ev and, when it fed the sinks (a record taken), writes
// the report in the same wake-up; it says whether it fed them.
func (a *Agent) handleFed(ctx context.Context, ev srcEvent) bool {
	a.mu.Lock()
	fed := a.fedMono
	a.mu.Unlock()
	a.src.handle(ctx, a, ev)
	a.mu.Lock()
	fed0, fed := fed, a.fedMono
	a.mu.Unlock()
	if fed == fed0 {
		return false
	}
	a.maybeReport(ctx)
	return true
}

// tickAfterFeed is the wait for the next tick after the sinks were fed:
// the tick's cadence and a slack, or the fast cadence while a disruption
// is announced or handled.
func (a *Agent) tickAfterFeed() time.Duration {
	d := a.tickEvery()
	if d < a.cfg.Tick {
		return d
	}
	return d + d/tickSlack
}

func (a *Agent) close() {
	a.src.stop()
	closeSinks(a.sinks)
	a.page.Close()
}

// stamp is one counter reading with the CLOCK_BOOTTIME instant it was
// taken at: the midpoint of two monotonic reads around it, WidthNs apart
// (a preempted read has a wide bracket; the guard counts the width).
type stamp struct {
	counter.Reading
	bootNs, widthNs int64
}

// readCounter reads the counter; a failure marks the page disrupted once
// and is logged with its reason.
func (a *Agent) readCounter() (stamp, bool) {
	m0 := bootNs()
	r, err := a.c.Read()
	m1 := bootNs()
	rd := stamp{Reading: r, bootNs: m0 + (m1-m0)/2, widthNs: m1 - m0}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		if a.counterErr == nil {
			a.log.Error("counter cannot be read: readers are told the clock is disrupted", zap.String("counter", a.c.Name()), zap.Error(err))
			a.counterErr = err
			a.flags.Disrupted = true
			a.republishLocked()
		}
		return rd, false
	}
	if a.counterErr != nil {
		a.log.Info("counter readable again", zap.String("counter", a.c.Name()))
		a.counterErr = nil
		a.flags.Disrupted = a.dis != nil || a.waiting != nil
		a.republishLocked()
	}
	return rd, true
}

// republishLocked writes the served record with the current flags.
func (a *Agent) republishLocked() {
	if a.served == nil {
		return
	}
	a.publishLocked(a.served)
}

func (a *Agent) publishLocked(r *clockdata.Record) {
	f := a.flags
	f.Mode = a.mode
	if err := a.page.PublishFlags(r, f); err != nil {
		a.log.Error("page not updated", zap.Error(err))
		return
	}
	a.stats.Published++
	a.reportDirty = true
}

// take publishes accepted record rec (read together with counter reading
// rd) through the never-backwards guard.
func (a *Agent) take(rec clockdata.Record, rd stamp) {
	mono := rd.bootNs
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hist.remember(&rec)
	prev := a.promiseLocked(rd)
	g, err := guard(prev, &rec, rd.Count)
	if err != nil {
		a.log.Error("guard failed; serving the record disrupted", zap.Error(err))
		g.Verdict = VerdictDisrupt
	}
	a.stats.LastVerdict = g.Verdict
	if g.Verdict == VerdictDisrupt {
		a.holdDisruptedLocked(rec, g, mono)
		if a.waiting != nil {
			return
		}
		g.Rec = rec // the hold limit passed: serve it
	} else if a.waiting != nil {
		a.log.Info("the new clock caught up with what readers were promised; serving it",
			zap.Float64("disrupted_ms", float64(mono-a.waitSince)/1e6), zap.Stringer("verdict", g.Verdict))
		a.waiting = nil
	}
	d := a.dis
	a.dis = nil
	if d != nil {
		a.flags.DisruptionImminent = false
	}
	a.flags.Disrupted = a.counterErr != nil
	a.served = &g.Rec
	a.publishLocked(&g.Rec)
	a.last = lastRead{valid: true, rd: rd, p: promiseAt(&g.Rec, rd.Count), growth: g.Rec.MaxErrorGrowthPsPerS}
	if g.Verdict == VerdictHold {
		a.log.Debug("holding: the new record would have moved time or its earliest bound back; slewing onto it",
			zap.Int64("step_ns", g.StepNs), zap.Uint64("generation", rec.Generation))
	}
	if d != nil {
		a.endDisruptionLocked(d, &g, prev, mono)
	}
	a.feedLocked(rd.Reading)
}

// holdDisruptedLocked publishes rec with the disrupted flag while serving it
// would move readers' time back, up to MaxDisruptedHold; it clears
// a.waiting when the limit has passed.
func (a *Agent) holdDisruptedLocked(rec clockdata.Record, g guardResult, mono int64) {
	if a.waiting == nil {
		a.waitSince = mono
		a.stats.Disruptions++
		a.log.Warn("the new clock is behind what readers were promised (intervals disjoint or too far to slew): readers are told \"disrupted\" until it catches up",
			zap.Int64("step_ns", g.StepNs), zap.String("host", a.hostNameLocked(rec.HostID)),
			zap.Duration("max_hold", a.cfg.MaxDisruptedHold))
	}
	if time.Duration(mono-a.waitSince) > a.cfg.MaxDisruptedHold {
		a.log.Error("serving a clock that went back: it did not catch up within max_disrupted_hold; its disruption marker tells caching readers",
			zap.Int64("step_ns", g.StepNs), zap.Duration("max_hold", a.cfg.MaxDisruptedHold))
		a.waiting = nil
		return
	}
	r := rec
	a.waiting = &r
	a.flags.Disrupted = true
	f := a.flags
	f.Mode = a.mode
	if err := a.page.PublishFlags(&rec, f); err != nil {
		a.log.Error("page not updated", zap.Error(err))
	}
	a.reportDirty = true
}

// promiseLocked is what the page promised at counter reading rd: the served
// record itself on the same timeline, else its last good read carried
// across the gap with CLOCK_BOOTTIME (bootNs). nil when nothing was promised.
func (a *Agent) promiseLocked(rd stamp) *promise {
	if a.served == nil {
		return nil
	}
	if a.served.CounterKind == a.c.Kind() && a.served.CounterIdentity == rd.Identity {
		p := promiseAt(a.served, rd.Count)
		return &p
	}
	if !a.last.valid {
		return nil
	}
	// Each reading is known to within half its bracket on CLOCK_BOOTTIME.
	p := a.last.p.extrapolate(rd.bootNs-a.last.rd.bootNs, a.last.growth)
	p.MaxErr = p.MaxErr.Add(bintime.FromNanos((rd.widthNs + a.last.rd.widthNs + 1) / 2))
	return &p
}

// startDisruptionLocked marks the page disrupted: its record no longer
// applies (the counter's timeline changed, or Xenstore reconnected).
func (a *Agent) startDisruptionLocked(cause string) {
	mono := bootNs()
	if a.dis != nil {
		return
	}
	d := &disruption{cause: cause, startMono: mono, fromMono: mono, lastOld: a.last}
	if a.served != nil {
		d.oldHost, d.oldCounter = a.served.HostID, a.served.CounterIdentity
	}
	a.dis = d
	a.stats.Disruptions++
	a.flags.Disrupted = true
	a.republishLocked()
	a.log.Info("disruption: the page says \"disrupted\" until the new clock is served", zap.String("cause", cause))
}

// endDisruptionLocked logs and exports what the disruption cost.
func (a *Agent) endDisruptionLocked(d *disruption, g *guardResult, prev *promise, mono int64) {
	a.stats.RequestsToServe, a.stats.RoundTripsToServe = d.reqs, d.trips
	a.stats.ServeDelayNs = mono - d.fromMono
	disruptedNs := mono - d.startMono
	moved := g.Rec.HostID != d.oldHost || g.Rec.CounterIdentity != d.oldCounter
	if !moved || !d.lastOld.valid || prev == nil {
		a.log.Info("disruption over: serving again", zap.String("cause", d.cause),
			zap.Float64("disrupted_ms", float64(disruptedNs)/1e6), zap.Int("xenstore_requests", d.reqs))
		return
	}
	kind := "migration"
	if g.Rec.HostID == d.oldHost {
		kind = "restore"
	}
	m := &report.Migration{FromHost: a.hostNameLocked(d.oldHost), ToHost: a.hostNameLocked(g.Rec.HostID),
		StepNs: g.StepNs, PauseNs: mono - d.lastOld.rd.bootNs, DisruptedNs: disruptedNs, AtUnixNs: time.Now().UnixNano(), Kind: kind}
	a.stats.LastMigration = m
	a.metrics.migration(m)
	fields := []zap.Field{zap.String("kind", kind), zap.Int64("step_ns", g.StepNs),
		zap.Uint64("step_bound_ns", ceilNs(prev.MaxErr.Add(g.In.MaxErr))), zap.Int64("pause_ns", m.PauseNs),
		zap.Uint64("old_max_error_ns", ceilNs(prev.MaxErr)), zap.Uint64("new_max_error_ns", ceilNs(g.In.MaxErr)),
		zap.Int("xenstore_requests", d.reqs), zap.Int("xenstore_round_trips", d.trips), zap.Stringer("verdict", g.Verdict)}
	oldHost, newHost := d.oldHost, g.Rec.HostID
	// The new host's name is read after serving, never on the way to it;
	// the report waits for it (namesPending), so its first report of the
	// migration names both hosts.
	a.namesPending = true
	go func() {
		a.refreshNames(a.ctx)
		a.mu.Lock()
		m.FromHost, m.ToHost = a.hostNameLocked(oldHost), a.hostNameLocked(newHost)
		line := fmt.Sprintf("migrated %s %s -> %s, disrupted for %.1f ms, step %.1f µs",
			a.guestLocked(), m.FromHost, m.ToHost, float64(m.DisruptedNs)/1e6, float64(m.StepNs)/1e3)
		a.reportDirty, a.namesPending = true, false
		a.mu.Unlock()
		a.log.Info(line, fields...)
		a.maybeReport(a.ctx)
	}()
}

func (a *Agent) guestLocked() string {
	if a.guest != "" {
		return a.guest
	}
	return "guest"
}

func (a *Agent) hostNameLocked(h [16]byte) string {
	if n, ok := a.hostNames[h]; ok {
		return n
	}
	return fmt.Sprintf("%x", h[:4])
}

// onTick samples the clock: it notices a counter timeline change, lets a
// held-back record catch up, marks staleness and feeds sinks and report.
func (a *Agent) onTick(ctx context.Context) {
	rd, ok := a.readCounter()
	if !ok {
		return
	}
	a.mu.Lock()
	a.ticks++
	if a.served != nil && a.served.CounterIdentity != rd.Identity && a.dis == nil {
		a.startDisruptionLocked("counter timeline changed (migration or restore)")
	}
	waiting, dis := a.waiting, a.dis
	if dis == nil && a.served != nil {
		a.last = lastRead{valid: true, rd: rd, p: promiseAt(a.served, rd.Count), growth: a.served.MaxErrorGrowthPsPerS}
		a.markStaleLocked(rd.Reading)
	}
	a.feedLocked(rd.Reading)
	a.mu.Unlock()
	if waiting != nil && dis == nil {
		a.take(*waiting, rd)
	}
	a.src.poll(ctx, a)
	a.maybeReport(ctx)
}

// markStaleLocked: once the record is late the served state is free-running
// (the bounds grow with age); void follows from the record's horizon.
func (a *Agent) markStaleLocked(rd counter.Reading) {
	if a.served.Age(rd.Count) != clockdata.ReadFresh && a.served.State == clockdata.StateSynchronised {
		r := *a.served
		r.State = clockdata.StateFreeRunning
		a.served = &r
		a.publishLocked(&r)
		from := "Dom0"
		if a.mode == clockdata.ModeIndependent {
			from = "the guest's own NTP estimator (independent mode)"
		}
		a.log.Warn("no new record from "+from+": the clock is free-running, its bounds grow with age",
			zap.Uint64("generation", r.Generation))
	}
}
