package ntp_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/ntp"
	"github.com/xenradclock/xenradclock/ntp/ntptest"
)

// TestServerRateLimit: past its burst a client gets a RATE kiss-o'-death
// (or silence), another address is unaffected.
func TestServerRateLimit(t *testing.T) {
	for _, kod := range []bool{true, false} {
		clk, _ := ntp.NewSkewedClock(ntptest.MonoRaw{}, 0, 0)
		srv := startServer(t, ntp.ServerConfig{Addr: "127.0.0.1:0", Time: clk.Reading,
			RateLimit: &ntp.RateLimit{Interval: time.Hour, Burst: 2, KoD: kod}})
		exchange := func(local string) error {
			c, err := ntp.Dial(srv.Addr(), ntp.ClientConfig{Counter: ntptest.MonoRaw{}, Timeout: 150 * time.Millisecond,
				LocalAddr: netip.MustParseAddr(local)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _, err = c.Exchange(context.Background())
			return err
		}
		for i := range 2 {
			if err := exchange("127.0.0.1"); err != nil {
				t.Fatalf("kod %v: exchange %d within the burst: %v", kod, i, err)
			}
		}
		err := exchange("127.0.0.1")
		var rej *ntp.Rejection
		want := ntp.ReasonTimeout
		if kod {
			want = ntp.ReasonKoDRate
		}
		if !errors.As(err, &rej) || rej.Reason != want {
			t.Fatalf("kod %v: over the limit: %v, want %v", kod, err, want)
		}
		if err := exchange("127.0.0.2"); err != nil {
			t.Fatalf("kod %v: another address: %v", kod, err)
		}
		st := srv.Stats()
		if st.Limited != 1 || st.Replies != 3 || (kod && st.KoDSent != 1) || (!kod && st.KoDSent != 0) {
			t.Fatalf("kod %v: stats %+v", kod, st)
		}
	}
}

// TestSourceBacksOffFromRateLimitedServer: the project's client and server
// together: the server's RATE ends the client's burst and the client doubles
// its period each time.
func TestSourceBacksOffFromRateLimitedServer(t *testing.T) {
	clk, _ := ntp.NewSkewedClock(ntptest.MonoRaw{}, 0, 0)
	srv := startServer(t, ntp.ServerConfig{Addr: "127.0.0.1:0", Time: clk.Reading,
		RateLimit: &ntp.RateLimit{Interval: time.Hour, Burst: 3, KoD: true}})
	src, _ := ntp.NewSource(ntp.SourceConfig{Server: srv.Addr().String(), Poll: 16 * time.Second,
		Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}, Clock: ntptest.NewVirtualClock(t0)})
	evs, err := runSource(t, src, 7)
	if err != nil {
		t.Fatal(err)
	}
	s := time.Second
	want := []time.Duration{0, 2 * s, 4 * s, 6 * s, 38 * s, 102 * s, 230 * s}
	if got := offsets(evs); !equalDurations(got, want) {
		t.Fatalf("schedule\n got %v\nwant %v", got, want)
	}
	for i, e := range evs {
		if (i < 3) != (e.Sample != nil) || (i >= 3 && e.Reject.Reason != ntp.ReasonKoDRate) {
			t.Fatalf("event %d: %+v %+v", i, e.Sample, e.Reject)
		}
	}
}
