package hostclock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are dom0d's Prometheus metrics; docs/dom0d.md lists them. Each
// daemon has its own registry, so tests can run several.
type Metrics struct {
	Registry *prometheus.Registry

	offset     *prometheus.GaugeVec
	errorBound *prometheus.GaugeVec
	maxError   *prometheus.GaugeVec
	minRTT     *prometheus.GaugeVec
	period     *prometheus.GaugeVec
	status     *prometheus.GaugeVec
	penalty    *prometheus.GaugeVec
	preferred  *prometheus.GaugeVec
	falseTick  *prometheus.GaugeVec
	accepted   *prometheus.CounterVec
	rejected   *prometheus.CounterVec

	switches    prometheus.Counter
	generation  prometheus.Gauge
	pubErrors   *prometheus.CounterVec
	clockErr    prometheus.Gauge
	clockMaxErr prometheus.Gauge
	clockStatus prometheus.Gauge
	truechim    prometheus.Gauge
	minSources  prometheus.Gauge
}

// NewMetrics registers every metric in a fresh registry, with the Go and
// process collectors beside them.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	perServer := func(name, help string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "xenradclock", Subsystem: "server", Name: name, Help: help}, []string{"server"})
		r.MustRegister(g)
		return g
	}
	m := &Metrics{Registry: r}
	m.offset = perServer("offset_seconds", "Estimated offset (thetahat) of the uncorrected counter clock from the server, s.")
	m.errorBound = perServer("error_bound_seconds", "Statistical error bound of the server's clock at its last stamp, s.")
	m.maxError = perServer("max_error_seconds", "Guaranteed error bound of the server's clock at its last stamp, s.")
	m.minRTT = perServer("min_rtt_seconds", "Minimum round-trip time of the path to the server, s.")
	m.period = perServer("period_seconds", "Estimated counter period from this server, s/tick.")
	m.status = perServer("status", "Estimator status word of the server's clock (bits in docs/dom0d.md).")
	m.penalty = perServer("path_penalty_seconds", "Path penalty used for preferred-server selection, s (+Inf: does not count yet).")
	m.preferred = perServer("preferred", "1 for the preferred server, whose clock is published; 0 otherwise.")
	m.falseTick = perServer("falseticker", "1 when the server's interval is outside the servers' agreement (it cannot be preferred); 0 otherwise.")
	m.accepted = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "xenradclock", Subsystem: "server", Name: "stamps_accepted_total",
		Help: "Stamps the server's estimator accepted."}, []string{"server"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "xenradclock", Subsystem: "server", Name: "stamps_rejected_total",
		Help: "Exchanges or stamps rejected, by reason (NTP-level or estimator)."}, []string{"server", "reason"})
	m.switches = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "xenradclock", Name: "preferred_switches_total",
		Help: "Changes of preferred server."})
	m.generation = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "xenradclock", Name: "record_generation",
		Help: "Generation of the last published clock record."})
	m.pubErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "xenradclock", Name: "publish_errors_total",
		Help: "Failed publications, by sink (xenstore, page, status)."}, []string{"sink"})
	m.clockErr = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "xenradclock", Name: "clock_error_bound_seconds",
		Help: "Statistical error bound of the published clock at its last update, s."})
	m.clockMaxErr = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "xenradclock", Name: "clock_max_error_seconds",
		Help: "Guaranteed error bound of the published clock at its last update, s."})
	m.clockStatus = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "xenradclock", Name: "clock_status",
		Help: "Status word of the published clock."})
	m.truechim = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "xenradclock", Name: "truechimers",
		Help: "Servers whose intervals agree (a majority has a common point); 0 without a majority."})
	m.minSources = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "xenradclock", Name: "min_sources",
		Help: "Servers that must agree before the clock is published as synchronised."})
	r.MustRegister(m.accepted, m.rejected, m.switches, m.generation, m.pubErrors, m.clockErr, m.clockMaxErr, m.clockStatus,
		m.truechim, m.minSources,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
	m.offset.WithLabelValues(server).Set(v.Offset)
	m.errorBound.WithLabelValues(server).Set(v.ErrorBound)
	m.maxError.WithLabelValues(server).Set(v.MaxError)
	m.minRTT.WithLabelValues(server).Set(v.MinRTT)
	m.period.WithLabelValues(server).Set(v.Period)
	m.status.WithLabelValues(server).Set(float64(v.Status))
	m.penalty.WithLabelValues(server).Set(v.Penalty)
	p := 0.0
	if v.Preferred {
		p = 1
	}
	m.preferred.WithLabelValues(server).Set(p)
	f := 0.0
	if v.Falseticker {
		f = 1
	}
	m.falseTick.WithLabelValues(server).Set(f)
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
		m.accepted.WithLabelValues(server).Inc()
	}
}

// Rejected counts a rejection.
func (m *Metrics) Rejected(server, reason string) {
	if m != nil {
		m.rejected.WithLabelValues(server, reason).Inc()
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
		m.pubErrors.WithLabelValues(sink).Inc()
	}
}

// ForgetServer drops a server's series after a reload removed it.
func (m *Metrics) ForgetServer(server string) {
	if m == nil {
		return
	}
	for _, v := range []*prometheus.GaugeVec{m.offset, m.errorBound, m.maxError, m.minRTT, m.period, m.status, m.penalty, m.preferred, m.falseTick} {
		v.DeleteLabelValues(server)
	}
	m.accepted.DeleteLabelValues(server)
	m.rejected.DeletePartialMatch(prometheus.Labels{"server": server})
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
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
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
