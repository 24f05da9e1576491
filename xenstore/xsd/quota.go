package xsd

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Quota holds the limits applied to unprivileged domains (DefaultQuota's
// values unless set). Violations are reported as xenstored does: E2BIG for
// node size and watch count, ENOSPC for node counts, transaction count and
// permission entries, ENOMEM for memory. OutputQueue, OutputBytes and
// Outstanding apply to every connection, Dom0's included.
type Quota struct {
	NodeSize     int // bytes: value + child names + permission entries
	Nodes        int // nodes owned per domain, checked per request and again at commit
	Watches      int // watches per domain
	Transactions int // open transactions per connection
	PermEntries  int // entries in one permission list
	// TransactionNodes is how many distinct nodes one transaction may
	// touch (read, write, or pass on the way to a missing node), as
	// oxenstored's limit; beyond it the request and the commit get ENOSPC.
	TransactionNodes int
	// DomainMemory is the bytes a domain may make the server hold: the
	// nodes it owns (path, value, child names, permissions), the read and
	// write sets of its open transactions and its watches, each with a
	// fixed per-entry overhead. Beyond it: ENOMEM.
	DomainMemory int
	// Connections is how many connections one domain may have open at
	// once (over all its sockets); more are accepted and closed at once.
	Connections int
	// Outstanding is how many replies may wait for a connection that does
	// not read them before the server stops reading its requests.
	Outstanding int
	// OutputQueue and OutputBytes bound the messages (replies and watch
	// events) waiting for a slow reader; a connection that exceeds either
	// is dropped, as xenstored drops a connection it cannot write to.
	OutputQueue int
	OutputBytes int
}

// DefaultQuota is xenstored's defaults where it has one (node size, nodes,
// watches, transactions, permission entries), oxenstored's 1024 nodes per
// transaction, and the project's choices for the rest.
var DefaultQuota = Quota{
	NodeSize: 2048, Nodes: 1000, Watches: 128, Transactions: 10, PermEntries: 5,
	TransactionNodes: 1024, DomainMemory: 2 << 20, Connections: 16,
	Outstanding: 20, OutputQueue: 4096, OutputBytes: 1 << 20,
}

// quotaFields names every quota, for --quota NAME=VALUE and the docs.
func (q *Quota) fields() []struct {
	name string
	v    *int
} {
	return []struct {
		name string
		v    *int
	}{
		{"node-size", &q.NodeSize}, {"nodes", &q.Nodes}, {"watches", &q.Watches},
		{"transactions", &q.Transactions}, {"perm-entries", &q.PermEntries},
		{"transaction-nodes", &q.TransactionNodes}, {"domain-memory", &q.DomainMemory},
		{"connections", &q.Connections}, {"outstanding", &q.Outstanding},
		{"output-queue", &q.OutputQueue}, {"output-bytes", &q.OutputBytes},
	}
}

// withDefaults fills the zero (or negative) fields from DefaultQuota.
func (q Quota) withDefaults() Quota {
	d := DefaultQuota
	df := d.fields()
	for i, f := range q.fields() {
		if *f.v <= 0 {
			*f.v = *df[i].v
		}
	}
	return q
}

// Set sets the quota called name (as QuotaNames lists them) from a decimal
// value, e.g. Set("nodes", "2000").
func (q *Quota) Set(name, value string) error {
	for _, f := range q.fields() {
		if f.name == name {
			n, err := strconv.Atoi(value)
			if err != nil || n <= 0 {
				return fmt.Errorf("xsd: quota %s=%q: want a positive integer", name, value)
			}
			*f.v = n
			return nil
		}
	}
	return fmt.Errorf("xsd: no quota %q (known: %s)", name, strings.Join(QuotaNames(), ", "))
}

// QuotaNames lists the quota names Set accepts, sorted.
func QuotaNames() []string {
	var q Quota
	var out []string
	for _, f := range q.fields() {
		out = append(out, f.name)
	}
	sort.Strings(out)
	return out
}

// Per-entry overheads charged to DomainMemory besides the strings
// themselves: roughly what the map entry and the node struct cost.
const (
	nodeOverhead  = 96
	seenOverhead  = 48
	watchOverhead = 64
	eventOverhead = 64 // a transaction's pending watch event
)

// nodeCost is what a stored node at p is charged to its owner.
func nodeCost(p string, n *node) int { return len(p) + n.size() + nodeOverhead }

// chargeLocked adds delta bytes to domid's account; when limited, growth
// beyond the memory quota is refused with ENOMEM and nothing is charged.
func (s *Server) chargeLocked(domid uint32, delta int, limited bool) error {
	if limited && delta > 0 && s.mem[domid]+delta > s.quota.DomainMemory {
		return syscall.ENOMEM
	}
	s.mem[domid] += delta
	return nil
}

// Usage is what one domain holds in the server.
type Usage struct {
	Nodes        int // nodes it owns
	MemoryBytes  int // what DomainMemory counts
	Watches      int
	Transactions int // open, over all its connections
	Connections  int
	QueuedBytes  int // replies and events waiting for its connections to read them
}

// Usage reports domid's consumption of the quotas.
func (s *Server) Usage(domid uint32) Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := Usage{Nodes: s.owned[domid], MemoryBytes: s.mem[domid], Watches: s.watchN[domid], Connections: s.connN[domid]}
	for c := range s.conns {
		if c.domid == domid {
			u.Transactions += len(c.txs)
			c.outMu.Lock()
			u.QueuedBytes += c.queuedBytes + c.inflightBytes
			c.outMu.Unlock()
		}
	}
	return u
}
