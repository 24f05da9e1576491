package ntp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/counter"
)

// FuzzReply feeds arbitrary datagrams to the client's whole reply check and
// to the server's request path: neither may panic, a datagram is accepted
// only when it is a proper answer to the outstanding nonce, and every
// rejection has a reason.
func FuzzReply(f *testing.F) {
	const nonce = 0x0123456789abcdef
	good := Packet{Version: 4, Mode: ModeServer, Stratum: 2, Origin: nonce,
		Receive: TimestampOf(bintime.Time{Sec: 1800000000}), Transmit: TimestampOf(bintime.Time{Sec: 1800000000, Frac: 1 << 40})}
	b, _ := good.MarshalBinary()
	f.Add(b)
	kod := good
	kod.Stratum, kod.RefID = 0, 0x52415445
	b, _ = kod.MarshalBinary()
	f.Add(b)
	f.Add(b[:20])
	req := Packet{Version: 4, Mode: ModeClient, Transmit: nonce}
	b, _ = req.MarshalBinary()
	f.Add(b)

	c, err := Dial(netip.MustParseAddrPort("127.0.0.1:9"), ClientConfig{Counter: &fakeCounter{kind: counter.KindMonotonicRaw}})
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	srv := &Server{cfg: ServerConfig{Precision: -20}}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, rej := c.check(in, 0, c.server, nonce)
		if rej == nil {
			if uint64(p.Origin) != nonce || p.Mode != ModeServer || p.Leap == LeapUnsync ||
				p.Transmit.Time().Cmp(p.Receive.Time()) < 0 || p.Stratum == 0 || p.Stratum > 15 {
				t.Fatalf("accepted %+v", p)
			}
		} else if rej.Reason == ReasonNone || rej.Reason >= numReasons {
			t.Fatalf("rejection without a reason: %+v", rej)
		}
		if q, r := srv.parseRequest(in); r == ReasonNone {
			rd := ServerReading{Time: bintime.Time{Sec: 1800000000}, Synced: true, MaxError: time.Millisecond}
			resp := Response(q, rd, rd, -20)
			if resp.Origin != q.Transmit || resp.Mode != ModeServer {
				t.Fatalf("response %+v to %+v", resp, q)
			}
		}
	})
}
