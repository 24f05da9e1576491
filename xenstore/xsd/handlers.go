package xsd

import (
	"bytes"
	"strconv"
	"syscall"

	"github.com/xenradclock/xenradclock/xenstore"
)

// request is one request as its handler sees it: the message, who sent
// it, and the transaction it runs in (nil outside one) with its view.
type request struct {
	xenstore.Msg
	a  actor
	tx *txn
	v  *view
}

// handler runs one message type. Checks happen in this order, as in
// xenstored: privilege (EACCES), the transaction id (ENOENT), then the
// handler; a type without run is ENOSYS.
type handler struct {
	run  func(c *conn, r *request) ([]byte, error) // the reply payload, or nil when it replied itself
	priv bool                                      // Dom0 only
	noTx bool                                      // tx_id not looked up: ignored, or checked by run
}

var handlers = map[xenstore.MsgType]handler{
	xenstore.TypeRead: pathOp(false, func(v *view, a actor, p string) ([]byte, error) {
		val, err := v.read(a, p)
		if err != nil {
			return nil, err
		}
		if val == nil {
			val = []byte{}
		}
		return val, nil
	}),
	xenstore.TypeWrite: {run: (*conn).opWrite},
	xenstore.TypeMkdir: pathOp(false, func(v *view, a actor, p string) ([]byte, error) {
		return okOr(v.write(a, p, nil, true))
	}),
	xenstore.TypeRm: pathOp(false, func(v *view, a actor, p string) ([]byte, error) {
		return okOr(v.rm(a, p))
	}),
	xenstore.TypeDirectory: pathOp(false, func(v *view, a actor, p string) ([]byte, error) {
		n, err := v.directory(a, p)
		if err != nil {
			return nil, err
		}
		out := xenstore.JoinStrings(n.children...)
		if len(out) > xenstore.PayloadMax {
			return nil, syscall.E2BIG // the client falls back to DIRECTORY_PART
		}
		return out, nil
	}),
	xenstore.TypeDirectoryPart: {run: (*conn).opDirectoryPart},
	xenstore.TypeGetPerms: pathOp(true, func(v *view, a actor, p string) ([]byte, error) {
		ps, err := v.getPerms(a, p)
		if err != nil {
			return nil, err
		}
		return permsPayload(ps), nil
	}),
	xenstore.TypeSetPerms:           {run: (*conn).opSetPerms},
	xenstore.TypeWatch:              {run: (*conn).opWatch, noTx: true},
	xenstore.TypeUnwatch:            {run: (*conn).opUnwatch, noTx: true},
	xenstore.TypeTransactionStart:   {run: (*conn).opTransactionStart, noTx: true},
	xenstore.TypeTransactionEnd:     {run: (*conn).opTransactionEnd},
	xenstore.TypeGetDomainPath:      domidOp(false, func(c *conn, d uint32) ([]byte, error) { return xenstore.JoinStrings(homePath(d)), nil }),
	xenstore.TypeIsDomainIntroduced: domidOp(false, (*conn).opIsDomainIntroduced),
	xenstore.TypeIntroduce:          {run: (*conn).opIntroduce, priv: true},
	xenstore.TypeRelease:            domidOp(true, (*conn).opRelease),
	xenstore.TypeResetWatches:       {run: (*conn).opResetWatches},
	// Known but not supported here: privileged first, then ENOSYS.
	xenstore.TypeResume:    {priv: true},
	xenstore.TypeSetTarget: {priv: true},
	xenstore.TypeControl:   {priv: true},
}

// dispatchLocked runs one request. It returns the reply payload, or nil
// when the handler has sent the reply itself. CONTROL, RESUME, SET_TARGET,
// GET/SET_FEATURE, GET/SET_QUOTA, the removed RESTRICT, server-to-client
// types and unknown numbers are ENOSYS.
func (c *conn) dispatchLocked(m xenstore.Msg) ([]byte, error) {
	h := handlers[m.Type]
	r := &request{Msg: m, a: c.actor()}
	if h.priv && !r.a.priv {
		return nil, syscall.EACCES
	}
	if !h.noTx && m.TxID != 0 {
		if r.tx = c.txs[m.TxID]; r.tx == nil {
			return nil, syscall.ENOENT
		}
	}
	if h.run == nil {
		return nil, syscall.ENOSYS
	}
	// A transaction over a quota is doomed: every request in it but its
	// end gets the quota's error.
	doomed := func() error {
		if r.tx != nil && r.tx.failed != nil && m.Type != xenstore.TypeTransactionEnd {
			return r.tx.failed
		}
		return nil
	}
	if err := doomed(); err != nil {
		return nil, err
	}
	r.v = c.s.view(r.tx)
	reply, err := h.run(c, r)
	if err := doomed(); err != nil {
		return nil, err
	}
	return reply, err
}

