// Package promtext is a small Prometheus exporter: gauges and counters,
// with or without labels, written in the text exposition format (0.0.4).
// It replaces client_golang, whose protobuf dependency and init work cost
// the agent megabytes of RSS for metrics that are usually off.
package promtext

import (
	"bufio"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds metric families; its zero value is not usable, use New.
type Registry struct {
	mu       sync.Mutex
	families []*family
	extra    []func(w *bufio.Writer)
}

// New returns an empty registry.
func New() *Registry { return &Registry{} }

type family struct {
	name, help, typ string
	labels          []string
	mu              sync.Mutex
	series          map[string]*Value // key: label values joined by \xff
}

// Value is one series' value, safe for concurrent use.
type Value struct {
	bits   atomic.Uint64
	values []string
}

// Set sets a gauge.
func (v *Value) Set(f float64) { v.bits.Store(math.Float64bits(f)) }

// Add adds d (a counter's increments must be non-negative).
func (v *Value) Add(d float64) {
	for {
		o := v.bits.Load()
		if v.bits.CompareAndSwap(o, math.Float64bits(math.Float64frombits(o)+d)) {
			return
		}
	}
}

// Inc adds 1.
func (v *Value) Inc() { v.Add(1) }

// Get returns the value.
func (v *Value) Get() float64 { return math.Float64frombits(v.bits.Load()) }

// Vec is a family with labels.
type Vec struct{ f *family }

func (r *Registry) add(name, help, typ string, labels []string) *family {
	f := &family{name: name, help: help, typ: typ, labels: labels, series: map[string]*Value{}}
	r.mu.Lock()
	r.families = append(r.families, f)
	r.mu.Unlock()
	return f
}

// Gauge registers a gauge without labels.
func (r *Registry) Gauge(name, help string) *Value {
	return Vec{r.add(name, help, "gauge", nil)}.With()
}

// Counter registers a counter without labels.
func (r *Registry) Counter(name, help string) *Value {
	return Vec{r.add(name, help, "counter", nil)}.With()
}

// GaugeVec registers a gauge family with the labels named.
func (r *Registry) GaugeVec(name, help string, labels ...string) Vec {
	return Vec{r.add(name, help, "gauge", labels)}
}

// CounterVec registers a counter family with the labels named.
func (r *Registry) CounterVec(name, help string, labels ...string) Vec {
	return Vec{r.add(name, help, "counter", labels)}
}

// With returns the series of these label values (as many as the labels;
// missing ones are empty, extra ones ignored), creating it at 0.
func (v Vec) With(values ...string) *Value {
	vals := make([]string, len(v.f.labels))
	copy(vals, values)
	k := strings.Join(vals, "\xff")
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	s, ok := v.f.series[k]
	if !ok {
		s = &Value{values: vals}
		v.f.series[k] = s
	}
	return s
}

// Delete drops the series of exactly these label values.
func (v Vec) Delete(values ...string) {
	vals := make([]string, len(v.f.labels))
	copy(vals, values)
	v.f.mu.Lock()
	delete(v.f.series, strings.Join(vals, "\xff"))
	v.f.mu.Unlock()
}

// DeleteMatch drops every series whose label is value.
func (v Vec) DeleteMatch(label, value string) {
	i := -1
	for j, l := range v.f.labels {
		if l == label {
			i = j
		}
	}
	if i < 0 {
		return
	}
	v.f.mu.Lock()
	for k, s := range v.f.series {
		if s.values[i] == value {
			delete(v.f.series, k)
		}
	}
	v.f.mu.Unlock()
}

// FormatFloat writes f as Prometheus does (+Inf, -Inf, NaN, shortest form).
func FormatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// WriteText writes every family in the text format, families sorted by
// name, series by label values, label names sorted in each series.
func (r *Registry) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	r.mu.Lock()
	fams := append([]*family(nil), r.families...)
	extra := append([]func(*bufio.Writer){}, r.extra...)
	r.mu.Unlock()
	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })
	for _, f := range fams {
		f.mu.Lock()
		keys := make([]string, 0, len(f.series))
		for k := range f.series {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		order := make([]int, len(f.labels))
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(i, j int) bool { return f.labels[order[i]] < f.labels[order[j]] })
		if len(keys) > 0 {
			writeHeader(bw, f.name, f.help, f.typ)
		}
		for _, k := range keys {
			s := f.series[k]
			bw.WriteString(f.name)
			if len(f.labels) > 0 {
				bw.WriteByte('{')
				for n, i := range order {
					if n > 0 {
						bw.WriteByte(',')
					}
					bw.WriteString(f.labels[i])
					bw.WriteString(`="`)
					labelEscaper.WriteString(bw, s.values[i]) //nolint:errcheck // bufio reports at Flush
					bw.WriteByte('"')
				}
				bw.WriteByte('}')
			}
			bw.WriteByte(' ')
			bw.WriteString(FormatFloat(s.Get()))
			bw.WriteByte('\n')
		}
		f.mu.Unlock()
	}
	for _, e := range extra {
		e(bw)
	}
	return bw.Flush()
}

func writeHeader(bw *bufio.Writer, name, help, typ string) {
	bw.WriteString("# HELP " + name + " ")
	helpEscaper.WriteString(bw, help) //nolint:errcheck // bufio reports at Flush
	bw.WriteString("\n# TYPE " + name + " " + typ + "\n")
}

// sample writes one family of one unlabelled sample, for the collectors.
func sample(bw *bufio.Writer, name, help, typ string, v float64) {
	writeHeader(bw, name, help, typ)
	bw.WriteString(name + " " + FormatFloat(v) + "\n")
}

// ServeHTTP serves the text format (for /metrics).
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = r.WriteText(w) // the client went away; nothing to tell it
}
