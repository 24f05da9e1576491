package clockdata

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/counter"
)

var two64 = new(big.Int).Lsh(big.NewInt(1), 64)

func ratTime(t bintime.Time) *big.Rat {
	n := new(big.Int).Lsh(big.NewInt(t.Sec), 64)
	n.Add(n, new(big.Int).SetUint64(t.Frac))
	return new(big.Rat).SetFrac(n, two64)
}

func ratPeriod(p Period) *big.Rat {
	return new(big.Rat).SetFrac(new(big.Int).SetUint64(p.Frac), new(big.Int).Lsh(big.NewInt(1), 64+uint(p.Shift)))
}

// bigAbsolute is the slow, obviously correct reference of Absolute: exact
// rational arithmetic on the same piecewise definition, no truncation.
func bigAbsolute(r *Record, T uint64) *big.Rat {
	var ref, p *big.Rat
	var from uint64
	if int64(T-r.SlewEndCount) < 0 {
		ref, p, from = ratTime(r.RefTime), ratPeriod(r.Period), r.RefCount
	} else {
		ref, p, from = ratTime(r.SlewEndTime), ratPeriod(r.RawPeriod), r.SlewEndCount
	}
	d := new(big.Rat).SetInt64(int64(T - from))
	x := new(big.Rat).Add(ref, d.Mul(d, p))
	if r.LeapNext != 0 && int64(T-r.LeapAtCount) >= 0 {
		x.Sub(x, new(big.Rat).SetInt64(int64(r.LeapNext)))
	}
	return x
}

// errFrac returns (got − exact) in units of 2^-64 s.
func errFrac(got bintime.Time, exact *big.Rat) *big.Rat {
	d := new(big.Rat).Sub(ratTime(got), exact)
	return d.Mul(d, new(big.Rat).SetInt(two64))
}

// TestAbsoluteMatchesBig checks Absolute against the math/big reference
// over random periods (1 kHz..100 GHz, any normalised fraction), random
// counter values and spans up to 2^63-1 ticks either way: the result is
// the exact value truncated towards the reference point, so within one
// unit of 2^-64 s (two for slewed records, which add two truncated terms).
func TestAbsoluteMatchesBig(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	one := big.NewRat(1, 1)
	for i := range 3000 {
		shift := uint8(9 + rng.IntN(28))
		p := Period{Frac: 1<<63 | rng.Uint64(), Shift: shift}
		r := Record{RefCount: rng.Uint64(), RefTime: bintime.Time{Sec: 946684800 + rng.Int64N(3e9), Frac: rng.Uint64()}, Period: p, RawPeriod: p}
		r.SlewEndCount, r.SlewEndTime = r.RefCount, r.RefTime
		if i%2 == 1 {
			// A slew segment of random length with a nearby period.
			r.SlewEndCount = r.RefCount + rng.Uint64N(1<<62)
			r.RawPeriod.Frac = p.Frac - rng.Uint64N(1<<40)
			r.SlewEndTime = r.RefTime.Add(p.Mul(r.SlewEndCount - r.RefCount))
		}
		var span uint64
		switch i % 3 {
		case 0:
			span = rng.Uint64N(1 << 63) // forward, up to 2^63-1
		case 1:
			span = -rng.Uint64N(1 << 63) // backward
		default:
			span = rng.Uint64N(1 << 32)
		}
		T := r.RefCount + span
		got := r.Absolute(T)
		e := errFrac(got, bigAbsolute(&r, T))
		lim := one
		if i%2 == 1 {
			lim = big.NewRat(2, 1)
		}
		if new(big.Rat).Abs(e).Cmp(lim) > 0 {
			t.Fatalf("case %d: period %+v span %d: error %s units of 2^-64 s", i, p, int64(span), e.FloatString(3))
		}
		// The difference clock: RawPeriod·(T − RefCount), within one unit.
		exactD := new(big.Rat).Mul(ratPeriod(r.RawPeriod), new(big.Rat).SetInt64(int64(span)))
		if ed := errFrac(r.Difference(r.RefCount, T), exactD); new(big.Rat).Abs(ed).Cmp(one) > 0 {
			t.Fatalf("case %d: Difference over %d ticks off by %s units", i, int64(span), ed.FloatString(3))
		}
	}
}

