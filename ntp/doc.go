// Package ntp is xenradclock's NTP layer: NTPv4 exchanges whose client-side
// stamps come from a raw counter, never from the system clock, and an NTP
// server that serves any clock the caller supplies.
//
// # Pieces
//
//   - Packet, Decode, Timestamp, Short: the 48-byte NTPv4 header codec with
//     exact conversion of NTP timestamps to bintime.Time (era handling around
//     EraPivot, so 2036 is a non-event). Decode never panics and is fuzzed.
//   - Client (Dial, Exchange): one UDP socket per server, IPv4 or IPv6. Each
//     request's transmit timestamp is a random 64-bit nonce; the reply must
//     echo it. Ta and Tf are counter.Counter reads taken on a locked OS
//     thread next to sendto and recvmsg, replaced by the kernel's software
//     SO_TIMESTAMPING stamps (TX from the error queue, RX from the control
//     message) when these map cleanly to the counter through a
//     (realtime, counter, realtime) triple. Sample.TaMethod/TfMethod say which.
//   - Source (NewSource, Run): the per-server poller: name resolution and
//     periodic re-resolution, an initial burst, then the poll period,
//     kiss-o'-death handling, on a schedulable Clock so tests run hours of
//     polling instantly. It emits Events (a Sample or a Rejection).
//   - Server (NewServer, Serve): answers mode-3 requests from a TimeFunc.
//     dom0d gives it the feed-forward clock (stratum upstream+1, root delay
//     and dispersion from the guaranteed bound); tests and the demo give it
//     a SkewedClock, optionally through emulated one-way delays.
//   - Reason: every rejected packet and failed exchange has exactly one,
//     stable as a metric label (Reason.String, Reasons).
//
// # Use from dom0d
//
//	src, err := ntp.NewSource(ntp.SourceConfig{
//		Server:  "ntp1.example.net",     // host[:port]
//		Poll:    16 * time.Second,
//		Client:  ntp.ClientConfig{Counter: ctr},
//	})
//	events := make(chan ntp.Event, 64)
//	go src.Run(ctx, events)        // returns at ctx end, or ErrDenied after DENY/RSTR
//	for ev := range events { ... } // ev.Sample.Stamp → estimator; ev.Reject.Reason → metrics
//
//	srv, err := ntp.NewServer(ntp.ServerConfig{Addr: "192.0.2.1:123", Time: clockReading})
//	go srv.Serve(ctx)
//
// Under a flood, the packets dropped during one exchange are aggregated per
// reason past 64 entries: count Rejection.Count, not events, or read
// Source.Status().Rejected. ntptest.Misbehaviours lists bad peers, with the
// reasons they must produce, for daemon tests.
//
// docs/ntp.md describes the exchange, the timestamping methods, every
// rejection reason, kiss-o'-death handling and the server's behaviour.
package ntp
