package hostclock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/xenradclock/xenradclock/internal/promtext"
)

// Metrics are dom0d's Prometheus metrics; docs/dom0d.md lists them. Each
// daemon has its own registry, so tests can run several.
type Metrics struct {
	Registry *promtext.Registry

	offset     promtext.Vec
	errorBound promtext.Vec
	maxError   promtext.Vec
	minRTT     promtext.Vec
	period     promtext.Vec
	status     promtext.Vec
	penalty    promtext.Vec
	preferred  promtext.Vec
	falseTick  promtext.Vec
	accepted   promtext.Vec
	rejected   promtext.Vec

	switches    *promtext.Value
	generation  *promtext.Value
	pubErrors   promtext.Vec
	clockErr    *promtext.Value
	clockMaxErr *promtext.Value
	clockStatus *promtext.Value
	truechim    *promtext.Value
	minSources  *promtext.Value
}

// NewMetrics registers every metric in a fresh registry, with the Go
// runtime's and the process's figures beside them.
func NewMetrics() *Metrics {
	r := promtext.New()
	perServer := func(name, help string) promtext.Vec {
		return r.GaugeVec("xenradclock_server_"+name, help, "server")
	}
	m := &Metrics{Registry: r}
	m.offset = perServer("offset_seconds", "Estimator offset thetahat: the uncorrected counter clock (long-term period only) minus the estimated clock, s.")
	m.errorBound = perServer("error_bound_seconds", "Statistical error bound of the server's clock at its last stamp, s.")
	m.maxError = perServer("max_error_seconds", "Guaranteed error bound of the server's clock at its last stamp, s.")
	m.minRTT = perServer("min_rtt_seconds", "Minimum round-trip time of the path to the server, s.")
	m.period = perServer("period_seconds", "Estimated counter period from this server, s/tick.")
	m.status = perServer("status", "Estimator status word of the server's clock (bits in docs/dom0d.md).")
	m.penalty = perServer("path_penalty_seconds", "Path penalty used for preferred-server selection, s (+Inf: does not count yet).")
	m.preferred = perServer("preferred", "1 for the preferred server, whose clock is published; 0 otherwise.")
	m.falseTick = perServer("falseticker", "1 when the server's interval is outside the servers' agreement (it cannot be preferred); 0 otherwise.")
	m.accepted = r.CounterVec("xenradclock_server_stamps_accepted_total", "Stamps the server's estimator accepted.", "server")
	m.rejected = r.CounterVec("xenradclock_server_stamps_rejected_total", "Exchanges or stamps rejected, by reason (NTP-level or estimator).", "server", "reason")
	m.switches = r.Counter("xenradclock_preferred_switches_total", "Changes of preferred server.")
	m.generation = r.Gauge("xenradclock_record_generation", "Generation of the last published clock record.")
	m.pubErrors = r.CounterVec("xenradclock_publish_errors_total", "Failed publications, by sink (xenstore, page, status).", "sink")
	m.clockErr = r.Gauge("xenradclock_clock_error_bound_seconds", "Statistical error bound of the published clock at its last update, s.")
	m.clockMaxErr = r.Gauge("xenradclock_clock_max_error_seconds", "Guaranteed error bound of the published clock at its last update, s.")
	m.clockStatus = r.Gauge("xenradclock_clock_status", "Status word of the published clock.")
	m.truechim = r.Gauge("xenradclock_truechimers", "Servers whose intervals agree (a majority has a common point); 0 without a majority.")
	m.minSources = r.Gauge("xenradclock_min_sources", "Servers that must agree before the clock is published as synchronised.")
	r.AddRuntime()
	return m
}

// ServerView is what the metrics show of one server.
type ServerView struct {
	Offset, ErrorBound, MaxError, MinRTT, Period, Penalty float64
	Status                                                uint32
	Preferred, Falseticker                                bool
}

// SetServer updates one server's gauges.
func (m *Metrics) SetServer(server string, v ServerView) {
	if m == nil {
		return
	}
	m.offset.With(server).Set(v.Offset)
	m.errorBound.With(server).Set(v.ErrorBound)
	m.maxError.With(server).Set(v.MaxError)
	m.minRTT.With(server).Set(v.MinRTT)
	m.period.With(server).Set(v.Period)
	m.status.With(server).Set(float64(v.Status))
	m.penalty.With(server).Set(v.Penalty)
	p := 0.0
	if v.Preferred {
		p = 1
	}
	m.preferred.With(server).Set(p)
	f := 0.0
	if v.Falseticker {
		f = 1
	}
	m.falseTick.With(server).Set(f)
}

// Agreement records how many servers agree and how many must.
func (m *Metrics) Agreement(truechimers, minSources int) {
	if m == nil {
		return
	}
	m.truechim.Set(float64(truechimers))
	m.minSources.Set(float64(minSources))
}

// Accepted counts an accepted stamp.
func (m *Metrics) Accepted(server string) {
	if m != nil {
		m.accepted.With(server).Inc()
	}
}

// Rejected counts a rejection.
func (m *Metrics) Rejected(server, reason string) {
	if m != nil {
		m.rejected.With(server, reason).Inc()
	}
}

// Switched counts a change of preferred server.
func (m *Metrics) Switched() {
	if m != nil {
		m.switches.Inc()
	}
}

// Published records the published clock.
func (m *Metrics) Published(generation uint64, errBound, maxErr float64, status uint32) {
	if m == nil {
		return
	}
	m.generation.Set(float64(generation))
	m.clockErr.Set(errBound)
	m.clockMaxErr.Set(maxErr)
	m.clockStatus.Set(float64(status))
}

// PublishError counts a failed publication to sink.
func (m *Metrics) PublishError(sink string) {
	if m != nil {
		m.pubErrors.With(sink).Inc()
	}
}

// ForgetServer drops a server's series after a reload removed it.
func (m *Metrics) ForgetServer(server string) {
	if m == nil {
		return
	}
	for _, v := range []promtext.Vec{m.offset, m.errorBound, m.maxError, m.minRTT, m.period, m.status, m.penalty, m.preferred, m.falseTick} {
		v.Delete(server)
	}
	m.accepted.Delete(server)
	m.rejected.DeleteMatch("server", server)
}

// MetricsServer serves /metrics on a listener until Close.
type MetricsServer struct {
	srv *http.Server
	ln  net.Listener
}

// ServeMetrics listens on addr and serves the registry at /metrics.
func ServeMetrics(addr string, m *Metrics) (*MetricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Registry)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener is gone; Close reports nothing more useful
		}
	}()
	return &MetricsServer{srv: srv, ln: ln}, nil
}

// Addr is the bound address (useful with port 0).
func (s *MetricsServer) Addr() string { return s.ln.Addr().String() }

// Close stops serving.
func (s *MetricsServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
