package ntptest

import (
	"encoding/binary"

	"github.com/xenradclock/xenradclock/ntp"
)

// Misbehaviour is a named way for a FakePeer to answer badly, with the
// reason the client must give. Daemon tests use them to show each kind of
// bad input is rejected, counted, and leaves the clock alone.
type Misbehaviour struct {
	Name    string
	Handler Handler
	// Reason is the rejection the exchange ends with (ReasonTimeout when
	// nothing acceptable ever arrives).
	Reason ntp.Reason
	// Dropped is the reason of the packets dropped on the way (ReasonNone
	// if none).
	Dropped ntp.Reason
}

func answer(f func(p *ntp.Packet)) Handler {
	return func(req ntp.Packet) []Reply {
		p := GoodReply(req)
		f(&p)
		return []Reply{{Bytes: Bytes(p)}}
	}
}

func kissOf(code string) uint32 { return binary.BigEndian.Uint32([]byte(code)) }

// Misbehaviours lists every kind of bad reply the client must reject. A
// peer stuck in one of them never yields a sample.
func Misbehaviours() []Misbehaviour {
	return []Misbehaviour{
		{"wrong origin", answer(func(p *ntp.Packet) { p.Origin ^= 0x5a5a }), ntp.ReasonTimeout, ntp.ReasonWrongOrigin},
		{"spoofed source", func(req ntp.Packet) []Reply {
			return []Reply{{Bytes: Bytes(GoodReply(req)), Spoofed: true}}
		}, ntp.ReasonTimeout, ntp.ReasonSource},
		{"truncated", func(req ntp.Packet) []Reply {
			return []Reply{{Bytes: Bytes(GoodReply(req))[:ntp.HeaderLen-1]}}
		}, ntp.ReasonTimeout, ntp.ReasonTruncated},
		{"malformed", func(req ntp.Packet) []Reply {
			return []Reply{{Bytes: append(Bytes(GoodReply(req)), 0, 0, 0, 0, 0, 0, 0, 0)}}
		}, ntp.ReasonTimeout, ntp.ReasonMalformed},
		{"client mode", answer(func(p *ntp.Packet) { p.Mode = ntp.ModeClient }), ntp.ReasonTimeout, ntp.ReasonMode},
		{"version 5", answer(func(p *ntp.Packet) { p.Version = 5 }), ntp.ReasonTimeout, ntp.ReasonVersion},
		{"KoD RATE", answer(func(p *ntp.Packet) { p.Stratum, p.RefID = 0, kissOf("RATE") }), ntp.ReasonKoDRate, ntp.ReasonNone},
		{"KoD DENY", answer(func(p *ntp.Packet) { p.Stratum, p.RefID = 0, kissOf("DENY") }), ntp.ReasonKoDDeny, ntp.ReasonNone},
		{"KoD RSTR", answer(func(p *ntp.Packet) { p.Stratum, p.RefID = 0, kissOf("RSTR") }), ntp.ReasonKoDRstr, ntp.ReasonNone},
		{"LI=3", answer(func(p *ntp.Packet) { p.Leap = ntp.LeapUnsync }), ntp.ReasonUnsynchronised, ntp.ReasonNone},
		{"stratum 16", answer(func(p *ntp.Packet) { p.Stratum = 16 }), ntp.ReasonStratum, ntp.ReasonNone},
		{"zero timestamps", answer(func(p *ntp.Packet) { p.Receive, p.Transmit = 0, 0 }), ntp.ReasonZeroTimestamp, ntp.ReasonNone},
		{"Te before Tb", answer(func(p *ntp.Packet) { p.Transmit = p.Receive - 1<<32 }), ntp.ReasonTimeOrder, ntp.ReasonNone},
		{"silent", func(ntp.Packet) []Reply { return nil }, ntp.ReasonTimeout, ntp.ReasonNone},
	}
}
