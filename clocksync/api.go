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

// Status is the estimator's status word, published in every clock record.
// Bits 0..11 keep RADclock v0.8's meanings; the estimator's own file
// documents the rest.
type Status uint32

// Status bits shared with other packages. The estimator defines more.
const (
	StatusUnsync Status = 0x001 // not yet synchronised
	// StatusWarmup ("warmup") means the fast start is in progress: set on
	// the first min(Burst+16, WarmupWin) accepted stamps (Progress gives
	// the count), while the clock is not yet at its normal accuracy. It
	// is cleared after them, when StatusFastStart may take over.
	StatusWarmup   Status = 0x002
	StatusStarving Status = 0x010 // no valid stamp for more than 10 polls
	// StatusRejected marks a stamp the estimator did not take (sanity filter
	// or counter mismatch); replay output sets it on that stamp's row.
	StatusRejected Status = 1 << 31
)

// Params is the clock after a stamp: everything a reader needs to compute
// Ca(T) = RefTime + Period·(T − RefCount) and its bounds. The estimator's
// Result carries one; Absolute and Bounds are its read functions.
//
// Sign conventions (stated here once; docs/estimator.md refers to them):
//   - Offset = Cu(RefCount) − Ca(RefCount), both on the leap-free
//     timescale: RADclock's thetahat, so Ca = Cu − Offset. Cu is the
//     uncorrected clock, which follows only the long-term period's changes;
//     Offset > 0 when Cu is ahead of Ca.
//   - Asymmetry = ½·(server→host delay − host→server delay), s, as a change
//     from the reference path (the first RTT level, taken as symmetric).
//     A stamp's naive offset (the clock at the counter midpoint minus the
//     server midpoint) exceeds the clock's true offset by this much, so
//     the estimator subtracts it from every stamp. A host→server delay
//     that grows by d with the return path unchanged gives −d/2. (The
//     simulator's Exchange.Asymmetry is the opposite sign: the clock error
//     an uncorrected asymmetry causes.)
type Params struct {
	RefCount       uint64       // counter value of the reference point (Tf of the last processed stamp)
	RefTime        bintime.Time // Ca(RefCount), on the UTC-labelled timescale (leaps applied)
	Period         float64      // period Absolute extrapolates with, s/tick: the filter's local period (its rate estimate), so an outage is bridged with the best prediction
	PeriodLocal    float64      // local period, s/tick
	Offset         float64      // thetahat, s: Cu − Ca at RefCount (sign above)
	ErrorBound     float64      // statistical bound at RefCount, s
	MaxError       float64      // guaranteed bound at RefCount, s
	ErrorRate      float64      // growth of ErrorBound per second of age, s/s
	MaxErrorRate   float64      // growth of MaxError per second of age (the configured max drift), s/s
	RateErrorBound float64      // bound on the relative error of Period, s/s (an output; Config.OscRateErrorSpec is the oscillator's spec)
	MinRTT         float64      // minimum RTT of the path, s
	Status         Status
	NextExpected   uint64 // counter value at which the next update is expected
	LeapTotal      int32  // TAI−UTC, s, applied in RefTime
	LeapNext       int8   // pending leap, −1, 0 or +1
	LeapAt         uint64 // counter value at which LeapNext takes effect (0: none)

	// Added by the estimator (issue 2). ErrorDrift is the quadratic growth
	// of ErrorBound, s/s²: Bounds gives ErrorBound + ErrorRate·a +
	// ErrorDrift·a² at age a. Asymmetry is the path asymmetry change
	// carried across level shifts, s (0 on the reference path; sign above).
	ErrorDrift float64
	Asymmetry  float64
}
