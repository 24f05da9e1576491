package hostclock

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"syscall"
	"text/tabwriter"
)

// StatusDoc is the daemon's status, written atomically to the status file
// (default /run/xenradclock/status.json) after every update and read by
// `dom0d status`. docs/dom0d.md documents every field.
type StatusDoc struct {
	Version   int    `json:"version"`
	PID       int    `json:"pid"`
	UpdatedAt string `json:"updated_at"` // system clock, RFC 3339, for humans

	Counter         string  `json:"counter"`
	CounterHz       float64 `json:"counter_hz"`
	CounterIdentity uint64  `json:"counter_identity"`

	Preferred   string `json:"preferred"`
	Provisional bool   `json:"provisional"`
	// MinSources is how many truechimers must agree before the clock is
	// published as synchronised; Truechimers how many agree now.
	MinSources      int    `json:"min_sources"`
	Truechimers     int    `json:"truechimers"`
	SelectionReason string `json:"selection_reason"`
	Switches        int    `json:"switches"`

	Clock   ClockDoc    `json:"clock"`
	Servers []ServerDoc `json:"servers"`

	Xenstore     string `json:"xenstore"`      // how Xenstore is reached: none, embedded, a socket
	XenstorePath string `json:"xenstore_path"` // node the record is written to
	Page         string `json:"page"`
	StateFile    string `json:"state_file"`
	StateRestore string `json:"state_restore"` // "restored", or why not
	LastError    string `json:"last_error,omitempty"`
}

// ClockDoc is the published clock: the preferred server's.
type ClockDoc struct {
	Generation     uint64   `json:"generation"`
	Disruption     uint64   `json:"disruption_marker"`
	Published      bool     `json:"published"`
	Period         float64  `json:"period"`          // s/tick
	OffsetEstimate float64  `json:"offset_estimate"` // s, the estimator's θ̂ (clock minus server time, from the stamps)
	ErrorBound     float64  `json:"error_bound"`     // s, statistical
	MaxError       float64  `json:"max_error"`       // s, guaranteed
	Status         uint32   `json:"status"`
	StatusNames    []string `json:"status_names"`
	State          string   `json:"state"`
	Time           string   `json:"time,omitempty"` // Ca at the reference count, 9 decimals
	RefCount       uint64   `json:"ref_count"`
}

// ServerDoc is one server's estimator as the status shows it.
type ServerDoc struct {
	Address        string            `json:"address"`
	Preferred      bool              `json:"preferred"`
	Usable         bool              `json:"usable"`
	Poll           float64           `json:"poll"` // s
	Stamps         int               `json:"stamps"`
	Warmup         int               `json:"warmup"` // stamps the warm-up needs
	Accepted       uint64            `json:"accepted"`
	Rejected       map[string]uint64 `json:"rejected"`
	Period         float64           `json:"period"`
	OffsetEstimate float64           `json:"offset_estimate"` // s, θ̂
	ErrorBound     float64           `json:"error_bound"`
	MaxError       float64           `json:"max_error"`
	MinRTT         float64           `json:"min_rtt"`
	Status         uint32            `json:"status"`
	StatusNames    []string          `json:"status_names"`
	Penalty        *float64          `json:"path_penalty"` // null: does not count yet
	// Falseticker: the server's interval does not intersect the largest
	// set of servers that agree; it cannot be preferred.
	Falseticker bool    `json:"falseticker"`
	LastStamp   float64 `json:"last_stamp_age"`
	LastError   string  `json:"last_error,omitempty"`
}

// WriteStatus writes the document atomically (readers never see half of
// it), world-readable, without fsync: it is a runtime file, rewritten often.
func WriteStatus(path string, d *StatusDoc) error {
	d.Version = 1
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return writeFileAtomic(path, append(b, '\n'), 0o644, false)
}

// maxStatusSize bounds what ReadStatus reads (a status of 64 servers is
// about 60 kB).
const maxStatusSize = 4 << 20

// ReadStatus reads a status file: a regular file (a FIFO or a device there
// is refused at once, naming the path), at most maxStatusSize bytes.
func ReadStatus(path string) (*StatusDoc, error) {
	b, err := readRegular(path, maxStatusSize)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	d, err := DecodeStatus(b)
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", path, err)
	}
	return d, nil
}

// DecodeStatus parses a status document.
func DecodeStatus(b []byte) (*StatusDoc, error) {
	var d StatusDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	if d.Version != 1 {
		return nil, fmt.Errorf("version %d, want 1", d.Version)
	}
	return &d, nil
}

// PenaltyPtr turns +Inf into nil for JSON.
func PenaltyPtr(p float64) *float64 {
	if math.IsInf(p, 0) || math.IsNaN(p) {
		return nil
	}
	return &p
}

