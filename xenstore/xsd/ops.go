package xsd

import (
	"slices"
	"syscall"

	"github.com/xenradclock/xenradclock/xenstore"
)

// actor is who performs an operation.
type actor struct {
	domid uint32
	priv  bool // domain 0: full access, no quotas
}

var serverActor = actor{domid: 0, priv: true}

func (a actor) access(ps xenstore.Perms) xenstore.Access {
	if a.priv {
		return xenstore.AccessBoth
	}
	return ps.For(a.domid)
}

// event is a watch trigger: watches on path or any ancestor of it fire;
// exact restricts that to watches on path itself (xenstored fires exact
// events for each node deleted below a removed root). A watcher is told
// only if it can read one of perms (the node's old and new permissions and
// its parent's), as xenstored decides.
type event struct {
	path  string
	exact bool
	perms []xenstore.Perms
}

// txn is an open transaction: an overlay over the committed tree and the
// generation of every node it looked at, compared at commit (xenstored's
// per-node conflict detection).
type txn struct {
	id      uint32
	domid   uint32           // the connection's domain, charged for the transaction's memory
	limited bool             // unprivileged: the quotas apply
	overlay map[string]*node // nil: deleted in the transaction
	seen    map[string]uint64
	events  []event
	owned   map[uint32]int // node-count deltas per owner
	mem     int            // bytes charged to domid for seen and overlay
	// failed is the quota error that doomed the transaction: once set,
	// nothing more is recorded and it can only be aborted.
	failed error
}

func newTxn(id uint32, a actor) *txn {
	return &txn{id: id, domid: a.domid, limited: !a.priv, overlay: map[string]*node{},
		seen: map[string]uint64{}, owned: map[uint32]int{}}
}

// chargeLocked accounts bytes of transaction state to the domain; on a
// quota violation the transaction fails.
func (tx *txn) chargeLocked(s *Server, bytes int) bool {
	if tx.failed != nil {
		return false
	}
	if err := s.chargeLocked(tx.domid, bytes, tx.limited); err != nil {
		tx.failed = err
		return false
	}
	tx.mem += bytes
	return true
}

// recordLocked notes that the transaction used p at generation gen.
func (tx *txn) recordLocked(s *Server, p string, gen uint64) {
	if tx.failed != nil {
		return
	}
	if tx.limited && len(tx.seen) >= s.quota.TransactionNodes {
		tx.failed = syscall.ENOSPC
		return
	}
	if tx.chargeLocked(s, len(p)+seenOverhead) {
		tx.seen[p] = gen
	}
}

// releaseLocked returns the transaction's memory to its domain.
func (tx *txn) releaseLocked(s *Server) {
	s.mem[tx.domid] -= tx.mem
	tx.mem = 0
}

// view is the tree as one request sees it: the committed tree, or a
// transaction's overlay over it. The server lock is held throughout.
type view struct {
	s  *Server
	tx *txn
}

func (s *Server) view(tx *txn) *view { return &view{s: s, tx: tx} }

func genOf(n *node) uint64 {
	if n == nil {
		return 0
	}
	return n.gen
}

func (v *view) get(p string) *node {
	if v.tx == nil {
		return v.s.nodes[p]
	}
	if n, ok := v.tx.overlay[p]; ok {
		return n
	}
	n := v.s.nodes[p]
	if _, ok := v.tx.seen[p]; !ok {
		v.tx.recordLocked(v.s, p, genOf(n))
	}
	return n
}

func (v *view) put(p string, n *node) {
	if v.tx == nil {
		v.s.putLocked(p, n)
		return
	}
	old := v.get(p)
	cost := nodeCost(p, n)
	if prev := v.tx.overlay[p]; prev != nil {
		cost -= nodeCost(p, prev)
	}
	if !v.tx.chargeLocked(v.s, cost) {
		return
	}
	if old != nil {
		v.tx.owned[old.perms.Owner()]--
	}
	v.tx.owned[n.perms.Owner()]++
	v.tx.overlay[p] = n
}

func (v *view) del(p string) {
	if v.tx == nil {
		v.s.delLocked(p)
		return
	}
	old := v.get(p)
	if v.tx.failed != nil {
		return
	}
	if old != nil {
		v.tx.owned[old.perms.Owner()]--
	}
	if prev := v.tx.overlay[p]; prev != nil {
		v.tx.chargeLocked(v.s, -nodeCost(p, prev))
	}
	v.tx.overlay[p] = nil
}

