package ntp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/counter"
	"golang.org/x/sys/unix"
)

// DefaultPort is the NTP port.
const DefaultPort = 123

// ClientConfig configures one server's exchange socket.
type ClientConfig struct {
	// Counter stamps Ta and Tf. Required.
	Counter counter.Counter
	// Timeout is how long a request stays outstanding (default 1 s).
	Timeout time.Duration
	// LocalAddr optionally binds the socket to a local address.
	LocalAddr netip.Addr
	// UserStampsOnly disables SO_TIMESTAMPING: every stamp is a user one.
	UserStampsOnly bool
	// MaxTripleWidth bounds the (realtime, counter, realtime) read that maps
	// a kernel timestamp (default DefaultMaxTripleWidth).
	MaxTripleWidth time.Duration
	// MaxSlewPPM is how fast realtime may move against MONOTONIC_RAW before
	// a step is assumed (default DefaultMaxSlewPPM).
	MaxSlewPPM float64
	// Name is the server as configured (a host name), kept in every sample.
	Name string
}

// Sample is one accepted exchange: the estimator's stamp plus how it was
// taken.
type Sample struct {
	Stamp clocksync.Stamp
	// TaMethod and TfMethod say which method produced Stamp.Ta and Stamp.Tf.
	TaMethod, TfMethod Method
	// TaFail and TfFail say why a kernel stamp was not used (TripleOK when
	// it was).
	TaFail, TfFail TripleFail
	// TaUser and TfUser are the user-space counter reads around sendto and
	// after recvmsg, kept for comparison with the kernel stamps.
	TaUser, TfUser uint64
	// TxTripleWidth and RxTripleWidth are the widths of the realtime reads
	// bracketing the mapping counter reads (0 when no triple was taken).
	TxTripleWidth, RxTripleWidth time.Duration
	Server                       netip.AddrPort
	Name                         string // configured server name
	Counter                      string // counter name
	Identity                     uint64 // counter timeline identity
	Poll, Precision              int8   // as the server sent them
}

// Rejection is an exchange that produced no stamp, or one packet dropped
// while waiting for the reply. It is an error.
type Rejection struct {
	Reason Reason
	Server netip.AddrPort // the server we asked
	From   netip.AddrPort // where the packet came from (zero if none)
	Kiss   string         // the kiss code of a KoD
	Detail string
	// Count is how many dropped packets this entry stands for: past
	// maxDropped entries in one exchange a flood is aggregated per reason,
	// so memory stays bounded. 1 otherwise.
	Count int
}

func (r *Rejection) Error() string {
	s := fmt.Sprintf("ntp: %s: %s", r.Server, r.Reason)
	if r.From.IsValid() && r.From != r.Server {
		s += " from " + r.From.String()
	}
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	return s
}

// Client exchanges packets with one server over one socket. It keeps at
// most one request outstanding. Not safe for concurrent use.
type Client struct {
	cfg     ClientConfig
	server  netip.AddrPort
	sa      unix.Sockaddr
	sock    *udpSocket
	mapper  *mapper
	sends   uint32   // OPT_ID of the next send
	retired []uint64 // nonces of past requests, newest last
	buf     []byte
	oob     []byte
}

const retiredKeep = 8

// Dial opens a socket for exchanges with server.
func Dial(server netip.AddrPort, cfg ClientConfig) (*Client, error) {
	if cfg.Counter == nil {
		return nil, errors.New("ntp: ClientConfig.Counter is required")
	}
	if !server.IsValid() || server.Port() == 0 {
		return nil, fmt.Errorf("ntp: invalid server address %q", server)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.MaxTripleWidth <= 0 {
		cfg.MaxTripleWidth = DefaultMaxTripleWidth
	}
	if cfg.MaxSlewPPM <= 0 {
		cfg.MaxSlewPPM = DefaultMaxSlewPPM
	}
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port())
	sa, err := sockaddrOf(server)
	if err != nil {
		return nil, err
	}
	sock, err := openSocket(server, cfg.LocalAddr, !cfg.UserStampsOnly)
	if err != nil {
		return nil, fmt.Errorf("ntp: client for %s: %w", server, err)
	}
	return &Client{
		cfg: cfg, server: server, sa: sa, sock: sock,
		mapper: newMapper(cfg.Counter, cfg.MaxTripleWidth, cfg.MaxSlewPPM),
		buf:    make([]byte, MaxPacketLen+1),
		oob:    make([]byte, 512),
	}, nil
}

