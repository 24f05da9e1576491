package view

import (
	"math"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
)

func TestBehind(t *testing.T) {
	const refNs = int64(1_800_000_000) * 1e9
	sec := int64(time.Second)
	host := func(gen uint64, poll time.Duration) *clockdata.Record {
		return &clockdata.Record{Generation: gen, PollNs: uint64(poll), RefTime: bintime.FromUnix(0, refNs)}
	}
	for _, c := range []struct {
		name       string
		gen        uint64
		reportedNs int64
		h          *clockdata.Record
		want       bool
	}{
		{"current", 100, refNs + 5*sec, host(100, time.Second), false},
		{"one back, reported before the newest", 99, refNs - sec/2, host(100, time.Second), false},
		{"one back, 2 s after the newest", 99, refNs + 2*sec, host(100, time.Second), false},
		{"one back, 4 s after the newest", 99, refNs + 4*sec, host(100, time.Second), true},
		{"two back at 1 s, just reported", 98, refNs + sec/2, host(100, time.Second), false},
		{"five back at 1 s", 95, refNs + sec/2, host(100, time.Second), true},
		{"two back in a 64 s host's burst", 98, refNs - 3*sec, host(100, 64*time.Second), false},
		{"one back for a minute at 64 s", 99, refNs + 60*sec, host(100, 64*time.Second), true},
		{"ahead (another incarnation)", 200, refNs, host(100, time.Second), false},
		{"undated report", 10, 0, host(100, time.Second), false},
		{"generation 0 against a huge host generation", 0, refNs, host(math.MaxUint64, time.Second), true},
		{"no poll published", 99, refNs + 4*sec, host(100, 0), true},
	} {
		if got := behind(c.gen, c.reportedNs, c.h); got != c.want {
			t.Errorf("%s: behind = %v, want %v", c.name, got, c.want)
		}
	}
}
