// Package clocksync is the feed-forward RADclock estimator: stamps in, clock
// parameters out. It is pure: no sockets, no clock reads, no goroutines, no
// logging; time enters only as data, and the same stamps give the same output
// bit for bit.
package clocksync

import "github.com/xenradclock/xenradclock/bintime"

// Stamp is one bidirectional NTP exchange. Ta and Tf are raw counter values
// taken by the host when the request left and the reply arrived; Tb and Te
// are the server's receive and transmit times, held exactly.
type Stamp struct {
	Ta, Tf uint64
	Tb, Te bintime.Time
	Side   SideInfo
}

// SideInfo is what the reply said about the server besides its timestamps.
type SideInfo struct {
	Server         string // identity of the server (address or name)
	Stratum        uint8
	Leap           uint8 // NTP leap indicator, 0..3
	RefID          uint32
	TTL            uint8
	RootDelay      int64 // ns
	RootDispersion int64 // ns
}
