package hostclock

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	beevik "github.com/beevik/ntp"
	"go.uber.org/zap/zaptest"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/internal/testtool"
	"github.com/xenradclock/xenradclock/ntp"
	"github.com/xenradclock/xenradclock/ntp/ntptest"
	"github.com/xenradclock/xenradclock/trace"
	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

// Integration tests: the whole daemon on real sockets (UDP on loopback, the
// Xenstore Unix socket), with the simulated counter and the project's test
// NTP server, or chronyd. Each runs a few seconds: 1 s polling after a fast
// burst.

const (
	testBurst         = 25
	testBurstInterval = 100 * time.Millisecond
)

// simCounter makes a simulated host in dir (kept across daemon restarts).
func simCounter(t *testing.T, dir string, ppm float64) counter.Counter {
	t.Helper()
	path := filepath.Join(dir, "simhost")
	if _, err := os.Stat(path); err != nil {
		if err := counter.CreateSimHost(path, counter.SimHostConfig{HostID: 0x5eed, NominalHz: 1e9, PPM: ppm, Offset: 1 << 40}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := counter.OpenSimulated(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// skewedServers starts n test NTP servers on loopback serving one clock,
// offset and skewed, through emulated delays (base one-way delay, uniform
// jitter, extra outbound delay for asymmetry).
type skewedServers struct {
	clock *ntp.SkewedClock
	mono  counter.Counter
	addrs []string
	srvs  []*ntp.Server
}

type pathDelay struct{ base, jitter, asym time.Duration }

func startSkewed(t *testing.T, offset time.Duration, ppm float64, paths []pathDelay, ports []string) *skewedServers {
	t.Helper()
	mono, err := counter.Open("monotonic-raw")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := ntp.NewSkewedClock(mono, offset, ppm)
	if err != nil {
		t.Fatal(err)
	}
	s := &skewedServers{clock: sk, mono: mono}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for i, p := range paths {
		addr := "127.0.0.1:0"
		if ports != nil {
			addr = ports[i]
		}
		delay := emulatedDelay(p, uint64(i+1))
		srv, err := ntp.NewServer(ntp.ServerConfig{Addr: addr, Time: sk.Reading, Delay: delay})
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ctx)
		t.Cleanup(func() { srv.Close() })
		s.srvs = append(s.srvs, srv)
		s.addrs = append(s.addrs, srv.Addr().String())
	}
	return s
}

func testConfig(t *testing.T, dir string, servers []string) Config {
	t.Helper()
	cfg := Default()
	for _, a := range servers {
		if err := cfg.Set("server", a); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Poll = time.Second
	cfg.Burst = testBurst
	cfg.Page = filepath.Join(dir, "clock")
	cfg.Status = filepath.Join(dir, "status.json")
	cfg.State = filepath.Join(dir, "state.json")
	cfg.Xenstore = "none"
	return cfg
}

// recalibrated is a counter whose nominal frequency differs slightly from
// run to run, as the TSC's (calibrated at open) does.
type recalibrated struct {
	counter.Counter
	hz float64
}

func (c recalibrated) NominalHz() float64 { return c.hz }

type running struct {
	d    *Daemon
	stop func()
}

func startDaemon(t *testing.T, cfg Config, opt Options) *running {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(cfg.Status); err == nil {
				t.Logf("status file:\n%s", b)
			}
		}
	})
	if opt.Log == nil {
		opt.Log = zaptest.NewLogger(t)
	}
	opt.BurstInterval = testBurstInterval
	opt.Tick = 200 * time.Millisecond
	if opt.SystemClock == nil {
		// The test servers serve their own time, seconds off the system
		// clock: whether the host's is synchronised must not matter.
		opt.SystemClock = NoSystemClock
	}
	d, err := New(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	r := &running{d: d}
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

// waitFor polls cond until it holds or the limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// counted: a preferred server that counts (not provisional) and at least
// gen records.
func counted(d *Daemon, gen uint64) func() bool {
	return func() bool {
		dec := d.Engine().Decision()
		last := d.Publisher().Last()
		return dec.Preferred != "" && !dec.Provisional && last != nil && last.Generation >= gen
	}
}

// pageOffset reads the shared page with the counter, bracketed by two reads
// of the reference clock, and returns the published clock's error against
// the bracket's midpoint, the bracket's half-width (the measurement's own
// uncertainty) and the read. Brackets wider than 10 µs (the reader was
// preempted) are retried.
func pageOffset(t *testing.T, page string, c counter.Counter, ref func() bintime.Time) (off, slack float64, n clockdata.Now) {
	t.Helper()
	p, err := clockdata.OpenPage(page)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for try := 0; ; try++ {
		r1 := ref()
		n, err = p.Now(c)
		r2 := ref()
		if err != nil {
			t.Fatal(err)
		}
		if !n.Status.HasTime() {
			t.Fatalf("page read: status %v", n.Status)
		}
		width := r2.Sub(r1).Float()
		if width > 10e-6 && try < 100 {
			continue
		}
		mid := r1.Add(bintime.MustFloat(width / 2))
		return n.Time.Sub(mid).Float(), width / 2, n
	}
}

func (s *skewedServers) now() bintime.Time {
	r, err := s.mono.Read()
	if err != nil {
		panic(err)
	}
	return s.clock.At(r.Count)
}

// The published clock converges to the served time (offset 2.5 s, skewed
// 40 ppm, counter 25 ppm off its nominal) within its guaranteed bound, the
// preferred server is the better path, and the record appears in Xenstore
// with permission r0 on the node and its parent, readable by a guest and
// writable by none.
func TestDaemonConvergesSkewedServer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs the daemon for a few seconds")
	}
	dir := t.TempDir()
	ctr := simCounter(t, dir, -25)
	srv := startSkewed(t, 2500*time.Millisecond, 40, []pathDelay{
		// A long path (RTT 8 ms and more, 1 ms asymmetry) and a short one:
		// far enough apart that the choice does not depend on load.
		{base: 4 * time.Millisecond, jitter: 1 * time.Millisecond, asym: 1 * time.Millisecond},
		{base: 50 * time.Microsecond, jitter: 50 * time.Microsecond},
	}, nil)

	// An embedded Xenstore with a Dom0 socket and a guest (domain 7) socket.
	xs, err := xsd.New(xsd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { xs.Close() })
	dom0Sock, guestSock := filepath.Join(dir, "xs0.sock"), filepath.Join(dir, "xs7.sock")
	if err := xs.Listen(dom0Sock); err != nil {
		t.Fatal(err)
	}
	if err := xs.ListenDomain(guestSock, 7); err != nil {
		t.Fatal(err)
	}

	cfg := testConfig(t, dir, srv.addrs)
	cfg.Xenstore = dom0Sock
	cfg.SelectStamps = 20
	r := startDaemon(t, cfg, Options{Counter: ctr})
	waitFor(t, 20*time.Second, "a preferred server that counts", counted(r.d, 22))
	// Emulated delays sleep, and sleeps jitter by hundreds of µs to ms on a
	// busy machine: give the bound a few seconds to come down to a few ms,
	// but judge the clock by its own bound, whatever it is.
	deadline := time.Now().Add(8 * time.Second)
	for r.d.Publisher().Last().MaxErrorNs > 5e6 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}

	off, slack, n := pageOffset(t, cfg.Page, ctr, srv.now)
	maxErr := float64(n.MaxErrorNs)*1e-9 + slack
	t.Logf("published clock − served time = %.1f µs; error bound %.1f µs, max error %.1f µs, state %v",
		off*1e6, float64(n.ErrorBoundNs)*1e-3, maxErr*1e6, n.State)
	if math.Abs(off) > maxErr {
		t.Errorf("published clock is %.1f µs from the served time, outside its guaranteed bound %.1f µs", off*1e6, maxErr*1e6)
	}
	// The served time is 2.5 s off the system clock: only a clock that
	// really follows the server is this close.
	if math.Abs(off) > 50e-3 {
		t.Errorf("published clock is %v s from the served time", off)
	}
	if got := r.d.Engine().Decision().Preferred; got != srv.addrs[1] {
		t.Errorf("preferred %s, want the short path %s", got, srv.addrs[1])
	}

	// Xenstore: one node with the whole record, same as the page's.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.d.xs.Sync(ctx); err != nil {
		t.Fatalf("xenstore publication: %v", err)
	}
	c0, err := xenstore.DialSocket(ctx, dom0Sock, xenstore.WithoutReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	b, err := c0.Read(ctx, "/xenradclock/clock")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := clockdata.ParseText(string(b))
	if err != nil {
		t.Fatalf("xenstore record does not parse: %v\n%s", err, b)
	}
	if rec.Generation < 22 || rec.DisruptionMarker != r.d.Publisher().Last().DisruptionMarker {
		t.Errorf("xenstore record generation %d marker %x", rec.Generation, rec.DisruptionMarker)
	}
	for _, p := range []string{"/xenradclock", "/xenradclock/clock"} {
		perms, err := c0.GetPerms(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if perms.String() != "r0" {
			t.Errorf("%s permissions %q, want r0", p, perms.String())
		}
	}
	// A guest reads it and cannot write it.
	c7, err := xenstore.DialSocket(ctx, guestSock, xenstore.WithoutReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer c7.Close()
	if _, err := c7.Read(ctx, "/xenradclock/clock"); err != nil {
		t.Errorf("guest cannot read the clock: %v", err)
	}
	if err := c7.Write(ctx, "/xenradclock/clock", []byte("forged")); !errors.Is(err, xenstore.ErrAccess) {
		t.Errorf("guest write: %v, want EACCES", err)
	}
	if err := c7.Write(ctx, "/xenradclock/other", []byte("forged")); !errors.Is(err, xenstore.ErrAccess) {
		t.Errorf("guest write under /xenradclock: %v, want EACCES", err)
	}

	// Debian's tools read the same node and permissions.
	checkDebianXenstoreTools(t, dom0Sock)

	// Status document.
	st, err := ReadStatus(cfg.Status)
	if err != nil {
		t.Fatal(err)
	}
	if st.Preferred != srv.addrs[1] || len(st.Servers) != 2 || st.Clock.Generation < 22 || st.Clock.Disruption == 0 {
		t.Errorf("status %+v", st)
	}
}

// checkDebianXenstoreTools runs xenstore-read and xenstore-ls -p from
// Debian's xenstore-utils against the socket.
func checkDebianXenstoreTools(t *testing.T, sock string) {
	t.Helper()
	testtool.Require(t, "xenstore-read")
	env := append(os.Environ(), "XENSTORED_PATH="+sock)
	cmd := exec.Command("xenstore-read", "/xenradclock/clock")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("xenstore-read: %v\n%s", err, out)
	}
	if _, err := clockdata.ParseText(strings.TrimRight(string(out), "\n")); err != nil {
		t.Errorf("xenstore-read output does not parse as a record: %v\n%s", err, out)
	}
	cmd = exec.Command("xenstore-ls", "-p", "/xenradclock")
	cmd.Env = env
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("xenstore-ls -p: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "clock = ") || !strings.Contains(string(out), "(r0)") {
		t.Errorf("xenstore-ls -p /xenradclock shows no r0 clock node:\n%s", out)
	}
}

// Against chronyd from Debian as a local stratum 1 on loopback (-x, no
// CAP_SYS_TIME): chronyd serves the system clock, so the published clock
// must agree with CLOCK_REALTIME within its guaranteed bound.
func TestDaemonAgainstChronyd(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts chronyd")
	}
	cd := ntptest.StartChronyd(t)
	dir := t.TempDir()
	ctr := simCounter(t, dir, 30)
	cfg := testConfig(t, dir, []string{cd.Addr.String()})
	cfg.Record = filepath.Join(dir, "stamps.trace")
	cfg.ServeNTP = "127.0.0.1:0"
	r := startDaemon(t, cfg, Options{Counter: ctr})
	waitFor(t, 20*time.Second, "a preferred server that counts", counted(r.d, 22))
	off, slack, n := pageOffset(t, cfg.Page, ctr, func() bintime.Time {
		now := time.Now()
		return bintime.FromUnix(now.Unix(), int64(now.Nanosecond()))
	})
	maxErr := float64(n.MaxErrorNs)*1e-9 + slack
	t.Logf("published clock − system clock (served by chronyd) = %.1f µs; error bound %.1f µs, max error %.1f µs",
		off*1e6, float64(n.ErrorBoundNs)*1e-3, maxErr*1e6)
	if math.Abs(off) > maxErr {
		t.Errorf("published clock is %.1f µs from chronyd's time, outside its guaranteed bound %.1f µs", off*1e6, maxErr*1e6)
	}
	side, _, ok := r.d.Engine().PreferredSide()
	if !ok || side.Stratum != 1 {
		t.Errorf("chronyd's side info %+v", side)
	}

	// serve_ntp: a stock NTP client (beevik/ntp) gets the host clock at
	// stratum 2 with chronyd as reference and a root distance equal to the
	// guaranteed bound.
	// The service answers stratum 16 while the clock is unsynchronised: on
	// a loaded machine the rate bound can keep it so past 22 stamps at 1 s
	// (seen once in a CI rehearsal), so the query waits for a served state.
	waitFor(t, 20*time.Second, "a clock the NTP service serves", func() bool {
		l := r.d.Publisher().Last()
		return l != nil && (l.State == clockdata.StateWarmUp || l.State == clockdata.StateSynchronised)
	})
	host, port, _ := net.SplitHostPort(r.d.NTPAddr())
	pn, _ := strconv.Atoi(port)
	resp, err := beevik.QueryWithOptions(host, beevik.QueryOptions{Port: pn, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("query of the NTP service: %v", err)
	}
	if err := resp.Validate(); err != nil {
		t.Errorf("NTP service reply invalid: %v", err)
	}
	last := r.d.Publisher().Last()
	if resp.Stratum != 2 || resp.ReferenceID != 0x7f000001 || resp.Leap == beevik.LeapNotInSync {
		t.Errorf("NTP service: stratum %d refid %#x leap %d", resp.Stratum, resp.ReferenceID, resp.Leap)
	}
	// The root distance is the max error at the time of the reply: at least
	// the record's bound at its reference point, and only a little more.
	if rd := resp.RootDistance.Seconds(); rd < float64(last.MaxErrorNs)*1e-9-1e-6 || rd > float64(last.MaxErrorNs)*1e-9+1e-3 {
		t.Errorf("NTP service root distance %v, record max error %d ns", resp.RootDistance, last.MaxErrorNs)
	}
	if math.Abs(resp.ClockOffset.Seconds()) > 1e-3 {
		t.Errorf("NTP service is %v from the system clock", resp.ClockOffset)
	}

	// --record: every stamp the estimator saw is in the trace, replayable.
	r.stop()
	var doc StatusDoc
	r.d.Engine().Snapshot(&doc)
	f, err := os.Open(cfg.Record)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := trace.NewReader(f)
	h, err := tr.Header()
	if err != nil || h.CounterHz != 1e9 || h.Counter != "simulated" || !h.SideColumns {
		t.Fatalf("trace header %+v, %v", h, err)
	}
	lines := 0
	for {
		rec, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Stamp.Side.Server != cd.Addr.String() || rec.Stamp.Tf <= rec.Stamp.Ta {
			t.Fatalf("trace line %d: %+v", rec.Line, rec.Stamp)
		}
		lines++
	}
	total := doc.Servers[0].Accepted
	for _, v := range doc.Servers[0].Rejected {
		total += v
	}
	if uint64(lines) < doc.Servers[0].Accepted || uint64(lines) > total {
		t.Errorf("trace holds %d stamps; the estimator accepted %d of %d", lines, doc.Servers[0].Accepted, total)
	}
}

// Restart: a daemon stopped (SIGTERM path: state saved) and started again on
// the same counter is good within a few exchanges: same disruption marker,
// generation continues, the preferred server counts at once. A corrupt or
// torn state file is survived with a fresh start and a new marker.
func TestDaemonRestartFromState(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs the daemon three times")
	}
	dir := t.TempDir()
	ctr := simCounter(t, dir, -25)
	srv := startSkewed(t, -700*time.Millisecond, -15, []pathDelay{{}}, nil)
	cfg := testConfig(t, dir, srv.addrs)
	r := startDaemon(t, cfg, Options{Counter: ctr})
	waitFor(t, 20*time.Second, "a first clock", counted(r.d, 22))
	waitFor(t, 20*time.Second, "a synchronised clock", func() bool {
		return r.d.Publisher().Last().State != clockdata.StateUnsynchronised
	})
	r.stop()
	first := r.d.Publisher().Last()
	stamps, _ := r.d.Engine().byName[srv.addrs[0]].est.Progress()

	// Second run: no burst, so every exchange is a poll. The counter
	// reports a nominal frequency 3 ppm off the first run's, as a TSC
	// calibrated again at start does: the state's frequency is kept.
	cfg.Burst = 0
	r2 := startDaemon(t, cfg, Options{Counter: recalibrated{ctr, 1e9 * (1 + 3e-6)}})
	if got := r2.d.Status().StateRestore; got != "restored 1 of 1 servers" {
		t.Fatalf("state restore: %q", got)
	}
	waitFor(t, 10*time.Second, "the first record after restart", func() bool {
		l := r2.d.Publisher().Last()
		return l != nil && l.Generation > first.Generation
	})
	dec := r2.d.Engine().Decision()
	second := r2.d.Publisher().Last()
	if dec.Provisional || dec.Preferred != srv.addrs[0] {
		t.Errorf("after restart the server does not count at once: %+v", dec)
	}
	if second.DisruptionMarker != first.DisruptionMarker || second.Generation != first.Generation+1 {
		t.Errorf("restart disrupted the clock: marker %x→%x generation %d→%d",
			first.DisruptionMarker, second.DisruptionMarker, first.Generation, second.Generation)
	}
	if n, _ := r2.d.Engine().byName[srv.addrs[0]].est.Progress(); n != stamps+1 {
		t.Errorf("estimator history: %d stamps after restart, %d before", n, stamps)
	}
	off, slack, n := pageOffset(t, cfg.Page, ctr, srv.now)
	if math.Abs(off) > float64(n.MaxErrorNs)*1e-9+slack || n.State == clockdata.StateUnsynchronised {
		t.Errorf("first clock after restart: offset %.1f µs, max error %d ns, state %v", off*1e6, n.MaxErrorNs, n.State)
	}
	r2.stop()

	// A torn state file (cut in the middle) is survived: a fresh start with
	// a new disruption marker.
	b, err := os.ReadFile(cfg.State)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.State, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	r3 := startDaemon(t, cfg, Options{Counter: ctr})
	if got := r3.d.Status().StateRestore; !strings.HasPrefix(got, "ignored: ") {
		t.Fatalf("torn state: %q", got)
	}
	waitFor(t, 10*time.Second, "a record after a lost state", func() bool { return r3.d.Publisher().Last() != nil })
	if m := r3.d.Publisher().Last().DisruptionMarker; m == first.DisruptionMarker {
		t.Error("state lost, but the disruption marker did not change")
	}
	r3.stop()
}