// Server is the address this client talks to.
func (c *Client) Server() netip.AddrPort { return c.server }

// KernelTimestamps reports whether the socket accepted SO_TIMESTAMPING.
func (c *Client) KernelTimestamps() bool { return c.sock.kernTS }

// Close closes the socket.
func (c *Client) Close() error { return c.sock.close() }

func (c *Client) reject(r Reason, from netip.AddrPort, detail string) *Rejection {
	return &Rejection{Reason: r, Server: c.server, From: from, Detail: detail, Count: 1}
}

// maxDropped bounds the dropped list of one exchange (see Rejection.Count).
const maxDropped = 64

// addDropped appends rej, or past maxDropped entries counts it into the
// last entry of the same reason.
func addDropped(dropped []Rejection, rej Rejection) []Rejection {
	if len(dropped) >= maxDropped {
		for i := len(dropped) - 1; i >= 0; i-- {
			if dropped[i].Reason == rej.Reason {
				dropped[i].Count++
				return dropped
			}
		}
	}
	return append(dropped, rej)
}

func (c *Client) retire(nonce uint64) {
	c.retired = append(c.retired, nonce)
	if len(c.retired) > retiredKeep {
		c.retired = c.retired[len(c.retired)-retiredKeep:]
	}
}

func (c *Client) isRetired(origin uint64) bool {
	for _, n := range c.retired {
		if n == origin {
			return true
		}
	}
	return false
}

