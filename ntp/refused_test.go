package ntp_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/ntp"
	"github.com/xenradclock/xenradclock/ntp/ntptest"
)

// A closed port answers with ICMP port unreachable: the exchange fails at
// once as a network error saying "connection refused" (as a connected
// socket would report it), not after the timeout as a lost reply.
func TestExchangeClosedPortRefused(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	for _, kernel := range []bool{true, false} {
		c, err := ntp.Dial(addr, ntp.ClientConfig{Counter: ntptest.MonoRaw{}, Timeout: 5 * time.Second, UserStampsOnly: !kernel})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.Exchange(context.Background())
		c.Close()
		var rej *ntp.Rejection
		if !errors.As(err, &rej) || rej.Reason != ntp.ReasonNetwork || !strings.Contains(rej.Error(), "refused") {
			t.Errorf("kernel stamps %v: exchange with a closed port: %v; want a network error, connection refused", kernel, err)
		}
	}
}
