package clockbound

import (
	"errors"
	"math"
	"testing"
)

func cbSegment(asOf, voidAfter Timespec) Segment {
	return Segment{SegmentSize: 80, Version: 2, Generation: 2, AsOf: asOf, VoidAfter: voidAfter,
		BoundNs: 10000, MaxDriftPPB: 1000, Status: StatusSynchronized}
}

// The vectors of ClockBound's own client tests: bound 10 µs, drift 1 ppm.
func TestBoundsAtLikeClockBound(t *testing.T) {
	cases := []struct {
		name             string
		asOf, void       Timespec
		real, mono       int64
		earliest, latest int64
		status           Status
	}{
		{"ok", Timespec{0, 0}, Timespec{10, 0}, 2e9, 2e9, 2e9 - 12000, 2e9 + 12000, StatusSynchronized},
		{"real ahead", Timespec{0, 0}, Timespec{10, 0}, 20e9, 4e9, 20e9 - 14000, 20e9 + 14000, StatusSynchronized},
		{"free running after grace", Timespec{0, 0}, Timespec{100, 0}, 8e9, 8e9, 8e9 - 18000, 8e9 + 18000, StatusFreeRunning},
		{"unknown after void", Timespec{0, 0}, Timespec{5, 0}, 10e9, 10e9, 10e9 - 20000, 10e9 + 20000, StatusUnknown},
		{"causality blur", Timespec{5, 0}, Timespec{10, 0}, 7e9, 5e9 - 999, 7e9 - 10000, 7e9 + 10000, StatusSynchronized},
	}
	for _, c := range cases {
		s := cbSegment(c.asOf, c.void)
		b, err := s.BoundsAt(c.real, c.mono)
		if err != nil || b.EarliestNs != c.earliest || b.LatestNs != c.latest || b.Status != c.status {
			t.Errorf("%s: %+v %v", c.name, b, err)
		}
	}
	s := cbSegment(Timespec{5, 0}, Timespec{10, 0})
	if _, err := s.BoundsAt(1e9, 1e9); !errors.Is(err, ErrCausality) {
		t.Errorf("causality breach: %v", err)
	}
	s.MaxDriftPPB = 2e9
	if _, err := s.BoundsAt(6e9, 6e9); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad drift: %v", err)
	}
	s = cbSegment(Timespec{0, 0}, Timespec{10, 0})
	s.Status = StatusDisrupted
	if b, _ := s.BoundsAt(1e9, 1e9); b.Status != StatusDisrupted {
		t.Errorf("disrupted aged to %v", b.Status)
	}
}

func TestGrowthRoundsUpAndSaturates(t *testing.T) {
	if g := growthNs(1, 1); g != 1 {
		t.Errorf("1 ns at 1 ppb grew %d", g)
	}
	if g := growthNs(1e9, 1000); g != 1000 {
		t.Errorf("%d", g)
	}
	if g := growthNs(math.MaxUint64, 999_999_999); g != math.MaxInt64 {
		t.Errorf("no saturation: %d", g)
	}
	s := cbSegment(Timespec{0, 0}, Timespec{10, 0})
	s.BoundNs = math.MaxInt64
	b, err := s.BoundsAt(math.MinInt64+5, math.MaxInt64)
	if err != nil || b.EarliestNs != math.MinInt64 {
		t.Errorf("%+v %v", b, err)
	}
	b, err = s.BoundsAt(math.MaxInt64-5, math.MaxInt64)
	if err != nil || b.LatestNs != math.MaxInt64 || b.EarliestNs != -5 {
		t.Errorf("%+v %v", b, err)
	}
}
