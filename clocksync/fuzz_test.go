package clocksync_test

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
)

// FuzzProcess feeds arbitrary stamp sequences: the estimator must never
// panic and never publish NaN. Each 26 bytes make one stamp as deltas from
// the previous one, so the fuzzer reaches deep states.
func FuzzProcess(f *testing.F) {
	stamps, _ := lanStamps(f, 51, 1200)
	var seed []byte
	prev := stamps[0]
	for _, s := range stamps[1:40] {
		var b [26]byte
		binary.LittleEndian.PutUint64(b[0:], s.Ta-prev.Ta)
		binary.LittleEndian.PutUint32(b[8:], uint32(s.Tf-s.Ta))
		binary.LittleEndian.PutUint64(b[12:], uint64(s.Tb.Sub(prev.Tb).Nanos()))
		binary.LittleEndian.PutUint32(b[20:], uint32(s.Te.Sub(s.Tb).Nanos()))
		b[24], b[25] = 1, 0
		seed = append(seed, b[:]...)
		prev = s
	}
	f.Add(seed)
	f.Add(seed[:26*10])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, _ := clocksync.New(clocksync.DefaultConfig())
		s := stamps[0]
		e.Process(s)
		for len(data) >= 26 {
			b := data[:26]
			data = data[26:]
			s.Ta += binary.LittleEndian.Uint64(b[0:])
			s.Tf = s.Ta + uint64(binary.LittleEndian.Uint32(b[8:]))
			s.Tb = s.Tb.Add(bintime.FromNanos(int64(binary.LittleEndian.Uint64(b[12:]))))
			s.Te = s.Tb.Add(bintime.FromNanos(int64(binary.LittleEndian.Uint32(b[20:]))))
			s.Side.Stratum, s.Side.Leap = b[24], b[25]&3
			if b[25]&4 != 0 {
				e.SetPollPeriod(float64(b[25]))
			}
			if b[25]&8 != 0 {
				e.CounterChanged(1e9)
			}
			p := e.Process(s).Params
			for _, v := range []float64{p.Period, p.PeriodLocal, p.Offset, p.ErrorBound, p.MaxError, p.ErrorRate, p.MaxErrorRate, p.RateErrorBound, p.MinRTT, p.ErrorDrift, p.Asymmetry} {
				if math.IsNaN(v) {
					t.Fatalf("NaN in params %+v", p)
				}
			}
			_ = p.Absolute(s.Tf + 1e9)
			_, _ = p.Bounds(s.Ta)
		}
	})
}
