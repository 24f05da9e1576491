package hostclock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/ntp"
	"github.com/xenradclock/xenradclock/trace"
	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

// statusEvery is how often the status file is rewritten when nothing
// happens (it shows the age of the last stamps).
const statusEvery = 5 * time.Second

// DefaultEmbeddedSocket is where `xenstore = embedded` listens, so Debian's
// xenstore-* tools reach it with XENSTORED_PATH.
const DefaultEmbeddedSocket = "/run/xenradclock/xenstored.socket"

// Options are the parts of a daemon a caller may supply instead of having
// them made from the configuration (the demo and the tests do).
type Options struct {
	Log     *zap.Logger
	Counter counter.Counter // nil: opened by cfg.Counter
	// Xenstore, when set, is used instead of what cfg.Xenstore names.
	Xenstore *xenstore.Client
	// EmbeddedSocket is the socket of `xenstore = embedded`
	// (DefaultEmbeddedSocket when empty).
	EmbeddedSocket string
	Factory        EstimatorFactory // nil: the clocksync estimator
	Metrics        *Metrics         // nil: a fresh registry
	// BurstInterval spaces the initial burst (default: 2 s, or the poll
	// period when shorter); tests shorten it.
	BurstInterval time.Duration
	// Tick is how often starvation, the status file and the periodic state
	// save are looked at (default 1 s).
	Tick time.Duration
	// SystemClock is the system clock as a prior for the first step
	// (default KernelClock; NoSystemClock never uses it).
	SystemClock SystemClock
}

// Daemon is dom0d's running state.
type Daemon struct {
	log     *zap.Logger
	opt     Options
	counter counter.Counter
	// hz is the counter's nominal frequency as this daemon uses it: the
	// counter's own, or the restored state's when the counter calibrates
	// its nominal at each start (tsc) and the two agree within 0.1%, so
	// estimators and records carry on unchanged across a restart.
	hz      float64
	metrics *Metrics

	mu  sync.Mutex
	cfg Config

	engine   *Engine
	pub      *RecordPublisher
	page     *clockdata.Writer
	xs       *XenstoreSink
	xsClient *xenstore.Client
	xsOwned  bool // dom0d dialled it and closes it
	xsd      *xsd.Server
	xsDesc   string
	metricsS *MetricsServer
	ntpSrv   *ntp.Server
	rec      *trace.FileWriter
	restore  string
	prior    *clockdata.Record // the state file's last record

	events  chan sourceEvent
	reload  chan Config
	pollers map[string]*poller
	// failing is each server's failure (serverFailure) last logged; a
	// server is absent while it answers. Only the event loop touches it.
	failing map[string]ntp.Reason
}

// New prepares a daemon: it opens the counter, the page, Xenstore, the
// metrics and NTP listeners and reads the state file. Run starts it.
func New(cfg Config, opt Options) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt.Log == nil {
		opt.Log = zap.NewNop()
	}
	if opt.Tick <= 0 {
		opt.Tick = time.Second
	}
	if opt.EmbeddedSocket == "" {
		opt.EmbeddedSocket = DefaultEmbeddedSocket
	}
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics()
	}
	if opt.Factory == nil {
		opt.Factory = &ClocksyncFactory{}
	}
	if opt.SystemClock == nil {
		opt.SystemClock = KernelClock
	}
	d := &Daemon{log: opt.Log, opt: opt, cfg: cfg, metrics: opt.Metrics,
		events: make(chan sourceEvent, 64), reload: make(chan Config, 1), pollers: map[string]*poller{}}
	ok := false
	defer func() {
		if !ok {
			d.close()
		}
	}()
	if err := d.openCounter(); err != nil {
		return nil, err
	}
	if cfg.Page != "" {
		pw, err := clockdata.CreatePage(cfg.Page)
		if err != nil {
			return nil, err
		}
		d.page = pw
	}
	if err := d.openXenstore(); err != nil {
		return nil, err
	}
	if err := d.checkGuestsCanRead(); err != nil {
		return nil, err
	}
	d.hz = d.counter.NominalHz()
	saved, prev, err := d.loadState()
	if err != nil {
		return nil, err
	}
	if saved != nil {
		d.hz = saved.CounterHz
	}
	d.prior = prev
	m := d.metrics
	if fs, ok := d.opt.Factory.(interface{ SetCounterHz(float64) }); ok {
		fs.SetCounterHz(d.hz)
	}
	pub, err := NewRecordPublisher(d.counter, d.hz, d.page, d.xs, prev, m, d.log)
	if err != nil {
		return nil, err
	}
	d.pub = pub
	eng, err := NewEngine(d.engineConfig(cfg), d.opt.Factory, pub, m, saved)
	if err != nil {
		return nil, err
	}
	d.engine = eng
	if r := eng.Restored(); r != "" {
		d.restore = r
		d.log.Info("estimators from the state file", zap.String("result", r))
	}
	if cfg.Metrics != "" {
		ms, err := ServeMetrics(cfg.Metrics, m)
		if err != nil {
			return nil, err
		}
		d.metricsS = ms
	}
	if cfg.ServeNTP != "" {
		srv, err := ntp.NewServer(ntp.ServerConfig{Addr: cfg.ServeNTP, Time: d.servedTime, RateLimit: cfg.ServeNTPRateLimit})
		if err != nil {
			return nil, err
		}
		d.ntpSrv = srv
	}
	if cfg.Record != "" {
		if err := d.openRecord(); err != nil {
			return nil, err
		}
	}
	ok = true
	return d, nil
}

