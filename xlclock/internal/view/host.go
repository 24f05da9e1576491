package view

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/hostclock"
)

// HostDoc is `xlclock host --json`: dom0d's status document as it wrote
// it, the record in Xenstore, the ages derived from them, and the peers.
type HostDoc struct {
	NowUnixNs   int64                `json:"now_unix_ns"`
	Status      *hostclock.StatusDoc `json:"status,omitempty"`
	StatusError string               `json:"status_error,omitempty"`
	StatusAgeNs *int64               `json:"status_age_ns,omitempty"` // now − status updated_at
	FastStart   string               `json:"fast_start"`              // running, done, or unknown
	Host        Host                 `json:"host"`
	Peers       []Peer               `json:"peers,omitempty"`
}

// NewHostDoc combines the status file (nil with statusErr when it could not
// be read) and the host part of a snapshot.
func NewHostDoc(st *hostclock.StatusDoc, statusErr error, h Host, now time.Time) *HostDoc {
	d := &HostDoc{NowUnixNs: now.UnixNano(), Status: st, Host: h, FastStart: "unknown"}
	if statusErr != nil {
		d.StatusError = Clean(statusErr.Error(), 200)
	}
	if st != nil {
		if t, err := time.Parse(time.RFC3339Nano, st.UpdatedAt); err == nil {
			age := now.Sub(t).Nanoseconds()
			d.StatusAgeNs = &age
		}
		d.FastStart = "done"
		if clocksync.Status(st.Clock.Status)&clocksync.StatusFastStart != 0 {
			d.FastStart = "running"
		}
	} else if r := h.Record; r != nil && r.Status&clocksync.StatusFastStart != 0 {
		d.FastStart = "running"
	} else if r != nil {
		d.FastStart = "done"
	}
	return d
}

// WriteHost prints the host clock: dom0d's status, the record, the
// servers and the peers.
func (d *HostDoc) WriteHost(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("host:            %s\n", d.hostLine())
	if h := d.Host.Clock; h != nil {
		ew.printf("record:          generation %d, marker %s, %s on %s, age %s\n", h.Generation, h.Marker, h.State, h.Counter, FmtNs(h.AgeNs))
	} else {
		ew.printf("record:          %s\n", d.Host.Error)
	}
	if st := d.Status; st != nil {
		d.writeStatus(ew, st)
	} else {
		ew.printf("dom0d status:    %s\n", d.StatusError)
	}
	if err := ew.done("host"); err != nil {
		return err
	}
	if d.Status != nil {
		if err := writeServers(w, d.Status.Servers); err != nil {
			return err
		}
	}
	return writePeers(w, d.Peers)
}

func (d *HostDoc) hostLine() string {
	if d.Host.HostID == "" {
		return cell(d.Host.Name)
	}
	return fmt.Sprintf("%s (host id %s)", cell(d.Host.Name), d.Host.HostID)
}

func (d *HostDoc) writeStatus(ew *errWriter, st *hostclock.StatusDoc) {
	c := st.Clock
	age := "unknown"
	if d.StatusAgeNs != nil {
		age = FmtNs(*d.StatusAgeNs) + " ago"
	}
	ew.printf("dom0d:           pid %d, last update %s (%s)\n", st.PID, Clean(st.UpdatedAt, 40), age)
	ew.printf("counter:         %s (%.0f Hz, identity %#x)\n", Clean(st.Counter, 32), st.CounterHz, st.CounterIdentity)
	ew.printf("clock state:     %s\n", Clean(c.State, 32))
	ew.printf("status bits:     %#x %s\n", c.Status, spellStatus(clocksync.Status(c.Status)))
	ew.printf("period:          %.15e s/tick\n", c.Period)
	ew.printf("offset estimate: %s (the estimator's θ̂: clock minus server time)\n", fmtSec(c.OffsetEstimate))
	ew.printf("error bound:     %s (statistical)\n", fmtSec(c.ErrorBound))
	ew.printf("max error:       %s (guaranteed)\n", fmtSec(c.MaxError))
	ew.printf("fast start:      %s%s\n", d.FastStart, warmupText(st))
	pref := Clean(st.Preferred, 64)
	if pref == "" {
		pref = "(none yet)"
	} else if st.Provisional {
		pref += " (provisional)"
	}
	ew.printf("preferred:       %s; %s; %d switches\n", pref, Clean(st.SelectionReason, 120), st.Switches)
	ew.printf("agreement:       %d truechimers, %d needed\n", st.Truechimers, st.MinSources)
	if st.LastError != "" {
		ew.printf("last error:      %s\n", Clean(st.LastError, 200))
	}
}

// spellStatus names every set bit ("ok" when none), in parentheses.
func spellStatus(s clocksync.Status) string {
	return "(" + strings.ReplaceAll(s.String(), "|", ", ") + ")"
}

// warmupText: the warm-up progress of servers still in warm-up.
func warmupText(st *hostclock.StatusDoc) string {
	var parts []string
	for _, s := range st.Servers {
		if s.Stamps < s.Warmup {
			parts = append(parts, fmt.Sprintf("%s %d/%d stamps", Clean(s.Address, 64), s.Stamps, s.Warmup))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; warm-up: " + strings.Join(parts, ", ")
}

func fmtSec(s float64) string { return FmtNs(int64(s * 1e9)) }

var serverHeader = "SERVER\tPREF\tFALSETICKER\tUSABLE\tMIN-RTT\tPENALTY\tERR-BOUND\tOFFSET-EST\tSTAMPS\tACCEPTED\tREJECTED\tSTATUS"

func writeServers(w io.Writer, servers []hostclock.ServerDoc) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\n%s\n", serverHeader)
	for _, s := range servers {
		pen := none
		if s.Penalty != nil {
			pen = fmtSec(*s.Penalty)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%s\t%s\n", Clean(s.Address, 64), yes(s.Preferred),
			yes(s.Falseticker), yes(s.Usable), fmtSec(s.MinRTT), pen, fmtSec(s.ErrorBound), fmtSec(s.OffsetEstimate),
			s.Stamps, s.Warmup, s.Accepted, rejected(s.Rejected), Clean(clocksync.Status(s.Status).String(), 80))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the servers: %w", err)
	}
	return nil
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// rejected prints rejection counts by reason, total first.
func rejected(m map[string]uint64) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	var total uint64
	for k, v := range m {
		keys = append(keys, k)
		total += v
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", Clean(k, 32), m[k])
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ","))
}