// Bad input at the daemon level: a server whose answers come with spoofed,
// wrong-origin and truncated packets, then a kiss-o'-death DENY; and a
// server stuck at LI=3. Each bad packet is rejected and counted (status and
// metrics), the liar and the unsynchronised server never drive the clock,
// and the published clock stays within its bound of the true served time.
func TestDaemonBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs the daemon for a few seconds")
	}
	dir := t.TempDir()
	ctr := simCounter(t, dir, 8)
	good := startSkewed(t, 900*time.Millisecond, 25, []pathDelay{{}}, nil)
	pkt := func(p ntp.Packet) []byte {
		b, err := p.MarshalBinary()
		if err != nil {
			panic(err)
		}
		return b
	}
	var mu sync.Mutex
	asked := 0
	liar, err := ntptest.NewFakePeer(false, func(req ntp.Packet) []ntptest.Reply {
		mu.Lock()
		asked++
		n := asked
		mu.Unlock()
		rd := good.clock.Reading()
		if n > 12 {
			kod := ntp.Packet{Version: 4, Mode: ntp.ModeServer, Leap: ntp.LeapUnsync, Stratum: 0,
				RefID: 0x44454e59, Origin: req.Transmit} // "DENY"
			return []ntptest.Reply{{Bytes: pkt(kod)}}
		}
		// Ten seconds off the served time: a forgery must never show.
		wrong := rd
		wrong.Time = wrong.Time.Add(bintime.Time{Sec: 10})
		spoof := ntp.Response(req, wrong, wrong, -20)
		other := ntp.Response(req, wrong, wrong, -20)
		other.Origin ^= 0x5a5a5a5a
		genuine := ntp.Response(req, rd, good.clock.Reading(), -20)
		return []ntptest.Reply{
			{Bytes: pkt(spoof), Spoofed: true},
			{Bytes: pkt(other)},
			{Bytes: pkt(genuine)[:20]},
			{Bytes: pkt(genuine)},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer liar.Close()
	unsync, err := ntptest.NewFakePeer(false, func(req ntp.Packet) []ntptest.Reply {
		p := ntp.Response(req, good.clock.Reading(), good.clock.Reading(), -20)
		p.Leap = ntp.LeapUnsync
		return []ntptest.Reply{{Bytes: pkt(p)}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unsync.Close()

	liarAddr, unsyncAddr := liar.Addr().String(), unsync.Addr().String()
	cfg := testConfig(t, dir, []string{liarAddr, good.addrs[0], unsyncAddr})
	cfg.Metrics = "127.0.0.1:0"
	r := startDaemon(t, cfg, Options{Counter: ctr})
	waitFor(t, 20*time.Second, "the liar denied and the good server preferred", func() bool {
		var doc StatusDoc
		r.d.Engine().Snapshot(&doc)
		return !doc.Servers[0].Usable && doc.Preferred == good.addrs[0] && !doc.Provisional
	})
	var doc StatusDoc
	r.d.Engine().Snapshot(&doc)
	lr, ur := doc.Servers[0].Rejected, doc.Servers[2].Rejected
	for _, reason := range []string{"wrong_source", "wrong_origin", "truncated", "kod_deny"} {
		if lr[reason] == 0 {
			t.Errorf("liar: no %s rejection counted: %v", reason, lr)
		}
	}
	if ur["unsynchronised"] == 0 || doc.Servers[2].Accepted != 0 {
		t.Errorf("LI=3 server: accepted %d, rejected %v", doc.Servers[2].Accepted, ur)
	}
	if doc.Servers[0].Accepted == 0 || doc.Servers[0].Accepted > 12 {
		t.Errorf("liar: %d genuine replies accepted, want 1..12", doc.Servers[0].Accepted)
	}
	// The clock stays within its own guaranteed bound, and the forged 10 s
	// never shows. The second limit is not tighter than 0.1 s because the
	// liar's genuine replies (stamped in user space by a fake peer, late by
	// milliseconds under -race on a loaded machine) may have been published
	// while it was provisionally preferred: the switch to the good server
	// then slews off several ms, inside max error (seen: 7.95 ms off, max
	// error 9.0 ms).
	off, slack, n := pageOffset(t, cfg.Page, ctr, good.now)
	if math.Abs(off) > float64(n.MaxErrorNs)*1e-9+slack || math.Abs(off) > 0.1 {
		t.Errorf("clock affected: %.1f µs from the served time, max error %d ns", off*1e6, n.MaxErrorNs)
	}
	// The metrics say the same.
	resp, err := http.Get("http://" + r.d.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`xenradclock_server_stamps_rejected_total{reason="wrong_origin",server="` + liarAddr + `"}`,
		`xenradclock_server_stamps_rejected_total{reason="kod_deny",server="` + liarAddr + `"} 1`,
		`xenradclock_server_stamps_rejected_total{reason="unsynchronised",server="` + unsyncAddr + `"}`,
		`xenradclock_server_preferred{server="` + good.addrs[0] + `"} 1`,
		`xenradclock_server_stamps_accepted_total{server="` + good.addrs[0] + `"}`,
		`xenradclock_server_min_rtt_seconds{server="` + good.addrs[0] + `"}`,
		`xenradclock_server_period_seconds{server="` + good.addrs[0] + `"}`,
		`xenradclock_server_offset_seconds{server="` + good.addrs[0] + `"}`,
		`xenradclock_server_error_bound_seconds{server="` + good.addrs[0] + `"}`,
		`xenradclock_server_status{server="` + good.addrs[0] + `"}`,
		`xenradclock_record_generation `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Nothing more is asked of a server that said DENY.
	mu.Lock()
	before := asked
	mu.Unlock()
	time.Sleep(1500 * time.Millisecond)
	mu.Lock()
	after := asked
	mu.Unlock()
	if after != before {
		t.Errorf("the denied server was asked %d more times", after-before)
	}
}

// A reload keeps the sources of the servers that stay (no second burst), applies
// their new poll in place, and starts new servers.
func TestDaemonReloadKeepsSources(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs the daemon for a few seconds")
	}
	dir := t.TempDir()
	ctr := simCounter(t, dir, 0)
	srv := startSkewed(t, 0, 0, []pathDelay{{}, {}}, nil)
	cfg := testConfig(t, dir, srv.addrs[:1])
	cfg.Burst = 5
	r := startDaemon(t, cfg, Options{Counter: ctr})
	waitFor(t, 10*time.Second, "the burst to end", func() bool { return srv.srvs[0].Stats().Requests >= 6 })

	cfg2 := cfg
	cfg2.Servers = nil
	for _, a := range srv.addrs {
		if err := cfg2.Set("server", a+" poll=2s"); err != nil {
			t.Fatal(err)
		}
	}
	before := srv.srvs[0].Stats().Requests
	if err := r.d.Reload(cfg2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the new server's burst", func() bool { return srv.srvs[1].Stats().Requests >= 5 })
	time.Sleep(500 * time.Millisecond)
	// Over the new server's burst (about 0.5 s) and 0.5 s more, the kept
	// server is polled at its poll (1 s, then 2 s), not with a new burst.
	if n := srv.srvs[0].Stats().Requests - before; n > 2 {
		t.Errorf("kept server asked %d times since the reload: its source was restarted", n)
	}
	r.stop()
	var doc StatusDoc
	r.d.Engine().Snapshot(&doc)
	if len(doc.Servers) != 2 || doc.Servers[0].Poll != 2 || doc.Servers[1].Accepted == 0 {
		t.Errorf("after reload: %+v", doc.Servers)
	}
}
