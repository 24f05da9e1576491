package main

// What the demo prints while it runs and at the end.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xenradclock/xenradclock/hostclock"
)

func (d *demo) loop(ctx context.Context) {
	d.start = time.Now()
	end := time.NewTimer(d.o.Duration)
	defer end.Stop()
	table := time.NewTicker(d.o.Interval)
	defer table.Stop()
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	var migrate <-chan time.Time
	if d.o.MigrateAt > 0 {
		migrate = time.After(d.o.MigrateAt)
	}
	dead := map[*proc]bool{}
	shown := 0
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintf(d.w, "\ninterrupted after %.0f s; stopping everything\n", time.Since(d.start).Seconds())
			return
		case <-end.C:
			fmt.Fprintf(d.w, "\n%v is up; stopping everything\n", d.o.Duration)
			return
		case <-migrate:
			migrate = nil
			_ = d.migrate(ctx) // printed by migrate
		case <-tick.C:
			if !d.hostsSynced() {
				d.progress()
			}
			shown = d.showMigrations(shown)
			d.reportDead(dead)
		case <-table.C:
			d.table()
		}
	}
}

func (d *demo) elapsed() string { return fmt.Sprintf("%4.0fs", time.Since(d.start).Seconds()) }

func hostStatus(h *host) (hostclock.StatusDoc, error) {
	var st hostclock.StatusDoc
	b, err := os.ReadFile(filepath.Join(h.dir, "status.json"))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

func (d *demo) hostsSynced() bool {
	for _, h := range d.hosts {
		if st, err := hostStatus(h); err != nil || st.Clock.State != "synchronised" {
			return false
		}
	}
	return true
}

func (d *demo) progress() {
	var parts []string
	for _, h := range d.hosts {
		st, err := hostStatus(h)
		if err != nil {
			parts = append(parts, h.name+" starting")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s (max error %s, %d stamps)", h.name, st.Clock.State,
			fmtBound(uint64(max(st.Clock.MaxError, 0)*1e9)), stampsOf(st)))
	}
	fmt.Fprintf(d.w, "%s  warming up: %s\n", d.elapsed(), strings.Join(parts, ", "))
}

func stampsOf(st hostclock.StatusDoc) int {
	n := 0
	for _, s := range st.Servers {
		n += s.Stamps
	}
	return n
}

func readLive(g *guest) (readerStats, bool) {
	var st readerStats
	b, err := os.ReadFile(g.live())
	if err != nil {
		return st, false
	}
	return st, json.Unmarshal(b, &st) == nil
}

// table prints each guest's clock against the truth.
func (d *demo) table() {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-5s %-7s %-11s %-14s %-10s %14s %12s %12s %9s %9s\n", d.elapsed(),
		"GUEST", "HOST", "MODE", "STATE", "READ", "CLOCK−TRUTH", "ERROR BOUND", "MAX ERROR", "READS", "DISRUPTED")
	for _, g := range d.guests {
		st, ok := readLive(g)
		if !ok || st.WithTime == 0 {
			fmt.Fprintf(&b, "       %-5s %-7s %-11s %-14s\n", g.name, g.host.name, g.mode, "no clock yet")
			continue
		}
		fmt.Fprintf(&b, "       %-5s %-7s %-11s %-14s %-10s %14s %12s %12s %9d %9d\n", g.name, g.host.name, g.mode,
			st.LastState, st.LastStatus, fmtNs(st.LastErrNs), fmtBound(st.LastEBNs), fmtBound(st.LastMaxErrNs), st.Reads, st.Disrupted)
	}
	fmt.Fprint(d.w, b.String())
}

// showMigrations prints the agents' migration lines not shown yet.
func (d *demo) showMigrations(shown int) int {
	var lines []string
	for _, g := range d.guests {
		lines = append(lines, grepFile(g.agent.log, "migrated ")...)
	}
	for _, l := range lines[min(shown, len(lines)):] {
		fmt.Fprintf(d.w, "%s  agent: %s\n", d.elapsed(), migrationText(l))
	}
	return max(shown, len(lines))
}

