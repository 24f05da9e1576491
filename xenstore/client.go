package xenstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ErrConnectionLost is returned to a caller whose request was in flight
// when the connection dropped: the request may or may not have taken
// effect. The client reconnects by itself; the caller decides whether to
// retry. Transactions begun on the lost connection fail with it too.
var ErrConnectionLost = errors.New("xenstore: connection lost")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("xenstore: client closed")

// ErrDevice is returned for operations the client refuses on a shared
// /dev/xen/xenbus connection (RESET_WATCHES would drop the guest kernel's
// own watches).
var ErrDevice = errors.New("xenstore: operation not allowed on the shared xenbus device")

// Client is one connection to Xenstore, shared by any number of
// goroutines. See the package documentation.
type Client struct {
	target  string // what Dial connected to, for messages
	device  bool
	dial    func() (io.ReadWriteCloser, error)
	opts    options
	log     *zap.Logger
	maxLoad int

	mu          sync.Mutex
	conn        *connection // nil while disconnected
	ready       chan struct{}
	gen         uint64
	nextReq     uint32
	reconnected chan struct{}
	closed      bool
	done        chan struct{}

	stats Stats

	wmu     sync.Mutex
	watches map[*Watch]struct{}
	tokenN  uint64
}

type connection struct {
	rwc  io.ReadWriteCloser
	gen  uint64
	wmu  sync.Mutex // serialises writes: one message per Write
	mu   sync.Mutex
	wait map[uint32]chan Msg
	dead chan struct{}
	err  error
	once sync.Once
}

func (cn *connection) fail(err error) {
	cn.once.Do(func() {
		cn.mu.Lock()
		cn.err = err
		cn.mu.Unlock()
		close(cn.dead)
		cn.rwc.Close()
	})
}

type options struct {
	log         *zap.Logger
	minBackoff  time.Duration
	maxBackoff  time.Duration
	watchBuffer int
	txRetries   int
	noReconnect bool
}

// Option configures a Client.
type Option func(*options)

// WithLogger logs connection changes and protocol anomalies through l.
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithBackoff sets the reconnection backoff: the first retry after min,
// doubling up to max (defaults 20 ms and 2 s).
func WithBackoff(min, max time.Duration) Option {
	return func(o *options) { o.minBackoff, o.maxBackoff = min, max }
}

// WithWatchBuffer sets how many distinct pending events a watch holds for a
// slow consumer before collapsing them into one EventOverflow (default 64).
func WithWatchBuffer(n int) Option { return func(o *options) { o.watchBuffer = n } }

// WithTransactionRetries bounds the retries of Transaction on EAGAIN
// (default 64).
func WithTransactionRetries(n int) Option { return func(o *options) { o.txRetries = n } }

// WithoutReconnect makes a dropped connection final: every later call
// fails with ErrConnectionLost. For tests and one-shot tools.
func WithoutReconnect() Option { return func(o *options) { o.noReconnect = true } }

func newClient(target string, device bool, dial func() (io.ReadWriteCloser, error), opt []Option) (*Client, error) {
	o := options{log: zap.NewNop(), minBackoff: 20 * time.Millisecond, maxBackoff: 2 * time.Second, watchBuffer: 64, txRetries: 64}
	for _, f := range opt {
		f(&o)
	}
	if o.watchBuffer < 1 {
		o.watchBuffer = 1
	}
	if o.minBackoff <= 0 {
		o.minBackoff = time.Millisecond
	}
	if o.maxBackoff < o.minBackoff {
		o.maxBackoff = o.minBackoff
	}
	c := &Client{
		target: target, device: device, dial: dial, opts: o,
		log:         o.log.With(zap.String("xenstore", target)),
		maxLoad:     PayloadMax,
		ready:       make(chan struct{}),
		reconnected: make(chan struct{}),
		done:        make(chan struct{}),
		watches:     map[*Watch]struct{}{},
	}
	if device {
		c.maxLoad = DevicePayloadMax
	}
	rwc, err := dial()
	if err != nil {
		return nil, err
	}
	c.install(c.newConn(rwc))
	return c, nil
}