func (d *Daemon) openCounter() error {
	if d.opt.Counter != nil {
		d.counter = d.opt.Counter
		return nil
	}
	var c counter.Counter
	var err error
	switch d.cfg.Counter {
	case "auto":
		c, err = counter.Detect(counter.Dependent)
	case "monotonic-raw":
		// A plain clock daemon for this OS's own processes (no guests):
		// the page is read on the same timeline. checkGuestsCanRead
		// refuses it once Xenstore would carry the record to guests.
		c, err = counter.OpenFor(d.cfg.Counter, counter.Independent)
	default:
		c, err = counter.OpenFor(d.cfg.Counter, counter.Dependent)
	}
	if err != nil {
		return fmt.Errorf("counter: %w", err)
	}
	d.counter = c
	d.log.Info("counter opened", zap.String("counter", c.Name()), zap.Float64("nominal_hz", c.NominalHz()))
	return nil
}

// checkGuestsCanRead refuses a record published to guests over a counter
// only this OS can read (monotonic-raw: each domain has its own).
func (d *Daemon) checkGuestsCanRead() error {
	if d.xs == nil || counter.CheckPurpose(d.counter, counter.Dependent) == nil {
		return nil
	}
	return fmt.Errorf("counter %s: its timeline is this OS's own, so guests reading %s could not use the clock: publish to the shared page only (xenstore = none) or choose a counter guests share (auto)",
		d.counter.Name(), d.xsDesc)
}

func (d *Daemon) openXenstore() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opts := []xenstore.Option{xenstore.WithLogger(d.log.Named("xenstore"))}
	var c *xenstore.Client
	var err error
	switch mode := d.cfg.Xenstore; {
	case d.opt.Xenstore != nil:
		c, d.xsDesc = d.opt.Xenstore, "given"
	case mode == "none":
		d.xsDesc = "none"
		return nil
	case mode == "embedded":
		srv, err := xsd.New(xsd.Config{Logger: d.log.Named("xsd")})
		if err != nil {
			return fmt.Errorf("embedded xenstore: %w", err)
		}
		d.xsd = srv
		if err := os.MkdirAll(filepath.Dir(d.opt.EmbeddedSocket), 0o755); err != nil {
			return fmt.Errorf("embedded xenstore: %w", err)
		}
		_ = os.Remove(d.opt.EmbeddedSocket)
		if err := srv.Listen(d.opt.EmbeddedSocket); err != nil {
			return fmt.Errorf("embedded xenstore: %w", err)
		}
		c, err = xenstore.DialSocket(ctx, d.opt.EmbeddedSocket, opts...)
		if err != nil {
			return err
		}
		d.xsOwned, d.xsDesc = true, "embedded "+d.opt.EmbeddedSocket
	case mode == "auto":
		c, err = xenstore.Dial(ctx, opts...)
		if err != nil {
			d.log.Info("no Xenstore found: publishing to the shared page only", zap.Error(err))
			d.xsDesc = "none (auto: no xenstored)"
			return nil
		}
		d.xsOwned, d.xsDesc = true, c.Target()
	default:
		c, err = xenstore.DialSocket(ctx, mode, opts...)
		if err != nil {
			return err
		}
		d.xsOwned, d.xsDesc = true, mode
	}
	d.xsClient = c
	d.xs = NewXenstoreSink(c, d.cfg.XenstorePath, d.log.Named("xenstore"))
	d.xs.HostName = d.cfg.HostName
	if d.xs.HostName == "" {
		d.xs.HostName = DefaultHostName()
	}
	d.xs.OnError = func(error) { d.metrics.PublishError("xenstore") }
	return nil
}