// migrationText takes the message out of an agent's log line (JSON or
// console encoded).
func migrationText(line string) string {
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) == nil {
		if s, ok := m["msg"].(string); ok {
			return s
		}
	}
	if i := strings.Index(line, "migrated "); i >= 0 {
		return line[i:]
	}
	return line
}

func (d *demo) reportDead(dead map[*proc]bool) {
	for _, p := range d.procs {
		if p.exited() && !dead[p] {
			dead[p] = true
			fmt.Fprintf(d.w, "%s  WARNING: %s exited (%v); its log: %s\n", d.elapsed(), p.name, p.err, p.log)
		}
	}
}

// result is the demo's verdict, from the readers' final statistics.
type result struct {
	guests map[string]readerStats
	moves  []string
}

// OK: every guest's reader got times, every read with a time was inside
// its max_error, and none went back.
func (r result) OK() bool {
	for _, st := range r.guests {
		if st.WithTime == 0 || st.OutsideMax > 0 || st.Backwards > 0 {
			return false
		}
	}
	return len(r.guests) > 0
}

func (d *demo) summary() result {
	res := result{guests: map[string]readerStats{}}
	fmt.Fprintf(d.w, "\nsummary after %.0f s (the truth is the served time, known exactly)\n", time.Since(d.start).Seconds())
	fmt.Fprintf(d.w, "  %-5s %-7s %9s %9s %9s %9s %9s %12s %10s %10s %9s\n", "GUEST", "ENDED ON", "READS", "WITH TIME",
		"UNSYNCED", "DISRUPTED", "NO CLOCK", "MAX |ERROR|", "OUTSIDE ME", "OUTSIDE EB", "BACKWARDS")
	for _, g := range d.guests {
		st, ok := readLive(g)
		if !ok {
			fmt.Fprintf(d.w, "  %-5s (no reader statistics: see %s)\n", g.name, g.reader.log)
			continue
		}
		res.guests[g.name] = st
		eb := "-"
		if n := st.WithTime - st.Unsynced; n > 0 {
			eb = fmt.Sprintf("%.2f%%", 100*float64(st.OutsideEB)/float64(n))
		}
		fmt.Fprintf(d.w, "  %-5s %-7s %9d %9d %9d %9d %9d %12s %10d %10s %9d\n", g.name, g.host.name, st.Reads, st.WithTime,
			st.Unsynced, st.Disrupted, st.NoClock+st.Mismatch+st.Void, fmtBound(uint64(st.MaxAbsErr)), st.OutsideMax, eb, st.Backwards)
	}
	for _, m := range d.moves {
		fmt.Fprintf(d.w, "  %s\n", m)
	}
	for _, g := range d.guests {
		for _, l := range grepFile(g.agent.log, "migrated ") {
			fmt.Fprintf(d.w, "  agent %s: %s\n", g.name, migrationText(l))
			res.moves = append(res.moves, l)
		}
	}
	if res.OK() {
		fmt.Fprintf(d.w, "  every read that carried a time was inside its max_error, and no time or earliest bound went back\n")
	} else {
		fmt.Fprintf(d.w, "  NOT GOOD: a guest never got a time, or reads were outside their max_error or went back (see the table)\n")
	}
	fmt.Fprintf(d.w, "  columns: MAX |ERROR| over every read with a time; OUTSIDE ME = synchronised (not UNSYNCED) reads outside max_error, must be 0;\n")
	fmt.Fprintf(d.w, "  OUTSIDE EB = their share outside the statistical error_bound, which covers the estimator's error but not a path's asymmetry (the demo's paths are deliberately asymmetric, so it is often missed); BACKWARDS = time or earliest bound went back\n")
	return res
}

// fmtBound formats a bound (never negative, so no sign).
func fmtBound(ns uint64) string { return strings.TrimPrefix(fmtNs(int64(min(ns, 1<<62))), "+") }

func fmtNs(ns int64) string {
	a := ns
	if a < 0 {
		a = -a
	}
	switch {
	case a < 10_000:
		return fmt.Sprintf("%+.2f µs", float64(ns)/1e3)
	case a < 10_000_000:
		return fmt.Sprintf("%+.1f µs", float64(ns)/1e3)
	default:
		return fmt.Sprintf("%+.2f ms", float64(ns)/1e6)
	}
}