func (c *Client) newConn(rwc io.ReadWriteCloser) *connection {
	c.mu.Lock()
	c.gen++
	cn := &connection{rwc: rwc, gen: c.gen, wait: map[uint32]chan Msg{}, dead: make(chan struct{})}
	c.mu.Unlock()
	go c.readLoop(cn)
	return cn
}

// install makes cn the connection callers use.
func (c *Client) install(cn *connection) {
	c.mu.Lock()
	c.conn = cn
	close(c.ready)
	c.mu.Unlock()
}

// Target names the socket or device the client is connected to.
func (c *Client) Target() string { return c.target }

// IsDevice reports whether the client talks through /dev/xen/xenbus.
func (c *Client) IsDevice() bool { return c.device }

// Reconnected returns a channel that is closed when the client next
// completes a reconnection (with its watches re-registered). Call it again
// after each close for the following one. A node owner's loop:
//
//	ch := c.Reconnected()
//	publish()
//	for { <-ch; ch = c.Reconnected(); publish() }
func (c *Client) Reconnected() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reconnected
}

// Close ends the connection and every watch; calls in flight fail with
// ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	cn := c.conn
	c.mu.Unlock()
	if cn != nil {
		cn.fail(ErrClosed)
	}
	c.wmu.Lock()
	ws := make([]*Watch, 0, len(c.watches))
	for w := range c.watches {
		ws = append(ws, w)
	}
	c.watches = map[*Watch]struct{}{}
	c.wmu.Unlock()
	for _, w := range ws {
		w.stop(ErrClosed)
	}
	return nil
}

// current waits for a live connection.
func (c *Client) current(ctx context.Context) (*connection, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		cn, ready := c.conn, c.ready
		c.mu.Unlock()
		if cn != nil {
			return cn, nil
		}
		if c.opts.noReconnect {
			return nil, ErrConnectionLost
		}
		select {
		case <-ready:
		case <-c.done:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, fmt.Errorf("xenstore: waiting for reconnection to %s: %w", c.target, ctx.Err())
		}
	}
}

func (c *Client) readLoop(cn *connection) {
	// Buffered: a header and its payload usually arrive in one read.
	r := bufio.NewReaderSize(cn.rwc, HeaderSize+PayloadMax)
	for {
		m, err := ReadMsg(r)
		if err != nil {
			c.lost(cn, err)
			return
		}
		if m.Type == TypeWatchEvent {
			c.dispatch(cn, m)
			continue
		}
		cn.mu.Lock()
		ch := cn.wait[m.ReqID]
		delete(cn.wait, m.ReqID)
		cn.mu.Unlock()
		if ch == nil {
			c.leftBehind(cn, m)
			continue
		}
		ch <- m // buffered, never blocks
	}
}

// leftBehind handles a reply whose caller gave up (context). A transaction
// it opened would hold a server quota slot until the connection ends: abort
// it.
func (c *Client) leftBehind(cn *connection, m Msg) {
	c.log.Debug("reply without waiter", zap.Stringer("type", m.Type), zap.Uint32("req", m.ReqID))
	if m.Type == TypeTransactionStart {
		if id, err := strconv.ParseUint(string(TrimNUL(m.Payload)), 10, 32); err == nil && id != 0 {
			go c.abandon(cn, TypeTransactionEnd, uint32(id), "", JoinStrings("F"))
		}
	}
}

// abandon sends a clean-up request whose outcome nobody waits for.
func (c *Client) abandon(cn *connection, typ MsgType, tx uint32, path string, payload []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.roundTrip(ctx, cn, typ, tx, path, payload); err != nil {
		c.log.Debug("clean-up request failed", zap.Stringer("type", typ), zap.Error(err))
	}
}

