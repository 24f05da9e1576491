package guestclock

import (
	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/guestclock/report"
	"github.com/xenradclock/xenradclock/guestclock/sink"
	"github.com/xenradclock/xenradclock/hostclock"
	"github.com/xenradclock/xenradclock/internal/promtext"
)

// Metrics are the agent's Prometheus metrics (docs/domu-agent.md lists
// them), in the agent's own registry. A nil *Metrics (metrics off)
// ignores every update.
type Metrics struct {
	reg         *promtext.Registry
	maxError    *promtext.Value
	errorBound  *promtext.Value
	usable      *promtext.Value
	generation  *promtext.Value
	refusedN    *promtext.Value
	migrations  *promtext.Value
	stepNs      *promtext.Value
	pauseNs     *promtext.Value
	disruptedNs *promtext.Value
}

func newMetrics() *Metrics {
	r := promtext.New()
	g := func(name, help string) *promtext.Value { return r.Gauge("xenradclock_agent_"+name, help) }
	c := func(name, help string) *promtext.Value { return r.Counter("xenradclock_agent_"+name, help) }
	r.AddRuntime()
	return &Metrics{reg: r,
		maxError:    g("max_error_seconds", "Guaranteed error bound of the served clock at the last sample, s."),
		errorBound:  g("error_bound_seconds", "Statistical error bound of the served clock at the last sample, s."),
		usable:      g("usable", "1 when readers get a usable time (fresh or late, not disrupted), else 0."),
		generation:  g("generation", "Generation of the record served."),
		refusedN:    c("records_refused_total", "Records from Xenstore refused (permissions, identity, generation, sanity)."),
		migrations:  c("migrations_total", "Migrations and restores handled."),
		stepNs:      g("last_migration_step_seconds", "New host's clock minus the old host's extrapolated across the last pause, s."),
		pauseNs:     g("last_migration_pause_seconds", "CLOCK_BOOTTIME across the last migration's pause, s."),
		disruptedNs: g("last_migration_disrupted_seconds", "How long readers were told \"disrupted\" in the last migration, s."),
	}
}

func (m *Metrics) sample(s *sink.Sample) {
	if m == nil {
		return
	}
	m.maxError.Set(float64(s.MaxErrorNs) / 1e9)
	m.errorBound.Set(float64(s.ErrorBoundNs) / 1e9)
	m.generation.Set(float64(s.Generation))
	if s.Usable {
		m.usable.Set(1)
	} else {
		m.usable.Set(0)
	}
}

func (m *Metrics) refused() {
	if m != nil {
		m.refusedN.Inc()
	}
}

func (m *Metrics) migration(r *report.Migration) {
	if m == nil {
		return
	}
	m.migrations.Inc()
	m.stepNs.Set(float64(r.StepNs) / 1e9)
	m.pauseNs.Set(float64(r.PauseNs) / 1e9)
	m.disruptedNs.Set(float64(r.DisruptedNs) / 1e9)
}

// serve exposes the registry at addr/metrics until the returned stop.
func (m *Metrics) serve(addr string, log *zap.Logger) (func(), error) {
	srv, err := hostclock.ServeMetrics(addr, &hostclock.Metrics{Registry: m.reg})
	if err != nil {
		return nil, err
	}
	log.Info("metrics served", zap.String("addr", "http://"+srv.Addr()+"/metrics"))
	return func() { srv.Close() }, nil
}
