package compare

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/ntp"
)

// spinNs is how much of each hold is busy-waited rather than slept.
const spinNs = 60 * us

// Exchange is what the server did for one request: the delays drawn, and
// the delays the emulation really produced, measured against the kernel's
// receive and transmit timestamps.
type Exchange struct {
	Index        int
	ElapsedNs    int64
	Drawn        Delay
	ActFwdNs     int64 // Tb read − kernel receive timestamp
	ActBackNs    int64 // kernel transmit timestamp − Te read; -1 when unknown
	KernelStamps bool
}

// FloorNs is the exchange's emulation asymmetry: the error it adds to a
// client's offset, half the forward excess minus the backward excess.
func (e Exchange) FloorNs() int64 {
	return ((e.ActFwdNs - e.Drawn.FwdNs) - (e.ActBackNs - e.Drawn.BackNs)) / 2
}

// endpoint is one server socket of one client, served by one OS thread.
type endpoint struct {
	sc     *Scenario
	seed   uint64
	srv    int
	addr   netip.AddrPort
	netns  string
	start  int64 // CLOCK_MONOTONIC_RAW ns at the scenario's start
	clock  Served
	mu     sync.Mutex
	log    []Exchange
	n      int
	stop   *atomic.Bool
	fifo   bool
	pinCPU int
}

// serve binds the endpoint's socket inside its namespace and answers until
// stop is set. ready receives nil once bound, or the error.
func (e *endpoint) serve(ready chan<- error) {
	runtime.LockOSThread() // never unlocked: the thread dies in the namespace
	fd, err := e.bind()
	ready <- err
	if err != nil {
		return
	}
	defer unix.Close(fd)
	e.fifo = setRealtime(e.pinCPU)
	buf := make([]byte, ntp.MaxPacketLen+1)
	oob := make([]byte, 256)
	for !e.stop.Load() {
		n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, 0)
		if err != nil {
			continue // the receive timeout: check stop
		}
		rxNs, ok := rxStamp(oob[:oobn])
		e.handle(fd, buf[:n], from, rxNs, ok)
	}
}

func (e *endpoint) bind() (int, error) {
	if err := enterNetns(e.netns); err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	flags := unix.SOF_TIMESTAMPING_RX_SOFTWARE | unix.SOF_TIMESTAMPING_TX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE |
		unix.SOF_TIMESTAMPING_OPT_TSONLY | unix.SOF_TIMESTAMPING_OPT_ID
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	for _, err := range []error{
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, flags),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv),
		unix.Bind(fd, &unix.SockaddrInet4{Port: int(e.addr.Port()), Addr: e.addr.Addr().As4()}),
	} {
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("server socket %v in %s: %w", e.addr, e.netns, err)
		}
	}
	return fd, nil
}

func enterNetns(name string) error {
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", name, err)
	}
	return nil
}

// setRealtime makes the calling thread SCHED_FIFO and pins it to cpu (when
// cpu >= 0), where allowed; it reports whether FIFO was granted.
func setRealtime(cpu int) bool {
	if cpu >= 0 && cpu < runtime.NumCPU() {
		var set unix.CPUSet
		set.Set(cpu)
		_ = unix.SchedSetaffinity(0, &set)
	}
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 20}
	return unix.SchedSetAttr(0, &attr, 0) == nil
}

func realNs() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
	return ts.Nano()
}

func rawNs() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &ts)
	return ts.Nano()
}

// holdUntil sleeps until spinNs before the CLOCK_REALTIME deadline and
// busy-waits the rest; it returns the realtime at which it let go.
func holdUntil(deadline int64) int64 {
	if d := deadline - spinNs - realNs(); d > 0 {
		ts := unix.NsecToTimespec(d)
		_ = unix.Nanosleep(&ts, nil)
	}
	for {
		if now := realNs(); now >= deadline {
			return now
		}
	}
}

func (e *endpoint) handle(fd int, b []byte, from unix.Sockaddr, rxNs int64, kernel bool) {
	req, err := ntp.Decode(b)
	if err != nil || req.Mode != ntp.ModeClient {
		return
	}
	if !kernel {
		rxNs = realNs()
	}
	e.mu.Lock()
	idx := e.n
	e.n++
	e.mu.Unlock()
	el := time.Duration(rawNs() - e.start)
	d := e.sc.Path.Draw(e.seed, e.srv, idx, el)
	if d.Drop {
		return
	}
	tbReal := holdUntil(rxNs + d.FwdNs)
	rx := e.reading()
	tx := e.reading()
	teReal := realNs()
	var out [ntp.HeaderLen]byte
	resp := ntp.Response(req, rx, tx, -20)
	pkt, _ := resp.AppendBinary(out[:0])
	holdUntil(teReal + d.BackNs)
	x := Exchange{Index: idx, ElapsedNs: int64(el), Drawn: d, ActFwdNs: tbReal - rxNs, ActBackNs: -1, KernelStamps: kernel}
	if err := unix.Sendto(fd, pkt, 0, from); err == nil {
		if txNs, ok := txStamp(fd); ok {
			x.ActBackNs = txNs - teReal
		}
	}
	e.mu.Lock()
	e.log = append(e.log, x)
	e.mu.Unlock()
}

func (e *endpoint) reading() ntp.ServerReading {
	t := e.clock.At(rawNs())
	if e.srv == e.sc.Servers-1 && e.sc.Servers > 1 {
		t = t.Add(bintime.FromNanos(e.sc.FalseNs))
	}
	return ntp.ServerReading{Time: t, Synced: true, RefID: 0x434d5052, RefTime: t, MaxError: 100 * time.Microsecond}
}

// rxStamp finds the software receive timestamp in a control message.
func rxStamp(oob []byte) (int64, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPING && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:]))
			if sec != 0 || nsec != 0 {
				return sec*1e9 + nsec, true
			}
		}
	}
	return 0, false
}

// txStamp waits briefly for the transmit timestamp of the datagram just
// sent on the socket's error queue.
func txStamp(fd int) (int64, bool) {
	oob := make([]byte, 256)
	for range 50 {
		_, oobn, _, _, err := unix.Recvmsg(fd, nil, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err == nil {
			return rxStamp(oob[:oobn])
		}
		p := []unix.PollFd{{Fd: int32(fd)}}
		_, _ = unix.Poll(p, 1)
	}
	return 0, false
}

// Log returns the exchanges so far.
func (e *endpoint) Log() []Exchange {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Exchange(nil), e.log...)
}