// lost handles the end of a connection: callers in flight are failed, and a
// reconnection loop starts unless the client is closed.
func (c *Client) lost(cn *connection, err error) {
	// Unpublish first, so that no new request picks the dying connection.
	c.mu.Lock()
	if c.conn != cn {
		c.mu.Unlock()
		cn.fail(err)
		return
	}
	c.conn = nil
	c.ready = make(chan struct{})
	closed := c.closed
	c.mu.Unlock()
	cn.fail(err)
	if closed {
		return
	}
	c.log.Warn("connection lost", zap.Error(err))
	if c.opts.noReconnect {
		c.wmu.Lock()
		ws := make([]*Watch, 0, len(c.watches))
		for w := range c.watches {
			ws = append(ws, w)
		}
		c.watches = map[*Watch]struct{}{}
		c.wmu.Unlock()
		for _, w := range ws {
			w.stop(fmt.Errorf("%w: %v", ErrConnectionLost, err))
		}
		return
	}
	go c.reconnectLoop()
}

func (c *Client) reconnectLoop() {
	backoff := c.opts.minBackoff
	for attempt := 1; ; attempt++ {
		t := time.NewTimer(backoff)
		select {
		case <-c.done:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, c.opts.maxBackoff)
		rwc, err := c.dial()
		if err != nil {
			if attempt == 1 || attempt%20 == 0 {
				c.log.Info("reconnect failed", zap.Int("attempt", attempt), zap.Error(err))
			}
			continue
		}
		cn := c.newConn(rwc)
		if err := c.reregister(cn); err != nil {
			cn.fail(err)
			c.log.Info("re-registering watches failed", zap.Error(err))
			continue
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			cn.fail(ErrClosed)
			return
		}
		c.conn = cn
		close(c.ready)
		close(c.reconnected)
		c.reconnected = make(chan struct{})
		c.mu.Unlock()
		c.wmu.Lock()
		for w := range c.watches {
			w.push(Event{Kind: EventReconnected, Path: w.Path, Token: w.Token, Conn: cn.gen})
		}
		c.wmu.Unlock()
		c.log.Info("reconnected", zap.Int("attempts", attempt))
		return
	}
}

// reregister sends WATCH for every registered watch on cn. A watch the
// server now refuses ends with that error; a connection error aborts.
func (c *Client) reregister(cn *connection) error {
	c.wmu.Lock()
	ws := make([]*Watch, 0, len(c.watches))
	for w := range c.watches {
		ws = append(ws, w)
	}
	c.wmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, w := range ws {
		_, err := c.roundTrip(ctx, cn, TypeWatch, 0, w.Path, JoinStrings(w.Path, w.Token))
		if err == nil {
			c.wmu.Lock()
			_, still := c.watches[w]
			c.wmu.Unlock()
			if !still { // unwatched meanwhile: do not leave it on the server
				_, err = c.roundTrip(ctx, cn, TypeUnwatch, 0, w.Path, JoinStrings(w.Path, w.Token))
				if err != nil && !errors.As(err, new(*Error)) {
					return err
				}
			}
			continue
		}
		var xe *Error
		if errors.As(err, &xe) {
			c.wmu.Lock()
			delete(c.watches, w)
			c.wmu.Unlock()
			w.stop(fmt.Errorf("xenstore: re-registering watch %s after reconnection: %w", w.Path, err))
			continue
		}
		return err
	}
	return nil
}

// roundTrip sends one request on cn and waits for its reply.
func (c *Client) roundTrip(ctx context.Context, cn *connection, typ MsgType, tx uint32, path string, payload []byte) (Msg, error) {
	ms, err := c.pipeline(ctx, cn, []call{{typ: typ, tx: tx, path: path, payload: payload}})
	if len(ms) == 0 {
		return Msg{}, err
	}
	return ms[0], err
}

// call is one request of a pipeline.
type call struct {
	typ     MsgType
	tx      uint32
	path    string
	payload []byte
}