func (v *view) emit(ev event) {
	if v.tx != nil {
		// Charged: rewriting one node again and again adds no node but
		// an event each time.
		if v.tx.chargeLocked(v.s, len(ev.path)+eventOverhead) {
			v.tx.events = append(v.tx.events, ev)
		}
		return
	}
	v.s.fireLocked(ev)
}

func (v *view) ownedBy(domid uint32) int {
	n := v.s.owned[domid]
	if v.tx != nil {
		n += v.tx.owned[domid]
	}
	return n
}

// reserve checks, outside a transaction, that bytes more for owner stay
// within the memory quota (inside one, put charges the transaction).
func (v *view) reserve(a actor, owner uint32, bytes int) error {
	if v.tx != nil || a.priv {
		return nil
	}
	if bytes > 0 && v.s.mem[owner]+bytes > v.s.quota.DomainMemory {
		return syscall.ENOMEM
	}
	return nil
}

// missingErr is the error for an absent node, as xenstored's
// errno_from_parents gives it: ENOENT when the nearest existing ancestor
// grants want, EACCES otherwise (so a domain cannot probe what it may not
// see).
func (v *view) missingErr(a actor, p string, want xenstore.Access) error {
	for q := parentOf(p); ; q = parentOf(q) {
		if n := v.get(q); n != nil {
			if a.access(n.perms)&want == want {
				return syscall.ENOENT
			}
			return syscall.EACCES
		}
		if q == "/" {
			return syscall.ENOENT
		}
	}
}

func (v *view) lookup(a actor, p string, want xenstore.Access) (*node, error) {
	n := v.get(p)
	if n == nil {
		return nil, v.missingErr(a, p, want)
	}
	if a.access(n.perms)&want != want {
		return nil, syscall.EACCES
	}
	return n, nil
}

func (v *view) parentPerms(p string) xenstore.Perms {
	if p == "/" {
		return nil
	}
	if n := v.get(parentOf(p)); n != nil {
		return n.perms
	}
	return nil
}

func (v *view) checkSize(a actor, n *node) error {
	if !a.priv && n.size() > v.s.quota.NodeSize {
		return syscall.E2BIG
	}
	return nil
}

func (v *view) read(a actor, p string) ([]byte, error) {
	n, err := v.lookup(a, p, xenstore.AccessRead)
	if err != nil {
		return nil, err
	}
	return n.value, nil
}

// write sets p's value, creating p and its missing ancestors; mkdir
// creates p empty and leaves an existing node alone.
func (v *view) write(a actor, p string, value []byte, mkdir bool) error {
	if n := v.get(p); n != nil {
		if a.access(n.perms)&xenstore.AccessWrite == 0 {
			return syscall.EACCES
		}
		if mkdir {
			return nil
		}
		nn := n.clone()
		nn.value = slices.Clone(value)
		if err := v.checkSize(a, nn); err != nil {
			return err
		}
		if err := v.reserve(a, n.perms.Owner(), nodeCost(p, nn)-nodeCost(p, n)); err != nil {
			return err
		}
		v.put(p, nn)
		v.emit(event{path: p, perms: []xenstore.Perms{nn.perms, v.parentPerms(p)}})
		return nil
	}
	// Walk up to the nearest existing ancestor; it must be writable.
	missing := []string{p}
	anc := parentOf(p)
	for v.get(anc) == nil {
		missing = append(missing, anc)
		anc = parentOf(anc)
	}
	an := v.get(anc)
	if a.access(an.perms)&xenstore.AccessWrite == 0 {
		return syscall.EACCES
	}
	if !a.priv && v.ownedBy(a.domid)+len(missing) > v.s.quota.Nodes {
		return syscall.ENOSPC
	}
	perms := an.perms.Clone()
	if !a.priv {
		perms[0].Domid = a.domid
	}
	// Build and check everything before storing anything, so that a
	// quota error leaves no half-made chain behind.
	par := an.clone()
	par.children = append(par.children, baseOf(missing[len(missing)-1]))
	if err := v.checkSize(a, par); err != nil {
		return err
	}
	made := make([]*node, len(missing))
	growth := len(baseOf(missing[len(missing)-1])) + 1
	for i := range missing {
		n := &node{perms: perms.Clone()}
		if i > 0 {
			n.children = []string{baseOf(missing[i-1])}
		} else {
			n.value = slices.Clone(value)
		}
		if err := v.checkSize(a, n); err != nil {
			return err
		}
		made[i] = n
		growth += nodeCost(missing[i], n)
	}
	if err := v.reserve(a, a.domid, growth); err != nil {
		return err
	}
	v.put(anc, par)
	for i := len(missing) - 1; i >= 0; i-- {
		v.put(missing[i], made[i])
	}
	v.emit(event{path: p, perms: []xenstore.Perms{perms, an.perms}})
	return nil
}

