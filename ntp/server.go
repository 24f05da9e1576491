package ntp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"golang.org/x/sys/unix"
)

// ServerReading is the served clock at one instant, as the caller's time
// function reports it.
type ServerReading struct {
	// Time is the current time (UNIX epoch).
	Time bintime.Time
	// Synced is false while the clock has no valid estimate; the server then
	// answers with LI=3 and stratum 16, which clients must not use.
	Synced bool
	// Leap is a pending leap second (LeapNone, LeapAdd, LeapDel).
	Leap uint8
	// UpstreamStratum is the stratum of the server this clock follows; the
	// server announces one more. 0 means a reference clock (stratum 1).
	UpstreamStratum uint8
	// RefID identifies the upstream (RFC 5905 §7.3: IPv4 address, IPv6
	// hash, or four ASCII characters at stratum 1).
	RefID uint32
	// RefTime is when the clock was last updated.
	RefTime bintime.Time
	// RootDelay is the round-trip delay to the reference clock: the upstream's
	// root delay plus the minimum RTT to it.
	RootDelay time.Duration
	// MaxError is the guaranteed bound on |Time − true time|. The server
	// announces root dispersion = MaxError − RootDelay/2, so a client's root
	// distance (RootDelay/2 + root dispersion) is exactly the bound.
	MaxError time.Duration
}

// TimeFunc returns the served clock now. It is called once when a request
// is received (Tb) and once just before the reply is sent (Te), and must be
// safe for concurrent use.
type TimeFunc func() ServerReading

// ServerConfig configures a Server.
type ServerConfig struct {
	// Addr is the UDP address to bind ("127.0.0.1:123", "[::1]:0"). Required:
	// a server is only ever bound where it was configured to be.
	Addr string
	// Time supplies the served clock. Required.
	Time TimeFunc
	// Precision is the announced precision, log2 s (default -20, about 1 µs).
	Precision int8
	// Delay, when set, emulates a network path for tests: each request is
	// held for toServer before Tb is read, and each reply for fromServer
	// after Te is read, so the exchange sees those one-way delays.
	Delay func() (toServer, fromServer time.Duration)
	// UserStampsOnly disables the kernel receive timestamp: Tb is then the
	// time function read after the request was read from the socket.
	UserStampsOnly bool
	// RateLimit, when set, limits how often each client address is answered.
	RateLimit *RateLimit
}

// ServerStats counts what the server did; Dropped is indexed by Reason.
type ServerStats struct {
	Requests uint64
	Replies  uint64
	Unsynced uint64 // replies sent with LI=3
	KernelRx uint64 // requests whose Tb was moved back to the kernel's receive timestamp
	Limited  uint64 // requests over the rate limit (dropped, or answered by KoDSent)
	KoDSent  uint64 // RATE kiss-o'-death replies
	Dropped  map[Reason]uint64
}

// Server answers NTP client (mode 3) requests with the time of a caller's
// function. It serves both as the project's test server (offset and skewed
// time through emulated delays) and as dom0d's server for guests.
type Server struct {
	cfg     ServerConfig
	conn    *net.UDPConn
	wg      sync.WaitGroup
	closed  atomic.Bool
	reqs    atomic.Uint64
	replies atomic.Uint64
	unsync  atomic.Uint64
	kernRx  atomic.Uint64
	limited atomic.Uint64
	kodSent atomic.Uint64
	limiter *limiter
	tsns    bool // SO_TIMESTAMPNS enabled
	dropped [numReasons]atomic.Uint64
}

// NewServer binds the server's socket. Call Serve to answer requests.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Time == nil {
		return nil, errors.New("ntp: ServerConfig.Time is required")
	}
	if cfg.Addr == "" {
		return nil, errors.New("ntp: ServerConfig.Addr is required")
	}
	if cfg.Precision == 0 {
		cfg.Precision = -20
	}
	ua, err := net.ResolveUDPAddr("udp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ntp: server address %q: %w", cfg.Addr, err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("ntp: server listen on %q: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, conn: conn}
	if rl := cfg.RateLimit; rl != nil {
		if rl.Interval <= 0 {
			conn.Close()
			return nil, fmt.Errorf("ntp: rate limit interval %v must be positive", rl.Interval)
		}
		s.limiter = newLimiter(*rl)
	}
	if !cfg.UserStampsOnly && cfg.Delay == nil {
		if rc, err := conn.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) {
				s.tsns = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) == nil
			})
		}
	}
	return s, nil
}

