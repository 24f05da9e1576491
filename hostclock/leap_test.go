package hostclock

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
)

// runLeapEngine feeds four real estimators 40 rounds of stamps starting at
// the UTC time start, the first announcing of them (the lowest RTT, so the
// preferred one among them) with leap indicator 1, and returns the last
// published record and the log.
// With liar set, the last server reads 1 s ahead (a falseticker).
func runLeapEngine(t *testing.T, start time.Time, announcing int, liar bool) (Update, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	var servers []ServerConfig
	for i := range 4 {
		servers = append(servers, ServerConfig{Address: fmt.Sprintf("s%d:123", i), Poll: time.Second})
	}
	pub := &fakePub{}
	cfg := EngineConfig{Servers: servers, Select: SelectConfig{MinStamps: 5, Hold: time.Hour},
		CounterHz: 1e9, MinSources: 3, Log: zap.New(core)}
	e, err := NewEngine(cfg, &ClocksyncFactory{}, pub, NewMetrics(), nil)
	if err != nil {
		t.Fatal(err)
	}
	epoch := bintime.Time{Sec: start.Unix()}
	for r := range 40 {
		for i, sc := range servers {
			ta := uint64(1e9 + r*1e9 + i*1e8)
			rtt := uint64(150e3 + i*20e3)
			st := clocksync.Stamp{Ta: ta, Tf: ta + rtt, Side: clocksync.SideInfo{Server: sc.Address, Stratum: 2}}
			if i < announcing {
				st.Side.Leap = 1
			}
			st.Tb = epoch.Add(bintime.FromNanos(int64(ta + rtt/2)))
			if liar && i == len(servers)-1 {
				st.Tb = st.Tb.Add(bintime.Time{Sec: 1})
			}
			st.Te = st.Tb.Add(bintime.FromNanos(10e3))
			if err := e.Stamp(sc.Address, st, st.Tf); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(pub.updates) == 0 {
		t.Fatal("nothing published")
	}
	return pub.updates[len(pub.updates)-1], logs
}

// TestEngineLeapVote: a leap is pending in the published record only when a
// majority (3 of 4) of the usable servers announce it, and only in June or
// December; a minority or another month is logged at warn and ignored.
// Before the vote, one server announcing in June scheduled the leap.
func TestEngineLeapVote(t *testing.T) {
	june := time.Date(2027, time.June, 30, 12, 0, 0, 0, time.UTC)
	december := time.Date(2027, time.December, 31, 12, 0, 0, 0, time.UTC)
	march := time.Date(2027, time.March, 31, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		start      time.Time
		announcing int
		liar       bool  // the last server (not announcing) is a falseticker
		wantAt     int64 // 0: no leap pending
		wantWarn   string
	}{
		{june, 0, false, 0, ""},
		{june, 1, false, 0, "minority"},
		{june, 2, false, 0, "minority"},
		{june, 3, false, time.Date(2027, time.July, 1, 0, 0, 0, 0, time.UTC).Unix(), ""},
		{december, 1, false, 0, "minority"},
		{december, 2, false, 0, "minority"},
		{december, 3, false, time.Date(2028, time.January, 1, 0, 0, 0, 0, time.UTC).Unix(), ""},
		{march, 1, false, 0, "minority"},
		{march, 2, false, 0, "minority"},
		{march, 3, false, 0, "outside June and December"},
		// The falseticker is left out of the vote: 2 of 3 usable. Until the
		// agreement singles it out it counts (2 of 4, warned): "*" leaves
		// the warnings unchecked.
		{june, 2, true, time.Date(2027, time.July, 1, 0, 0, 0, 0, time.UTC).Unix(), "*"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%d_of_4/liar=%v", c.start.Month(), c.announcing, c.liar), func(t *testing.T) {
			u, logs := runLeapEngine(t, c.start, c.announcing, c.liar)
			p := u.Params
			pending := p.Status&clocksync.StatusLeapPending != 0
			if c.wantAt == 0 {
				if p.LeapNext != 0 || p.LeapAt != 0 || pending {
					t.Errorf("from %s: LeapNext %d LeapAt %d pending %v, want no leap", u.Server, p.LeapNext, p.LeapAt, pending)
				}
			} else {
				// LeapAt is the counter value at which the clock reads the midnight.
				if p.LeapNext != 1 || !pending || p.LeapAt == 0 ||
					math.Abs(p.Absolute(p.LeapAt-1).Sub(bintime.Time{Sec: c.wantAt}).Float()) > 1e-3 {
					t.Errorf("from %s: LeapNext %d LeapAt %d pending %v, want +1 at %d", u.Server, p.LeapNext, p.LeapAt, pending, c.wantAt)
				}
			}
			warns := logs.FilterLevelExact(zap.WarnLevel).FilterMessageSnippet("leap second").All()
			switch {
			case c.wantWarn == "*":
			case c.wantWarn == "" && len(warns) > 0:
				t.Errorf("unexpected warning %q", warns[0].Message)
			case c.wantWarn != "" && (len(warns) == 0 || !strings.Contains(warns[len(warns)-1].Message, c.wantWarn)):
				t.Errorf("leap warnings %v, want the last mentioning %q", warns, c.wantWarn)
			}
			if c.wantAt != 0 && logs.FilterMessageSnippet("leap second scheduled").Len() != 1 {
				t.Errorf("scheduled leap not logged once")
			}
		})
	}
}
