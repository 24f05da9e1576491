package view

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// cellRunes bounds a guest-written string in a table cell.
const cellRunes = 24

// none is what a table prints where there is no value.
const none = "-"

// FmtNs prints a duration in ns with 3 significant digits and a unit
// (ns, µs, ms, s), or minutes and hours past 100 s.
func FmtNs(ns int64) string {
	a := math.Abs(float64(ns))
	switch {
	case ns == 0:
		return "0"
	case a < 1e3:
		return strconv.FormatInt(ns, 10) + "ns"
	case a < 1e6:
		return trim3(float64(ns)/1e3) + "µs"
	case a < 1e9:
		return trim3(float64(ns)/1e6) + "ms"
	case a < 100e9:
		return trim3(float64(ns)/1e9) + "s"
	default:
		return time.Duration(ns).Round(time.Second).String()
	}
}

// FmtStepNs prints a signed step, "+" for forward.
func FmtStepNs(ns int64) string {
	if ns > 0 {
		return "+" + FmtNs(ns)
	}
	return FmtNs(ns)
}

// trim3 prints v (1 ≤ |v| < 1000) with 3 significant digits.
func trim3(v float64) string {
	a := math.Abs(v)
	switch {
	case a < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

func fmtU(ns uint64) string {
	if ns > math.MaxInt64 {
		return ">292y"
	}
	return FmtNs(int64(ns))
}

// cell sanitises a string for one table cell ("-" when empty).
func cell(s string) string {
	if s == "" {
		return none
	}
	return Clean(s, cellRunes)
}

// listHeader is the list table's columns, in order.
var listHeader = []string{"NAME", "ID", "MODE", "COUNTER", "STATE", "GEN", "AGE", "ERR-BOUND", "MAX-ERR", "DISR", "LAST-STEP", "PAUSE", "AGENT", "NOTES"}

// listRow is one domain as the list prints it.
func (s *Snapshot) listRow(d *Domain) []string {
	row := []string{cell(d.Name), strconv.FormatUint(uint64(d.Domid), 10)}
	if d.Domid == 0 && d.Agent == AgentNone {
		return append(row, s.hostCells()...)
	}
	r := d.Report
	if r == nil {
		what := map[Agent]string{AgentNone: "(no agent)", AgentInvalid: "(invalid report)", AgentUnreadable: "(unreadable)"}[d.Agent]
		return append(row, none, none, none, none, none, none, none, none, none, none, what, none)
	}
	step, pause := none, none
	if m := r.LastMigration; m != nil {
		step, pause = FmtStepNs(m.StepNs), FmtNs(m.PauseNs)
	}
	gen, age := none, none
	if r.ReportedUnixNs > 0 {
		age = FmtNs(d.DataAgeNs)
	}
	if r.Mode == "dependent" {
		gen = strconv.FormatUint(r.Generation, 10)
	}
	return append(row, cell(r.Mode), cell(r.Counter), cell(r.State), gen,
		age, fmtU(r.ErrorBoundNs), fmtU(r.MaxErrorNs), strconv.FormatUint(r.Disruptions, 10),
		step, pause, cell(r.AgentVersion), notes(d.Notes))
}

// hostCells: Dom0's row shows dom0d's published record.
func (s *Snapshot) hostCells() []string {
	h := s.Host.Clock
	if h == nil {
		return []string{"host", none, "(no record)", none, none, none, none, none, none, none, "dom0d", none}
	}
	return []string{"host", h.Counter, h.State, strconv.FormatUint(h.Generation, 10), FmtNs(h.AgeNs),
		fmtU(h.ErrorBoundNs), fmtU(h.MaxErrorNs), none, none, none, "dom0d", none}
}

func notes(n []string) string {
	if len(n) == 0 {
		return none
	}
	return strings.Join(n, ",")
}

// hasXL reports whether libxl's view is part of the snapshot.
func (s *Snapshot) hasXL() bool {
	for i := range s.Domains {
		if s.Domains[i].XL != nil {
			return true
		}
	}
	return false
}

// WriteList prints the list table: a header and one row per domain; with
// libxl's view (the xenlight build) an XL-STATE column after ID.
func (s *Snapshot) WriteList(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	xl := s.hasXL()
	withXL := func(cells []string, x string) []string {
		if !xl {
			return cells
		}
		return append(cells[:2:2], append([]string{x}, cells[2:]...)...)
	}
	fmt.Fprintln(tw, strings.Join(withXL(listHeader, "XL-STATE"), "\t"))
	for i := range s.Domains {
		d := &s.Domains[i]
		x := none
		if d.XL != nil {
			x = d.XL.State
		}
		fmt.Fprintln(tw, strings.Join(withXL(s.listRow(d), x), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the list: %w", err)
	}
	for _, l := range []struct{ what, err string }{{"host clock", s.Host.Error}, {"libxl", s.XLError}} {
		if l.err == "" {
			continue
		}
		if _, err := fmt.Fprintf(w, "%s: %s\n", l.what, l.err); err != nil {
			return fmt.Errorf("writing the list: %w", err)
		}
	}
	return nil
}

// WriteJSON prints v as indented JSON and a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}

// WriteJSONCompact prints v as JSON on one line.
func WriteJSONCompact(w io.Writer, v any) error {
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}
