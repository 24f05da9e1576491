package ntp_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/ntp"
	"github.com/xenradclock/xenradclock/ntp/ntptest"
)

func reasonsOf(rs []ntp.Rejection) []ntp.Reason {
	var out []ntp.Reason
	for _, r := range rs {
		out = append(out, r.Reason)
	}
	return out
}

func reply(p ntp.Packet) ntptest.Reply { return ntptest.Reply{Bytes: ntptest.Bytes(p)} }

func mod(f func(*ntp.Packet)) func(ntp.Packet) ntptest.Reply {
	return func(req ntp.Packet) ntptest.Reply {
		p := ntptest.GoodReply(req)
		f(&p)
		return reply(p)
	}
}

func kiss(code string) func(*ntp.Packet) {
	return func(p *ntp.Packet) {
		p.Stratum = 0
		p.RefID = uint32(code[0])<<24 | uint32(code[1])<<16 | uint32(code[2])<<8 | uint32(code[3])
	}
}

// TestExchangeBadInput runs every kind of bad reply through a real socket
// and checks it is rejected with its reason, counted, and never becomes a
// stamp.
func TestExchangeBadInput(t *testing.T) {
	good := func(req ntp.Packet) ntptest.Reply { return reply(ntptest.GoodReply(req)) }
	cases := []struct {
		name     string
		replies  func(req ntp.Packet) []ntptest.Reply
		want     ntp.Reason // terminal reason; ReasonNone: a sample
		dropped  []ntp.Reason
		kissCode string
	}{
		{"good", func(r ntp.Packet) []ntptest.Reply { return []ntptest.Reply{good(r)} }, ntp.ReasonNone, nil, ""},
		{"wrong origin then good", func(r ntp.Packet) []ntptest.Reply {
			return []ntptest.Reply{mod(func(p *ntp.Packet) { p.Origin ^= 1 })(r), good(r)}
		}, ntp.ReasonNone, []ntp.Reason{ntp.ReasonWrongOrigin}, ""},
		{"spoofed source then good", func(r ntp.Packet) []ntptest.Reply {
			s := good(r)
			s.Spoofed = true
			return []ntptest.Reply{s, good(r)}
		}, ntp.ReasonNone, []ntp.Reason{ntp.ReasonSource}, ""},
		{"truncated then good", func(r ntp.Packet) []ntptest.Reply {
			b := good(r)
			b.Bytes = b.Bytes[:40]
			return []ntptest.Reply{b, good(r)}
		}, ntp.ReasonNone, []ntp.Reason{ntp.ReasonTruncated}, ""},
		{"malformed then good", func(r ntp.Packet) []ntptest.Reply {
			b := good(r)
			b.Bytes = append(b.Bytes, 1, 2, 3)
			return []ntptest.Reply{b, good(r)}
		}, ntp.ReasonNone, []ntp.Reason{ntp.ReasonMalformed}, ""},
		{"client mode and v2 then good", func(r ntp.Packet) []ntptest.Reply {
			return []ntptest.Reply{
				mod(func(p *ntp.Packet) { p.Mode = ntp.ModeClient })(r),
				mod(func(p *ntp.Packet) { p.Version = 2 })(r),
				good(r)}
		}, ntp.ReasonNone, []ntp.Reason{ntp.ReasonMode, ntp.ReasonVersion}, ""},
		{"spoofed KoD is not honoured", func(r ntp.Packet) []ntptest.Reply {
			return []ntptest.Reply{mod(func(p *ntp.Packet) { kiss("DENY")(p); p.Origin++ })(r), good(r)}
		}, ntp.ReasonNone, []ntp.Reason{ntp.ReasonWrongOrigin}, ""},
		{"KoD RATE", one(mod(kiss("RATE"))), ntp.ReasonKoDRate, nil, "RATE"},
		{"KoD DENY", one(mod(kiss("DENY"))), ntp.ReasonKoDDeny, nil, "DENY"},
		{"KoD RSTR", one(mod(kiss("RSTR"))), ntp.ReasonKoDRstr, nil, "RSTR"},
		{"KoD other", one(mod(kiss("INIT"))), ntp.ReasonKoDOther, nil, "INIT"},
		{"LI=3", one(mod(func(p *ntp.Packet) { p.Leap = 3 })), ntp.ReasonUnsynchronised, nil, ""},
		{"stratum 16", one(mod(func(p *ntp.Packet) { p.Stratum = 16 })), ntp.ReasonStratum, nil, ""},
		{"stratum 0 without kiss", one(mod(func(p *ntp.Packet) { p.Stratum, p.RefID = 0, 0 })), ntp.ReasonStratum, nil, ""},
		{"zero receive", one(mod(func(p *ntp.Packet) { p.Receive = 0 })), ntp.ReasonZeroTimestamp, nil, ""},
		{"zero transmit", one(mod(func(p *ntp.Packet) { p.Transmit = 0 })), ntp.ReasonZeroTimestamp, nil, ""},
		{"Te before Tb", one(mod(func(p *ntp.Packet) { p.Transmit = p.Receive - 1 })), ntp.ReasonTimeOrder, nil, ""},
		{"root distance", one(mod(func(p *ntp.Packet) { p.RootDispersion = ntp.ShortOf(17 * time.Second) })), ntp.ReasonRootDistance, nil, ""},
		{"silence", func(ntp.Packet) []ntptest.Reply { return nil }, ntp.ReasonTimeout, nil, ""},
		{"only garbage", func(r ntp.Packet) []ntptest.Reply {
			return []ntptest.Reply{{Bytes: []byte("hello")}, mod(func(p *ntp.Packet) { p.Origin = 0 })(r)}
		}, ntp.ReasonTimeout, []ntp.Reason{ntp.ReasonTruncated, ntp.ReasonWrongOrigin}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			peer, err := ntptest.NewFakePeer(false, tc.replies)
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			c, err := ntp.Dial(peer.Addr(), ntp.ClientConfig{Counter: ntptest.MonoRaw{}, Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, dropped, err := c.Exchange(context.Background())
			if got := reasonsOf(dropped); !slices.Equal(got, tc.dropped) {
				t.Errorf("dropped %v, want %v", got, tc.dropped)
			}
			if tc.want == ntp.ReasonNone {
				if err != nil {
					t.Fatalf("want a sample, got %v", err)
				}
				checkSaneSample(t, s)
				return
			}
			var rej *ntp.Rejection
			if !errors.As(err, &rej) {
				t.Fatalf("want rejection %v, got sample %+v err %v", tc.want, s, err)
			}
			if rej.Reason != tc.want || rej.Kiss != tc.kissCode {
				t.Fatalf("rejection %v kiss %q, want %v kiss %q", rej.Reason, rej.Kiss, tc.want, tc.kissCode)
			}
		})
	}
}

func one(f func(ntp.Packet) ntptest.Reply) func(ntp.Packet) []ntptest.Reply {
	return func(r ntp.Packet) []ntptest.Reply { return []ntptest.Reply{f(r)} }
}

func checkSaneSample(t *testing.T, s ntp.Sample) {
	t.Helper()
	st := s.Stamp
	if st.Tf <= st.Ta || st.Te.Cmp(st.Tb) < 0 {
		t.Fatalf("insane stamp %+v", st)
	}
	if rtt := time.Duration(st.Tf - st.Ta); rtt > 200*time.Millisecond {
		t.Fatalf("RTT %v on loopback", rtt)
	}
	if s.TaUser > st.Ta || st.Tf > s.TfUser {
		t.Fatalf("kernel stamps outside the user bracket: user %d..%d, stamp %d..%d", s.TaUser, s.TfUser, st.Ta, st.Tf)
	}
	if st.Side.TTL == 0 {
		t.Errorf("no TTL received")
	}
	if s.Counter != "monotonic-raw" || s.Server.String() != st.Side.Server {
		t.Errorf("sample identity: counter %q server %v side %q", s.Counter, s.Server, st.Side.Server)
	}
	t.Logf("Ta %s (%s, triple %v), Tf %s (%s, triple %v), RTT %v, user RTT %v",
		s.TaMethod, s.TaFail, s.TxTripleWidth, s.TfMethod, s.TfFail, s.RxTripleWidth,
		time.Duration(st.Tf-st.Ta), time.Duration(s.TfUser-s.TaUser))
}

// TestExchangeLateAndDuplicate checks that a reply arriving after its
// exchange ended, or a second copy of an answered reply, is dropped as late
// at the next exchange and does not disturb it.
func TestExchangeLateAndDuplicate(t *testing.T) {
	n := 0
	peer, err := ntptest.NewFakePeer(false, func(r ntp.Packet) []ntptest.Reply {
		n++
		switch n {
		case 1: // too late for a 100 ms timeout
			return []ntptest.Reply{{Bytes: ntptest.Bytes(ntptest.GoodReply(r)), Delay: 250 * time.Millisecond}}
		case 2: // answered twice
			g := ntptest.Bytes(ntptest.GoodReply(r))
			return []ntptest.Reply{{Bytes: g}, {Bytes: g}}
		}
		return []ntptest.Reply{{Bytes: ntptest.Bytes(ntptest.GoodReply(r))}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, err := ntp.Dial(peer.Addr(), ntp.ClientConfig{Counter: ntptest.MonoRaw{}, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, _, err := c.Exchange(ctx); err == nil || err.(*ntp.Rejection).Reason != ntp.ReasonTimeout {
		t.Fatalf("first exchange: %v, want timeout", err)
	}
	time.Sleep(300 * time.Millisecond) // the late reply is now queued
	s, dropped, err := c.Exchange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkSaneSample(t, s)
	if got := reasonsOf(dropped); !slices.Equal(got, []ntp.Reason{ntp.ReasonLate}) {
		t.Fatalf("second exchange dropped %v, want [late]", got)
	}
	time.Sleep(20 * time.Millisecond) // the duplicate is queued
	if _, dropped, err = c.Exchange(ctx); err != nil {
		t.Fatal(err)
	}
	if got := reasonsOf(dropped); !slices.Equal(got, []ntp.Reason{ntp.ReasonLate}) {
		t.Fatalf("third exchange dropped %v, want [late] (the duplicate)", got)
	}
}

// TestExchangeNoncesAreRandom checks the transmit timestamps leak no time:
// consecutive requests carry unrelated nonces.
func TestExchangeNoncesAreRandom(t *testing.T) {
	peer, err := ntptest.NewFakePeer(false, func(r ntp.Packet) []ntptest.Reply {
		return []ntptest.Reply{{Bytes: ntptest.Bytes(ntptest.GoodReply(r))}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, err := ntp.Dial(peer.Addr(), ntp.ClientConfig{Counter: ntptest.MonoRaw{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 4 {
		if _, _, err := c.Exchange(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var seen []ntp.Timestamp
	for _, r := range peer.Received() {
		seen = append(seen, r.Transmit)
	}
	if len(seen) != 4 {
		t.Fatalf("%d requests", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if d := int64(seen[i] - seen[i-1]); d > 0 && d < 1<<40 { // < 256 s apart: looks like a clock
			t.Fatalf("nonces %x then %x look like times", seen[i-1], seen[i])
		}
	}
}

func TestExchangeIPv6(t *testing.T) {
	peer, err := ntptest.NewFakePeer(true, one(func(r ntp.Packet) ntptest.Reply { return reply(ntptest.GoodReply(r)) }))
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer peer.Close()
	c, err := ntp.Dial(peer.Addr(), ntp.ClientConfig{Counter: ntptest.MonoRaw{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, _, err := c.Exchange(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkSaneSample(t, s)
	if !s.Server.Addr().Is6() {
		t.Fatalf("server %v is not IPv6", s.Server)
	}
}

// TestExchangeFlood: a flood of forged replies neither ends the exchange
// nor grows its dropped list without bound, and every packet is counted.
func TestExchangeFlood(t *testing.T) {
	const forged = 150
	peer, err := ntptest.NewFakePeer(false, func(r ntp.Packet) []ntptest.Reply {
		var out []ntptest.Reply
		for i := range forged {
			p := ntptest.GoodReply(r)
			p.Origin ^= ntp.Timestamp(i + 1)
			out = append(out, ntptest.Reply{Bytes: ntptest.Bytes(p)})
		}
		return append(out, ntptest.Reply{Bytes: ntptest.Bytes(ntptest.GoodReply(r))})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, err := ntp.Dial(peer.Addr(), ntp.ClientConfig{Counter: ntptest.MonoRaw{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, dropped, err := c.Exchange(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkSaneSample(t, s)
	total := 0
	for _, d := range dropped {
		if d.Reason != ntp.ReasonWrongOrigin {
			t.Fatalf("dropped %+v", d)
		}
		total += d.Count
	}
	if total != forged || len(dropped) > 65 {
		t.Fatalf("%d entries counting %d packets, want at most 65 counting %d", len(dropped), total, forged)
	}
}

// TestMisbehaviours checks ntptest's catalogue of bad peers (which daemon
// tests reuse) against the client: each ends as documented.
func TestMisbehaviours(t *testing.T) {
	for _, m := range ntptest.Misbehaviours() {
		peer, err := ntptest.NewFakePeer(false, m.Handler)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ntp.Dial(peer.Addr(), ntp.ClientConfig{Counter: ntptest.MonoRaw{}, Timeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, dropped, err := c.Exchange(context.Background())
		c.Close()
		peer.Close()
		var rej *ntp.Rejection
		if !errors.As(err, &rej) || rej.Reason != m.Reason {
			t.Errorf("%s: %v, want %v", m.Name, err, m.Reason)
		}
		want := []ntp.Reason(nil)
		if m.Dropped != ntp.ReasonNone {
			want = []ntp.Reason{m.Dropped}
		}
		if got := reasonsOf(dropped); !slices.Equal(got, want) {
			t.Errorf("%s: dropped %v, want %v", m.Name, got, want)
		}
	}
}