// pending is a call sent and waiting for its reply.
type pending struct {
	call
	id uint32
	ch chan Msg
}

// pipeline sends every call on cn in one write (one flight: none waits for
// another's reply) and then waits for each reply, matched by request id.
// It returns the replies in the order of the calls and the first error.
func (c *Client) pipeline(ctx context.Context, cn *connection, calls []call) ([]Msg, error) {
	ps, b, err := c.register(cn, calls)
	if err != nil {
		return nil, err
	}
	if err := c.writeFlight(ctx, cn, b); err != nil {
		c.lost(cn, fmt.Errorf("writing %s: %w", calls[0].typ, err))
		return nil, c.lostErr(calls[0].typ, calls[0].path, err)
	}
	c.mu.Lock()
	c.stats.Requests += uint64(len(calls))
	c.stats.Flights++
	c.mu.Unlock()
	out := make([]Msg, len(ps))
	var first error
	for i := range ps {
		m, err := c.await(ctx, cn, &ps[i])
		out[i] = m
		if first == nil {
			first = err
		}
	}
	return out, first
}

// register gives each call a request id and a waiter on cn, and encodes
// them into one buffer.
func (c *Client) register(cn *connection, calls []call) ([]pending, []byte, error) {
	n := 0
	for _, k := range calls {
		if len(k.payload) > c.maxLoad {
			return nil, nil, &Error{Op: k.typ, Path: k.path, Name: "E2BIG", Errno: errnoOf(ErrTooBig)}
		}
		n += HeaderSize + len(k.payload)
	}
	ps := make([]pending, len(calls))
	c.mu.Lock()
	for i, k := range calls {
		c.nextReq++
		if c.nextReq == 0 {
			c.nextReq = 1
		}
		ps[i] = pending{call: k, id: c.nextReq, ch: make(chan Msg, 1)}
	}
	c.mu.Unlock()
	cn.mu.Lock()
	if cn.err != nil {
		err := cn.err
		cn.mu.Unlock()
		return nil, nil, &notSent{c.lostErr(calls[0].typ, calls[0].path, err)}
	}
	for _, p := range ps {
		cn.wait[p.id] = p.ch
	}
	cn.mu.Unlock()
	b := make([]byte, 0, n)
	for _, p := range ps {
		b = AppendHeader(b, Header{Type: p.typ, ReqID: p.id, TxID: p.tx, Len: uint32(len(p.payload))})
		b = append(b, p.payload...)
	}
	return ps, b, nil
}

// writeFlight writes b (whole messages) in one Write, or on the xenbus
// device one Write per message: the kernel's xenbus_file_write handles the
// first whole message a write completes and drops the rest of that write
// (returning its full length), so a second pipelined request would never
// be answered. The messages still all leave before any reply is awaited.
func (c *Client) writeFlight(ctx context.Context, cn *connection, b []byte) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	dl, hasDL := ctx.Deadline()
	wd, canDL := cn.rwc.(interface{ SetWriteDeadline(time.Time) error })
	if hasDL && canDL {
		// A server that stops reading must not hold this caller beyond its
		// deadline; a timed-out (possibly partial) write ends the
		// connection, since the stream can no longer be trusted.
		wd.SetWriteDeadline(dl)
	}
	var err error
	if c.device {
		for len(b) > 0 && err == nil {
			n := len(b)
			if h, herr := ParseHeader(b); herr == nil && HeaderSize+int(h.Len) < n {
				n = HeaderSize + int(h.Len)
			}
			_, err = cn.rwc.Write(b[:n])
			b = b[n:]
		}
	} else {
		_, err = cn.rwc.Write(b)
	}
	if hasDL && canDL {
		wd.SetWriteDeadline(time.Time{})
	}
	return err
}

