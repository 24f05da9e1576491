package guestclock

// What the agent accepts from Xenstore. The clock node is Dom0's; anything
// another domain could have written, and any record that does not apply to
// the counter this guest reads, is refused with a reason, and the page
// keeps the previous good record (whose bounds keep growing with age).

import (
	"errors"
	"fmt"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/xenstore"
)

// ErrRefused wraps every reason a record from Xenstore is not taken.
var ErrRefused = errors.New("clock record refused")

func refuse(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, a...))
}

// checkPerms refuses a node another domain than Dom0 may write: the owner
// (first entry) must be Dom0 and no entry may grant write access.
func checkPerms(ps xenstore.Perms) error {
	if len(ps) == 0 {
		return refuse("node has no permissions")
	}
	if ps.Owner() != 0 {
		return refuse("node owned by domain %d, not Dom0 (%s)", ps.Owner(), ps)
	}
	for i, p := range ps {
		if p.Access.CanWrite() && (i == 0 || p.Domid != 0) {
			return refuse("node writable by other domains (%s)", ps)
		}
	}
	return nil
}

// genMark is the last (marker, generation) taken from one host.
type genMark struct{ marker, gen uint64 }

// maxHosts bounds the per-host generation memory (a guest migrates among a
// handful of hosts; the oldest entry is forgotten first).
const maxHosts = 16

// history is what the acceptance checks remember: the last generation per
// host and the last good record's host/counter pairing.
type history struct {
	hosts []hostMark
	last  *clockdata.Record
}

type hostMark struct {
	host [16]byte
	m    genMark
	rec  clockdata.Record // the last record taken from the host, as taken
}

func (h *history) mark(host [16]byte) (hostMark, bool) {
	for _, e := range h.hosts {
		if e.host == host {
			return e, true
		}
	}
	return hostMark{}, false
}

// sameRecord says whether r is the host's last taken record read again
// (after a Xenstore reconnect, a resume on the same host, a move back to a
// host that has not published since): identical but for the counter
// identity, which the guest stamps itself on a local-identity counter.
// Such a read is no stale generation: refusing it kept a guest saved and
// restored on one host "disrupted" until Dom0's next record (0.75 s at a
// 1 s poll in the Xen test VMs, a whole poll at long ones).
func sameRecord(last, r *clockdata.Record) bool {
	again := *r
	again.CounterIdentity = last.CounterIdentity
	return again == *last
}

func (h *history) remember(r *clockdata.Record) {
	rc := *r
	h.last = &rc
	for i, e := range h.hosts {
		if e.host == r.HostID {
			h.hosts = append(h.hosts[:i], h.hosts[i+1:]...)
			break
		}
	}
	if len(h.hosts) >= maxHosts {
		h.hosts = h.hosts[1:]
	}
	h.hosts = append(h.hosts, hostMark{host: r.HostID, m: genMark{r.DisruptionMarker, r.Generation}, rec: rc})
}

// accept decodes and checks one clock node value read together with its
// permissions, the counter identity read just before the read (before) and
// a counter reading taken after it (rd). It returns the record or an error
// wrapping ErrRefused (or a clockdata decoding error).
//
// For a counter whose identity is local to the domain (xen-system's
// resume_gen: counter.LocalIdentity) the record's identity is Dom0's own and
// is replaced by rd's, but only when before and rd agree: then the whole
// read ran on one incarnation, so on the host whose record it is (the
// kernel's xenbus lets no request span a suspend).
func (h *history) accept(value []byte, ps xenstore.Perms, c counter.Counter, before uint64, rd counter.Reading) (clockdata.Record, error) {
	if err := checkPerms(ps); err != nil {
		return clockdata.Record{}, err
	}
	r, err := clockdata.ParseText(string(value))
	if err != nil {
		return clockdata.Record{}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if r.CounterKind != c.Kind() {
		return r, refuse("record is for counter %s, this guest reads %s", r.CounterKind, c.Kind())
	}
	if counter.IdentityIsLocal(c) {
		if before != rd.Identity {
			return r, refuse("the guest resumed (counter identity %016x -> %016x) during the read: read again",
				before, rd.Identity)
		}
		r.CounterIdentity = rd.Identity
	}
	if r.CounterIdentity != rd.Identity {
		return r, refuse("record is for counter timeline %016x, this guest's counter reads %016x (another host's record?)",
			r.CounterIdentity, rd.Identity)
	}
	if l := h.last; l != nil && l.CounterIdentity == r.CounterIdentity && l.HostID != r.HostID {
		return r, refuse("host identity %x does not match the counter: timeline %016x belongs to host %x",
			r.HostID, r.CounterIdentity, l.HostID)
	}
	if hz := c.NominalHz(); hz > 0 && (float64(r.CounterHz) < hz*0.99 || float64(r.CounterHz) > hz*1.01) {
		return r, refuse("record's nominal frequency %d Hz, the counter's is %.0f Hz", r.CounterHz, hz)
	}
	if m, ok := h.mark(r.HostID); ok && !sameRecord(&m.rec, &r) {
		if err := clockdata.CheckGeneration(m.m.marker, m.m.gen, &r); err != nil {
			return r, fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	// Dom0 reads the counter just before publishing: a reference far in
	// this counter's future is not a record of this timeline.
	if ahead := r.RefCount - rd.Count; int64(ahead) > 0 && ahead > r.CounterHz {
		return r, refuse("reference count %d is %d ticks ahead of the counter", r.RefCount, ahead)
	}
	if r.State == clockdata.StateUnknown {
		return r, refuse("clock state unknown")
	}
	return r, nil
}
