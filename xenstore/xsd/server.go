// Package xsd is an embedded Xenstore server: the real wire protocol on Unix
// sockets, for demos, tests and machines without Xen. It is not a mock: the
// C tools of Debian's xenstore-utils work against it unmodified.
//
// Each listening socket belongs to one domain: connections on the main
// socket are domain 0 (privileged, as on xenstored's socket), connections
// on a socket added with ListenDomain are that domain, unprivileged, with
// relative paths below /local/domain/<domid>. The server enforces per-node
// permissions per domain, fires watches (including @introduceDomain and
// @releaseDomain), runs transactions with per-node conflict detection
// (EAGAIN), holds unprivileged domains to quotas (xenstored's defaults,
// plus per-domain memory, per-transaction nodes and connections) and every
// connection to bounded output, kills connections that send an oversize
// payload, and, when given a file, persists the tree across restarts.
//
// docs/xenstore.md describes the protocol and semantics as implemented.
package xsd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/xenstore"
)

// Config configures a Server.
type Config struct {
	Logger *zap.Logger
	// PersistFile, when set, is loaded at start (if present) and rewritten
	// atomically shortly after every change and at Close.
	PersistFile string
	Quota       Quota // zero fields take DefaultQuota's
	// Trace logs every message in and out at debug level (type, ids,
	// payload), to see what a client really sends.
	Trace bool
}

// Server is an embedded Xenstore.
type Server struct {
	log   *zap.Logger
	quota Quota
	file  string
	trace bool

	mu         sync.Mutex
	nodes      map[string]*node
	specials   map[string]xenstore.Perms
	gen        uint64
	owned      map[uint32]int // nodes per owner
	mem        map[uint32]int // bytes per domain, as Quota.DomainMemory counts them
	watchN     map[uint32]int // watches per domain
	connN      map[uint32]int // open connections per domain
	introduced map[uint32]bool
	conns      map[*conn]struct{}
	listeners  []net.Listener
	closed     bool
	dirty      bool
	conflicts  uint64

	wg        sync.WaitGroup
	stop      chan struct{} // closed by Close
	saveKick  chan struct{}
	saveDone  chan struct{}
	saveErr   error
	closeOnce sync.Once
}

// New builds a server, loading cfg.PersistFile if it exists.
func New(cfg Config) (*Server, error) {
	s := newState(cfg)
	loaded := false
	if s.file != "" {
		var err error
		loaded, err = s.load()
		if err != nil {
			return nil, err
		}
	}
	if !loaded {
		s.initTree()
	}
	if s.file != "" {
		go s.saver()
	} else {
		close(s.saveDone)
	}
	return s, nil
}

// newState is a server with no tree and no saver.
func newState(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{
		log: log, quota: cfg.Quota.withDefaults(), file: cfg.PersistFile, trace: cfg.Trace,
		nodes:      map[string]*node{},
		specials:   map[string]xenstore.Perms{},
		owned:      map[uint32]int{},
		mem:        map[uint32]int{},
		watchN:     map[uint32]int{},
		connN:      map[uint32]int{},
		introduced: map[uint32]bool{0: true},
		conns:      map[*conn]struct{}{},
		stop:       make(chan struct{}),
		saveKick:   make(chan struct{}, 1),
		saveDone:   make(chan struct{}),
	}
}

// initTree builds what a freshly booted Dom0 has: the root, Dom0's home
// with its domid and name, and the special watch nodes, all owned by Dom0
// and hidden from guests (n0).
func (s *Server) initTree() {
	n0 := xenstore.Perms{{Domid: 0, Access: xenstore.AccessNone}}
	s.putLocked("/", &node{perms: n0})
	for _, p := range []string{"/local", "/local/domain", "/local/domain/0", "/tool"} {
		s.createLocked(p, nil, n0)
	}
	s.createLocked("/local/domain/0/domid", []byte("0"), n0)
	s.createLocked("/local/domain/0/name", []byte("Domain-0"), n0)
	s.specials["@introduceDomain"] = n0
	s.specials["@releaseDomain"] = n0
}

