package bintime

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestParseFormatRoundTrip(t *testing.T) {
	for _, s := range []string{"0.000000000", "1700000000.123456789", "-0.250000000", "-12.000000001", "4294967295.999999999"} {
		v, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if got := v.Format9(); got != s {
			t.Errorf("Parse(%q).Format9() = %q", s, got)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"", "-", ".5", "5.", "1e9", "0x10", "1.2.3", "12a", "1.1234567890123456789", "99999999999999999999"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func TestParseShortFraction(t *testing.T) {
	v, err := Parse("3.5")
	if err != nil || v != (Time{Sec: 3, Frac: 1 << 63}) {
		t.Fatalf("Parse(3.5) = %v, %v", v, err)
	}
}

func TestNanosRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		ns := r.Int64N(1<<62) - 1<<61
		if got := FromNanos(ns).Nanos(); got != ns {
			t.Fatalf("FromNanos(%d).Nanos() = %d", ns, got)
		}
	}
}

func TestAddSubNeg(t *testing.T) {
	a := FromNanos(1_700_000_000_123_456_789)
	b := FromNanos(-999_999_999)
	if got := a.Add(b).Sub(b); got != a {
		t.Fatalf("a+b-b = %v, want %v", got, a)
	}
	if got := b.Neg().Neg(); got != b {
		t.Fatalf("--b = %v", got)
	}
	if a.Cmp(b) != 1 || b.Cmp(a) != -1 || a.Cmp(a) != 0 {
		t.Fatal("Cmp")
	}
}

func TestMulFracAgainstBig(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		p := 1e-10 + r.Float64()*1e-6 // 1 MHz .. 10 GHz
		frac, shift, ok := PeriodFrac(p)
		if !ok || frac < 1<<63 {
			t.Fatalf("PeriodFrac(%g) = %d,%d,%v", p, frac, shift, ok)
		}
		ticks := r.Uint64() >> r.UintN(64)
		got := MulFrac(frac, shift, ticks)
		// reference: floor(frac·ticks / 2^shift) as a 2^-64 fixed point number
		ref := new(big.Int).Mul(new(big.Int).SetUint64(frac), new(big.Int).SetUint64(ticks))
		ref.Rsh(ref, shift)
		want := new(big.Int).Lsh(big.NewInt(got.Sec), 64)
		want.Add(want, new(big.Int).SetUint64(got.Frac))
		if want.Cmp(ref) != 0 {
			t.Fatalf("MulFrac(%d,%d,%d) = %v, want %v", frac, shift, ticks, want, ref)
		}
	}
}

func TestPeriodFracRoundTrip(t *testing.T) {
	for _, p := range []float64{1e-9, 1 / 3e9, 1 / 14.318e6, 1 / 1.193182e6, 0.5} {
		f, s, ok := PeriodFrac(p)
		if !ok || PeriodFloat(f, s) != p {
			t.Errorf("period %g: %d %d %v -> %g", p, f, s, ok, PeriodFloat(f, s))
		}
	}
	for _, p := range []float64{0, -1, 1, 2} {
		if _, _, ok := PeriodFrac(p); ok {
			t.Errorf("PeriodFrac(%g) accepted", p)
		}
	}
}

func TestFloat(t *testing.T) {
	v, _ := FromFloat(-0.25)
	if v != (Time{Sec: -1, Frac: 0xC000000000000000}) || v.Float() != -0.25 {
		t.Fatalf("FromFloat(-0.25) = %+v", v)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "1.5", "-3.000000001", "1700000000.123456789"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		w, err := Parse(v.Format9())
		if err != nil {
			t.Fatalf("Format9 output %q not parseable: %v", v.Format9(), err)
		}
		if d := v.Sub(w).Float(); d > 1e-9 || d < -1e-9 {
			t.Fatalf("round trip of %q moved by %g", s, d)
		}
	})
}

func TestMustFloatSaturates(t *testing.T) {
	maxT := Time{Sec: math.MaxInt64, Frac: math.MaxUint64}
	minT := Time{Sec: math.MinInt64}
	for _, c := range []struct {
		in   float64
		want Time
	}{
		{math.NaN(), maxT},
		{math.Inf(1), maxT},
		{0x1p63, maxT},
		{1e300, maxT},
		{math.Inf(-1), minT},
		{-0x1p64, minT},
		{-0x1p63, minT}, // in range: exactly the smallest Time
		{-1.5, Time{Sec: -2, Frac: 1 << 63}},
		{2.25, Time{Sec: 2, Frac: 1 << 62}},
	} {
		if got := MustFloat(c.in); got != c.want {
			t.Errorf("MustFloat(%g) = %+v, want %+v", c.in, got, c.want)
		}
	}
}