func (d *Daemon) openRecord() error {
	// A restarted daemon continues its trace (trace.CreateOrAppend drops a
	// line cut by a crash and refuses to mix counters).
	h := trace.Header{Format: trace.FormatXenradclock, CounterHz: d.hz,
		Counter: d.counter.Name(), PollPeriod: d.cfg.Poll.Seconds(), SideColumns: true}
	w, err := trace.CreateOrAppend(d.cfg.Record, h)
	if err != nil {
		// An existing trace of another counter or frequency (a new boot
		// calibrated the TSC differently) cannot be continued: keep it
		// under a new name and start a new one, rather than not run.
		if _, serr := os.Stat(d.cfg.Record); serr != nil {
			return fmt.Errorf("record: %w", err)
		}
		old := d.cfg.Record + "." + time.Now().UTC().Format("20060102T150405")
		if rerr := os.Rename(d.cfg.Record, old); rerr != nil {
			return fmt.Errorf("record: %w (and moving the old trace away: %v)", err, rerr)
		}
		d.log.Warn("record: the existing trace cannot be continued; moved away", zap.String("old", old), zap.Error(err))
		if w, err = trace.CreateOrAppend(d.cfg.Record, h); err != nil {
			return fmt.Errorf("record: %w", err)
		}
	}
	if w.Dropped > 0 {
		d.log.Warn("record: dropped a cut-off last line", zap.String("record", d.cfg.Record), zap.Int64("bytes", w.Dropped))
	}
	d.rec = w
	return nil
}

func (d *Daemon) engineConfig(cfg Config) EngineConfig {
	ec := EngineConfig{
		Select:     SelectConfig{MinStamps: cfg.SelectStamps, Hold: cfg.Hold(), Gain: cfg.SelectGain, RelAsymBound: cfg.RelAsymBound},
		CounterHz:  d.hz,
		MinSources: cfg.MinSources,
		Log:        d.log.Named("select"),
		StepCheck:  d.checkInitialStep,
	}
	for _, s := range cfg.Servers {
		s.Poll = cfg.PollOf(s)
		s.Burst = cfg.BurstOf(s)
		ec.Servers = append(ec.Servers, s)
	}
	return ec
}

// loadState reads the state file; any problem with its contents is a
// warning and a fresh start (the first record then gets a new disruption
// marker). Something other than a regular file at the path (a FIFO, a
// device, a directory) is an error: the daemon would later rename its state
// over it.
func (d *Daemon) loadState() (*State, *clockdata.Record, error) {
	if d.cfg.State == "" {
		d.restore = "disabled"
		return nil, nil, nil
	}
	st, err := LoadState(d.cfg.State)
	if errors.Is(err, ErrNotRegular) {
		return nil, nil, fmt.Errorf("state file (config key state): %w", err)
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			d.restore = "no state file"
			d.log.Info("no state file: starting afresh", zap.String("state", d.cfg.State))
		} else {
			d.restore = "ignored: " + err.Error()
			d.log.Warn("state file ignored: starting afresh with a new disruption marker", zap.String("state", d.cfg.State), zap.Error(err))
		}
		return nil, nil, nil
	}
	rd, err := d.counter.Read()
	if err != nil {
		d.restore = "ignored: " + err.Error()
		return nil, nil, nil
	}
	if err := st.Usable(StateCheck{Counter: d.counter.Name(), CounterIdentity: rd.Identity, CounterHz: d.counter.NominalHz(),
		Count: rd.Count, MaxAge: d.cfg.StateMaxAge}); err != nil {
		d.restore = "ignored: " + err.Error()
		d.log.Warn("state file ignored: starting afresh with a new disruption marker", zap.String("state", d.cfg.State), zap.Error(err))
		return nil, nil, nil
	}
	var prev *clockdata.Record
	if st.Record != "" {
		r, err := clockdata.ParseText(st.Record)
		if err != nil {
			d.log.Warn("state file: last record unreadable; the next record gets a new disruption marker", zap.Error(err))
		} else {
			prev = &r
		}
	}
	d.log.Info("state restored", zap.String("state", d.cfg.State), zap.Int("servers", len(st.Servers)))
	return st, prev, nil
}

