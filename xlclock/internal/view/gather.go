// Package view is the logic behind xlclock's list, show, host and watch
// commands: it gathers what dom0d publishes and what every guest agent
// reports from Xenstore (and dom0d's status file), sanitises everything a
// guest wrote, and formats tables and JSON documents. docs/xlclock.md
// documents the output.
package view

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/guestclock/report"
	"github.com/xenradclock/xenradclock/xenstore"
)

// Xenstore paths read, beside each domain's report.Node.
const (
	DomainsPath  = "/local/domain"
	RecordPath   = "/xenradclock/clock"
	HostNamePath = "/xenradclock/host-name"
)

// MaxDomains bounds how many domains one snapshot reads; entries past it
// are counted in Snapshot.Skipped.
const MaxDomains = 4096

// Bounds on strings after sanitising: names in Xenstore, report strings.
const (
	maxNameRunes   = 64
	maxReportRunes = 128
)

// Agent says what a domain's report node held.
type Agent string

const (
	AgentReporting  Agent = "reporting"  // a valid report
	AgentNone       Agent = "none"       // no report node: no agent
	AgentInvalid    Agent = "invalid"    // a report that report.Parse refused
	AgentUnreadable Agent = "unreadable" // the node could not be read (permissions, a Xenstore error)
)

// Snapshot is one consistent-enough look at a host: its clock and every
// domain, taken at Now.
type Snapshot struct {
	NowUnixNs int64    `json:"now_unix_ns"`
	Host      Host     `json:"host"`
	Domains   []Domain `json:"domains"`
	Skipped   int      `json:"skipped,omitempty"` // /local/domain entries not read (not a domid, or past MaxDomains)
	// XLError says why libxl's view is missing (xenlight builds only).
	XLError string `json:"xl_error,omitempty"`
}

// Host is this host's published clock as Xenstore has it.
type Host struct {
	Name   string `json:"name"` // host-name node, or the first 8 hex digits of the host id
	HostID string `json:"host_id,omitempty"`
	// Error says why there is no record (none published, unparseable).
	Error  string            `json:"error,omitempty"`
	Record *clockdata.Record `json:"-"`
	Clock  *HostRecord       `json:"record,omitempty"`
}

// HostRecord is the summary of the record shown beside the guests.
type HostRecord struct {
	Generation   uint64 `json:"generation"`
	Marker       string `json:"disruption_marker"`
	Counter      string `json:"counter"`
	State        string `json:"state"`
	Status       string `json:"status"`
	ErrorBoundNs uint64 `json:"error_bound_ns"`
	MaxErrorNs   uint64 `json:"max_error_ns"`
	RefTime      string `json:"ref_time"` // Ca at the reference count, UNIX seconds, 9 decimals
	// AgeNs is how long ago the record took over: on the record's counter
	// when this machine can read it, else now − RefTime by the system clock.
	AgeNs  int64  `json:"age_ns"`
	PollNs uint64 `json:"poll_ns"`
}

// Domain is one domain and what its agent reports.
type Domain struct {
	Domid uint32 `json:"domid"`
	Name  string `json:"name"`
	Agent Agent  `json:"agent"`
	// AgentError says why a report is invalid or unreadable.
	AgentError string         `json:"agent_error,omitempty"`
	Report     *report.Report `json:"report,omitempty"` // strings sanitised
	// DataAgeNs is now − the report's reported_unix_ns (the guest's clock);
	// 0 without a report.
	DataAgeNs int64 `json:"data_age_ns"`
	// XL is libxl's view of the domain (xenlight builds only).
	XL *XLInfo `json:"xl,omitempty"`
	// Notes: stale (the report is older than StaleAfter), future (reported
	// later than now), other-host (a dependent guest on another host's
	// clock), behind (an older generation of this host's record), undated
	// (no reported_unix_ns).
	Notes []string `json:"notes,omitempty"`
}

// Options tune a snapshot.
type Options struct {
	// Now is the time the snapshot is taken at (default time.Now).
	Now func() time.Time
	// StaleAfter: a report older than this is stale (default: three of
	// the host's polls, at least 10 s).
	StaleAfter time.Duration
	// ReadCounter, when set, reads the counter the host record is defined
	// on, so that the record's age is measured on its own timeline instead
	// of against this machine's system clock (which may differ from the
	// host clock by its offset). A failure falls back to the system clock.
	ReadCounter func(counter.Kind) (counter.Reading, error)
	// XLDomains, when set, lists the domains as libxl sees them (the
	// xenlight build); when it fails the snapshot is Xenstore's alone and
	// says why in XLError.
	XLDomains func() (map[uint32]XLInfo, error)
}

