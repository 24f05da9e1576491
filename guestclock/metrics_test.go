package guestclock

import (
	"strings"
	"testing"

	"github.com/xenradclock/xenradclock/guestclock/report"
	"github.com/xenradclock/xenradclock/guestclock/sink"
)

// TestMetricsText checks the agent's metric names and values as served,
// and that a nil *Metrics (metrics off) ignores updates.
func TestMetricsText(t *testing.T) {
	var off *Metrics
	off.sample(&sink.Sample{Usable: true})
	off.refused()
	off.migration(&report.Migration{})
	m := newMetrics()
	m.sample(&sink.Sample{Usable: true, MaxErrorNs: 2_500_000, Generation: 7})
	m.refused()
	m.migration(&report.Migration{PauseNs: 1_500_000_000})
	var b strings.Builder
	if err := m.reg.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nxenradclock_agent_max_error_seconds 0.0025\n", "\nxenradclock_agent_usable 1\n",
		"\nxenradclock_agent_generation 7\n", "\nxenradclock_agent_records_refused_total 1\n",
		"# TYPE xenradclock_agent_migrations_total counter\n", "\nxenradclock_agent_last_migration_pause_seconds 1.5\n",
		"\nxenradclock_agent_error_bound_seconds 0\n", "\nprocess_resident_memory_bytes "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lacks %q in\n%s", want, b.String())
		}
	}
}