// SaveState writes the state file now.
func (d *Daemon) SaveState() error {
	d.mu.Lock()
	path := d.cfg.State
	d.mu.Unlock()
	if path == "" {
		return nil
	}
	rd, err := d.counter.Read()
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	st := &State{SavedUnixNano: time.Now().UnixNano(), SavedCount: rd.Count, Counter: d.counter.Name(),
		CounterKind: uint16(d.counter.Kind()), CounterHz: d.hz, CounterIdentity: rd.Identity}
	if last := d.pub.Last(); last != nil {
		text, err := last.MarshalText()
		if err == nil {
			st.Record = string(text)
			st.Disruption = last.DisruptionMarker
			st.Generation = last.Generation
		}
	}
	if err := d.engine.SaveTo(st); err != nil {
		return err
	}
	return SaveState(path, st)
}

// Engine is the daemon's engine (status, tests).
func (d *Daemon) Engine() *Engine { return d.engine }

// Publisher is the daemon's record publisher.
func (d *Daemon) Publisher() *RecordPublisher { return d.pub }

// Counter is the counter the daemon stamps with.
func (d *Daemon) Counter() counter.Counter { return d.counter }

// MetricsAddr is the bound metrics address ("" when off).
func (d *Daemon) MetricsAddr() string {
	if d.metricsS == nil {
		return ""
	}
	return d.metricsS.Addr()
}

// NTPAddr is the bound address of the NTP service for guests ("" when off).
func (d *Daemon) NTPAddr() string {
	if d.ntpSrv == nil {
		return ""
	}
	return d.ntpSrv.Addr().String()
}

// Reload applies a new configuration while running (SIGHUP). Servers,
// poll, selection tuning, state and status paths change in place; the
// counter, page, Xenstore, metrics, NTP service and record file are set at
// start and need a restart (a warning says so).
func (d *Daemon) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	select {
	case d.reload <- cfg:
	default:
		// A reload is pending: replace it with the newest.
		select {
		case <-d.reload:
		default:
		}
		d.reload <- cfg
	}
	return nil
}

// Run runs until ctx is done, then stops the pollers, saves the state and
// closes everything. It returns nil after a clean stop.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.close()
	if d.ntpSrv != nil {
		go func() {
			if err := d.ntpSrv.Serve(ctx); err != nil {
				d.log.Error("ntp service stopped", zap.Error(err))
			}
		}()
	}
	pollCtx, stopPolls := context.WithCancel(context.Background())
	d.startPollers(pollCtx)
	tick := time.NewTicker(d.opt.Tick)
	defer tick.Stop()
	lastSave, lastStatus := time.Now(), time.Now()
	d.writeStatus()
	for {
		select {
		case <-ctx.Done():
			stopPolls()
			d.stopAllPollers()
			if err := d.SaveState(); err != nil {
				d.log.Error("state not saved at exit", zap.Error(err))
			} else if d.cfg.State != "" {
				d.log.Info("state saved", zap.String("state", d.cfg.State))
			}
			d.writeStatus()
			return nil
		case ev := <-d.events:
			d.handle(ev)
			d.writeStatus()
		case cfg := <-d.reload:
			d.applyReload(pollCtx, cfg)
			d.writeStatus()
		case <-tick.C:
			if rd, err := d.counter.Read(); err == nil {
				if err := d.engine.Tick(rd.Count); err != nil {
					d.log.Warn("publication failed", zap.Error(err))
				}
			}
			// Events rewrite the status; between them it only ages.
			if time.Since(lastStatus) >= statusEvery {
				lastStatus = time.Now()
				d.writeStatus()
			}
			if d.cfg.State != "" && time.Since(lastSave) >= d.cfg.StateInterval {
				lastSave = time.Now()
				if err := d.SaveState(); err != nil {
					d.log.Warn("periodic state save failed", zap.Error(err))
				}
			}
		}
	}
}