// FormatStatus prints the human form of `dom0d status`.
func FormatStatus(w io.Writer, d *StatusDoc) error {
	bw := &errWriter{w: w}
	pref := d.Preferred
	if pref == "" && d.Clock.Published {
		pref = "(none: no clock is followed now, see selection)"
	} else if pref == "" {
		pref = "(none yet)"
	} else if d.Provisional {
		pref += " (provisional: no server has enough stamps yet)"
	}
	c := d.Clock
	bw.printf("dom0d pid %d%s, updated %s\n", d.PID, pidNote(d.PID), d.UpdatedAt)
	bw.printf("counter:        %s (%.0f Hz, identity %#x)\n", d.Counter, d.CounterHz, d.CounterIdentity)
	bw.printf("preferred:      %s\n", pref)
	bw.printf("selection:      %s; %s\n", d.SelectionReason, plural(d.Switches, "switch", "switches"))
	bw.printf("agreement:      %s\n", agreementLine(d))
	bw.printf("clock state:    %s\n", c.State)
	bw.printf("status:         0x%08x %s\n", c.Status, spell(c.StatusNames))
	bw.printf("period:         %.15e s/tick (%.9f Hz)\n", c.Period, inv(c.Period))
	bw.printf("offset estimate: %s\n", fmtSeconds(c.OffsetEstimate))
	bw.printf("error bound:    %s (statistical)\n", fmtSeconds(c.ErrorBound))
	bw.printf("max error:      %s (guaranteed)\n", fmtSeconds(c.MaxError))
	if c.Time != "" {
		bw.printf("clock time:     %s at counter %d\n", c.Time, c.RefCount)
	}
	bw.printf("record:         generation %d, disruption marker %#016x, published %v\n", c.Generation, c.Disruption, c.Published)
	bw.printf("xenstore:       %s %s\n", d.Xenstore, d.XenstorePath)
	bw.printf("shared page:    %s\n", d.Page)
	bw.printf("state file:     %s (%s)\n", d.StateFile, d.StateRestore)
	if d.LastError != "" {
		bw.printf("last error:     %s\n", d.LastError)
	}
	bw.printf("\n")
	tw := tabwriter.NewWriter(bw, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\tSERVER\tSTAMPS\tWARM-UP\tOFFSET EST\tERR BOUND\tMIN RTT\tPENALTY\tSTATUS\tREJECTED\n")
	for _, s := range d.Servers {
		mark := " "
		if s.Preferred {
			mark = "*"
		}
		if s.Falseticker {
			mark = "!"
		}
		if !s.Usable {
			mark = "x"
		}
		pen := "-"
		if s.Penalty != nil {
			pen = fmtSeconds(*s.Penalty)
		}
		warm := "done"
		if s.Stamps < s.Warmup {
			warm = fmt.Sprintf("%d/%d", s.Stamps, s.Warmup)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mark, s.Address, s.Accepted, warm,
			fmtSeconds(s.OffsetEstimate), fmtSeconds(s.ErrorBound), fmtSeconds(s.MinRTT), pen,
			spell(s.StatusNames), fmtRejected(s.Rejected))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	bw.printf("(* preferred, x unusable, ! falseticker: outside the servers' agreement)\n")
	return bw.err
}

// agreementLine says how many servers agree and which do not.
func agreementLine(d *StatusDoc) string {
	var ft []string
	for _, s := range d.Servers {
		if s.Falseticker {
			ft = append(ft, s.Address)
		}
	}
	line := fmt.Sprintf("%d truechimers of %d servers (minsources %d)", d.Truechimers, len(d.Servers), d.MinSources)
	if len(ft) > 0 {
		line += "; falsetickers: " + strings.Join(ft, ", ")
	}
	return line
}

// pidNote says when the daemon that wrote the status is gone: the status
// is then its last word, not the present.
func pidNote(pid int) string {
	if PIDRunning(pid) {
		return ""
	}
	return " (NOT RUNNING: the process is gone; this status is its last)"
}

// PIDRunning tells whether process pid exists (kill(pid, 0): EPERM means
// it exists under another user).
func PIDRunning(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func spell(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ",")
}

func inv(p float64) float64 {
	if p == 0 {
		return 0
	}
	return 1 / p
}

func fmtRejected(m map[string]uint64) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ",")
}

// fmtSeconds prints a small duration with a unit that keeps 3 digits.
func fmtSeconds(s float64) string {
	a := math.Abs(s)
	switch {
	case math.IsNaN(s) || math.IsInf(s, 0):
		return fmt.Sprint(s)
	case a == 0:
		return "0"
	case a < 1e-6:
		return fmt.Sprintf("%.0f ns", s*1e9)
	case a < 1e-3:
		return fmt.Sprintf("%.3f µs", s*1e6)
	case a < 1:
		return fmt.Sprintf("%.3f ms", s*1e3)
	default:
		return fmt.Sprintf("%.6f s", s)
	}
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, a ...any) { fmt.Fprintf(e, format, a...) }

// plural says n things, in the singular for one.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
