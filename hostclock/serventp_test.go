package hostclock

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/ntp"
	"github.com/xenradclock/xenradclock/ntp/ntptest"
)

// serve_ntp with its default rate limit (chrony's: 8 s mean, bursts of 8):
// a guest flooding the service gets RATE kisses-o'-death, while another
// guest address is still served.
func TestDaemonServeNTPRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs the daemon for a few seconds")
	}
	dir := t.TempDir()
	ctr := simCounter(t, dir, -4)
	srv := startServers(t, []serverSpec{{}})
	cfg := testConfig(t, dir, srv.addrs)
	cfg.ServeNTP = "127.0.0.1:0"
	r := startDaemon(t, cfg, Options{Counter: ctr})
	waitFor(t, 20*time.Second, "a clock the NTP service serves", func() bool {
		l := r.d.Publisher().Last()
		return l != nil && (l.State == clockdata.StateWarmUp || l.State == clockdata.StateSynchronised)
	})
	service := netip.MustParseAddrPort(r.d.NTPAddr())
	exchange := func(local string) error {
		c, err := ntp.Dial(service, ntp.ClientConfig{Counter: ntptest.MonoRaw{}, Timeout: 500 * time.Millisecond,
			LocalAddr: netip.MustParseAddr(local)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _, err = c.Exchange(context.Background())
		return err
	}
	served, limited := 0, 0
	for range 20 {
		err := exchange("127.0.0.1")
		var rej *ntp.Rejection
		switch {
		case err == nil:
			served++
		case errors.As(err, &rej) && rej.Reason == ntp.ReasonKoDRate:
			limited++
		default:
			t.Fatalf("flood: %v", err)
		}
	}
	t.Logf("flood of 20 requests: %d served, %d RATE", served, limited)
	if served < DefaultRateBurst || served > DefaultRateBurst+1 || limited != 20-served {
		t.Errorf("flood: %d served, %d RATE; want the burst of %d served, the rest RATE", served, limited, DefaultRateBurst)
	}
	if err := exchange("127.0.0.2"); err != nil {
		t.Errorf("another guest address during the flood: %v", err)
	}
}