// await waits for p's reply.
func (c *Client) await(ctx context.Context, cn *connection, p *pending) (Msg, error) {
	var m Msg
	select {
	case m = <-p.ch:
	case <-cn.dead:
		select {
		case m = <-p.ch:
		default:
			cn.mu.Lock()
			err := cn.err
			cn.mu.Unlock()
			return Msg{}, c.lostErr(p.typ, p.path, err)
		}
	case <-ctx.Done():
		cn.mu.Lock()
		delete(cn.wait, p.id)
		cn.mu.Unlock()
		select {
		case m := <-p.ch: // arrived meanwhile: treat it as left behind
			c.leftBehind(cn, m)
		default: // the reader will find no waiter and do the same
		}
		return Msg{}, fmt.Errorf("xenstore %s %s: %w", p.typ, p.path, ctx.Err())
	}
	if m.Type == TypeError {
		return m, parseErrorPayload(p.typ, p.path, m.Payload)
	}
	if m.Type != p.typ {
		return m, fmt.Errorf("xenstore %s %s: %w: reply has type %s", p.typ, p.path, ErrMalformed, m.Type)
	}
	return m, nil
}

func (c *Client) lostErr(typ MsgType, path string, cause error) error {
	if errors.Is(cause, ErrClosed) {
		return fmt.Errorf("xenstore %s %s: %w", typ, path, ErrClosed)
	}
	return fmt.Errorf("xenstore %s %s: %w (%v)", typ, path, ErrConnectionLost, cause)
}

// request sends on the current connection; tx, when not nil, must belong
// to it.
func (c *Client) request(ctx context.Context, tx *Tx, typ MsgType, path string, payload []byte) (Msg, error) {
	if len(payload) > c.maxLoad {
		return Msg{}, &Error{Op: typ, Path: path, Name: "E2BIG", Errno: errnoOf(ErrTooBig)}
	}
	if tx != nil {
		return tx.request(ctx, typ, path, payload)
	}
	for {
		cn, err := c.current(ctx)
		if err != nil {
			return Msg{}, err
		}
		m, err := c.roundTrip(ctx, cn, typ, 0, path, payload)
		var ns *notSent
		if errors.As(err, &ns) && !c.opts.noReconnect {
			continue // the connection died before we sent: wait for the next
		}
		return m, err
	}
}

// notSent marks a request that never left because its connection was
// already dead: safe to send again on the next connection.
type notSent struct{ err error }

func (e *notSent) Error() string { return e.err.Error() }
func (e *notSent) Unwrap() error { return e.err }

func checkPath(op MsgType, p string) error {
	if p == "" || strings.IndexByte(p, 0) >= 0 {
		return &Error{Op: op, Path: p, Name: "EINVAL", Errno: errnoOf(ErrInvalid)}
	}
	return nil
}

// ops are the node operations, shared by Client (tx == nil) and Tx.
type ops struct {
	c  *Client
	tx *Tx
}

func (o ops) read(ctx context.Context, path string) ([]byte, error) {
	if err := checkPath(TypeRead, path); err != nil {
		return nil, err
	}
	m, err := o.c.request(ctx, o.tx, TypeRead, path, JoinStrings(path))
	return m.Payload, err
}

func (o ops) write(ctx context.Context, path string, value []byte) error {
	if err := checkPath(TypeWrite, path); err != nil {
		return err
	}
	p := make([]byte, 0, len(path)+1+len(value))
	p = append(append(append(p, path...), 0), value...)
	_, err := o.c.request(ctx, o.tx, TypeWrite, path, p)
	return err
}

func (o ops) simple(ctx context.Context, typ MsgType, path string) error {
	if err := checkPath(typ, path); err != nil {
		return err
	}
	_, err := o.c.request(ctx, o.tx, typ, path, JoinStrings(path))
	return err
}

func (o ops) directory(ctx context.Context, path string) ([]string, error) {
	if err := checkPath(TypeDirectory, path); err != nil {
		return nil, err
	}
	m, err := o.c.request(ctx, o.tx, TypeDirectory, path, JoinStrings(path))
	if errors.Is(err, ErrTooBig) {
		return o.directoryPart(ctx, path)
	}
	if err != nil {
		return nil, err
	}
	s, err := SplitStrings(m.Payload)
	if err != nil {
		return nil, fmt.Errorf("xenstore DIRECTORY %s: %w", path, err)
	}
	return s, nil
}

