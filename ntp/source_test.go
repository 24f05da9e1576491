package ntp_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/ntp"
	"github.com/xenradclock/xenradclock/ntp/ntptest"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// runSource runs src until n events arrived or Run returned, and returns
// the events and Run's result. On the virtual clock Run may begin one more
// exchange before it sees the cancellation, so counters in Status can
// exceed what the events show by one.
func runSource(t *testing.T, src *ntp.Source, n int) ([]ntp.Event, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := make(chan ntp.Event)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	var evs []ntp.Event
	for len(evs) < n {
		select {
		case ev := <-out:
			evs = append(evs, ev)
		case err := <-done:
			return evs, err
		}
	}
	cancel()
	return evs, <-done
}

func goodPeer(t *testing.T) *ntptest.FakePeer {
	t.Helper()
	peer, err := ntptest.NewFakePeer(false, func(r ntp.Packet) []ntptest.Reply {
		return []ntptest.Reply{{Bytes: ntptest.Bytes(ntptest.GoodReply(r))}}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(peer.Close)
	return peer
}

func offsets(evs []ntp.Event) []time.Duration {
	var out []time.Duration
	for _, e := range evs {
		if !e.Dropped {
			out = append(out, e.Time.Sub(t0))
		}
	}
	return out
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSourceSchedule: without the fast start, a burst of 8 two seconds
// apart, then the poll period, exactly on the virtual clock, and a runtime
// SetPoll taking effect from the last exchange.
func TestSourceSchedule(t *testing.T) {
	peer := goodPeer(t)
	clk := ntptest.NewVirtualClock(t0)
	src, err := ntp.NewSource(ntp.SourceConfig{Server: peer.Addr().String(), Poll: 16 * time.Second, NoFastStart: true,
		Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	waits := 0
	clk.OnAfter(func(time.Duration) {
		if waits++; waits == 10 { // during the wait after the 10th exchange
			src.SetPoll(40 * time.Second)
		}
	})
	evs, err := runSource(t, src, 12)
	if err != nil {
		t.Fatal(err)
	}
	s := time.Second
	want := []time.Duration{0, 2 * s, 4 * s, 6 * s, 8 * s, 10 * s, 12 * s, 14 * s, 30 * s, 46 * s, 86 * s, 126 * s}
	if got := offsets(evs); !equalDurations(got, want) {
		t.Fatalf("schedule\n got %v\nwant %v", got, want)
	}
	for _, e := range evs {
		if e.Sample == nil {
			t.Fatalf("event %+v is not a sample", e.Reject)
		}
	}
	st := src.Status()
	if st.Samples < 12 || st.InBurst || st.Poll != 40*s || st.Addr != peer.Addr() {
		t.Fatalf("status %+v", st)
	}
	if err := src.SetPoll(2000 * s); err == nil {
		t.Fatal("SetPoll accepted 2000 s")
	}
}

// fastStartSlots is the default schedule at a poll of 64 s: the burst at
// 0..14 s, the fast start every 16 s while the slot is before 15 min, then
// 64 s.
func fastStartSlots(n int) []time.Duration {
	s := time.Second
	var want []time.Duration
	for k := range 8 {
		want = append(want, time.Duration(2*k)*s)
	}
	for at := 30 * s; at < 900*s; at += 16 * s {
		want = append(want, at)
	}
	for at := want[len(want)-1] + 64*s; len(want) < n; at += 64 * s {
		want = append(want, at)
	}
	return want[:n]
}

// TestSourceFastStart: by default the burst is followed by 16 s polling for
// the first 15 minutes, then the configured poll; NoFastStart goes straight
// to the poll.
func TestSourceFastStart(t *testing.T) {
	peer := goodPeer(t)
	clk := ntptest.NewVirtualClock(t0)
	src, err := ntp.NewSource(ntp.SourceConfig{Server: peer.Addr().String(), Poll: 64 * time.Second,
		Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	var mid ntp.SourceStatus
	waits := 0
	clk.OnAfter(func(time.Duration) {
		if waits++; waits == 20 {
			mid = src.Status()
		}
	})
	want := fastStartSlots(68)
	if want[62] != 894*time.Second || want[63] != 958*time.Second {
		t.Fatalf("expected slots wrong: %v", want[60:66])
	}
	evs, err := runSource(t, src, len(want))
	if err != nil {
		t.Fatal(err)
	}
	if got := offsets(evs); !equalDurations(got, want) {
		t.Fatalf("schedule\n got %v\nwant %v", got, want)
	}
	if !mid.InFastStart || mid.InBurst || mid.EffectivePoll != 16*time.Second || mid.Poll != 64*time.Second {
		t.Fatalf("status during the fast start %+v", mid)
	}
	if st := src.Status(); st.InFastStart || st.EffectivePoll != 64*time.Second {
		t.Fatalf("status after the fast start %+v", st)
	}

	src, _ = ntp.NewSource(ntp.SourceConfig{Server: peer.Addr().String(), Poll: 64 * time.Second, NoFastStart: true,
		Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}, Clock: ntptest.NewVirtualClock(t0)})
	evs, err = runSource(t, src, 10)
	if err != nil {
		t.Fatal(err)
	}
	s := time.Second
	if got, want := offsets(evs), []time.Duration{0, 2 * s, 4 * s, 6 * s, 8 * s, 10 * s, 12 * s, 14 * s, 78 * s, 142 * s}; !equalDurations(got, want) {
		t.Fatalf("NoFastStart schedule\n got %v\nwant %v", got, want)
	}
}

// TestSourceFastStartSetPoll: during the fast start a shorter poll applies
// at once and a longer one waits for its end; FastStartPoll and
// FastStartDuration are honoured.
func TestSourceFastStartSetPoll(t *testing.T) {
	peer := goodPeer(t)
	clk := ntptest.NewVirtualClock(t0)
	src, err := ntp.NewSource(ntp.SourceConfig{Server: peer.Addr().String(), Poll: 64 * time.Second, NoBurst: true,
		FastStartPoll: 10 * time.Second, FastStartDuration: 100 * time.Second,
		Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	waits := 0
	clk.OnAfter(func(time.Duration) {
		switch waits++; waits {
		case 3: // waiting after the exchange at 20 s
			src.SetPoll(6 * time.Second)
		case 5: // waiting after the one at 32 s
			src.SetPoll(1024 * time.Second)
		}
	})
	evs, err := runSource(t, src, 12)
	if err != nil {
		t.Fatal(err)
	}
	s := time.Second
	// The virtual clock has already advanced to 30 s when SetPoll(6 s)
	// takes effect, so the 26 s slot is late but within one interval: taken
	// at once, on the grid. 1024 s waits for the end of the fast start
	// (92 + 10 is not before 100).
	want := []time.Duration{0, 10 * s, 20 * s, 26 * s, 32 * s, 42 * s, 52 * s, 62 * s, 72 * s, 82 * s, 92 * s, 1116 * s}
	if got := offsets(evs); !equalDurations(got, want) {
		t.Fatalf("schedule\n got %v\nwant %v", got, want)
	}
	if _, err := ntp.NewSource(ntp.SourceConfig{Server: "x", FastStartPoll: 100 * time.Millisecond,
		Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}}); err == nil {
		t.Error("accepted a 100 ms fast-start poll")
	}
	if _, err := ntp.NewSource(ntp.SourceConfig{Server: "x", FastStartDuration: -time.Second,
		Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}}); err == nil {
		t.Error("accepted a negative fast-start duration")
	}
}

// TestSourceFastStartKoDRate: a RATE kiss during the fast start ends it and
// backs off from the configured poll, as in the burst.
func TestSourceFastStartKoDRate(t *testing.T) {
	var n atomic.Int32
	peer, err := ntptest.NewFakePeer(false, func(r ntp.Packet) []ntptest.Reply {
		p := ntptest.GoodReply(r)
		if n.Add(1) == 11 {
			p.Stratum, p.RefID = 0, 0x52415445 // RATE
		}
		return []ntptest.Reply{{Bytes: ntptest.Bytes(p)}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	src, _ := ntp.NewSource(ntp.SourceConfig{Server: peer.Addr().String(), Poll: 64 * time.Second,
		Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}, Clock: ntptest.NewVirtualClock(t0)})
	evs, err := runSource(t, src, 14)
	if err != nil {
		t.Fatal(err)
	}
	s := time.Second
	// Burst 0..14, fast start 30, 46, 62 (RATE: period 128), 190, 318, 446.
	want := append(fastStartSlots(11), 190*s, 318*s, 446*s)
	if got := offsets(evs); !equalDurations(got, want) {
		t.Fatalf("schedule\n got %v\nwant %v", got, want)
	}
	if evs[10].Reject == nil || evs[10].Reject.Reason != ntp.ReasonKoDRate {
		t.Fatalf("event 10: %+v", evs[10])
	}
	if st := src.Status(); st.InFastStart || st.EffectivePoll != 128*s || st.Kiss != "RATE" {
		t.Fatalf("status %+v", st)
	}
}

// TestSourceKoDRate: RATE ends the burst and doubles the period, bounded.
func TestSourceKoDRate(t *testing.T) {
	var n atomic.Int32
	peer, err := ntptest.NewFakePeer(false, func(r ntp.Packet) []ntptest.Reply {
		p := ntptest.GoodReply(r)
		if k := n.Add(1); k == 3 || k >= 5 {
			p.Stratum, p.RefID = 0, 0x52415445 // RATE
		}
		return []ntptest.Reply{{Bytes: ntptest.Bytes(p)}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	clk := ntptest.NewVirtualClock(t0)
	src, _ := ntp.NewSource(ntp.SourceConfig{Server: peer.Addr().String(), Poll: 256 * time.Second,
		Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}, Clock: clk})
	evs, err := runSource(t, src, 8)
	if err != nil {
		t.Fatal(err)
	}
	s := time.Second
	// 0, 2, 4 (RATE: period 512), 516, 1028 (RATE: 1024), 2052 (RATE: still 1024), ...
	want := []time.Duration{0, 2 * s, 4 * s, 516 * s, 1028 * s, 2052 * s, 3076 * s, 4100 * s}
	if got := offsets(evs); !equalDurations(got, want) {
		t.Fatalf("schedule\n got %v\nwant %v", got, want)
	}
	if evs[2].Reject == nil || evs[2].Reject.Reason != ntp.ReasonKoDRate || evs[3].Sample == nil {
		t.Fatalf("events 2,3: %+v %+v", evs[2].Reject, evs[3].Sample)
	}
	st := src.Status()
	if st.EffectivePoll != ntp.MaxPoll || st.Kiss != "RATE" || st.Rejected[ntp.ReasonKoDRate] < 5 { // 6 when a 9th exchange began before the cancel
		t.Fatalf("status %+v", st)
	}
}

// TestSourceKoDDeny: DENY stops the source, and Run says so.
func TestSourceKoDDeny(t *testing.T) {
	for _, code := range []uint32{0x44454e59, 0x52535452} { // DENY, RSTR
		var n atomic.Int32
		peer, err := ntptest.NewFakePeer(false, func(r ntp.Packet) []ntptest.Reply {
			p := ntptest.GoodReply(r)
			if n.Add(1) == 2 {
				p.Stratum, p.RefID = 0, code
			}
			return []ntptest.Reply{{Bytes: ntptest.Bytes(p)}}
		})
		if err != nil {
			t.Fatal(err)
		}
		src, _ := ntp.NewSource(ntp.SourceConfig{Server: peer.Addr().String(),
			Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}, Clock: ntptest.NewVirtualClock(t0)})
		evs, err := runSource(t, src, 100)
		peer.Close()
		if !errors.Is(err, ntp.ErrDenied) || len(evs) != 2 || !evs[1].Reject.Reason.IsKoD() {
			t.Fatalf("%08x: err %v after %d events", code, err, len(evs))
		}
		if st := src.Status(); !st.Denied || peer.Requests() != 2 {
			t.Fatalf("%08x: status %+v, %d requests", code, st, peer.Requests())
		}
	}
}

// TestSourceStuckLI3: every reply of a server stuck at LI=3 is rejected and
// counted; no sample ever comes out.
func TestSourceStuckLI3(t *testing.T) {
	peer, err := ntptest.NewFakePeer(false, func(r ntp.Packet) []ntptest.Reply {
		p := ntptest.GoodReply(r)
		p.Leap = ntp.LeapUnsync
		return []ntptest.Reply{{Bytes: ntptest.Bytes(p)}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	src, _ := ntp.NewSource(ntp.SourceConfig{Server: peer.Addr().String(), Poll: time.Second, NoBurst: true,
		Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}, Clock: ntptest.NewVirtualClock(t0)})
	evs, err := runSource(t, src, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Sample != nil || e.Reject.Reason != ntp.ReasonUnsynchronised {
			t.Fatalf("event %+v", e)
		}
	}
	if st := src.Status(); st.Samples != 0 || st.Rejected[ntp.ReasonUnsynchronised] < 10 ||
		st.LastReject != ntp.ReasonUnsynchronised || st.LastRejectAt.Before(t0.Add(9*time.Second)) {
		t.Fatalf("status %+v", st)
	}
}

// TestSourceResolution: names are resolved at start and again every
// ResolveEvery; a changed address moves the source; a failure with no
// address yet is a resolve rejection, later failures keep the old address.
func TestSourceResolution(t *testing.T) {
	p1, p2 := goodPeer(t), goodPeer(t)
	var mu sync.Mutex
	calls := 0
	resolver := func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if host != "ntp.test" || network != "ip4" {
			t.Errorf("resolving %s %q", network, host)
		}
		switch calls {
		case 1:
			return nil, errors.New("no such host")
		case 2, 4:
			return []netip.Addr{p1.Addr().Addr()}, nil
		case 3:
			return nil, errors.New("temporary failure")
		}
		return nil, nil
	}
	// Both peers are on 127.0.0.1 and the configured port picks p1; p2
	// proves no traffic goes anywhere else.
	src, err := ntp.NewSource(ntp.SourceConfig{Server: "ntp.test:" + itoa(p1.Addr().Port()), Network: "ip4",
		Poll: 16 * time.Second, NoBurst: true, ResolveEvery: 60 * time.Second, Resolver: resolver,
		Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}, Clock: ntptest.NewVirtualClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := runSource(t, src, 10)
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].Reject == nil || evs[0].Reject.Reason != ntp.ReasonResolve {
		t.Fatalf("first event %+v", evs[0])
	}
	for i, e := range evs[1:] {
		if e.Sample == nil {
			t.Fatalf("event %d: %+v", i+1, e.Reject)
		}
	}
	// Resolutions at 0 (fail), 16, 80 (fail: keep), 144, ... (10 events to 144 s).
	mu.Lock()
	defer mu.Unlock()
	if calls != 4 || p2.Requests() != 0 || p1.Requests() < 9 { // Run may start an 11th before it sees the cancel
		t.Fatalf("%d resolutions, p1 %d p2 %d requests", calls, p1.Requests(), p2.Requests())
	}
}

func itoa(p uint16) string { return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[8:] }

func TestSplitServer(t *testing.T) {
	cases := []struct {
		in   string
		host string
		port uint16
		ok   bool
	}{
		{"pool.ntp.org", "pool.ntp.org", 123, true},
		{"pool.ntp.org:1123", "pool.ntp.org", 1123, true},
		{"192.0.2.1", "192.0.2.1", 123, true},
		{"2001:db8::1", "2001:db8::1", 123, true},
		{"[2001:db8::1]", "2001:db8::1", 123, true},
		{"[2001:db8::1]:124", "2001:db8::1", 124, true},
		{"host:0", "", 0, false},
		{"host:99999", "", 0, false},
		{":123", "", 0, false},
		{"", "", 0, false},
	}
	for _, tc := range cases {
		h, p, err := ntp.SplitServer(tc.in)
		if (err == nil) != tc.ok || h != tc.host || p != tc.port {
			t.Errorf("%q: %q %d %v", tc.in, h, p, err)
		}
	}
}

func TestNewSourceRejectsBadConfig(t *testing.T) {
	ctr := ntptest.MonoRaw{}
	for _, cfg := range []ntp.SourceConfig{
		{Server: "x", Poll: 500 * time.Millisecond, Client: ntp.ClientConfig{Counter: ctr}},
		{Server: "x", Poll: 2048 * time.Second, Client: ntp.ClientConfig{Counter: ctr}},
		{Server: "x", Network: "udp", Client: ntp.ClientConfig{Counter: ctr}},
		{Server: "x"},
		{Server: "", Client: ntp.ClientConfig{Counter: ctr}},
	} {
		if _, err := ntp.NewSource(cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
}

// TestSourceAddressFailover: a name whose first address cannot be sent to
// (the limited broadcast address: the kernel refuses, nothing leaves the
// host) moves on to its next address.
func TestSourceAddressFailover(t *testing.T) {
	peer := goodPeer(t)
	resolver := func(context.Context, string, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("255.255.255.255"), peer.Addr().Addr()}, nil
	}
	src, err := ntp.NewSource(ntp.SourceConfig{Server: "ntp.test:" + itoa(peer.Addr().Port()), Resolver: resolver,
		Poll: 16 * time.Second, NoBurst: true,
		Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}, Clock: ntptest.NewVirtualClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := runSource(t, src, 3)
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].Reject == nil || evs[0].Reject.Reason != ntp.ReasonNetwork || evs[1].Sample == nil || evs[2].Sample == nil {
		t.Fatalf("events %+v %+v %+v", evs[0].Reject, evs[1].Reject, evs[2].Reject)
	}
	if st := src.Status(); st.Addr != peer.Addr() || st.Rejected[ntp.ReasonNetwork] != 1 {
		t.Fatalf("status %+v", st)
	}
}

// jumpClock is a VirtualClock whose Now can be pushed forward, as after a
// suspend.
type jumpClock struct {
	*ntptest.VirtualClock
	jump atomic.Int64
}

func (c *jumpClock) Now() time.Time { return c.VirtualClock.Now().Add(time.Duration(c.jump.Load())) }

// TestSourceMissedSlots: after the clock jumps past several slots the source
// polls once, then keeps the period from there, without replaying the
// missed slots back to back.
func TestSourceMissedSlots(t *testing.T) {
	peer := goodPeer(t)
	clk := &jumpClock{VirtualClock: ntptest.NewVirtualClock(t0)}
	waits := 0
	clk.OnAfter(func(time.Duration) {
		if waits++; waits == 2 { // while waiting after the second exchange
			clk.jump.Store(int64(100 * time.Second))
		}
	})
	src, _ := ntp.NewSource(ntp.SourceConfig{Server: peer.Addr().String(), Poll: 16 * time.Second, NoBurst: true,
		Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}, Clock: clk})
	evs, err := runSource(t, src, 6)
	if err != nil {
		t.Fatal(err)
	}
	s := time.Second
	want := []time.Duration{0, 16 * s, 132 * s, 148 * s, 164 * s, 180 * s}
	if got := offsets(evs); !equalDurations(got, want) {
		t.Fatalf("schedule\n got %v\nwant %v", got, want)
	}
}
