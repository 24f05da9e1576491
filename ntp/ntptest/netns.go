package ntptest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/internal/testtool"
)

// NetnsPair is two network namespaces created by a test and joined by a
// veth pair: the client side A and the server side B, each with an IPv4 and
// an IPv6 address. Nothing outside them is touched, and both are deleted
// when the test ends.
type NetnsPair struct {
	A, B   string     // namespace names
	A4, B4 netip.Addr // 10.213.x.1 and .2
	A6, B6 netip.Addr // fd58:7261:6463::1 and ::2
}

// NewNetnsPair creates the namespaces, or skips the test (saying why) when
// it cannot: not root, or no iproute2.
func NewNetnsPair(t testing.TB) *NetnsPair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	ipPath := testtool.Require(t, "ip")
	var rnd [3]byte
	rand.Read(rnd[:])
	tag := hex.EncodeToString(rnd[:])
	n := &NetnsPair{
		A: "xrc-a-" + tag, B: "xrc-b-" + tag,
		A4: netip.AddrFrom4([4]byte{10, 213, rnd[0], 1}), B4: netip.AddrFrom4([4]byte{10, 213, rnd[0], 2}),
		A6: netip.MustParseAddr("fd58:7261:6463::1"), B6: netip.MustParseAddr("fd58:7261:6463::2"),
	}
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(ipPath, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Root without CAP_SYS_ADMIN (an unprivileged container) cannot create
	// namespaces: that is the environment, not a failure.
	if out, err := exec.Command(ipPath, "netns", "add", n.A).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here (ip netns add: %v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command(ipPath, "netns", "del", n.A).Run() })
	run("netns", "add", n.B)
	t.Cleanup(func() { exec.Command(ipPath, "netns", "del", n.B).Run() })
	// The veth pair is created inside A and one end moved to B, so it never
	// exists in the test's own namespace.
	run("-n", n.A, "link", "add", "xa", "type", "veth", "peer", "name", "xb", "netns", n.B)
	for _, side := range []struct {
		ns, dev string
		v4, v6  netip.Addr
	}{{n.A, "xa", n.A4, n.A6}, {n.B, "xb", n.B4, n.B6}} {
		run("-n", side.ns, "link", "set", "lo", "up")
		run("-n", side.ns, "addr", "add", side.v4.String()+"/24", "dev", side.dev)
		run("-n", side.ns, "addr", "add", side.v6.String()+"/64", "dev", side.dev, "nodad")
		run("-n", side.ns, "link", "set", side.dev, "up")
	}
	// A fresh link drops the first packets for about a second (IPv6
	// neighbour discovery): wait until a datagram gets through each way.
	for _, dst := range []netip.Addr{n.B4, n.B6} {
		if err := n.waitReachable(dst, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// waitReachable sends UDP datagrams from A to dst in B until one arrives.
func (n *NetnsPair) waitReachable(dst netip.Addr, limit time.Duration) error {
	var ln, snd *net.UDPConn
	if err := InNetns(n.B, func() (err error) {
		ln, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 0)))
		return err
	}); err != nil {
		return fmt.Errorf("netns %s: listen on %v: %w", n.B, dst, err)
	}
	defer ln.Close()
	to := ln.LocalAddr().(*net.UDPAddr).AddrPort()
	if err := InNetns(n.A, func() (err error) {
		snd, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
		return err
	}); err != nil {
		return fmt.Errorf("netns %s: dial %v: %w", n.A, to, err)
	}
	defer snd.Close()
	buf := make([]byte, 16)
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		snd.Write([]byte("ping"))
		ln.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := ln.Read(buf); err == nil {
			return nil
		}
	}
	return fmt.Errorf("netns %s cannot reach %v in %s within %v", n.A, to, n.B, limit)
}

// InNetns runs f on an OS thread switched into the named namespace, so
// sockets f opens live there (and keep living there afterwards).
func InNetns(name string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is never unlocked: if switching back failed it must die
		// with this goroutine rather than serve others in the wrong namespace.
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer self.Close()
		target, err := os.Open("/run/netns/" + name)
		if err != nil {
			errc <- fmt.Errorf("netns %s: %w", name, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