// Addr is the bound address (with the port chosen when Addr asked for 0).
func (s *Server) Addr() netip.AddrPort {
	ap := s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Stats returns the counters so far.
func (s *Server) Stats() ServerStats {
	st := ServerStats{Requests: s.reqs.Load(), Replies: s.replies.Load(), Unsynced: s.unsync.Load(),
		KernelRx: s.kernRx.Load(), Limited: s.limited.Load(), KoDSent: s.kodSent.Load(), Dropped: map[Reason]uint64{}}
	for r := range s.dropped {
		if n := s.dropped[r].Load(); n != 0 {
			st.Dropped[Reason(r)] = n
		}
	}
	return st
}

// Close stops Serve and waits for delayed replies to finish.
func (s *Server) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	err := s.conn.Close()
	s.wg.Wait()
	return err
}

// Serve answers requests until ctx is done or Close is called. It returns
// nil after Close or cancellation.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	buf := make([]byte, MaxPacketLen+1)
	oob := make([]byte, 128)
	for {
		n, oobn, _, from, err := s.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if s.closed.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("ntp: server read: %w", err)
		}
		// Tb as early as possible; with an emulated delay, after it.
		var rx ServerReading
		if s.cfg.Delay == nil {
			rx = s.cfg.Time()
			if s.tsns {
				s.backdate(&rx, time.Now().UnixNano(), oob[:oobn])
			}
		}
		s.reqs.Add(1)
		req, reason := s.parseRequest(buf[:n])
		if reason != ReasonNone {
			s.dropped[reason].Add(1)
			continue
		}
		if s.limiter != nil && !s.limiter.allow(from.Addr().Unmap(), time.Now()) {
			s.limited.Add(1)
			if s.cfg.RateLimit.KoD {
				s.sendKoD(req, from, "RATE")
			}
			continue
		}
		if s.cfg.Delay == nil {
			s.reply(req, rx, from)
			continue
		}
		in, out := s.cfg.Delay()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			sleepExact(in)
			rx := s.cfg.Time()
			s.replyDelayed(req, rx, from, out)
		}()
	}
}

func (s *Server) parseRequest(b []byte) (Packet, Reason) {
	if len(b) > MaxPacketLen {
		return Packet{}, ReasonMalformed
	}
	p, err := Decode(b)
	if err != nil {
		var de *DecodeError
		if errors.As(err, &de) {
			return p, de.Reason
		}
		return p, ReasonMalformed
	}
	if p.Version < 1 || p.Version > 4 {
		return p, ReasonVersion
	}
	if p.Mode != ModeClient {
		return p, ReasonMode
	}
	return p, ReasonNone
}

// Response builds the reply to req from the readings at receive (rx) and
// transmit (tx). It is exported so other transports (and tests) build the
// same packet.
func Response(req Packet, rx, tx ServerReading, precision int8) Packet {
	p := Packet{
		Version:   req.Version,
		Mode:      ModeServer,
		Poll:      req.Poll,
		Precision: precision,
		RefID:     tx.RefID,
		RefTime:   TimestampOf(tx.RefTime),
		Origin:    req.Transmit,
		Receive:   TimestampOf(rx.Time),
		Transmit:  TimestampOf(tx.Time),
	}
	stratum := int(tx.UpstreamStratum) + 1
	if !tx.Synced || stratum >= 16 {
		p.Leap, p.Stratum = LeapUnsync, 16
	} else {
		p.Leap, p.Stratum = tx.Leap&3, uint8(stratum)
		if p.Leap == LeapUnsync {
			p.Leap = LeapNone
		}
	}
	p.RootDelay = ShortOf(tx.RootDelay)
	p.RootDispersion = ShortOf(max(tx.MaxError-tx.RootDelay/2, 0))
	return p
}