// TestExtrapolation: over 10^4 s, the fixed-point clock stays within 1 ns of
// the exact clock of the true period, for counters from 10 MHz to 5 GHz,
// whether the period was encoded exactly or from a float64 estimate.
func TestExtrapolation(t *testing.T) {
	for _, hz := range []int64{10_000_000, 14_318_180, 25_000_000, 100_000_000, 1_000_000_000, 3_000_000_000, 5_000_000_000} {
		truePeriod := big.NewRat(1_000_000+7, hz*1_000_000) // 7 ppm slow
		exactP, err := periodFromRat(truePeriod)
		if err != nil {
			t.Fatal(err)
		}
		tp, _ := truePeriod.Float64()
		floatP, _ := PeriodFromFloat(tp)
		for name, p := range map[string]Period{"exact": exactP, "float": floatP} {
			r := Record{RefCount: 1 << 50, RefTime: bintime.Time{Sec: 1700000000, Frac: 12345}, Period: p, RawPeriod: p}
			r.SlewEndCount, r.SlewEndTime = r.RefCount, r.RefTime
			ticks := uint64(hz) * 10_000
			T := r.RefCount + ticks
			exact := new(big.Rat).Add(ratTime(r.RefTime), new(big.Rat).Mul(truePeriod, new(big.Rat).SetInt64(int64(ticks))))
			e := new(big.Rat).Sub(ratTime(r.Absolute(T)), exact)
			ns, _ := e.Mul(e, big.NewRat(1e9, 1)).Float64()
			if ns >= 1 || ns <= -1 {
				t.Errorf("%d Hz %s: %.3g ns after 10^4 s", hz, name, ns)
			}
		}
	}
}

func TestDifference(t *testing.T) {
	r := testRecord(t)
	d := r.Difference(100, 100+3_000_000_000)
	if want := r.RawPeriod.Mul(3_000_000_000); d != want || d.Sec != 0 || d.Frac < 1<<63 {
		t.Errorf("Difference over 3e9 ticks = %s, want %s", d, want)
	}
	if back := r.Difference(100+3_000_000_000, 100); back != d.Neg() {
		t.Errorf("reverse difference %s, want %s", back, d.Neg())
	}
}

func TestReadStatusAndBounds(t *testing.T) {
	r := testRecord(t)
	kind := r.CounterKind
	at := func(T uint64) Now { return r.Read(kind, counter.Reading{Count: T, Identity: r.CounterIdentity}) }

	n := at(r.RefCount)
	if n.Status != ReadFresh || n.MaxErrorNs != r.MaxErrorNs || n.Time != r.RefTime {
		t.Errorf("at the reference: %+v", n)
	}
	if e, l := r.Bounds(r.RefCount); n.Earliest != e || n.Latest != l || l.Sub(e) != nsTime(r.MaxErrorNs).Add(nsTime(r.MaxErrorNs)) {
		t.Errorf("bounds %s..%s", e, l)
	}
	// 1000·3e9 ticks later (999.9875 s: the TSC runs 12.5 ppm fast) at
	// 15 ppm max drift the bound has grown by 14999812.5 ns, rounded up.
	T := r.RefCount + 1000*3_000_000_000
	n = at(T)
	grown := n.MaxErrorNs - r.MaxErrorNs
	if grown != 14999813 {
		t.Errorf("max error grew by %d ns over ~1000 s at 15 ppm", grown)
	}
	if n.ErrorBoundNs <= r.ErrorBoundNs {
		t.Errorf("error bound did not grow: %d", n.ErrorBoundNs)
	}
	if n.Status != ReadVoid && int64(T-r.VoidAfterCount) > 0 {
		t.Errorf("past void_after: %v", n.Status)
	}
	if s := at(r.NextExpectedCount + 1).Status; s != ReadLate {
		t.Errorf("after next_expected: %v", s)
	}
	if s := at(r.NextExpectedCount).Status; s != ReadFresh {
		t.Errorf("at next_expected: %v", s)
	}
	if s := at(r.VoidAfterCount + 1).Status; s != ReadVoid {
		t.Errorf("after void_after: %v", s)
	}
	if n := r.Read(counter.KindXenSystem, counter.Reading{Count: r.RefCount, Identity: r.CounterIdentity}); n.Status != ReadCounterMismatch || !n.Time.IsZero() {
		t.Errorf("other counter kind: %+v", n)
	}
	if n := r.Read(kind, counter.Reading{Count: r.RefCount, Identity: r.CounterIdentity + 1}); n.Status != ReadDisrupted || !n.Time.IsZero() || n.Status.HasTime() {
		t.Errorf("other identity: %+v", n)
	}
	if g := grow(^uint64(0)-1, 1e12, 10); g != ^uint64(0) {
		t.Errorf("grow does not saturate: %d", g)
	}
}