func (d *Daemon) handle(ev sourceEvent) {
	if rd, err := d.counter.Read(); err == nil {
		ev.now = rd.Count
	}
	d.noteReach(ev)
	if ev.Sample != nil {
		st := ev.Sample.Stamp
		st.Side.Server = ev.Name
		if ev.now < st.Tf {
			ev.now = st.Tf
		}
		if d.rec != nil {
			if err := d.rec.Write(st); err != nil {
				d.log.Warn("record write failed", zap.Error(err))
			}
		}
		if err := d.engine.Stamp(ev.Name, st, ev.now); err != nil {
			d.log.Warn("publication failed", zap.String("server", ev.Name), zap.Error(err))
		}
		d.log.Debug("stamp", zap.String("server", ev.Name), zap.Uint64("ta", st.Ta), zap.Uint64("tf", st.Tf),
			zap.String("ta_method", ev.Sample.TaMethod.String()), zap.String("tf_method", ev.Sample.TfMethod.String()))
		return
	}
	if ev.Reject == nil {
		return
	}
	r := ev.Reject
	fatal := !ev.Dropped && (r.Reason == ntp.ReasonKoDDeny || r.Reason == ntp.ReasonKoDRstr)
	if err := d.engine.Reject(ev.Name, r.Reason.String(), fatal, ev.now); err != nil {
		d.log.Warn("publication failed", zap.Error(err))
	}
	lvl := d.log.Debug
	if fatal {
		lvl = d.log.Warn
	}
	lvl("exchange rejected", zap.String("server", ev.Name), zap.String("reason", r.Reason.String()),
		zap.String("detail", r.Error()), zap.Bool("dropped_packet", ev.Dropped), zap.Bool("server_unusable", fatal))
}

// noteReach logs, once per server and change, that a server stopped
// answering (at Warn, with the reason) or answers again: a daemon whose
// servers all fail must say so at the default level, not once per poll.
func (d *Daemon) noteReach(ev sourceEvent) {
	if d.failing == nil {
		d.failing = map[string]ntp.Reason{}
	}
	last, wasFailing := d.failing[ev.Name]
	switch {
	case ev.Sample != nil && wasFailing:
		delete(d.failing, ev.Name)
		d.log.Info("server answers again", zap.String("server", ev.Name), zap.String("after", last.String()))
	case ev.Reject == nil || ev.Dropped:
	case serverFailure(ev.Reject.Reason):
		if wasFailing && last == ev.Reject.Reason {
			return
		}
		d.failing[ev.Name] = ev.Reject.Reason
		d.log.Warn("server not answering", zap.String("server", ev.Name), zap.String("reason", ev.Reject.Reason.String()),
			zap.String("detail", ev.Reject.Error()))
	}
}

// serverFailure: the exchange says the server is not serving us (not a
// stray or damaged packet, which the next exchange may well not see).
func serverFailure(r ntp.Reason) bool {
	switch r {
	case ntp.ReasonTimeout, ntp.ReasonNetwork, ntp.ReasonResolve, ntp.ReasonUnsynchronised, ntp.ReasonStratum:
		return true
	}
	return false
}

