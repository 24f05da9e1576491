package compare

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Main runs the scenarios in turn, printing each table as it completes and
// writing results.md and the plots under o.Dir. Namespaces a killed run
// left behind are removed first.
func Main(ctx context.Context, scs []Scenario, shorten time.Duration, o Options, now func() time.Time) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("compare needs root (network namespaces, SCHED_FIFO)")
	}
	if gone := RemoveStale(); len(gone) > 0 && o.Progress != nil {
		fmt.Fprintf(o.Progress, "compare: removed %d namespaces a previous run left: %s\n", len(gone), strings.Join(gone, " "))
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	var md strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&md, "# dom0d against chronyd\n\nRun %s on %s (%d CPUs).\n\n", now().UTC().Format(time.RFC3339), host, numCPU())
	for _, sc := range scs {
		sc = sc.Shorten(shorten)
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "compare: %s: %s (%v, poll %v)\n", sc.Name, sc.About, sc.Duration, sc.Poll)
		}
		r, err := RunScenario(ctx, sc, o)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
		png := filepath.Join(o.Dir, sc.Name+".png")
		if err := Plot(r, png); err != nil {
			return err
		}
		var tbl strings.Builder
		WriteTable(&tbl, r)
		if o.Progress != nil {
			fmt.Fprint(o.Progress, tbl.String())
		}
		fmt.Fprintf(&md, "%s\n![%s](%s)\n\n", tbl.String(), sc.Name, filepath.Base(png))
		if err := os.WriteFile(filepath.Join(o.Dir, "results.md"), []byte(md.String()), 0o644); err != nil {
			return fmt.Errorf("results.md: %w", err)
		}
	}
	return nil
}

func us1(ns float64) string {
	if math.IsNaN(ns) {
		return "–"
	}
	return fmt.Sprintf("%.1f", ns/1e3)
}

func pct(f float64) string {
	if math.IsNaN(f) {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", f*100)
}

func num(f float64, format string) string {
	if math.IsNaN(f) {
		return "–"
	}
	return fmt.Sprintf(format, f)
}

// WriteTable writes a scenario's Markdown table: per client the |error|
// statistics raw and floor-removed, the floor, frequency error, exchanges,
// time to first usable estimate and dom0d's bound coverage, then the ratio.
func WriteTable(w io.Writer, r *Run) {
	sc := r.Scenario
	fmt.Fprintf(w, "### %s\n\n%s; poll %v, %v (first %v excluded); load average %s; adjtimex unchanged: %v (%s)\n\n",
		sc.Name, sc.About, sc.Poll, sc.Duration, sc.WarmUp, r.LoadAvg, r.Adjtimex.Unchanged, r.Adjtimex.Detail)
	fmt.Fprintln(w, "| client | samples | median µs | p95 µs | max µs | floor µs (p95 abs) | median − floor µs | p95 − floor µs | max − floor µs | |freq err| ppm | exchanges | first usable s | error_bound cover | max_error cover | FIFO |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	stats := map[string]Stats{}
	for _, c := range r.Clients {
		s := Summarise(c, int64(sc.WarmUp))
		stats[c.Name] = s
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s (%s) | %s | %s | %s | %s | %d | %s | %s | %s | %v |\n", c.Name, s.Samples,
			us1(s.MedianNs), us1(s.P95Ns), us1(s.MaxNs), us1(s.FloorNs), us1(s.FloorP95Ns),
			us1(s.MedianFRNs), us1(s.P95FRNs), us1(s.MaxFRNs), num(s.FreqErrPPM, "%.3f"), s.Exchanges,
			num(s.FirstUsableS, "%.0f"), pct(s.BoundCoverage), pct(s.MaxErrCoverage), c.FIFO)
	}
	fmt.Fprintln(w)
	for _, c := range r.Clients {
		if c.Name == "dom0d" {
			continue
		}
		ratio, lo, hi := RatioCI(stats["dom0d"], stats[c.Name])
		fmt.Fprintf(w, "dom0d/%s floor-removed median: %s (95%% CI %s–%s)%s\n\n", c.Name,
			num(ratio, "%.2f"), num(lo, "%.2f"), num(hi, "%.2f"), goalNote(sc, ratio, hi, stats["dom0d"]))
	}
}

// goalNote states the goal the benchmark prints and does not assert.
func goalNote(sc Scenario, ratio, hi float64, d Stats) string {
	var notes []string
	switch {
	case math.IsNaN(ratio):
		notes = append(notes, "no ratio")
	case sc.SymmetricPath() && hi <= 0.5:
		notes = append(notes, "goal (≤ 0.5 on a symmetric path) met")
	case sc.SymmetricPath():
		notes = append(notes, "goal (≤ 0.5 on a symmetric path) NOT met")
	case ratio > 1:
		notes = append(notes, "dom0d WORSE than chronyd here")
	}
	if !math.IsNaN(d.FloorNs) && math.Abs(d.FloorNs) > 10e3 {
		notes = append(notes, "floor over 10 µs")
	}
	return "; " + strings.Join(notes, "; ")
}
