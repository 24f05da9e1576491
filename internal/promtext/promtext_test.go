package promtext

import (
	"math"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWriteText checks the exposition format: HELP/TYPE lines, escaping
// of help and label values, sorted label names, special floats, deletes.
func TestWriteText(t *testing.T) {
	r := New()
	g := r.Gauge("b_gauge", "A gauge\\with\nnewline.")
	g.Set(1.5)
	c := r.CounterVec("a_total", "Counts.", "server", "reason")
	c.With("s\"1\\\n", "x").Inc()
	c.With("s\"1\\\n", "x").Add(2)
	c.With("s2", "y").Inc()
	v := r.GaugeVec("c_inf", "Inf.", "server")
	v.With("s").Set(math.Inf(1))
	v.With("t").Set(math.NaN())
	v.Delete("t")
	c.DeleteMatch("server", "s2")
	r.GaugeVec("d_empty", "Never set.", "server")
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP a_total Counts.
# TYPE a_total counter
a_total{reason="x",server="s\"1\\\n"} 3
# HELP b_gauge A gauge\\with\nnewline.
# TYPE b_gauge gauge
b_gauge 1.5
# HELP c_inf Inf.
# TYPE c_inf gauge
c_inf{server="s"} +Inf
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestRuntimeAndHTTP checks the served page's content type and that the
// runtime and process figures are there.
func TestRuntimeAndHTTP(t *testing.T) {
	r := New()
	r.AddRuntime()
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	for _, want := range []string{"\ngo_goroutines ", "\nprocess_resident_memory_bytes ", "\nprocess_cpu_seconds_total ",
		"# TYPE process_cpu_seconds_total counter\n", "\nprocess_start_time_seconds "} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("lacks %q in\n%s", want, rec.Body.String())
		}
	}
}