func (d *Daemon) applyReload(pollCtx context.Context, cfg Config) {
	d.mu.Lock()
	old := d.cfg
	d.mu.Unlock()
	for _, k := range []struct{ name, a, b string }{
		{"counter", old.Counter, cfg.Counter}, {"page", old.Page, cfg.Page}, {"xenstore", old.Xenstore, cfg.Xenstore},
		{"xenstore_path", old.XenstorePath, cfg.XenstorePath}, {"metrics", old.Metrics, cfg.Metrics},
		{"serve_ntp", old.ServeNTP, cfg.ServeNTP}, {"record", old.Record, cfg.Record},
		{"serve_ntp_ratelimit", fmtRateLimit(old.ServeNTPRateLimit), fmtRateLimit(cfg.ServeNTPRateLimit)},
	} {
		if k.a != k.b {
			d.log.Warn("reload: this key only changes at restart", zap.String("key", k.name), zap.String("running", k.a), zap.String("configured", k.b))
		}
	}
	keep := Config(cfg)
	keep.Counter, keep.Page, keep.Xenstore, keep.XenstorePath = old.Counter, old.Page, old.Xenstore, old.XenstorePath
	keep.Metrics, keep.ServeNTP, keep.Record = old.Metrics, old.ServeNTP, old.Record
	keep.ServeNTPRateLimit = old.ServeNTPRateLimit
	if err := d.engine.Reconfigure(d.engineConfig(keep)); err != nil {
		d.log.Error("reload failed; keeping the running configuration", zap.Error(err))
		return
	}
	d.mu.Lock()
	d.cfg = keep
	d.mu.Unlock()
	// Servers that stay keep their sources (no new burst, which a public
	// server may answer with RATE); a changed poll applies in place; a
	// changed burst restarts the source; new servers start, removed ones
	// stop.
	want := map[string]ServerConfig{}
	for _, sc := range d.engineConfig(keep).Servers {
		want[sc.Address] = sc
	}
	var stop []string
	for name, p := range d.pollers {
		sc, ok := want[name]
		if !ok || sc.Burst != p.cfg.Burst {
			stop = append(stop, name)
		}
	}
	d.stopPollers(stop...)
	for name, sc := range want {
		if p, ok := d.pollers[name]; ok {
			if sc.Poll != p.cfg.Poll {
				if err := p.src.SetPoll(sc.Poll); err != nil {
					d.log.Warn("reload: poll not changed", zap.String("server", name), zap.Error(err))
				}
				p.cfg.Poll = sc.Poll
			}
			continue
		}
		d.startPoller(pollCtx, sc)
	}
	d.log.Info("configuration reloaded", zap.Int("servers", len(keep.Servers)))
}

func fmtRateLimit(rl *ntp.RateLimit) string {
	if rl == nil {
		return "off"
	}
	return fmt.Sprintf("interval=%v burst=%d kod=%v", rl.Interval, rl.Burst, rl.KoD)
}

// poller is one server's running source.
type poller struct {
	cfg    ServerConfig
	src    *ntp.Source
	cancel context.CancelFunc
	done   chan struct{}
}

func (d *Daemon) startPollers(parent context.Context) {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	for _, s := range d.engineConfig(cfg).Servers {
		d.startPoller(parent, s)
	}
}

func (d *Daemon) startPoller(parent context.Context, sc ServerConfig) {
	bi := min(ntp.DefaultBurstInterval, sc.Poll)
	if d.opt.BurstInterval > 0 {
		bi = d.opt.BurstInterval
	}
	src, err := ntp.NewSource(ntp.SourceConfig{
		Server: sc.Address, Poll: sc.Poll, Burst: sc.Burst, NoBurst: sc.Burst == 0, BurstInterval: bi,
		Client: ntp.ClientConfig{Counter: d.counter, Name: sc.Address},
	})
	if err != nil {
		d.log.Error("server not polled", zap.String("server", sc.Address), zap.Error(err))
		return
	}
	ctx, cancel := context.WithCancel(parent)
	p := &poller{cfg: sc, src: src, cancel: cancel, done: make(chan struct{})}
	d.pollers[sc.Address] = p
	go func() {
		defer close(p.done)
		d.poll(ctx, sc, src)
	}()
}

// stopAllPollers stops every poller.
func (d *Daemon) stopAllPollers() {
	names := make([]string, 0, len(d.pollers))
	for name := range d.pollers {
		names = append(names, name)
	}
	d.stopPollers(names...)
}