// createLocked adds a node below an existing parent, outside any
// transaction and without events (initial tree, introductions).
func (s *Server) createLocked(p string, value []byte, perms xenstore.Perms) {
	par := s.nodes[parentOf(p)].clone()
	if old := s.nodes[p]; old == nil {
		par.children = append(par.children, baseOf(p))
		s.putLocked(parentOf(p), par)
	}
	s.putLocked(p, &node{value: value, perms: perms.Clone()})
}

// putLocked stores n at p in the committed tree with a new generation and
// keeps the per-owner node counts.
func (s *Server) putLocked(p string, n *node) {
	if old := s.nodes[p]; old != nil {
		s.owned[old.perms.Owner()]--
		s.mem[old.perms.Owner()] -= nodeCost(p, old)
	}
	s.gen++
	n.gen = s.gen
	s.nodes[p] = n
	s.owned[n.perms.Owner()]++
	s.mem[n.perms.Owner()] += nodeCost(p, n)
	s.markDirty()
}

func (s *Server) delLocked(p string) {
	if old := s.nodes[p]; old != nil {
		s.owned[old.perms.Owner()]--
		s.mem[old.perms.Owner()] -= nodeCost(p, old)
		delete(s.nodes, p)
		s.gen++
		s.markDirty()
	}
}

func (s *Server) markDirty() {
	if s.file == "" {
		return
	}
	s.dirty = true
	select {
	case s.saveKick <- struct{}{}:
	default:
	}
}

// Listen serves domain 0 (privileged) on a Unix socket at path, replacing a
// stale socket file. The socket is created mode 0600: who can open it is
// Dom0.
func (s *Server) Listen(path string) error { return s.listen(path, 0) }

// ListenDomain serves domain domid (unprivileged) on a Unix socket at path
// and introduces the domain (see IntroduceDomain). domid 0 is refused: use
// Listen.
func (s *Server) ListenDomain(path string, domid uint32) error {
	if domid == 0 || domid > xenstore.MaxDomid {
		return fmt.Errorf("xsd: domain socket %s: domid %d out of range 1..%d", path, domid, xenstore.MaxDomid)
	}
	if err := s.IntroduceDomain(domid); err != nil {
		return err
	}
	return s.listen(path, domid)
}

func (s *Server) listen(path string, domid uint32) error {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("xsd: %s exists and is not a socket; not replacing it", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return fmt.Errorf("xsd: %s: another server is listening there", path)
		}
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("xsd: listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("xsd: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return errServerClosed
	}
	s.listeners = append(s.listeners, l)
	s.wg.Add(1)
	s.mu.Unlock()
	s.log.Info("listening", zap.String("socket", path), zap.Uint32("domid", domid))
	go s.accept(l, domid)
	return nil
}

// Serve handles one already-connected stream as domain domid; it returns
// when the connection ends. Tests use it over net.Pipe.
func (s *Server) Serve(nc net.Conn, domid uint32) {
	c, err := s.newConn(nc, domid)
	if err != nil {
		s.log.Warn("connection refused", zap.Uint32("domid", domid), zap.Error(err))
		nc.Close()
		return
	}
	c.run()
}

// Accept backoff after a failed accept (EMFILE, ENFILE, ENOBUFS...): the
// listener stays, and accepting resumes once the cause is gone.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

func (s *Server) accept(l net.Listener, domid uint32) {
	defer s.wg.Done()
	var backoff time.Duration
	var lastRefusal time.Time
	for {
		nc, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.isClosed() {
				return
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			s.log.Error("accept failed; retrying", zap.Uint32("domid", domid),
				zap.Duration("backoff", backoff), zap.Error(err))
			select {
			case <-time.After(backoff):
			case <-s.stop:
				return
			}
			continue
		}
		backoff = 0
		c, err := s.newConn(nc, domid)
		if err != nil {
			nc.Close()
			if errors.Is(err, errServerClosed) {
				return
			}
			// At most one line a second, however fast a guest retries.
			if now := time.Now(); now.Sub(lastRefusal) >= time.Second {
				lastRefusal = now
				s.log.Warn("connection refused", zap.Uint32("domid", domid), zap.Error(err))
			}
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.run()
		}()
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops the listeners, drops every connection, and writes the
// persistence file a last time.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.stop)
		ls := s.listeners
		cs := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			cs = append(cs, c)
		}
		s.mu.Unlock()
		for _, l := range ls {
			l.Close()
		}
		for _, c := range cs {
			c.kill("server closing")
		}
		s.wg.Wait()
		if s.file != "" {
			close(s.saveKick)
			<-s.saveDone
			err = s.saveErr
		}
	})
	return err
}

