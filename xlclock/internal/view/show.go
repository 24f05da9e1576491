package view

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Find returns the domain named by arg: a domain id, else an exact
// (sanitised) name. Two domains with the name are an error naming both ids.
func (s *Snapshot) Find(arg string) (*Domain, error) {
	if id, err := strconv.ParseUint(arg, 10, 32); err == nil {
		for i := range s.Domains {
			if uint64(s.Domains[i].Domid) == id {
				return &s.Domains[i], nil
			}
		}
		return nil, fmt.Errorf("no domain with id %d (xlclock list shows them)", id)
	}
	var found []*Domain
	for i := range s.Domains {
		if s.Domains[i].Name == arg {
			found = append(found, &s.Domains[i])
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no domain named %q (xlclock list shows them)", Clean(arg, maxNameRunes))
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, d := range found {
		ids[i] = strconv.FormatUint(uint64(d.Domid), 10)
	}
	return nil, fmt.Errorf("%d domains are named %q (ids %s): give the id", len(found), arg, strings.Join(ids, ", "))
}

// ShowDoc is `xlclock show --json`: the domain, and this host's record for
// comparison.
type ShowDoc struct {
	NowUnixNs int64   `json:"now_unix_ns"`
	Domain    *Domain `json:"domain"`
	Host      Host    `json:"host"`
}

// Show returns the show document for d.
func (s *Snapshot) Show(d *Domain) ShowDoc {
	return ShowDoc{NowUnixNs: s.NowUnixNs, Domain: d, Host: s.Host}
}

// utcNs prints UNIX ns as UTC with µs and how long ago.
func utcNs(unixNs, nowNs int64) string {
	if unixNs == 0 {
		return "never"
	}
	t := time.Unix(0, unixNs).UTC().Format("2006-01-02T15:04:05.000000Z")
	return fmt.Sprintf("%s (%s ago)", t, FmtNs(nowNs-unixNs))
}

// WriteShow prints everything known about one domain's clock.
func (doc ShowDoc) WriteShow(w io.Writer) error {
	d := doc.Domain
	ew := &errWriter{w: w}
	ew.printf("domain:        %s (id %d)\n", cell(d.Name), d.Domid)
	r := d.Report
	if r == nil {
		ew.printf("agent:         %s\n", agentText(d))
		if h := doc.Host.Clock; h != nil && d.Domid == 0 {
			ew.printf("clock:         this host's, published by dom0d: generation %d, %s on %s, age %s (xlclock host shows it in full)\n",
				h.Generation, h.State, h.Counter, FmtNs(h.AgeNs))
		}
		return ew.done("show")
	}
	ew.printf("agent:         version %s, reporting\n", cell(r.AgentVersion))
	ew.printf("mode:          %s\n", cell(r.Mode))
	ew.printf("clock host:    %s\n", doc.hostText(r.HostID, r.HostName))
	ew.printf("counter:       %s\n", cell(r.Counter))
	ew.printf("state:         %s\n", cell(r.State))
	ew.printf("generation:    %s\n", doc.genText(r.Mode, r.Generation))
	ew.printf("error bound:   %s statistical, %s guaranteed (when reported)\n", fmtU(r.ErrorBoundNs), fmtU(r.MaxErrorNs))
	ew.printf("clock updated: %s\n", utcNs(r.UpdatedUnixNs, doc.NowUnixNs))
	ew.printf("reported:      %s\n", utcNs(r.ReportedUnixNs, doc.NowUnixNs))
	ew.printf("disruptions:   %d\n", r.Disruptions)
	if m := r.LastMigration; m != nil {
		ew.printf("last %-9s %s\n", cell(m.Kind)+":", utcNs(m.AtUnixNs, doc.NowUnixNs))
		ew.printf("  from → to:   %s → %s\n", cell(m.FromHost), cell(m.ToHost))
		ew.printf("  step:        %s (new host's clock minus the old one's, across the pause)\n", FmtStepNs(m.StepNs))
		ew.printf("  pause:       %s\n", FmtNs(m.PauseNs))
		ew.printf("  disrupted:   %s (readers told \"disrupted\")\n", FmtNs(m.DisruptedNs))
	} else {
		ew.printf("last migration: none\n")
	}
	ew.printf("notes:         %s\n", noteText(d.Notes))
	return ew.done("show")
}

func agentText(d *Domain) string {
	switch d.Agent {
	case AgentNone:
		return "none (no data/xenradclock/report node: no domu-agent runs in this domain)"
	case AgentInvalid:
		return "invalid report: " + d.AgentError
	default:
		return "report unreadable: " + d.AgentError
	}
}

// hostText names the host whose clock the guest uses, and whether it is
// this one.
func (doc ShowDoc) hostText(id, name string) string {
	if id == "" {
		return "none"
	}
	s := cell(name)
	if name == "" && len(id) >= 8 {
		s = id[:8]
	}
	s += " (host id " + Clean(id, 32) + ")"
	if doc.Host.HostID == "" {
		return s
	}
	if id == doc.Host.HostID {
		return s + ", this host"
	}
	return s + ", not this host (" + cell(doc.Host.Name) + ")"
}

func (doc ShowDoc) genText(mode string, gen uint64) string {
	if mode != "dependent" {
		return "- (no host record: the guest's own clock)"
	}
	if h := doc.Host.Clock; h != nil {
		return fmt.Sprintf("%d (this host's record: %d)", gen, h.Generation)
	}
	return strconv.FormatUint(gen, 10)
}

var noteMeaning = map[string]string{
	NoteStale:     "stale: the agent has not reported for longer than the staleness limit",
	NoteFuture:    "future: the report is dated later than this host's clock",
	NoteOtherHost: "other-host: the guest serves another host's clock",
	NoteBehind:    "behind: the guest still served an older generation of this host's record more than 3 s after a newer one appeared",
	NoteUndated:   "undated: the report does not say when it was written",
}

func noteText(n []string) string {
	if len(n) == 0 {
		return "none"
	}
	parts := make([]string, len(n))
	for i, k := range n {
		parts[i] = noteMeaning[k]
	}
	return strings.Join(parts, "; ")
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}

func (e *errWriter) done(what string) error {
	if e.err != nil {
		return fmt.Errorf("writing %s: %w", what, e.err)
	}
	return nil
}
