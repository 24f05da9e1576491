package clockdata

import (
	"math/rand/v2"
	"testing"

	"github.com/xenradclock/xenradclock/bintime"
)

// TestPeriodMulIsMulFrac pins Period.Mul to bintime.MulFrac for every shift a
// valid record can carry.
func TestPeriodMulIsMulFrac(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 20000 {
		p := Period{Frac: rng.Uint64(), Shift: uint8(i % 63)}
		ticks := rng.Uint64() >> uint(rng.IntN(64))
		if got, want := p.Mul(ticks), bintime.MulFrac(p.Frac, uint(p.Shift), ticks); got != want {
			t.Fatalf("%+v × %d: %v, MulFrac %v", p, ticks, got, want)
		}
	}
}
