package ntp_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/ntp"
	"github.com/xenradclock/xenradclock/ntp/ntptest"
)

func startServer(t *testing.T, cfg ntp.ServerConfig) *ntp.Server {
	t.Helper()
	srv, err := ntp.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// dialDelayed starts the project's server serving a time offset by off and
// skewed by ppm through constant emulated one-way delays in and out, and
// dials it with a client on MONOTONIC_RAW; the served clock is returned so
// that stamps can be judged against it.
func dialDelayed(t *testing.T, off time.Duration, ppm float64, in, out time.Duration) (*ntp.SkewedClock, *ntp.Server, *ntp.Client) {
	t.Helper()
	ctr := ntptest.MonoRaw{}
	clk, err := ntp.NewSkewedClock(ctr, off, ppm)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, ntp.ServerConfig{Addr: "127.0.0.1:0", Time: clk.Reading,
		Delay: func() (time.Duration, time.Duration) { return in, out }})
	c, err := ntp.Dial(srv.Addr(), ntp.ClientConfig{Counter: ctr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return clk, srv, c
}

// TestAgainstSkewedServer exchanges with the project's server serving a time
// offset by +1.234 s and skewed by +50 ppm through emulated one-way delays
// of 2 ms and 1 ms. Because the server's time is a known function of the
// same counter, every stamp is checked exactly for causality: the served
// time at Ta plus the outbound delay is at most Tb, and Te plus the return
// delay is at most the served time at Tf.
func TestAgainstSkewedServer(t *testing.T) {
	const in, out = 2 * time.Millisecond, time.Millisecond
	clk, srv, c := dialDelayed(t, 1234*time.Millisecond, 50, in, out)
	// The kernel stamp mapping may misplace a stamp by about a triple width.
	const slack = 50 * time.Microsecond
	kernel := 0
	for i := range 5 {
		s, dropped, err := c.Exchange(context.Background())
		if err != nil || len(dropped) > 0 {
			t.Fatalf("exchange %d: %v, dropped %v", i, err, dropped)
		}
		st := s.Stamp
		fwd := st.Tb.Sub(clk.At(st.Ta)).Nanos()
		back := clk.At(st.Tf).Sub(st.Te).Nanos()
		if fwd < int64(in-slack) || back < int64(out-slack) {
			t.Errorf("exchange %d: forward %v (>= %v), back %v (>= %v): stamps inconsistent with the served time",
				i, time.Duration(fwd), in, time.Duration(back), out)
		}
		if fwd > int64(time.Second) || back > int64(time.Second) {
			t.Errorf("exchange %d: forward %v back %v", i, time.Duration(fwd), time.Duration(back))
		}
		// The offset seen by a naive client: served time minus counter time.
		theta := st.Tb.Add(st.Te).Sub(clk.At(st.Ta).Add(clk.At(st.Tf))).Float() / 2
		t.Logf("exchange %d: Ta %s Tf %s, forward %v back %v, asymmetry offset %.6f s (expected (in-out)/2 = %.6f)",
			i, s.TaMethod, s.TfMethod, time.Duration(fwd), time.Duration(back), theta, (in-out).Seconds()/2)
		// Within the expected error: the served clock's offset from the
		// counter's own reading of it is at most half the round trip.
		rtt := clk.At(st.Tf).Sub(clk.At(st.Ta)).Float()
		if theta > rtt/2+slack.Seconds() || theta < -rtt/2-slack.Seconds() {
			t.Errorf("exchange %d: offset %.6f s outside ±RTT/2 = %.6f s", i, theta, rtt/2)
		}
		// And the served time is the system time moved by +1.234 s (the
		// system clock only read here, to check the server's offset).
		if d := st.Te.Sub(bintime.FromNanos(time.Now().UnixNano())).Float() - 1.234; d > 0.1 || d < -0.1 {
			t.Errorf("exchange %d: served time is %.6f s from now+1.234 s", i, d)
		}
		if s.TaMethod == ntp.MethodKernel && s.TfMethod == ntp.MethodKernel {
			kernel++
		}
		if s.Stamp.Side.Stratum != 1 || s.Stamp.Side.RefID != 0x58524144 || s.Stamp.Side.Leap != 0 {
			t.Errorf("side info %+v", s.Stamp.Side)
		}
		if s.Stamp.Side.RootDispersion != ntp.ShortOf(time.Millisecond).Nanos() {
			t.Errorf("root dispersion %d ns, want the 1 ms bound", s.Stamp.Side.RootDispersion)
		}
	}
	if kernel == 0 {
		t.Log("no exchange had kernel stamps at both ends (SO_TIMESTAMPING unavailable?)")
	}
	if st := srv.Stats(); st.Replies != 5 || st.Requests != 5 {
		t.Errorf("server stats %+v", st)
	}
}

// TestServerStuckUnsynchronised: a server whose clock never synchronises
// answers LI=3, stratum 16; the client rejects every reply.
func TestServerStuckUnsynchronised(t *testing.T) {
	srv := startServer(t, ntp.ServerConfig{Addr: "127.0.0.1:0", Time: func() ntp.ServerReading {
		return ntp.ServerReading{Time: bintime.FromUnix(time.Now().Unix(), 0), Synced: false}
	}})
	c, err := ntp.Dial(srv.Addr(), ntp.ClientConfig{Counter: ntptest.MonoRaw{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		_, _, err := c.Exchange(context.Background())
		var rej *ntp.Rejection
		if !errors.As(err, &rej) || rej.Reason != ntp.ReasonUnsynchronised {
			t.Fatalf("got %v, want unsynchronised", err)
		}
	}
	if st := srv.Stats(); st.Unsynced != 3 {
		t.Fatalf("server stats %+v", st)
	}
}

// TestServerDropsBadRequests: garbage and non-client packets get no answer
// and are counted by reason.
func TestServerDropsBadRequests(t *testing.T) {
	clk, _ := ntp.NewSkewedClock(ntptest.MonoRaw{}, 0, 0)
	srv := startServer(t, ntp.ServerConfig{Addr: "127.0.0.1:0", Time: clk.Reading})
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	server := ntptest.Bytes(ntp.Packet{Version: 4, Mode: ntp.ModeServer})
	v5 := ntptest.Bytes(ntp.Packet{Version: 5, Mode: ntp.ModeClient})
	for _, b := range [][]byte{[]byte("short"), server, v5, append(ntptest.Bytes(ntp.Packet{Version: 4, Mode: ntp.ModeClient}), 1)} {
		conn.Write(b)
	}
	// A valid request after them proves the server read the others first.
	req := ntp.Packet{Version: 3, Mode: ntp.ModeClient, Poll: 6, Transmit: 0x1122334455667788}
	conn.Write(ntptest.Bytes(req))
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 100)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ntp.Decode(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	if p.Origin != req.Transmit || p.Version != 3 || p.Mode != ntp.ModeServer || p.Poll != 6 || p.Stratum != 1 {
		t.Fatalf("reply %+v", p)
	}
	st := srv.Stats()
	want := map[ntp.Reason]uint64{ntp.ReasonTruncated: 1, ntp.ReasonMode: 1, ntp.ReasonVersion: 1, ntp.ReasonMalformed: 1}
	for r, n := range want {
		if st.Dropped[r] != n {
			t.Errorf("dropped %v: %d, want %d (%+v)", r, st.Dropped[r], n, st)
		}
	}
}

// TestResponseFields checks the server's stratum, leap, root delay and
// dispersion rules without a socket.
func TestResponseFields(t *testing.T) {
	req := ntp.Packet{Version: 4, Mode: ntp.ModeClient, Transmit: 42}
	rd := ntp.ServerReading{Time: bintime.Time{Sec: 1800000000}, Synced: true, UpstreamStratum: 2, Leap: ntp.LeapAdd,
		RootDelay: 10 * time.Millisecond, MaxError: 25 * time.Millisecond, RefID: 7}
	p := ntp.Response(req, rd, rd, -20)
	if p.Stratum != 3 || p.Leap != ntp.LeapAdd || p.Origin != 42 || p.RefID != 7 {
		t.Fatalf("%+v", p)
	}
	if p.RootDelay != ntp.ShortOf(10*time.Millisecond) || p.RootDispersion != ntp.ShortOf(20*time.Millisecond) {
		t.Fatalf("root delay %v dispersion %v", p.RootDelay.Duration(), p.RootDispersion.Duration())
	}
	rd.UpstreamStratum = 15
	if p := ntp.Response(req, rd, rd, -20); p.Stratum != 16 || p.Leap != ntp.LeapUnsync {
		t.Fatalf("upstream 15: %+v", p)
	}
}

func TestServerIPv6(t *testing.T) {
	clk, _ := ntp.NewSkewedClock(ntptest.MonoRaw{}, -time.Second, -20)
	srv, err := ntp.NewServer(ntp.ServerConfig{Addr: "[::1]:0", Time: clk.Reading})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	go srv.Serve(context.Background())
	defer srv.Close()
	c, err := ntp.Dial(srv.Addr(), ntp.ClientConfig{Counter: ntptest.MonoRaw{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, _, err := c.Exchange(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The kernel may take milliseconds to turn RX stamps on system-wide
	// (see docs/ntp.md): give it a few more exchanges.
	for i := 0; srv.Stats().KernelRx == 0 && i < 40; i++ {
		time.Sleep(10 * time.Millisecond)
		if _, _, err := c.Exchange(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if srv.Stats().KernelRx == 0 {
		t.Errorf("server never used a kernel receive stamp: %+v", srv.Stats())
	}
	if !s.Server.Addr().Is6() || clk.At(s.Stamp.Ta-50_000).Cmp(s.Stamp.Tb) > 0 || s.Stamp.Te.Cmp(clk.At(s.Stamp.Tf+50_000)) > 0 {
		t.Fatalf("sample %+v", s)
	}
}

// An emulated path's one-way delays come out as drawn: the forward minus
// the backward delay seen in the stamps is the configured asymmetry (0.1 ms
// here), not the Go timer's millisecond grain (time.Sleep turned 1.1 ms into
// about 2.1 ms and 1.0 ms into 1.08 ms, a 1 ms asymmetry that put the
// demo's far clock 0.5 ms off). Judged on the median, so a few exchanges
// delayed by a loaded machine cannot fail it.
func TestEmulatedDelayAsymmetry(t *testing.T) {
	const in, out = 1100 * time.Microsecond, 1000 * time.Microsecond
	clk, _, c := dialDelayed(t, 0, 0, in, out)
	var asym []time.Duration
	for i := range 15 {
		s, _, err := c.Exchange(context.Background())
		if err != nil {
			t.Fatalf("exchange %d: %v", i, err)
		}
		st := s.Stamp
		fwd := time.Duration(st.Tb.Sub(clk.At(st.Ta)).Nanos())
		back := time.Duration(clk.At(st.Tf).Sub(st.Te).Nanos())
		asym = append(asym, fwd-back)
		t.Logf("exchange %d: forward %v back %v", i, fwd, back)
	}
	slices.Sort(asym)
	med := asym[len(asym)/2]
	// The server's own steps (a goroutine waking, the send path) add tens
	// of µs to one side or the other; the timer grain added a millisecond.
	if d := med - (in - out); d < -300*time.Microsecond || d > 300*time.Microsecond {
		t.Errorf("median forward-backward delay %v, configured %v", med, in-out)
	}
}
