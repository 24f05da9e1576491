package xsd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/xenstore"
)

type watch struct {
	path     string // canonical
	token    string
	relative bool // registered with a relative path: events are reported relative
}

// conn is one client connection. Requests are handled one at a time in the
// order received, under the server lock; replies and events go through a
// bounded queue to a writer goroutine so that a slow reader never stalls
// the server.
type conn struct {
	s     *Server
	nc    net.Conn
	domid uint32
	log   *zap.Logger

	outMu   sync.Mutex
	outQ    [][]byte // replies and events waiting for the writer
	outKick chan struct{}
	dead    chan struct{}
	once    sync.Once

	// Under s.mu:
	watches []*watch
	txs     map[uint32]*txn
	nextTx  uint32
}

func (s *Server) newConn(nc net.Conn, domid uint32) *conn {
	c := &conn{s: s, nc: nc, domid: domid, outKick: make(chan struct{}, 1),
		dead: make(chan struct{}), txs: map[uint32]*txn{},
		log: s.log.With(zap.Uint32("domid", domid))}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.conns[c] = struct{}{}
	return c
}

func (c *conn) actor() actor { return actor{domid: c.domid, priv: c.domid == 0} }

func (c *conn) kill(why string) {
	c.once.Do(func() {
		c.log.Debug("dropping connection", zap.String("reason", why))
		close(c.dead)
		c.nc.Close()
	})
}

func (c *conn) run() {
	go c.writer()
	r := bufio.NewReaderSize(c.nc, 8192)
	for {
		m, err := xenstore.ReadMsg(r)
		if err != nil {
			switch {
			case errors.Is(err, xenstore.ErrPayloadTooLong):
				// xenstored treats this as a protocol violation and
				// drops the connection; so do we.
				c.log.Warn("client sent an oversize payload; dropping the connection", zap.Error(err))
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			default:
				c.log.Debug("read failed", zap.Error(err))
			}
			break
		}
		if c.s.trace {
			c.log.Debug("request", zap.Stringer("type", m.Type), zap.Uint32("req", m.ReqID),
				zap.Uint32("tx", m.TxID), zap.ByteString("payload", m.Payload))
		}
		c.handle(m)
	}
	c.kill("closed")
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.watchN[c.domid] -= len(c.watches)
	c.watches = nil
	c.txs = nil
	c.s.mu.Unlock()
}

// writer sends whatever is queued in one writev.
func (c *conn) writer() {
	for {
		select {
		case <-c.outKick:
		case <-c.dead:
			return
		}
		c.outMu.Lock()
		q := c.outQ
		c.outQ = nil
		c.outMu.Unlock()
		if len(q) == 0 {
			continue
		}
		bufs := net.Buffers(q)
		if _, err := bufs.WriteTo(c.nc); err != nil {
			c.kill("write failed")
			return
		}
	}
}

// sendLocked queues a message; a connection that lets its queue fill is
// dropped rather than letting the server buffer without bound.
func (c *conn) sendLocked(typ xenstore.MsgType, req, tx uint32, payload []byte) {
	b := make([]byte, 0, xenstore.HeaderSize+len(payload))
	b = xenstore.AppendHeader(b, xenstore.Header{Type: typ, ReqID: req, TxID: tx, Len: uint32(len(payload))})
	b = append(b, payload...)
	if c.s.trace {
		c.log.Debug("send", zap.Stringer("type", typ), zap.Uint32("req", req),
			zap.Uint32("tx", tx), zap.ByteString("payload", payload))
	}
	c.outMu.Lock()
	full := len(c.outQ) >= c.s.quota.OutputQueue
	if !full {
		c.outQ = append(c.outQ, b)
	}
	c.outMu.Unlock()
	if full {
		go c.kill("output queue full")
		return
	}
	select {
	case c.outKick <- struct{}{}:
	default:
	}
}

func (c *conn) eventLocked(path, token string) {
	c.sendLocked(xenstore.TypeWatchEvent, 0, 0, xenstore.JoinStrings(path, token))
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

var okReply = xenstore.JoinStrings("OK")

func (c *conn) handle(m xenstore.Msg) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	reply, err := c.dispatchLocked(m)
	if err != nil {
		c.sendLocked(xenstore.TypeError, m.ReqID, m.TxID, xenstore.ErrorPayload(err))
		return
	}
	if reply != nil {
		c.sendLocked(m.Type, m.ReqID, m.TxID, reply)
	}
}

