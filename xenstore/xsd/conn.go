package xsd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

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

	outMu sync.Mutex
	outQ  [][]byte // replies and events waiting for the writer
	// Replies and bytes queued (outQ) and being written (the writer's
	// batch): what Quota.Outstanding and Quota.OutputBytes bound.
	queuedReplies, queuedBytes     int
	inflightReplies, inflightBytes int
	outKick                        chan struct{}
	room                           chan struct{} // the writer finished a batch
	dead                           chan struct{}
	once                           sync.Once

	// Under s.mu:
	watches []*watch
	txs     map[uint32]*txn
	nextTx  uint32
}

// newConn registers a connection of domain domid. It refuses one for a
// domain that is not introduced (released, or not yet back after a
// migration) and one beyond the domain's connection quota.
func (s *Server) newConn(nc net.Conn, domid uint32) (*conn, error) {
	c := &conn{s: s, nc: nc, domid: domid, outKick: make(chan struct{}, 1),
		room: make(chan struct{}, 1), dead: make(chan struct{}), txs: map[uint32]*txn{},
		log: s.log.With(zap.Uint32("domid", domid))}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, errServerClosed
	case domid != 0 && !s.introduced[domid]:
		return nil, fmt.Errorf("xsd: domain %d is not introduced", domid)
	case domid != 0 && s.connN[domid] >= s.quota.Connections:
		return nil, fmt.Errorf("xsd: domain %d already has %d connections (quota)", domid, s.connN[domid])
	}
	s.conns[c] = struct{}{}
	s.connN[domid]++
	return c, nil
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
	for c.waitRoom() {
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
	c.s.connN[c.domid]--
	c.dropWatchesLocked()
	c.dropTxsLocked()
	c.txs = nil
	c.s.mu.Unlock()
}

// waitRoom holds off reading the next request while Quota.Outstanding
// replies wait for the client: a client that sends without reading then
// fills its own socket buffer, not the server's memory. False once the
// connection is dead.
func (c *conn) waitRoom() bool {
	for {
		c.outMu.Lock()
		n := c.queuedReplies + c.inflightReplies
		c.outMu.Unlock()
		if n < c.s.quota.Outstanding {
			return true
		}
		select {
		case <-c.room:
		case <-c.dead:
			return false
		}
	}
}

func (c *conn) dropWatchesLocked() {
	for _, w := range c.watches {
		c.s.mem[c.domid] -= watchCost(w)
	}
	c.s.watchN[c.domid] -= len(c.watches)
	c.watches = nil
}

func (c *conn) dropTxsLocked() {
	for _, tx := range c.txs {
		tx.releaseLocked(c.s)
	}
	c.txs = map[uint32]*txn{}
}

func watchCost(w *watch) int { return len(w.path) + len(w.token) + watchOverhead }

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
		c.inflightReplies, c.inflightBytes = c.queuedReplies, c.queuedBytes
		c.queuedReplies, c.queuedBytes = 0, 0
		c.outMu.Unlock()
		if len(q) == 0 {
			continue
		}
		bufs := net.Buffers(q)
		if _, err := bufs.WriteTo(c.nc); err != nil {
			c.kill("write failed")
			return
		}
		c.outMu.Lock()
		c.inflightReplies, c.inflightBytes = 0, 0
		c.outMu.Unlock()
		select {
		case c.room <- struct{}{}:
		default:
		}
	}
}

// sendLocked queues a message; a connection that lets its queue fill (in
// messages or bytes) is dropped rather than letting the server buffer
// without bound.
func (c *conn) sendLocked(typ xenstore.MsgType, req, tx uint32, payload []byte) {
	b := make([]byte, 0, xenstore.HeaderSize+len(payload))
	b = xenstore.AppendHeader(b, xenstore.Header{Type: typ, ReqID: req, TxID: tx, Len: uint32(len(payload))})
	b = append(b, payload...)
	if c.s.trace {
		c.log.Debug("send", zap.Stringer("type", typ), zap.Uint32("req", req),
			zap.Uint32("tx", tx), zap.ByteString("payload", payload))
	}
	c.outMu.Lock()
	full := len(c.outQ) >= c.s.quota.OutputQueue ||
		c.queuedBytes+c.inflightBytes+len(b) > c.s.quota.OutputBytes
	if !full {
		c.outQ = append(c.outQ, b)
		c.queuedBytes += len(b)
		if typ != xenstore.TypeWatchEvent {
			c.queuedReplies++
		}
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

// handle runs one request under the server lock and queues its reply.
func (c *conn) handle(m xenstore.Msg) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-c.dead: // released or dropped: nothing more runs for it
		return
	default:
	}
	reply, err := c.dispatchLocked(m)
	if err != nil {
		c.sendLocked(xenstore.TypeError, m.ReqID, m.TxID, xenstore.ErrorPayload(err))
		return
	}
	if reply != nil {
		c.sendLocked(m.Type, m.ReqID, m.TxID, reply)
	}
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