// stopPollers stops the named pollers, handling the events they still
// deliver meanwhile.
func (d *Daemon) stopPollers(names ...string) {
	var dones []chan struct{}
	for _, name := range names {
		if p, ok := d.pollers[name]; ok {
			p.cancel()
			dones = append(dones, p.done)
			delete(d.pollers, name)
		}
	}
	for _, done := range dones {
	wait:
		for {
			select {
			case <-done:
				break wait
			case ev := <-d.events:
				d.handle(ev)
			}
		}
	}
}

// ServerParams is each server's current estimate, by address (see
// Engine.ServerParams).
func (d *Daemon) ServerParams() map[string]clocksync.Params { return d.engine.ServerParams() }

// Status is the daemon's status document now.
func (d *Daemon) Status() *StatusDoc {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	doc := &StatusDoc{PID: os.Getpid(), UpdatedAt: time.Now().UTC().Format(time.RFC3339), Counter: d.counter.Name(),
		CounterHz: d.hz, Xenstore: d.xsDesc, Page: cfg.Page, StateFile: cfg.State, StateRestore: d.restore}
	if cfg.Xenstore != "none" && d.xs != nil {
		doc.XenstorePath = d.xs.Path()
	}
	if rd, err := d.counter.Read(); err == nil {
		doc.CounterIdentity = rd.Identity
	}
	d.engine.Snapshot(doc)
	if last := d.pub.Last(); last != nil {
		doc.Clock.Disruption = last.DisruptionMarker
		doc.Clock.State = last.State.String()
		doc.Clock.ErrorBound = float64(last.ErrorBoundNs) * 1e-9
		doc.Clock.MaxError = float64(last.MaxErrorNs) * 1e-9
		doc.Clock.Time = last.RefTime.Format9()
		doc.Clock.RefCount = last.RefCount
	} else {
		doc.Clock.State = clockdata.StateUnsynchronised.String()
	}
	return doc
}

func (d *Daemon) writeStatus() {
	if d.cfg.Status == "" {
		return
	}
	if err := WriteStatus(d.cfg.Status, d.Status()); err != nil {
		d.metrics.PublishError("status")
		d.log.Debug("status file not written", zap.Error(err))
	}
}

// servedTime is the NTP service's clock: the published record read at the
// counter now, with the preferred server's stratum and a root distance
// equal to the guaranteed bound.
func (d *Daemon) servedTime() ntp.ServerReading {
	last := d.pub.Last()
	rd, err := d.counter.Read()
	if last == nil || err != nil {
		return ntp.ServerReading{}
	}
	n := last.Read(d.counter.Kind(), rd)
	if !n.Status.HasTime() {
		return ntp.ServerReading{}
	}
	r := ntp.ServerReading{Time: n.Time, RefTime: last.RefTime, MaxError: time.Duration(n.MaxErrorNs)}
	// Warm-up (fast start), starving and free-running clocks are served:
	// their root dispersion carries the wider bound. A guess (unsynchronised),
	// a server fault or a void record is not.
	switch last.State {
	case clockdata.StateWarmUp, clockdata.StateSynchronised, clockdata.StateStarving, clockdata.StateFreeRunning:
		r.Synced = n.Status == clockdata.ReadFresh || n.Status == clockdata.ReadLate
	}
	if side, minRTT, ok := d.engine.PreferredSide(); ok {
		r.UpstreamStratum = side.Stratum
		r.RootDelay = time.Duration(side.RootDelay) + time.Duration(minRTT*1e9)
		r.RefID = refIDOf(side.Server)
		r.Leap = side.Leap
		if r.Leap == 3 {
			r.Leap = 0
		}
	}
	return r
}

func (d *Daemon) close() {
	if d.xs != nil {
		// Let the last record reach Xenstore before leaving.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = d.xs.Sync(ctx)
		cancel()
		d.xs.Close()
	}
	if d.xsClient != nil && d.xsOwned {
		d.xsClient.Close()
	}
	if d.xsd != nil {
		d.xsd.Close()
		_ = os.Remove(d.opt.EmbeddedSocket)
	}
	if d.page != nil {
		d.page.Close()
	}
	if d.metricsS != nil {
		d.metricsS.Close()
	}
	if d.ntpSrv != nil {
		d.ntpSrv.Close()
	}
	if d.rec != nil {
		d.rec.Close()
	}
}