// dispatchLocked runs one request. It returns the reply payload, or nil
// when it has sent the reply itself.
func (c *conn) dispatchLocked(m xenstore.Msg) ([]byte, error) {
	s := c.s
	a := c.actor()
	switch m.Type {
	case xenstore.TypeIntroduce, xenstore.TypeRelease, xenstore.TypeResume,
		xenstore.TypeSetTarget, xenstore.TypeControl:
		if !a.priv {
			return nil, syscall.EACCES
		}
	}
	var tx *txn
	switch m.Type {
	case xenstore.TypeWatch, xenstore.TypeUnwatch, xenstore.TypeTransactionStart:
		// The transaction id is ignored (or must be 0: below).
	default:
		if m.TxID != 0 {
			tx = c.txs[m.TxID]
			if tx == nil {
				return nil, syscall.ENOENT
			}
		}
	}
	v := s.view(tx)
	path := func(special bool) (string, error) {
		arg, err := oneArg(m.Payload)
		if err != nil {
			return "", err
		}
		p, _, err := canonical(c.domid, arg, special)
		return p, err
	}

	switch m.Type {
	case xenstore.TypeRead:
		p, err := path(false)
		if err != nil {
			return nil, err
		}
		val, err := v.read(a, p)
		if err != nil {
			return nil, err
		}
		if val == nil {
			val = []byte{}
		}
		return val, nil

	case xenstore.TypeWrite:
		i := bytes.IndexByte(m.Payload, 0)
		if i < 0 {
			return nil, syscall.EINVAL
		}
		p, _, err := canonical(c.domid, string(m.Payload[:i]), false)
		if err != nil {
			return nil, err
		}
		if err := v.write(a, p, m.Payload[i+1:], false); err != nil {
			return nil, err
		}
		return okReply, nil

	case xenstore.TypeMkdir:
		p, err := path(false)
		if err != nil {
			return nil, err
		}
		if err := v.write(a, p, nil, true); err != nil {
			return nil, err
		}
		return okReply, nil

	case xenstore.TypeRm:
		p, err := path(false)
		if err != nil {
			return nil, err
		}
		if err := v.rm(a, p); err != nil {
			return nil, err
		}
		return okReply, nil

	case xenstore.TypeDirectory:
		p, err := path(false)
		if err != nil {
			return nil, err
		}
		n, err := v.directory(a, p)
		if err != nil {
			return nil, err
		}
		out := xenstore.JoinStrings(n.children...)
		if len(out) > xenstore.PayloadMax {
			return nil, syscall.E2BIG // the client falls back to DIRECTORY_PART
		}
		return out, nil

	case xenstore.TypeDirectoryPart:
		args, err := xenstore.SplitStrings(m.Payload)
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
		n, err := v.directory(a, p)
		if err != nil {
			return nil, err
		}
		return directoryPart(n, off), nil

	case xenstore.TypeGetPerms:
		p, err := path(true)
		if err != nil {
			return nil, err
		}
		ps, err := v.getPerms(a, p)
		if err != nil {
			return nil, err
		}
		return permsPayload(ps), nil

	case xenstore.TypeSetPerms:
		args, err := xenstore.SplitStrings(m.Payload)
		if err != nil || len(args) < 2 {
			return nil, syscall.EINVAL
		}
		p, _, err := canonical(c.domid, args[0], true)
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
		if err := v.setPerms(a, p, ps); err != nil {
			return nil, err
		}
		return okReply, nil

	case xenstore.TypeWatch:
		args, err := xenstore.SplitStrings(m.Payload)
		if err != nil || len(args) < 2 {
			return nil, syscall.EINVAL // a third string (depth) is ignored
		}
		p, rel, err := canonical(c.domid, args[0], true)
		if err != nil {
			return nil, err
		}
		for _, w := range c.watches {
			if w.path == p && w.token == args[1] {
				return nil, syscall.EEXIST
			}
		}
		if !a.priv && s.watchN[c.domid] >= s.quota.Watches {
			return nil, syscall.E2BIG
		}
		w := &watch{path: p, token: args[1], relative: rel}
		c.watches = append(c.watches, w)
		s.watchN[c.domid]++
		c.sendLocked(m.Type, m.ReqID, m.TxID, okReply)
		// Xenstore fires once on registration.
		c.eventLocked(c.watchPath(w, p), w.token)
		return nil, nil

	case xenstore.TypeUnwatch:
		args, err := xenstore.SplitStrings(m.Payload)
		if err != nil || len(args) < 2 {
			return nil, syscall.EINVAL
		}
		p, _, err := canonical(c.domid, args[0], true)
		if err != nil {
			return nil, err
		}
		for i, w := range c.watches {
			if w.path == p && w.token == args[1] {
				c.watches = append(c.watches[:i], c.watches[i+1:]...)
				s.watchN[c.domid]--
				return okReply, nil
			}
		}
		return nil, syscall.ENOENT

	case xenstore.TypeTransactionStart:
		if m.TxID != 0 {
			return nil, syscall.EBUSY
		}
		if !a.priv && len(c.txs) >= s.quota.Transactions {
			return nil, syscall.ENOSPC
		}
		for {
			c.nextTx++
			if c.nextTx != 0 && c.txs[c.nextTx] == nil {
				break
			}
		}
		c.txs[c.nextTx] = newTxn(c.nextTx)
		return xenstore.JoinStrings(strconv.FormatUint(uint64(c.nextTx), 10)), nil

	case xenstore.TypeTransactionEnd:
		arg, err := oneArg(m.Payload)
		if err != nil || (arg != "T" && arg != "F") {
			return nil, syscall.EINVAL
		}
		if tx == nil {
			return nil, syscall.ENOENT
		}
		delete(c.txs, tx.id)
		if arg == "T" {
			if err := s.commitLocked(tx); err != nil {
				return nil, err
			}
		}
		return okReply, nil

	case xenstore.TypeGetDomainPath:
		arg, err := oneArg(m.Payload)
		if err != nil {
			return nil, err
		}
		d, err := parseDomid(arg)
		if err != nil {
			return nil, err
		}
		return xenstore.JoinStrings(homePath(d)), nil

	case xenstore.TypeIsDomainIntroduced:
		arg, err := oneArg(m.Payload)
		if err != nil {
			return nil, err
		}
		d, err := parseDomid(arg)
		if err != nil {
			return nil, err
		}
		if s.introduced[d] {
			return xenstore.JoinStrings("T"), nil
		}
		return xenstore.JoinStrings("F"), nil

	case xenstore.TypeIntroduce:
		args, err := xenstore.SplitStrings(m.Payload)
		if err != nil || len(args) < 3 {
			return nil, syscall.EINVAL
		}
		d, err := parseDomid(args[0])
		if err != nil || d == 0 {
			return nil, syscall.EINVAL
		}
		// There is no ring to map here: INTRODUCE only makes the domain
		// known and fires @introduceDomain, as the toolstack expects.
		if !s.introduced[d] {
			s.introduced[d] = true
			s.fireLocked(event{path: "@introduceDomain"})
		}
		return okReply, nil

	case xenstore.TypeRelease:
		arg, err := oneArg(m.Payload)
		if err != nil {
			return nil, err
		}
		d, err := parseDomid(arg)
		if err != nil || d == 0 {
			return nil, syscall.EINVAL
		}
		if !s.introduced[d] {
			return nil, syscall.ENOENT
		}
		delete(s.introduced, d)
		for o := range s.conns {
			if o.domid == d {
				go o.kill("domain released")
			}
		}
		s.fireLocked(event{path: "@releaseDomain"})
		return okReply, nil

	case xenstore.TypeResetWatches:
		s.watchN[c.domid] -= len(c.watches)
		c.watches = nil
		c.txs = map[uint32]*txn{}
		return okReply, nil
	}
	// CONTROL, RESUME, SET_TARGET, GET/SET_FEATURE, GET/SET_QUOTA, the
	// removed RESTRICT, server-to-client types and unknown numbers.
	return nil, syscall.ENOSYS
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

// watchPath is the event path as the watcher registered it: relative to
// its home when the watch was relative.
func (c *conn) watchPath(w *watch, p string) string {
	if !w.relative {
		return p
	}
	home := homePath(c.domid)
	p = strings.TrimPrefix(p, home)
	return strings.TrimPrefix(p, "/")
}

// fireLocked delivers ev to every matching watch whose connection may see
// it.
func (s *Server) fireLocked(ev event) {
	special := ev.path[0] == '@'
	for c := range s.conns {
		var allowed, decided bool
		for _, w := range c.watches {
			var match bool
			switch {
			case special:
				// As xenstored: is_child(name, "/") holds for any name.
				match = w.path == ev.path || w.path == "/"
			case ev.exact:
				match = w.path == ev.path
			default:
				match = w.path[0] != '@' && isChild(ev.path, w.path)
			}
			if !match {
				continue
			}
			if !decided {
				allowed, decided = s.visibleLocked(c, ev), true
			}
			if allowed {
				c.eventLocked(c.watchPath(w, ev.path), w.token)
			}
		}
	}
}

func (s *Server) visibleLocked(c *conn, ev event) bool {
	a := c.actor()
	if a.priv {
		return true
	}
	if ev.path[0] == '@' {
		return a.access(s.specials[ev.path])&xenstore.AccessRead != 0
	}
	for _, ps := range ev.perms {
		if len(ps) > 0 && a.access(ps)&xenstore.AccessRead != 0 {
			return true
		}
	}
	return false
}
