package guestclock

import (
	"context"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/hostclock"
)

// indepSource is independent mode's source: dom0d's own engine (NTP
// exchanges, per-server estimators, selection, record builder) run inside
// the agent on the guest's counter, publishing to a private page that the
// agent republishes, through the same guard, as mode independent.
type indepSource struct {
	d       *hostclock.Daemon
	path    string
	page    *clockdata.Page
	lastSeq uint64
	log     *zap.Logger
	wg      sync.WaitGroup
	cancel  context.CancelFunc
	runErr  error
}

func newIndepSource(cfg Config, c counter.Counter, log *zap.Logger) (*indepSource, error) {
	if len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("independent mode needs at least one NTP server (server = HOST[:PORT])")
	}
	hc := hostclock.Default()
	hc.Counter, hc.Page, hc.Xenstore, hc.Status, hc.State = c.Name(), cfg.IndepPagePath(), "none", "", ""
	hc.Servers = nil
	for _, s := range cfg.Servers {
		if err := hc.Set("server", s); err != nil {
			return nil, fmt.Errorf("independent mode: server %q: %w", s, err)
		}
	}
	if err := hc.Set("poll", cfg.Poll.String()); err != nil {
		return nil, fmt.Errorf("independent mode: %w", err)
	}
	d, err := hostclock.New(hc, hostclock.Options{Log: log.Named("estimator"), Counter: c})
	if err != nil {
		return nil, fmt.Errorf("independent mode: %w", err)
	}
	return &indepSource{d: d, path: cfg.IndepPagePath(), log: log}, nil
}

func (s *indepSource) start(ctx context.Context, a *Agent) error {
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runErr = s.d.Run(ctx)
	}()
	a.log.Info("independent mode: running NTP and the estimator on this guest's counter", zap.String("counter", a.c.Name()))
	return nil
}

func (s *indepSource) events() <-chan srcEvent                  { return nil }
func (s *indepSource) handle(context.Context, *Agent, srcEvent) {}
func (s *indepSource) err() error                               { return s.runErr }

// poll takes the estimator's newest record, if any.
func (s *indepSource) poll(_ context.Context, a *Agent) {
	if s.page == nil {
		p, err := clockdata.OpenPage(s.path)
		if err != nil {
			return
		}
		s.page = p
	}
	r, _, seq, err := s.page.RecordFlags()
	if err != nil || seq == s.lastSeq {
		return
	}
	s.lastSeq = seq
	rd, ok := a.readCounter()
	if !ok {
		return
	}
	if r.CounterKind != a.c.Kind() || r.CounterIdentity != rd.Identity {
		a.log.Warn("independent estimator's record is not on this counter's timeline", zap.Uint64("generation", r.Generation))
		return
	}
	a.take(r, rd)
}

func (s *indepSource) stop() {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	if s.page != nil {
		s.page.Close()
	}
}