// IntroduceDomain makes domid known, as the toolstack and INTRODUCE do: it
// creates the domain's home /local/domain/<domid> (owner Dom0, readable by
// the domain: n0,r<domid>) with ~/domid, and ~/data owned by the domain (the
// conventional guest-writable subtree), then fires @introduceDomain. It is
// idempotent. The domain's sockets serve it from then on.
func (s *Server) IntroduceDomain(domid uint32) error {
	if domid == 0 || domid > xenstore.MaxDomid {
		return fmt.Errorf("xsd: cannot introduce domid %d", domid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.introduceLocked(domid)
	return nil
}

func (s *Server) introduceLocked(domid uint32) {
	if s.introduced[domid] {
		return
	}
	s.introduced[domid] = true
	home := homePath(domid)
	ro := xenstore.Perms{{Domid: 0, Access: xenstore.AccessNone}, {Domid: domid, Access: xenstore.AccessRead}}
	if s.nodes[home] == nil {
		s.createLocked(home, nil, ro)
		s.createLocked(home+"/domid", []byte(strconv.FormatUint(uint64(domid), 10)), ro)
		s.createLocked(home+"/data", nil, xenstore.Perms{{Domid: domid, Access: xenstore.AccessNone}})
		s.fireLocked(event{path: home, perms: []xenstore.Perms{ro}})
	}
	s.fireLocked(event{path: "@introduceDomain"})
}

// ReleaseDomain forgets domid, as RELEASE and domain destruction do: its
// connections are dropped, its home removed (firing the watches there) and
// @releaseDomain fired. Its sockets stay, refusing connections until the
// domain is introduced again (a migration back).
func (s *Server) ReleaseDomain(domid uint32) error {
	if domid == 0 {
		return errors.New("xsd: cannot release domain 0")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.releaseLocked(domid) {
		return fmt.Errorf("xsd: domain %d is not introduced", domid)
	}
	return nil
}

// releaseLocked is ReleaseDomain under the lock; false if domid was not
// introduced.
func (s *Server) releaseLocked(domid uint32) bool {
	if !s.introduced[domid] {
		return false
	}
	delete(s.introduced, domid)
	for c := range s.conns {
		if c.domid == domid {
			c.kill("domain released") // no request of it runs after this
		}
	}
	home := homePath(domid)
	if s.nodes[home] != nil {
		if err := s.view(nil).rm(serverActor, home); err != nil {
			s.log.Warn("removing released domain's home", zap.Uint32("domid", domid), zap.Error(err))
		}
	}
	s.fireLocked(event{path: "@releaseDomain"})
	s.log.Info("domain released", zap.Uint32("domid", domid))
	return true
}

// Introduced lists the introduced domains (Dom0 included), sorted.
func (s *Server) Introduced() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]uint32, 0, len(s.introduced))
	for d := range s.introduced {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

var errServerClosed = errors.New("xsd: server closed")

// Stats is a snapshot of the server's size.
type Stats struct {
	Nodes, Connections, Watches, Transactions int
	Conflicts                                 uint64 // transaction commits refused with EAGAIN
}

// Stats returns the current counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Nodes: len(s.nodes), Connections: len(s.conns), Conflicts: s.conflicts}
	for c := range s.conns {
		st.Watches += len(c.watches)
		st.Transactions += len(c.txs)
	}
	return st
}

// saver writes the persistence file shortly after changes, off the request
// path: at most every 50 ms, and once more at Close.
func (s *Server) saver() {
	defer close(s.saveDone)
	for range s.saveKick {
		time.Sleep(50 * time.Millisecond)
		s.saveNow()
	}
	s.saveNow()
}

func (s *Server) saveNow() {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return
	}
	img := s.snapshotLocked()
	s.dirty = false
	s.mu.Unlock()
	if err := writeImage(s.file, img); err != nil {
		s.log.Error("persisting the tree failed", zap.String("file", s.file), zap.Error(err))
		s.mu.Lock()
		s.saveErr = err
		s.dirty = true
		s.mu.Unlock()
	}
}