// maxDirectoryBytes bounds what a server can make directoryPart collect
// (64 Ki children of 255-byte names).
const maxDirectoryBytes = 16 << 20

// directoryPart reads a child list too long for one reply, restarting when
// the node's generation changes under it (as libxenstore does).
func (o ops) directoryPart(ctx context.Context, path string) ([]string, error) {
	for restart := 0; restart < 16; restart++ {
		var names []string
		gen := ""
		off := 0
		for {
			if off > maxDirectoryBytes {
				return nil, fmt.Errorf("xenstore DIRECTORY_PART %s: %w: child list beyond %d bytes", path, ErrMalformed, maxDirectoryBytes)
			}
			m, err := o.c.request(ctx, o.tx, TypeDirectoryPart, path, JoinStrings(path, strconv.Itoa(off)))
			if err != nil {
				return nil, err
			}
			s, err := SplitStrings(m.Payload)
			if err != nil || len(s) == 0 {
				return nil, fmt.Errorf("xenstore DIRECTORY_PART %s: %w: bad reply", path, ErrMalformed)
			}
			if gen == "" {
				gen = s[0]
			} else if gen != s[0] {
				break // changed: restart
			}
			end := false
			for _, n := range s[1:] {
				if n == "" {
					end = true
					break
				}
				names = append(names, n)
				off += len(n) + 1
			}
			if end {
				return names, nil
			}
			if len(s) == 1 {
				return nil, fmt.Errorf("xenstore DIRECTORY_PART %s: %w: empty chunk without end mark", path, ErrMalformed)
			}
		}
	}
	return nil, fmt.Errorf("xenstore DIRECTORY_PART %s: %w: node kept changing", path, ErrAgain)
}

func (o ops) getPerms(ctx context.Context, path string) (Perms, error) {
	if err := checkPath(TypeGetPerms, path); err != nil {
		return nil, err
	}
	m, err := o.c.request(ctx, o.tx, TypeGetPerms, path, JoinStrings(path))
	if err != nil {
		return nil, err
	}
	return parsePerms(path, m.Payload)
}