// Gather reads the host's record and every domain's name and report. It
// fails only when Xenstore cannot be read at all; anything wrong with one
// domain is recorded in that domain.
func Gather(ctx context.Context, c *xenstore.Client, o Options) (*Snapshot, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	names, err := c.Directory(ctx, DomainsPath)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", DomainsPath, err)
	}
	ids, skipped := domids(names)
	s := &Snapshot{Skipped: skipped}
	s.Host = readHost(ctx, c)
	for _, id := range ids {
		d, err := readDomain(ctx, c, id)
		if err != nil {
			return nil, err
		}
		s.Domains = append(s.Domains, d)
	}
	if o.XLDomains != nil {
		if xl, err := o.XLDomains(); err != nil {
			s.XLError = Clean("listing domains through libxl: "+err.Error(), 200)
		} else {
			s.mergeXL(xl)
		}
	}
	s.NowUnixNs = now().UnixNano()
	s.derive(o.StaleAfter)
	if r := s.Host.Record; r != nil && o.ReadCounter != nil {
		if rd, err := o.ReadCounter(r.CounterKind); err == nil && rd.Identity == r.CounterIdentity {
			s.Host.Clock.AgeNs = r.Difference(r.RefCount, rd.Count).Nanos()
		}
	}
	return s, nil
}

// domids keeps the entries that are domain ids, sorted, at most MaxDomains.
func domids(names []string) ([]uint32, int) {
	var ids []uint32
	skipped := 0
	for _, n := range names {
		v, err := strconv.ParseUint(n, 10, 32)
		if err != nil || v > xenstore.MaxDomid || strconv.FormatUint(v, 10) != n {
			skipped++
			continue
		}
		ids = append(ids, uint32(v))
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if len(ids) > MaxDomains {
		skipped += len(ids) - MaxDomains
		ids = ids[:MaxDomains]
	}
	return ids, skipped
}

// fatal reports whether err means Xenstore itself is unusable (the
// connection, the deadline), not that one node is missing or forbidden.
func fatal(err error) bool {
	var xe *xenstore.Error
	return err != nil && !errors.As(err, &xe)
}

func readHost(ctx context.Context, c *xenstore.Client) Host {
	var h Host
	b, err := c.Read(ctx, RecordPath)
	switch {
	case errors.Is(err, xenstore.ErrNotFound):
		h.Error = "no clock record at " + RecordPath + " (is dom0d running and publishing to this Xenstore?)"
	case err != nil:
		h.Error = Clean(err.Error(), 200)
	default:
		rec, err := clockdata.ParseText(string(b))
		if err != nil {
			h.Error = Clean(fmt.Sprintf("record at %s: %v", RecordPath, err), 200)
			break
		}
		h.Record = &rec
		h.HostID = hex.EncodeToString(rec.HostID[:])
	}
	if b, err := c.Read(ctx, HostNamePath); err == nil && len(b) > 0 {
		h.Name = Clean(string(b), maxNameRunes)
	} else if h.HostID != "" {
		h.Name = h.HostID[:8]
	}
	return h
}

func readDomain(ctx context.Context, c *xenstore.Client, id uint32) (Domain, error) {
	home := DomainsPath + "/" + strconv.FormatUint(uint64(id), 10)
	d := Domain{Domid: id}
	name, err := c.Read(ctx, home+"/name")
	if fatal(err) {
		return d, fmt.Errorf("reading %s/name: %w", home, err)
	}
	d.Name = Clean(string(name), maxNameRunes)
	if err != nil || d.Name == "" {
		d.Name = "(unnamed)"
	}
	b, err := c.Read(ctx, home+"/"+report.Node)
	switch {
	case fatal(err):
		return d, fmt.Errorf("reading %s/%s: %w", home, report.Node, err)
	case errors.Is(err, xenstore.ErrNotFound):
		d.Agent = AgentNone
	case err != nil:
		d.Agent, d.AgentError = AgentUnreadable, Clean(err.Error(), 200)
	default:
		r, err := report.Parse(b)
		if err != nil {
			d.Agent, d.AgentError = AgentInvalid, Clean(err.Error(), 200)
			break
		}
		cleanReport(&r)
		d.Agent, d.Report = AgentReporting, &r
	}
	return d, nil
}

// cleanReport sanitises every string of a parsed report in place.
func cleanReport(r *report.Report) {
	for _, p := range []*string{&r.AgentVersion, &r.Mode, &r.Counter, &r.State, &r.HostID, &r.HostName} {
		*p = Clean(*p, maxReportRunes)
	}
	if m := r.LastMigration; m != nil {
		for _, p := range []*string{&m.FromHost, &m.ToHost, &m.Kind} {
			*p = Clean(*p, maxReportRunes)
		}
	}
}

func sortDomains(ds []Domain) {
	sort.Slice(ds, func(i, j int) bool { return ds[i].Domid < ds[j].Domid })
}