// Exchange sends one request and waits for its reply. It returns a sample,
// or a *Rejection saying why there is none (a reply that answered the
// request but is unusable, a timeout, a network error) or ctx's error.
// dropped lists packets that arrived meanwhile and were discarded without
// ending the exchange: stray, spoofed, late or malformed ones.
//
// The calling goroutine is locked to its OS thread for the duration, so
// the counter reads sit right next to the send and receive system calls.
func (c *Client) Exchange(ctx context.Context) (s Sample, dropped []Rejection, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	// Anything already queued answers an earlier request or nothing.
	dropped = c.drain(dropped, 0)

	var nb [8]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return s, dropped, c.reject(ReasonNetwork, netip.AddrPort{}, "random nonce: "+err.Error())
	}
	nonce := binary.BigEndian.Uint64(nb[:])
	req := Packet{Version: 4, Mode: ModeClient, Transmit: Timestamp(nonce)}
	pkt, _ := req.AppendBinary(c.buf[:0])
	var out [HeaderLen]byte
	copy(out[:], pkt)

	ra, err := c.cfg.Counter.Read()
	if err != nil {
		return s, dropped, c.reject(ReasonCounter, netip.AddrPort{}, "reading the counter before send: "+err.Error())
	}
	err = unix.Sendto(c.sock.fd, out[:], 0, c.sa)
	sendID := c.sends
	c.sends++
	if err != nil {
		return s, dropped, c.reject(ReasonNetwork, netip.AddrPort{}, "sendto: "+err.Error())
	}
	defer c.retire(nonce)

	s.TaUser, s.Stamp.Ta, s.TaMethod, s.TaFail = ra.Count, ra.Count, MethodUser, TripleNone
	txDone := !c.sock.kernTS
	if !txDone {
		txDone = c.collectTx(&s, sendID, ra.Identity)
	}

	deadline := time.Now().Add(c.cfg.Timeout)
	for {
		if err := ctx.Err(); err != nil {
			return s, dropped, err
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return s, dropped, c.reject(ReasonTimeout, netip.AddrPort{}, fmt.Sprintf("no reply within %v", c.cfg.Timeout))
		}
		ms := int(min(wait, 50*time.Millisecond)/time.Millisecond) + 1
		fds := []unix.PollFd{{Fd: int32(c.sock.fd), Events: unix.POLLIN}}
		n, perr := unix.Poll(fds, ms)
		if perr == unix.EINTR || n == 0 {
			continue
		}
		if perr != nil {
			return s, dropped, c.reject(ReasonNetwork, netip.AddrPort{}, "poll: "+perr.Error())
		}
		if fds[0].Revents&unix.POLLERR != 0 && !txDone {
			txDone = c.collectTx(&s, sendID, ra.Identity)
		}
		if fds[0].Revents&unix.POLLIN == 0 {
			if fds[0].Revents&unix.POLLERR != 0 {
				c.discardErrQueue()
			}
			if ierr := c.sock.takeICMPErr(); ierr != nil {
				// The only peer of this socket said it will not answer.
				return s, dropped, c.reject(ReasonNetwork, netip.AddrPort{}, "ICMP: "+ierr.Error())
			}
			continue
		}
		nr, oobn, flags, from, rerr := unix.Recvmsg(c.sock.fd, c.buf, c.oob, unix.MSG_DONTWAIT)
		rf, ferr := c.cfg.Counter.Read()
		if rerr == unix.EAGAIN || rerr == unix.EWOULDBLOCK || rerr == unix.EINTR {
			continue
		}
		if rerr != nil {
			return s, dropped, c.reject(ReasonNetwork, netip.AddrPort{}, "recvmsg: "+rerr.Error())
		}
		src := addrPortOf(from)
		info := parseRxCmsgs(c.oob[:oobn])
		p, rej := c.check(c.buf[:nr], flags, src, nonce)
		if rej != nil {
			if rej.Reason == ReasonWrongOrigin || rej.Reason == ReasonLate || rej.Reason == ReasonSource ||
				rej.Reason == ReasonTruncated || rej.Reason == ReasonMalformed || rej.Reason == ReasonVersion || rej.Reason == ReasonMode {
				// Not an answer to this request: keep waiting, so a stray or
				// forged packet cannot cancel the exchange.
				dropped = addDropped(dropped, *rej)
				continue
			}
			return s, dropped, rej
		}
		if ferr != nil {
			return s, dropped, c.reject(ReasonCounter, src, "reading the counter after receive: "+ferr.Error())
		}
		if rf.Identity != ra.Identity {
			return s, dropped, c.reject(ReasonCounter, src, "counter timeline changed during the exchange (migration or restore)")
		}
		if !txDone {
			c.collectTx(&s, sendID, ra.Identity)
		}
		s.TfUser, s.Stamp.Tf, s.TfMethod, s.TfFail = rf.Count, rf.Count, MethodUser, TripleNone
		if info.kernNs != 0 {
			tf, w, fail := c.mapper.mapStamp(info.kernNs, ra.Identity)
			s.RxTripleWidth, s.TfFail = w, fail
			// The kernel stamp precedes the read after recvmsg and follows
			// the read before sendto; anything else is a bad mapping.
			if fail == TripleOK && (tf > rf.Count || tf <= s.TaUser) {
				s.TfFail = TripleImplausible
			}
			if s.TfFail == TripleOK {
				s.Stamp.Tf, s.TfMethod = tf, MethodKernel
			}
		}
		if s.Stamp.Tf <= s.Stamp.Ta {
			return s, dropped, c.reject(ReasonCounter, src, fmt.Sprintf("Tf %d <= Ta %d", s.Stamp.Tf, s.Stamp.Ta))
		}
		s.Stamp.Tb = p.Receive.Time()
		s.Stamp.Te = p.Transmit.Time()
		s.Stamp.Side = clocksync.SideInfo{
			Server:         c.server.String(),
			Stratum:        p.Stratum,
			Leap:           p.Leap,
			RefID:          p.RefID,
			TTL:            uint8(max(info.ttl, 0)),
			RootDelay:      p.RootDelay.Nanos(),
			RootDispersion: p.RootDispersion.Nanos(),
		}
		s.Server, s.Name, s.Counter, s.Identity = c.server, c.cfg.Name, c.cfg.Counter.Name(), ra.Identity
		s.Poll, s.Precision = p.Poll, p.Precision
		return s, dropped, nil
	}
}

// collectTx reads the transmit timestamp of send id from the error queue
// and, when it maps cleanly, makes it Ta. It reports whether the queue
// held the stamp.
func (c *Client) collectTx(s *Sample, id uint32, identity uint64) bool {
	for range 4 {
		ns, gotID, ok, err := c.sock.readTxStamp(c.oob)
		if err != nil || (!ok && ns == 0) {
			return false
		}
		if !ok {
			continue
		}
		if int32(gotID-id) < 0 {
			// An earlier send's stamp, or the kernel's key is behind ours (a
			// send that failed before the kernel numbered it): follow the
			// kernel from the next send on, and skip this stamp.
			c.sends = gotID + 1
			continue
		}
		// A key ahead of ours can only be this send's (one send per
		// exchange, the queue drained before it): resynchronise.
		c.sends = gotID + 1
		ta, w, fail := c.mapper.mapStamp(ns, identity)
		s.TxTripleWidth, s.TaFail = w, fail
		if fail == TripleOK && ta < s.TaUser {
			s.TaFail = TripleImplausible
		}
		if s.TaFail == TripleOK {
			s.Stamp.Ta, s.TaMethod = ta, MethodKernel
		}
		return true
	}
	return false
}