func (v *view) rm(a actor, p string) error {
	if p == "/" {
		return syscall.EINVAL
	}
	n := v.get(p)
	if n == nil {
		err := v.missingErr(a, p, xenstore.AccessWrite)
		if err == syscall.ENOENT && v.get(parentOf(p)) != nil {
			return nil // absent with a parent: fine, as xenstored says
		}
		return err
	}
	if a.access(n.perms)&xenstore.AccessWrite == 0 {
		return syscall.EACCES
	}
	var walk func(path string, n *node)
	walk = func(path string, n *node) {
		for _, c := range n.children {
			cp := childPath(path, c)
			if cn := v.get(cp); cn != nil {
				walk(cp, cn)
				v.del(cp)
				v.emit(event{path: cp, exact: true, perms: []xenstore.Perms{cn.perms, n.perms}})
			}
		}
	}
	walk(p, n)
	parent := v.get(parentOf(p))
	v.del(p)
	v.emit(event{path: p, perms: []xenstore.Perms{n.perms, parent.perms}})
	np := parent.clone()
	np.children = slices.DeleteFunc(np.children, func(c string) bool { return c == baseOf(p) })
	v.put(parentOf(p), np)
	return nil
}

func (v *view) directory(a actor, p string) (*node, error) {
	return v.lookup(a, p, xenstore.AccessRead)
}

func (v *view) getPerms(a actor, p string) (xenstore.Perms, error) {
	if p[0] == '@' {
		ps, ok := v.s.specials[p]
		if !ok {
			return nil, syscall.ENOENT
		}
		if a.access(ps)&xenstore.AccessRead == 0 {
			return nil, syscall.EACCES
		}
		return ps, nil
	}
	n, err := v.lookup(a, p, xenstore.AccessRead)
	if err != nil {
		return nil, err
	}
	return n.perms, nil
}

func (v *view) setPerms(a actor, p string, ps xenstore.Perms) error {
	if !a.priv && len(ps) > v.s.quota.PermEntries {
		return syscall.ENOSPC
	}
	if p[0] == '@' {
		old, ok := v.s.specials[p]
		if !ok {
			return syscall.ENOENT
		}
		if !a.priv && old.Owner() != a.domid {
			return syscall.EACCES
		}
		if !a.priv && ps.Owner() != old.Owner() {
			return syscall.EPERM
		}
		v.s.specials[p] = ps.Clone()
		v.s.markDirty()
		return nil
	}
	n := v.get(p)
	if n == nil {
		return v.missingErr(a, p, xenstore.AccessWrite)
	}
	// Only the owner (or a privileged domain) may change permissions.
	if !a.priv && n.perms.Owner() != a.domid {
		return syscall.EACCES
	}
	if !a.priv && ps.Owner() != n.perms.Owner() {
		return syscall.EPERM
	}
	nn := n.clone()
	nn.perms = ps.Clone()
	if err := v.checkSize(a, nn); err != nil {
		return err
	}
	if err := v.reserve(a, nn.perms.Owner(), nodeCost(p, nn)-nodeCost(p, n)); err != nil {
		return err
	}
	v.put(p, nn)
	v.emit(event{path: p, perms: []xenstore.Perms{n.perms, nn.perms, v.parentPerms(p)}})
	return nil
}

// commit applies tx to the committed tree, or reports EAGAIN when a node it
// used changed since, or the quota error that doomed it. The node quota is
// checked again against the committed count: transactions that were each
// within it may together exceed it.
func (s *Server) commitLocked(tx *txn) error {
	if tx.failed != nil {
		return tx.failed
	}
	for p, g := range tx.seen {
		if genOf(s.nodes[p]) != g {
			s.conflicts++
			return syscall.EAGAIN
		}
	}
	if d := tx.owned[tx.domid]; tx.limited && d > 0 && s.owned[tx.domid]+d > s.quota.Nodes {
		return syscall.ENOSPC
	}
	for p, n := range tx.overlay {
		if n == nil {
			s.delLocked(p)
		} else {
			s.putLocked(p, n)
		}
	}
	for _, ev := range tx.events {
		s.fireLocked(ev)
	}
	return nil
}