var okReply = xenstore.JoinStrings("OK")

func okOr(err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return okReply, nil
}

// pathOp is a handler for a request whose payload is exactly one path
// (special: @ paths allowed).
func pathOp(special bool, op func(v *view, a actor, p string) ([]byte, error)) handler {
	return handler{run: func(c *conn, r *request) ([]byte, error) {
		arg, err := oneArg(r.Payload)
		if err != nil {
			return nil, err
		}
		p, _, err := canonical(c.domid, arg, special)
		if err != nil {
			return nil, err
		}
		return op(r.v, r.a, p)
	}}
}

// domidOp is a handler for a request whose payload is exactly one domid.
func domidOp(priv bool, op func(c *conn, d uint32) ([]byte, error)) handler {
	return handler{priv: priv, run: func(c *conn, r *request) ([]byte, error) {
		arg, err := oneArg(r.Payload)
		if err != nil {
			return nil, err
		}
		d, err := parseDomid(arg)
		if err != nil {
			return nil, err
		}
		return op(c, d)
	}}
}

// oneArg is xenstored's onearg: the payload is exactly one NUL-terminated
// string.
func oneArg(p []byte) (string, error) {
	if len(p) == 0 || p[len(p)-1] != 0 || bytes.IndexByte(p, 0) != len(p)-1 {
		return "", syscall.EINVAL
	}
	return string(p[:len(p)-1]), nil
}

func parseDomid(s string) (uint32, error) {
	if s == "" || len(s) > 5 {
		return 0, syscall.EINVAL
	}
	d, err := strconv.ParseUint(s, 10, 32)
	if err != nil || d > xenstore.MaxDomid {
		return 0, syscall.EINVAL
	}
	return uint32(d), nil
}

// pathArgs splits a payload of at least min strings and resolves the
// first as a path.
func (c *conn) pathArgs(r *request, min int, special bool) (string, []string, bool, error) {
	args, err := xenstore.SplitStrings(r.Payload)
	if err != nil || len(args) < min {
		return "", nil, false, syscall.EINVAL
	}
	p, rel, err := canonical(c.domid, args[0], special)
	return p, args, rel, err
}

func (c *conn) opWrite(r *request) ([]byte, error) {
	i := bytes.IndexByte(r.Payload, 0)
	if i < 0 {
		return nil, syscall.EINVAL
	}
	p, _, err := canonical(c.domid, string(r.Payload[:i]), false)
	if err != nil {
		return nil, err
	}
	return okOr(r.v.write(r.a, p, r.Payload[i+1:], false))
}

func (c *conn) opDirectoryPart(r *request) ([]byte, error) {
	args, err := xenstore.SplitStrings(r.Payload)
	if err != nil || len(args) != 2 {
		return nil, syscall.EINVAL
	}
	p, _, err := canonical(c.domid, args[0], false)
	if err != nil {
		return nil, err
	}
	off, err := strconv.Atoi(args[1])
	if err != nil || off < 0 {
		return nil, syscall.EINVAL
	}
	n, err := r.v.directory(r.a, p)
	if err != nil {
		return nil, err
	}
	return directoryPart(n, off), nil
}

func (c *conn) opSetPerms(r *request) ([]byte, error) {
	p, args, _, err := c.pathArgs(r, 2, true)
	if err != nil {
		return nil, err
	}
	ps := make(xenstore.Perms, 0, len(args)-1)
	for _, x := range args[1:] {
		q, err := xenstore.ParsePerm(x)
		if err != nil {
			return nil, syscall.EINVAL
		}
		ps = append(ps, q)
	}
	return okOr(r.v.setPerms(r.a, p, ps))
}