func (c *Client) discardErrQueue() {
	for range 8 {
		if _, _, ok, err := c.sock.readTxStamp(c.oob); err != nil || !ok {
			return
		}
	}
}

// drain reads every datagram already queued on the socket and classifies
// it; none can answer a request not yet sent.
func (c *Client) drain(dropped []Rejection, nonce uint64) []Rejection {
	c.discardErrQueue()
	_ = c.sock.takeICMPErr() // about an earlier exchange
	for range 64 {
		n, _, flags, from, err := unix.Recvmsg(c.sock.fd, c.buf, c.oob, unix.MSG_DONTWAIT)
		if err != nil {
			return dropped
		}
		if _, rej := c.check(c.buf[:n], flags, addrPortOf(from), nonce); rej != nil {
			dropped = addDropped(dropped, *rej)
		} else {
			dropped = addDropped(dropped, *c.reject(ReasonLate, addrPortOf(from), "reply after its exchange ended"))
		}
	}
	return dropped
}

// check decides whether b, received from src, is the reply to the request
// with the given nonce. The order matters: nothing about a packet is
// believed (not even a kiss code) until its origin proves it answers us.
func (c *Client) check(b []byte, flags int, src netip.AddrPort, nonce uint64) (Packet, *Rejection) {
	if src != c.server {
		return Packet{}, c.reject(ReasonSource, src, "")
	}
	if flags&unix.MSG_TRUNC != 0 {
		return Packet{}, c.reject(ReasonMalformed, src, fmt.Sprintf("longer than %d bytes", MaxPacketLen))
	}
	p, err := Decode(b)
	if err != nil {
		var de *DecodeError
		errors.As(err, &de)
		return p, c.reject(de.Reason, src, de.Detail)
	}
	if p.Version < 3 || p.Version > 4 {
		return p, c.reject(ReasonVersion, src, fmt.Sprintf("version %d", p.Version))
	}
	if p.Mode != ModeServer {
		return p, c.reject(ReasonMode, src, fmt.Sprintf("mode %d", p.Mode))
	}
	if uint64(p.Origin) != nonce || nonce == 0 {
		if c.isRetired(uint64(p.Origin)) {
			return p, c.reject(ReasonLate, src, "answers an expired or answered request")
		}
		return p, c.reject(ReasonWrongOrigin, src, fmt.Sprintf("origin %016x", uint64(p.Origin)))
	}
	if r, detail := CheckReply(&p); r != ReasonNone {
		rej := c.reject(r, src, detail)
		if r.IsKoD() {
			rej.Kiss, _ = p.KissCode()
		}
		return p, rej
	}
	return p, nil
}

// MaxRootDistance is RFC 5905's MAXDIST-style sanity limit on root delay/2
// + root dispersion.
const MaxRootDistance = 16 * time.Second

// CheckReply checks the content of a server reply whose origin already
// matched: kiss-o'-death, leap, stratum, timestamps, root distance.
func CheckReply(p *Packet) (Reason, string) {
	if code, ok := p.KissCode(); ok {
		switch code {
		case "RATE":
			return ReasonKoDRate, "kiss code RATE"
		case "DENY":
			return ReasonKoDDeny, "kiss code DENY"
		case "RSTR":
			return ReasonKoDRstr, "kiss code RSTR"
		}
		return ReasonKoDOther, "kiss code " + code
	}
	if p.Leap == LeapUnsync {
		return ReasonUnsynchronised, "leap indicator 3: server not synchronised"
	}
	if p.Stratum == 0 || p.Stratum >= 16 {
		return ReasonStratum, fmt.Sprintf("stratum %d", p.Stratum)
	}
	if p.Receive.IsZero() || p.Transmit.IsZero() {
		return ReasonZeroTimestamp, "zero receive or transmit timestamp"
	}
	tb, te := p.Receive.Time(), p.Transmit.Time()
	if te.Cmp(tb) < 0 {
		return ReasonTimeOrder, fmt.Sprintf("Te %s before Tb %s", te, tb)
	}
	if p.RootDelay.Duration()/2+p.RootDispersion.Duration() > MaxRootDistance {
		return ReasonRootDistance, fmt.Sprintf("root delay %v, root dispersion %v", p.RootDelay.Duration(), p.RootDispersion.Duration())
	}
	return ReasonNone, ""
}
