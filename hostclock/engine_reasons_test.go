package hostclock

import (
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
)

// TestEngineRejectLabelsBounded: a server whose every reply claims a
// different hold time longer than the RTT leaves one estimator reason in the
// status map (and so one metric label), not one per stamp.
func TestEngineRejectLabelsBounded(t *testing.T) {
	cfg := EngineConfig{
		Servers:   []ServerConfig{{Address: "liar:123", Poll: time.Second}},
		Select:    SelectConfig{MinStamps: 20, Hold: time.Hour},
		CounterHz: 1e9,
	}
	e, err := NewEngine(cfg, &ClocksyncFactory{}, &fakePub{}, NewMetrics(), nil)
	if err != nil {
		t.Fatal(err)
	}
	epoch := bintime.Time{Sec: 1.7e9}
	for i := range 50 {
		ta := uint64(1e9 + i*1e9)
		st := clocksync.Stamp{Ta: ta, Tf: ta + 200e3, Side: clocksync.SideInfo{Server: "liar:123", Stratum: 2}}
		st.Tb = epoch.Add(bintime.FromNanos(int64(ta) + 100e3))
		st.Te = st.Tb.Add(bintime.FromNanos(300e3 + int64(i)*1000))
		if err := e.Stamp("liar:123", st, st.Tf); err != nil {
			t.Fatal(err)
		}
	}
	var doc StatusDoc
	e.Snapshot(&doc)
	rej := doc.Servers[0].Rejected
	if len(rej) != 1 || rej["hold_exceeds_rtt"] != 50 {
		t.Errorf("rejected %v, want only hold_exceeds_rtt: 50", rej)
	}
}
