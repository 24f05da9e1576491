package clocksync

import (
	"fmt"
	"strings"
)

// Status bits beyond the shared ones in api.go. Bits 0..11 keep RADclock
// v0.8's meanings; bits 12.. are this estimator's. Bit 30 is used by replay
// output for grid rows and bit 31 is StatusRejected.
const (
	StatusKClock        Status = 0x004 // kernel clock set (set by the daemon, not the estimator)
	StatusSysClock      Status = 0x008 // system clock within 100 µs (set by the daemon)
	StatusRTTUpshift    Status = 0x020 // upward RTT level shift detected on this stamp
	StatusPeriodUpdated Status = 0x040 // long-term period updated on this stamp
	StatusPeriodSanity  Status = 0x080 // period update rejected by the sanity check
	StatusPlocalQuality Status = 0x100 // local period bound above PlocalQuality
	StatusPlocalSanity  Status = 0x200 // local period change rejected (unused: the filter has no sanity gate)
	StatusOffsetQuality Status = 0x400 // stamp not used for the offset: point error too large
	StatusOffsetSanity  Status = 0x800 // offset update rejected (suspect server step or server change)

	StatusRTTDownshift  Status = 0x1000 // downward RTT level shift on this stamp
	StatusAsymmetry     Status = 0x2000 // a path asymmetry change is being carried (route differs from the reference path)
	StatusServerSuspect Status = 0x4000 // server step larger than the oscillator allows: flagged, not followed
	StatusServerStep    Status = 0x8000 // a suspect step persisted past SuspectHold and was accepted (held for SuspectHold)
	// StatusFastStart ("fast-start") is set after the fast start, not
	// during it: StatusWarmup has cleared and the clock is synchronised
	// (no StatusUnsync), but RADclock's long warm-up of WarmupWin stamps
	// (level-shift detection, long-baseline period reference) is still
	// running. The estimator never sets both on one stamp.
	StatusFastStart      Status = 0x10000
	StatusServerChanged  Status = 0x20000 // server characteristics (stratum, refid, TTL, LI, identity) changed on this stamp
	StatusCounterReset   Status = 0x40000 // the estimator was re-initialised for a new counter
	StatusLeapPending    Status = 0x80000 // a leap second is scheduled (LeapNext, LeapAt)
	StatusPollChanged    Status = 0x100000
	StatusRateUnverified Status = 0x200000 // period known only from the counter's nominal frequency
)

var statusNames = []struct {
	bit  Status
	name string
}{
	{StatusUnsync, "unsync"},
	{StatusWarmup, "warmup"},
	{StatusKClock, "kclock"},
	{StatusSysClock, "sysclock"},
	{StatusStarving, "starving"},
	{StatusRTTUpshift, "rtt-upshift"},
	{StatusPeriodUpdated, "period-updated"},
	{StatusPeriodSanity, "period-sanity"},
	{StatusPlocalQuality, "plocal-quality"},
	{StatusPlocalSanity, "plocal-sanity"},
	{StatusOffsetQuality, "offset-quality"},
	{StatusOffsetSanity, "offset-sanity"},
	{StatusRTTDownshift, "rtt-downshift"},
	{StatusAsymmetry, "asymmetry-carried"},
	{StatusServerSuspect, "server-suspect"},
	{StatusServerStep, "server-step-accepted"},
	{StatusFastStart, "fast-start"},
	{StatusServerChanged, "server-changed"},
	{StatusCounterReset, "counter-reset"},
	{StatusLeapPending, "leap-pending"},
	{StatusPollChanged, "poll-changed"},
	{StatusRateUnverified, "rate-unverified"},
	{1 << 30, "grid"},
	{StatusRejected, "rejected"},
}

// String spells out the set bits, "|"-separated, e.g. "warmup|fast-start";
// unknown bits print as hex; zero is "ok".
func (s Status) String() string {
	if s == 0 {
		return "ok"
	}
	var parts []string
	rest := s
	for _, n := range statusNames {
		if s&n.bit != 0 {
			parts = append(parts, n.name)
			rest &^= n.bit
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint32(rest)))
	}
	return strings.Join(parts, "|")
}