// parsePerms decodes a GET_PERMS reply.
func parsePerms(path string, payload []byte) (Perms, error) {
	s, err := SplitStrings(payload)
	if err != nil {
		return nil, fmt.Errorf("xenstore GET_PERMS %s: %w", path, err)
	}
	ps := make(Perms, 0, len(s))
	for _, x := range s {
		p, err := ParsePerm(x)
		if err != nil {
			return nil, fmt.Errorf("xenstore GET_PERMS %s: %w", path, err)
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("xenstore GET_PERMS %s: %w: empty list", path, ErrMalformed)
	}
	return ps, nil
}

func (o ops) setPerms(ctx context.Context, path string, ps Perms) error {
	if err := checkPath(TypeSetPerms, path); err != nil {
		return err
	}
	if len(ps) == 0 {
		return &Error{Op: TypeSetPerms, Path: path, Name: "EINVAL", Errno: errnoOf(ErrInvalid)}
	}
	_, err := o.c.request(ctx, o.tx, TypeSetPerms, path, JoinStrings(append([]string{path}, ps.encode()...)...))
	return err
}

// Read returns the value of path. A relative path is relative to the
// connection's domain home (/local/domain/<own domid>).
func (c *Client) Read(ctx context.Context, path string) ([]byte, error) {
	return ops{c: c}.read(ctx, path)
}

// Write sets the value of path, creating it and missing parents (which
// inherit their parent's permissions).
func (c *Client) Write(ctx context.Context, path string, value []byte) error {
	return ops{c: c}.write(ctx, path, value)
}

// Mkdir creates path with an empty value; it is not an error if it exists.
func (c *Client) Mkdir(ctx context.Context, path string) error {
	return ops{c: c}.simple(ctx, TypeMkdir, path)
}

// Rm removes path and everything below it. Removing an absent node whose
// parent exists succeeds.
func (c *Client) Rm(ctx context.Context, path string) error {
	return ops{c: c}.simple(ctx, TypeRm, path)
}

// Directory lists the names of path's children, through DIRECTORY_PART when
// the list does not fit one reply.
func (c *Client) Directory(ctx context.Context, path string) ([]string, error) {
	return ops{c: c}.directory(ctx, path)
}

// GetPerms returns path's permission list.
func (c *Client) GetPerms(ctx context.Context, path string) (Perms, error) {
	return ops{c: c}.getPerms(ctx, path)
}

// SetPerms replaces path's permission list. Only the owner may do it and
// only a privileged domain may change the owner.
func (c *Client) SetPerms(ctx context.Context, path string, ps Perms) error {
	return ops{c: c}.setPerms(ctx, path, ps)
}

// Exists reports whether path exists (and is readable).
func (c *Client) Exists(ctx context.Context, path string) (bool, error) {
	_, err := c.Read(ctx, path)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// GetDomainPath returns the home path of domain domid.
func (c *Client) GetDomainPath(ctx context.Context, domid uint32) (string, error) {
	d := strconv.FormatUint(uint64(domid), 10)
	m, err := c.request(ctx, nil, TypeGetDomainPath, d, JoinStrings(d))
	if err != nil {
		return "", err
	}
	return string(TrimNUL(m.Payload)), nil
}

// IsDomainIntroduced reports whether domain domid is known to Xenstore.
func (c *Client) IsDomainIntroduced(ctx context.Context, domid uint32) (bool, error) {
	d := strconv.FormatUint(uint64(domid), 10)
	m, err := c.request(ctx, nil, TypeIsDomainIntroduced, d, JoinStrings(d))
	if err != nil {
		return false, err
	}
	switch string(TrimNUL(m.Payload)) {
	case "T":
		return true, nil
	case "F":
		return false, nil
	}
	return false, fmt.Errorf("xenstore IS_DOMAIN_INTRODUCED %s: %w: reply %q", d, ErrMalformed, m.Payload)
}

// OwnDomid returns the domain id of this connection by reading the relative
// path "domid" (the toolstack writes ~/domid for every domain). On a Dom0
// socket whose server has no /local/domain/0/domid it returns 0: the socket
// is domain 0 by definition.
func (c *Client) OwnDomid(ctx context.Context) (uint32, error) {
	v, err := c.Read(ctx, "domid")
	if err != nil {
		if !c.device && errors.Is(err, ErrNotFound) {
			return 0, nil
		}
		return 0, fmt.Errorf("xenstore: learning own domid: %w", err)
	}
	d, perr := strconv.ParseUint(strings.TrimSpace(string(v)), 10, 16)
	if perr != nil {
		return 0, fmt.Errorf("xenstore: learning own domid: ~/domid holds %q, not a domid", v)
	}
	return uint32(d), nil
}

// ResetWatches drops every watch and transaction of this connection on the
// server (RESET_WATCHES), and the client's own watches with them. It is
// refused on /dev/xen/xenbus, where the connection is the guest kernel's.
func (c *Client) ResetWatches(ctx context.Context) error {
	if c.device {
		return ErrDevice
	}
	if _, err := c.request(ctx, nil, TypeResetWatches, "", JoinStrings("")); err != nil {
		return err
	}
	c.wmu.Lock()
	ws := make([]*Watch, 0, len(c.watches))
	for w := range c.watches {
		ws = append(ws, w)
	}
	c.watches = map[*Watch]struct{}{}
	c.wmu.Unlock()
	for _, w := range ws {
		w.stop(errors.New("xenstore: watches reset"))
	}
	return nil
}
