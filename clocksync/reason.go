package clocksync

import (
	"fmt"
	"strconv"
)

// Reason says why the estimator did not take a stamp. Every rejected stamp
// carries exactly one. The set is fixed, so its String form is safe as a
// metric label or a map key whatever the server sends; the numbers that
// explain one rejection go in Result.Detail, never in the reason.
type Reason uint8

// Rejection reasons. The numbers are not ABI; the names are stable.
const (
	ReasonNone Reason = iota
	// The stamp alone: RADclock's sanity filter and packet vetting.
	ReasonZeroTimestamp   // Ta, Tf, Tb or Te is zero
	ReasonCounterOrder    // Tf is not after Ta
	ReasonServerTimeOrder // the server's transmit time Te is before its receive time Tb
	ReasonServerTimeRange // Tb before 1970 or Te beyond 2^40 s
	ReasonRTTTooSmall     // RTT below 120 counter ticks
	ReasonUnsynchronised  // leap indicator 3
	ReasonStratum         // stratum above 15
	ReasonRTTTooLarge     // RTT above Config.MaxRTT
	ReasonHoldExceedsRTT  // server hold time Te − Tb longer than the RTT
	// The stamp against the previous one.
	ReasonDuplicate        // identical to the previous stamp
	ReasonTaNotAfter       // Ta not after the previous stamp's Ta
	ReasonTfNotAfter       // Tf not after the previous stamp's Tf (a reordered reply)
	ReasonRestartSuspected // counter far behind: a restart, confirmed by a second stamp
	// The estimator itself.
	ReasonNonFinite // the state became non-finite; the estimator re-initialised
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone:             "none",
	ReasonZeroTimestamp:    "zero_timestamp",
	ReasonCounterOrder:     "counter_order",
	ReasonServerTimeOrder:  "server_time_order",
	ReasonServerTimeRange:  "server_time_range",
	ReasonRTTTooSmall:      "rtt_too_small",
	ReasonUnsynchronised:   "unsynchronised",
	ReasonStratum:          "bad_stratum",
	ReasonRTTTooLarge:      "rtt_too_large",
	ReasonHoldExceedsRTT:   "hold_exceeds_rtt",
	ReasonDuplicate:        "duplicate",
	ReasonTaNotAfter:       "ta_not_after_previous",
	ReasonTfNotAfter:       "tf_not_after_previous",
	ReasonRestartSuspected: "restart_suspected",
	ReasonNonFinite:        "non_finite_state",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason_" + strconv.Itoa(int(r))
}

// Reasons lists every reason except ReasonNone, for pre-registering metric
// labels.
func Reasons() []Reason {
	out := make([]Reason, 0, numReasons-1)
	for r := ReasonNone + 1; r < numReasons; r++ {
		out = append(out, r)
	}
	return out
}

// Rejection is a reason with the figures behind it: Value is what the stamp
// showed and Limit what it was held against, in seconds (stratum: the
// stratum and 15), when the reason has figures (HasFigures).
type Rejection struct {
	Reason       Reason
	Value, Limit float64
	HasFigures   bool
}

func reject(r Reason) Rejection { return Rejection{Reason: r} }

func rejectFig(r Reason, value, limit float64) Rejection {
	return Rejection{Reason: r, Value: value, Limit: limit, HasFigures: true}
}

// Detail is the rejection for a log line: the reason and, when it has
// figures, "value … limit …". It is for humans, not for labels.
func (j Rejection) Detail() string {
	if !j.HasFigures {
		return j.Reason.String()
	}
	if j.Reason == ReasonStratum {
		return fmt.Sprintf("%s: stratum %.0f above %.0f", j.Reason, j.Value, j.Limit)
	}
	return fmt.Sprintf("%s: %.9f s, limit %.9f s", j.Reason, j.Value, j.Limit)
}
