package ntp

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiterRefill(t *testing.T) {
	l := newLimiter(RateLimit{Interval: time.Second, Burst: 2})
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	t0 := time.Unix(1000, 0)
	steps := []struct {
		addr netip.Addr
		at   time.Duration
		want bool
	}{
		{a, 0, true}, {a, 0, true}, {a, 0, false}, // the burst, then empty
		{b, 0, true},                                                                           // another address has its own bucket
		{a, 500 * time.Millisecond, false},                                                     // half a token
		{a, 1000 * time.Millisecond, true},                                                     // a whole one
		{a, 1100 * time.Millisecond, false},                                                    // spent
		{a, 10 * time.Second, true}, {a, 10 * time.Second, true}, {a, 10 * time.Second, false}, // refilled to the burst, not beyond
	}
	for i, s := range steps {
		if got := l.allow(s.addr, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d (%v at %v): %v, want %v", i, s.addr, s.at, got, s.want)
		}
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	l := newLimiter(RateLimit{Interval: time.Second, Burst: 1})
	t0 := time.Unix(1000, 0)
	for i := range maxTracked + 100 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if !l.allow(a, t0.Add(time.Duration(i)*time.Microsecond)) {
			t.Fatalf("new address %v refused", a)
		}
	}
	if n := len(l.buckets); n > maxTracked {
		t.Fatalf("%d buckets", n)
	}
	// Idle buckets are forgotten first.
	l.allow(netip.MustParseAddr("10.255.255.255"), t0.Add(time.Hour))
	if n := len(l.buckets); n != 1 {
		t.Fatalf("%d buckets after everyone went idle", n)
	}
}