func (c *conn) opWatch(r *request) ([]byte, error) {
	p, args, rel, err := c.pathArgs(r, 2, true) // a third string (depth) is ignored
	if err != nil {
		return nil, err
	}
	s := c.s
	for _, w := range c.watches {
		if w.path == p && w.token == args[1] {
			return nil, syscall.EEXIST
		}
	}
	if !r.a.priv && s.watchN[c.domid] >= s.quota.Watches {
		return nil, syscall.E2BIG
	}
	w := &watch{path: p, token: args[1], relative: rel}
	if err := s.chargeLocked(c.domid, watchCost(w), !r.a.priv); err != nil {
		return nil, err
	}
	c.watches = append(c.watches, w)
	s.watchN[c.domid]++
	c.sendLocked(r.Type, r.ReqID, r.TxID, okReply)
	// Xenstore fires once on registration.
	c.eventLocked(c.watchPath(w, p), w.token)
	return nil, nil
}

func (c *conn) opUnwatch(r *request) ([]byte, error) {
	p, args, _, err := c.pathArgs(r, 2, true)
	if err != nil {
		return nil, err
	}
	for i, w := range c.watches {
		if w.path == p && w.token == args[1] {
			c.watches = append(c.watches[:i], c.watches[i+1:]...)
			c.s.watchN[c.domid]--
			c.s.mem[c.domid] -= watchCost(w)
			return okReply, nil
		}
	}
	return nil, syscall.ENOENT
}

func (c *conn) opTransactionStart(r *request) ([]byte, error) {
	if r.TxID != 0 {
		return nil, syscall.EBUSY
	}
	if !r.a.priv && len(c.txs) >= c.s.quota.Transactions {
		return nil, syscall.ENOSPC
	}
	for {
		c.nextTx++
		if c.nextTx != 0 && c.txs[c.nextTx] == nil {
			break
		}
	}
	c.txs[c.nextTx] = newTxn(c.nextTx, r.a)
	return xenstore.JoinStrings(strconv.FormatUint(uint64(c.nextTx), 10)), nil
}

func (c *conn) opTransactionEnd(r *request) ([]byte, error) {
	arg, err := oneArg(r.Payload)
	if err != nil || (arg != "T" && arg != "F") {
		return nil, syscall.EINVAL
	}
	if r.tx == nil {
		return nil, syscall.ENOENT
	}
	delete(c.txs, r.tx.id)
	r.tx.releaseLocked(c.s)
	if arg == "T" {
		return okOr(c.s.commitLocked(r.tx))
	}
	return okReply, nil
}

func (c *conn) opIsDomainIntroduced(d uint32) ([]byte, error) {
	if c.s.introduced[d] {
		return xenstore.JoinStrings("T"), nil
	}
	return xenstore.JoinStrings("F"), nil
}

// opIntroduce: there is no ring to map here; INTRODUCE makes the domain
// known as IntroduceDomain does.
func (c *conn) opIntroduce(r *request) ([]byte, error) {
	args, err := xenstore.SplitStrings(r.Payload)
	if err != nil || len(args) < 3 {
		return nil, syscall.EINVAL
	}
	d, err := parseDomid(args[0])
	if err != nil || d == 0 {
		return nil, syscall.EINVAL
	}
	c.s.introduceLocked(d)
	return okReply, nil
}

func (c *conn) opRelease(d uint32) ([]byte, error) {
	if d == 0 {
		return nil, syscall.EINVAL
	}
	if !c.s.releaseLocked(d) {
		return nil, syscall.ENOENT
	}
	return okReply, nil
}

func (c *conn) opResetWatches(*request) ([]byte, error) {
	c.dropWatchesLocked()
	c.dropTxsLocked()
	return okReply, nil
}

// directoryPart is xenstored's DIRECTORY_PART reply: the node's generation,
// then as many child names from byte offset off as fit, then an empty
// string once the list is exhausted.
func directoryPart(n *node, off int) []byte {
	all := xenstore.JoinStrings(n.children...)
	gen := strconv.FormatUint(n.gen, 10)
	out := append([]byte(gen), 0)
	if off >= len(all) {
		return append(out, 0)
	}
	// Start at a name boundary even if the offset is not one.
	if off > 0 && all[off-1] != 0 {
		if i := bytes.IndexByte(all[off:], 0); i >= 0 {
			off += i + 1
		}
		if off >= len(all) {
			return append(out, 0)
		}
	}
	max := xenstore.PayloadMax - len(out) - 1
	end := off
	for end < len(all) {
		i := bytes.IndexByte(all[end:], 0)
		if end+i+1-off > max {
			break
		}
		end += i + 1
	}
	out = append(out, all[off:end]...)
	if end == len(all) {
		out = append(out, 0)
	}
	return out
}

func permsPayload(ps xenstore.Perms) []byte {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return xenstore.JoinStrings(s...)
}
