package ntp

import "strconv"

// Reason says why an exchange produced no stamp. Every rejected packet and
// every failed exchange carries exactly one, so a daemon can count them per
// reason (the String form is meant as a metric label).
type Reason uint8

// Rejection reasons. The numbers are not ABI; the names are stable.
const (
	ReasonNone Reason = iota
	// Packet-level: the bytes are not a usable reply.
	ReasonTruncated // shorter than the 48-byte header
	ReasonMalformed // bad extension-field framing, oversize
	ReasonVersion   // version not 3 or 4
	ReasonMode      // not a server-mode (4) reply
	ReasonSource    // from an address other than the server's (spoofed or stray)
	// Matching: the reply does not answer the outstanding request.
	ReasonWrongOrigin // origin matches no request of ours (spoofed or corrupt)
	ReasonLate        // answers a request that already timed out or was answered
	// Kiss-o'-death (stratum 0 with an ASCII code); only honoured when the
	// origin matches.
	ReasonKoDRate  // RATE: the source backs off
	ReasonKoDDeny  // DENY: the source stops using the server
	ReasonKoDRstr  // RSTR: the source stops using the server
	ReasonKoDOther // any other kiss code
	// Content: a genuine answer that cannot be a stamp.
	ReasonUnsynchronised // LI = 3
	ReasonStratum        // stratum 0 (not a kiss) or 16 and above
	ReasonZeroTimestamp  // receive or transmit timestamp is zero
	ReasonTimeOrder      // Te < Tb
	ReasonRootDistance   // root delay/2 + root dispersion above 16 s (RFC 5905 MAXDIST)
	// Exchange-level: nothing usable arrived.
	ReasonTimeout // no matching reply within the timeout
	ReasonNetwork // socket, send or receive error
	ReasonResolve // the server name did not resolve
	ReasonCounter // the raw counter failed or went backwards (Tf <= Ta)
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone:           "none",
	ReasonTruncated:      "truncated",
	ReasonMalformed:      "malformed",
	ReasonVersion:        "bad_version",
	ReasonMode:           "bad_mode",
	ReasonSource:         "wrong_source",
	ReasonWrongOrigin:    "wrong_origin",
	ReasonLate:           "late",
	ReasonKoDRate:        "kod_rate",
	ReasonKoDDeny:        "kod_deny",
	ReasonKoDRstr:        "kod_rstr",
	ReasonKoDOther:       "kod_other",
	ReasonUnsynchronised: "unsynchronised",
	ReasonStratum:        "bad_stratum",
	ReasonZeroTimestamp:  "zero_timestamp",
	ReasonTimeOrder:      "time_order",
	ReasonRootDistance:   "root_distance",
	ReasonTimeout:        "timeout",
	ReasonNetwork:        "network",
	ReasonResolve:        "resolve",
	ReasonCounter:        "counter",
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

// IsKoD reports whether r is a kiss-o'-death reason.
func (r Reason) IsKoD() bool { return r >= ReasonKoDRate && r <= ReasonKoDOther }
