package leapsmear

import (
	"math/big"
	"math/rand/v2"
	"testing"
	"time"
)

// Leaps at the end of December (2016, a real one) and of June (2015, a real
// one; and a negative one, which has never happened, in June 2026).
var (
	dec2016 = Leap{AtUnixSec: time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), Next: 1}
	jun2015 = Leap{AtUnixSec: time.Date(2015, 7, 1, 0, 0, 0, 0, time.UTC).Unix(), Next: 1}
	jun2026 = Leap{AtUnixSec: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC).Unix() - 1, Next: -1}
)

func TestValidate(t *testing.T) {
	for _, l := range []Leap{dec2016, jun2015, jun2026} {
		if err := l.Validate(); err != nil {
			t.Errorf("%+v: %v", l, err)
		}
	}
	bad := []Leap{
		{AtUnixSec: dec2016.AtUnixSec, Next: 0},
		{AtUnixSec: dec2016.AtUnixSec, Next: 2},
		{AtUnixSec: dec2016.AtUnixSec - 1, Next: 1},    // +1 must step at midnight
		{AtUnixSec: dec2016.AtUnixSec, Next: -1},       // −1 steps at 23:59:59
		{AtUnixSec: dec2016.AtUnixSec + 3600, Next: 1}, // not a day boundary
		{AtUnixSec: 0, Next: 1},
	}
	for _, l := range bad {
		if l.Validate() == nil {
			t.Errorf("%+v accepted", l)
		}
	}
}

// bigSmear is the smear's definition evaluated with big integers.
func bigSmear(cNs int64, l Leap) int64 {
	m := l.Midnight()
	a := (m - 43200) * secNs
	b := a + (86400+int64(l.Next))*secNs
	switch {
	case cNs < a:
		return cNs
	case cNs >= b:
		return cNs - int64(l.Next)*secNs
	}
	x := new(big.Int).Mul(big.NewInt(cNs-a), big.NewInt(86400))
	x.Quo(x, big.NewInt(86400+int64(l.Next)))
	return a + x.Int64()
}

func TestSmearAgainstDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, l := range []Leap{dec2016, jun2015, jun2026} {
		a, b := l.Window()
		for i := 0; i < 20000; i++ {
			c := a - 3600*secNs + r.Int64N(b-a+7200*secNs)
			if got, want := Smear(c, l), bigSmear(c, l); got != want {
				t.Fatalf("%+v: Smear(%d) = %d, want %d", l, c, got, want)
			}
		}
	}
}

func TestSmearAtTheLeap(t *testing.T) {
	for _, tc := range []struct {
		l Leap
		// smeared offset from the stepped clock just before the step, ns
		before int64
	}{
		// 43200 s into the 86401 s window: 43200·86400/86401 s of smeared
		// time, i.e. 43200/86401 s = 499994213.03... ns behind.
		{dec2016, -499994214},
		{jun2015, -499994214},
		// −1: 43199 s into an 86399 s window: floor(43199/86399 s) =
		// 499994212.9... ns ahead.
		{jun2026, 499994212},
	} {
		step := tc.l.StepNs()
		if got := SmearOffsetNs(step-1, tc.l); got != tc.before {
			t.Errorf("%+v: offset just before the step %d ns, want %d", tc.l, got, tc.before)
		}
		// Across the step the smear is continuous (one ns of clock moves
		// it by at most one ns); the stepped clock jumps by Next seconds.
		if d := Smear(step, tc.l) - Smear(step-1, tc.l); d < 0 || d > 1 {
			t.Errorf("%+v: smear jumps by %d ns at the step", tc.l, d)
		}
		if d := Stepped(step, tc.l) - Stepped(step-1, tc.l); d != 1-int64(tc.l.Next)*secNs {
			t.Errorf("%+v: stepped clock moves by %d ns at the step", tc.l, d)
		}
		a, b := tc.l.Window()
		if Smear(a, tc.l) != a || Smear(b, tc.l) != Stepped(b, tc.l) || Smear(b-1, tc.l) >= Stepped(b, tc.l) {
			t.Errorf("%+v: smear does not meet the clock at its ends", tc.l)
		}
		// Noon to noon, 24 h of smeared labels.
		if got := Smear(b, tc.l) - Smear(a, tc.l); got != 86400*secNs {
			t.Errorf("%+v: smear spans %d ns of labels", tc.l, got)
		}
	}
}

// The smeared clock never shows a second twice nor skips one: it is
// non-decreasing, never gains more than the continuous clock, and over the
// whole window its labels stay inside the day's.
func TestSmearMonotonicNo61stSecond(t *testing.T) {
	for _, l := range []Leap{dec2016, jun2026} {
		a, b := l.Window()
		prev := Smear(a-secNs, l)
		for c := a - secNs; c < b+secNs; c += 997_000_003 {
			s := Smear(c, l)
			if s < prev {
				t.Fatalf("%+v: smear goes back at %d", l, c)
			}
			prev = s
		}
		// Around the step, ns by ns.
		step := l.StepNs()
		prev = Smear(step-5000, l)
		for c := step - 5000; c < step+5000; c++ {
			s := Smear(c, l)
			if d := s - prev; d < 0 || d > 1 {
				t.Fatalf("%+v: smear moves by %d ns at %d", l, d, c)
			}
			prev = s
		}
	}
}

func TestRatePPB(t *testing.T) {
	if got := RatePPB(dec2016); got != -11574 {
		t.Errorf("+1: %d ppb", got)
	}
	if got := RatePPB(jun2026); got != 11575 {
		t.Errorf("−1: %d ppb", got)
	}
}

func TestAheadAndNear(t *testing.T) {
	step := dec2016.StepNs()
	cases := []struct {
		cNs   int64
		ahead bool
	}{
		{step - 86400*secNs - 1, false}, // the day before: not yet announced
		{step - 86400*secNs, true},
		{step - 1, true},
		{step, false},
	}
	for _, tc := range cases {
		if got := dec2016.Ahead(tc.cNs); got != tc.ahead {
			t.Errorf("Ahead(step%+d ns) = %v", tc.cNs-step, got)
		}
	}
	if !dec2016.Near(step+secNs, 2*secNs) || dec2016.Near(step-2*secNs, 2*secNs) || (Leap{}).Near(0, 1) {
		t.Error("Near")
	}
	if !jun2026.Ahead(jun2026.StepNs() - 1) {
		t.Error("negative leap not ahead")
	}
}
