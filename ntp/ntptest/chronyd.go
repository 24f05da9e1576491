package ntptest

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/internal/testtool"
	"github.com/xenradclock/xenradclock/ntp"
)

// ChronydPath is where Debian installs chronyd.
const ChronydPath = "/usr/sbin/chronyd"

// capSysTime is CAP_SYS_TIME's bit in /proc/PID/status capability masks.
const capSysTime = 25

// Chronyd is a chronyd from Debian running as a local stratum-1 server on
// a loopback port: `local stratum 1`, started with -x (never touches the
// clock) and without CAP_SYS_TIME, with its own pidfile and driftfile in a
// temporary directory and no command port.
type Chronyd struct {
	Addr netip.AddrPort
	Pid  int
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

// StartChronyd starts chronyd for the duration of the test. It skips the
// test, saying so, when chronyd is not installed, and fails it when
// chronyd cannot be started without CAP_SYS_TIME or does not answer.
func StartChronyd(t testing.TB) *Chronyd {
	t.Helper()
	return StartChronydWith(t, ChronydOptions{})
}

// ChronydOptions places chronyd somewhere other than 127.0.0.1.
type ChronydOptions struct {
	// Listen is the address chronyd binds and serves (default 127.0.0.1).
	Listen netip.Addr
	// Netns runs chronyd inside this network namespace (created by the
	// test, see NewNetnsPair) via `ip netns exec`.
	Netns string
}

// StartChronydWith is StartChronyd with options.
func StartChronydWith(t testing.TB, o ChronydOptions) *Chronyd {
	t.Helper()
	if !o.Listen.IsValid() {
		o.Listen = netip.MustParseAddr("127.0.0.1")
	}
	path := ChronydPath
	if _, err := os.Stat(path); err != nil {
		path = testtool.Require(t, "chronyd")
	}
	dir := t.TempDir()
	// chronyd drops root for its own user; let it reach and write the
	// drift file (the test's temporary directories are private otherwise).
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o777)
	port, err := freeUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`# xenradclock test: a local stratum-1 server on loopback
local stratum 1
allow %s
port %d
bindaddress %s
cmdport 0
pidfile %s
driftfile %s
`, allowOf(o.Listen), port, o.Listen, filepath.Join(dir, "chronyd.pid"), filepath.Join(dir, "chrony.drift"))
	confPath := filepath.Join(dir, "chrony.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{path, "-x", "-d", "-f", confPath}
	if os.Geteuid() == 0 {
		// Root: remove CAP_SYS_TIME from the bounding set before exec, so
		// chronyd cannot gain it whatever -x does or does not do.
		sp, err := exec.LookPath("setpriv")
		if err != nil {
			t.Fatalf("running as root, and setpriv (util-linux) is missing to drop CAP_SYS_TIME from chronyd: %v", err)
		}
		args = append([]string{sp, "--bounding-set=-sys_time", "--inh-caps=-sys_time"}, args...)
	}
	if o.Netns != "" {
		ipPath, err := exec.LookPath("ip")
		if err != nil {
			t.Fatalf("chronyd in netns %s needs iproute2's ip: %v", o.Netns, err)
		}
		// ip netns exec execs the rest in place: the pid stays chronyd's.
		args = append([]string{ipPath, "netns", "exec", o.Netns}, args...)
	}
	c := &Chronyd{Addr: netip.AddrPortFrom(o.Listen, port), log: &syncBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(args[0], args[1:]...)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting chronyd: %v", err)
	}
	c.Pid = c.cmd.Process.Pid
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(3 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			t.Logf("chronyd output:\n%s", c.log.String())
		}
	})
	if err := c.checkNoSysTime(); err != nil {
		t.Fatal(err)
	}
	if o.Netns != "" {
		// The readiness probe must come from inside the namespace too.
		err := InNetns(o.Netns, func() error { return c.waitReady(5 * time.Second) })
		if err != nil {
			t.Fatalf("chronyd on %v in netns %s: %v\n%s", c.Addr, o.Netns, err, c.log.String())
		}
		return c
	}
	if err := c.waitReady(5 * time.Second); err != nil {
		t.Fatalf("chronyd on %v: %v\n%s", c.Addr, err, c.log.String())
	}
	return c
}

// Output is chronyd's log so far.
func (c *Chronyd) Output() string { return c.log.String() }

// checkNoSysTime reads chronyd's capability sets and fails if CAP_SYS_TIME
// is in any of them: the test must not be able to change the clock.
func (c *Chronyd) checkNoSysTime() error {
	var status []byte
	var err error
	for range 50 { // until the exec of chronyd itself happened
		status, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", c.Pid))
		if err == nil && bytes.Contains(status, []byte("Name:\tchronyd")) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("reading chronyd's capabilities: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "CapEff" && k != "CapPrm" && k != "CapBnd") {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return fmt.Errorf("parsing %s %q", k, v)
		}
		if mask&(1<<capSysTime) != 0 {
			return fmt.Errorf("chronyd (pid %d) has CAP_SYS_TIME in %s: refusing to run it", c.Pid, k)
		}
	}
	return nil
}

// waitReady polls chronyd with plain requests until it answers as a
// synchronised server.
func (c *Chronyd) waitReady(limit time.Duration) error {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(c.Addr))
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(limit)
	buf := make([]byte, 512)
	last := "no answer"
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return fmt.Errorf("chronyd exited")
		default:
		}
		req := ntp.Packet{Version: 4, Mode: ntp.ModeClient, Transmit: 0x0102030405060708}
		conn.Write(Bytes(req))
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := conn.Read(buf)
		if err != nil {
			continue
		}
		p, err := ntp.Decode(buf[:n])
		if err != nil {
			last = err.Error()
			continue
		}
		if r, d := ntp.CheckReply(&p); r == ntp.ReasonNone {
			return nil
		} else {
			last = d
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %v: %s", limit, last)
}

func allowOf(a netip.Addr) string {
	if a.IsLoopback() {
		return a.String()
	}
	return "" // everything: the namespace holds nothing else
}

func freeUDPPort() (uint16, error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
}

// syncBuffer is a bytes.Buffer safe for the writer goroutines of exec.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