func (s *Server) reply(req Packet, rx ServerReading, to netip.AddrPort) {
	tx := s.cfg.Time()
	s.send(Response(req, rx, tx, s.cfg.Precision), to)
}

func (s *Server) replyDelayed(req Packet, rx ServerReading, to netip.AddrPort, out time.Duration) {
	tx := s.cfg.Time()
	p := Response(req, rx, tx, s.cfg.Precision)
	sleepExact(out)
	s.send(p, to)
}

// sleepGrain is how late time.Sleep may wake: the Go runtime waits for
// timers in epoll with a millisecond timeout, so on Linux a sleep of 1.1 to
// 1.5 ms lasts about 2.1 ms while one of 1.0 ms lasts 1.08 ms (measured on
// the project's machine).
const sleepGrain = 1200 * time.Microsecond

// sleepExact waits d, sleeping all but the last sleepGrain and spinning the
// rest. An emulated path's one-way delays must come out as drawn: with
// time.Sleep alone the demo's far path (1.1-1.5 ms out, 1.0-1.4 ms back)
// became about 2.1 ms out and, for the replies drawn near 1.0 ms, 1.1 ms
// back, and its minimum-RTT exchanges carried a 1 ms asymmetry instead of
// the 0.1 ms intended. The spin costs at most sleepGrain of CPU per delay,
// only in servers with an emulated path (tests and the demo).
func sleepExact(d time.Duration) {
	deadline := time.Now().Add(d)
	if d > sleepGrain {
		time.Sleep(d - sleepGrain)
	}
	for time.Until(deadline) > 0 {
		runtime.Gosched()
	}
}

func (s *Server) send(p Packet, to netip.AddrPort) {
	var b [HeaderLen]byte
	out, _ := p.AppendBinary(b[:0])
	// Counted before sending, so a client that got the reply sees it counted.
	s.replies.Add(1)
	if p.Leap == LeapUnsync {
		s.unsync.Add(1)
	}
	if _, err := s.conn.WriteToUDPAddrPort(out, to); err != nil {
		s.replies.Add(^uint64(0))
		if p.Leap == LeapUnsync {
			s.unsync.Add(^uint64(0))
		}
		s.dropped[ReasonNetwork].Add(1)
	}
}

// backdate moves Tb back to the kernel's receive timestamp: the request
// arrived age = now − stamp ago on the realtime clock, and over such a short
// interval the served clock and realtime advance alike (the error is the
// rate difference times age: nanoseconds).
func (s *Server) backdate(rx *ServerReading, nowNs int64, oob []byte) {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return
		}
		oob = rest
		if h.Level != unix.SOL_SOCKET || h.Type != unix.SCM_TIMESTAMPNS || len(data) < 16 {
			continue
		}
		ts := unix.Timespec{Sec: int64(binary.NativeEndian.Uint64(data)), Nsec: int64(binary.NativeEndian.Uint64(data[8:]))}
		age := nowNs - ts.Nano()
		if age < 0 || age > int64(100*time.Millisecond) {
			return // a clock step or a stale stamp: keep the user-space read
		}
		rx.Time = rx.Time.Sub(bintime.FromNanos(age))
		s.kernRx.Add(1)
		return
	}
}

// sendKoD answers req with a kiss-o'-death. It carries no time: its receive
// and transmit fields echo the request's transmit field.
func (s *Server) sendKoD(req Packet, to netip.AddrPort, code string) {
	p := Packet{
		Leap: LeapUnsync, Version: req.Version, Mode: ModeServer, Stratum: 0, Poll: req.Poll,
		Precision: s.cfg.Precision, RefID: binary.BigEndian.Uint32([]byte(code)),
		Origin: req.Transmit, Receive: req.Transmit, Transmit: req.Transmit,
	}
	var b [HeaderLen]byte
	out, _ := p.AppendBinary(b[:0])
	s.kodSent.Add(1)
	if _, err := s.conn.WriteToUDPAddrPort(out, to); err != nil {
		s.kodSent.Add(^uint64(0))
		s.dropped[ReasonNetwork].Add(1)
	}
}
