package clocksync_test

import (
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/clocksync/sim"
)

func TestVoteLeap(t *testing.T) {
	june := time.Date(2027, 6, 30, 12, 0, 0, 0, time.UTC).Unix()
	july1 := time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC).Unix()
	dec := time.Date(2027, 12, 3, 0, 0, 0, 0, time.UTC).Unix()
	jan1 := time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	may := time.Date(2027, 5, 31, 12, 0, 0, 0, time.UTC).Unix()
	for _, c := range []struct {
		name string
		li   []uint8
		now  int64
		next int8
		at   int64
	}{
		{"1 of 4", []uint8{1, 0, 0, 0}, june, 0, 0},
		{"2 of 4", []uint8{1, 1, 0, 0}, june, 0, 0},
		{"3 of 4", []uint8{1, 0, 1, 1}, june, 1, july1},
		{"3 of 4 delete", []uint8{2, 2, 0, 2}, dec, -1, jan1},
		{"2 insert 2 delete", []uint8{1, 2, 1, 2}, june, 0, 0},
		{"1 of 1", []uint8{1}, dec, 1, jan1},
		{"2 of 3", []uint8{0, 1, 1}, june, 1, july1},
		{"none", nil, june, 0, 0},
		{"3 of 4 in May", []uint8{1, 1, 1, 0}, may, 0, 0},
	} {
		v := clocksync.VoteLeap(c.li, c.now)
		if v.Next != c.next || v.At != c.at || v.Usable != len(c.li) {
			t.Errorf("%s: vote %+v, want next %d at %d", c.name, v, c.next, c.at)
		}
		if c.name == "3 of 4 in May" && !v.WrongMonth {
			t.Errorf("%s: wrong month not reported", c.name)
		}
	}
}

// leapRun feeds a server that announces a leap (LI 1) for the day before
// midnight `end` and reports whether the estimator ever showed it pending.
func leapRun(t *testing.T, end int64, vote func(e *clocksync.Estimator)) (pending bool, total int32) {
	t.Helper()
	sc := sim.LAN(49, 4*3600)
	sc.Epoch = bintime.Time{Sec: end - 3*3600}
	s, _ := sim.New(sc)
	e, _ := clocksync.New(clocksync.DefaultConfig())
	if vote != nil {
		vote(e)
	}
	var p clocksync.Params
	for _, ex := range s.Run() {
		if ex.Lost {
			continue
		}
		st := ex.Stamp
		if ex.TrueTe.Sec < end {
			st.Side.Leap = 1
		}
		p = e.Process(st).Params
		pending = pending || p.Status&clocksync.StatusLeapPending != 0
	}
	return pending, p.LeapTotal
}

// TestLeapMonthRule: a leap announced before the end of January is
// ignored (before, one server's indicator scheduled a leap at the end of
// any month); at the end of June it is taken (TestLeapSecond applies it).
func TestLeapMonthRule(t *testing.T) {
	feb1 := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC).Unix()
	if pending, total := leapRun(t, feb1, nil); pending || total != 37 {
		t.Errorf("end of January: pending %v, LeapTotal %d", pending, total)
	}
	jul1 := time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC).Unix()
	if pending, total := leapRun(t, jul1, nil); !pending || total != 38 {
		t.Errorf("end of June: pending %v, LeapTotal %d", pending, total)
	}
}

// TestSetLeap: once the daemon's vote is handed over, this server's own
// indicator no longer decides: a minority announcement (vote 0) is
// ignored, a majority one is applied.
func TestSetLeap(t *testing.T) {
	jul1 := time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC).Unix()
	if pending, total := leapRun(t, jul1, func(e *clocksync.Estimator) { e.SetLeap(0, 0) }); pending || total != 37 {
		t.Errorf("vote against: pending %v, LeapTotal %d", pending, total)
	}
	if pending, total := leapRun(t, jul1, func(e *clocksync.Estimator) { e.SetLeap(1, jul1) }); !pending || total != 38 {
		t.Errorf("vote for: pending %v, LeapTotal %d", pending, total)
	}
	feb1 := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC).Unix()
	if pending, _ := leapRun(t, feb1, func(e *clocksync.Estimator) { e.SetLeap(1, feb1) }); pending {
		t.Error("SetLeap took a leap at the end of January")
	}
}
