// Package ntptest holds test helpers for the ntp package and its users: a
// MONOTONIC_RAW counter, a scriptable fake NTP peer on loopback for bad-input
// tests, a virtual scheduling clock, and a harness running Debian's chronyd
// as a local stratum-1 server (never touching the system clock).
package ntptest

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/ntp"
	"golang.org/x/sys/unix"
)

// MonoRaw is a counter.Counter over CLOCK_MONOTONIC_RAW in nanoseconds, for
// tests that must not wait for the counter package.
type MonoRaw struct{}

// Name implements counter.Counter.
func (MonoRaw) Name() string { return "monotonic-raw" }

// Kind implements counter.Counter.
func (MonoRaw) Kind() counter.Kind { return counter.KindMonotonicRaw }

// NominalHz implements counter.Counter.
func (MonoRaw) NominalHz() float64 { return 1e9 }

// Read implements counter.Counter.
func (MonoRaw) Read() (counter.Reading, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &ts); err != nil {
		return counter.Reading{}, err
	}
	return counter.Reading{Count: uint64(ts.Nano()), Identity: 1}, nil
}

// Reply is one datagram a FakePeer sends in answer to a request.
type Reply struct {
	Bytes []byte
	// Spoofed sends it from a second socket, i.e. from the wrong port.
	Spoofed bool
	// Delay holds it back before sending.
	Delay time.Duration
}

// Handler decides what a FakePeer sends for a request; req is the decoded
// client packet (the nonce is req.Transmit).
type Handler func(req ntp.Packet) []Reply

// FakePeer is a scriptable NTP "server" on loopback.
type FakePeer struct {
	conn, spoof *net.UDPConn
	mu          sync.Mutex
	handler     Handler
	requests    int
	received    []ntp.Packet
	wg          sync.WaitGroup
}

// NewFakePeer listens on 127.0.0.1 (or ::1 when v6) on a free port.
func NewFakePeer(v6 bool, h Handler) (*FakePeer, error) {
	addr := "127.0.0.1:0"
	if v6 {
		addr = "[::1]:0"
	}
	ua, _ := net.ResolveUDPAddr("udp", addr)
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	spoof, err := net.ListenUDP("udp", ua)
	if err != nil {
		conn.Close()
		return nil, err
	}
	p := &FakePeer{conn: conn, spoof: spoof, handler: h}
	p.wg.Add(1)
	go p.loop()
	return p, nil
}

// Addr is the peer's address.
func (p *FakePeer) Addr() netip.AddrPort {
	ap := p.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// SetHandler replaces the handler.
func (p *FakePeer) SetHandler(h Handler) {
	p.mu.Lock()
	p.handler = h
	p.mu.Unlock()
}

// Requests is how many requests arrived.
func (p *FakePeer) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

// Received lists the requests that arrived, in order.
func (p *FakePeer) Received() []ntp.Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ntp.Packet(nil), p.received...)
}

// Close stops the peer.
func (p *FakePeer) Close() {
	p.conn.Close()
	p.spoof.Close()
	p.wg.Wait()
}

func (p *FakePeer) loop() {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		req, err := ntp.Decode(buf[:n])
		if err != nil {
			continue
		}
		p.mu.Lock()
		p.requests++
		p.received = append(p.received, req)
		h := p.handler
		p.mu.Unlock()
		for _, r := range h(req) {
			if r.Delay > 0 {
				time.Sleep(r.Delay)
			}
			c := p.conn
			if r.Spoofed {
				c = p.spoof
			}
			c.WriteToUDPAddrPort(r.Bytes, from)
		}
	}
}

// GoodReply is a well-formed stratum-1 answer to req with Tb = Te = now
// (system time: the fake peer's time is only required to be plausible).
func GoodReply(req ntp.Packet) ntp.Packet {
	now := time.Now()
	ts := ntp.TimestampOf(bintimeOf(now))
	return ntp.Packet{
		Version: 4, Mode: ntp.ModeServer, Stratum: 1, Precision: -20,
		RefID: 0x47505300, RefTime: ts, Origin: req.Transmit, Receive: ts, Transmit: ts,
		RootDelay: 0x10, RootDispersion: 0x20,
	}
}

// Bytes encodes p, for Handlers.
func Bytes(p ntp.Packet) []byte {
	b, _ := p.MarshalBinary()
	return b
}
