package sim

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"testing"
)

// TestPresetsUnchanged: the oscillator and path families draw from their
// own streams, so the presets produce exactly the stamps they produced
// before the families existed (hashes taken on the code before them).
func TestPresetsUnchanged(t *testing.T) {
	for _, c := range []struct {
		sc   Scenario
		want uint64
	}{{LAN(1, 86400), 0x7fd549e8fcb68020}, {Far(2, 86400), 0x594eb7b9a1325b19}} {
		h := fnv.New64a()
		s, _ := New(c.sc)
		for _, ex := range s.Run() {
			fmt.Fprintf(h, "%d %d %v %v %v\n", ex.Stamp.Ta, ex.Stamp.Tf, ex.Stamp.Tb, ex.Stamp.Te, ex.Lost)
		}
		if got := h.Sum64(); got != c.want {
			t.Errorf("%s: hash %#x, want %#x", c.sc.Name, got, c.want)
		}
	}
}

// rateRel is the simulated oscillator's relative rate error at time t.
func rateRel(s *Sim, t float64) float64 {
	k := int(t / SegmentSeconds)
	s.grow(k)
	return s.segs[k].rate/s.sc.Osc.NominalHz - 1
}

func TestRateSteps(t *testing.T) {
	sc := LAN(1, 86400)
	sc.Osc.TempPPM = 0
	sc.Osc.Steps = []RateStep{{At: 3600, PPM: 0.1}, {At: 7200, PPM: -0.3}}
	s, err := New(sc)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ t, want float64 }{{1000, 35e-6}, {5000, 35.1e-6}, {9000, 34.8e-6}} {
		if got := rateRel(s, c.t); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("rate at %v s: %.4g, want %.4g", c.t, got, c.want)
		}
	}
}

func TestFlickerAndLoad(t *testing.T) {
	sc := LAN(3, 20*86400)
	sc.Osc.TempPPM, sc.Osc.SkewPPM = 0, 0
	sc.Osc.FlickerPPM = 0.02
	s, _ := New(sc)
	var ss, n float64
	for tt := 0.0; tt < 20*86400; tt += 600 {
		r := rateRel(s, tt)
		ss += r * r
		n++
	}
	// The 10⁶ s component is slow; over 20 days the RMS is within a factor 2.
	if rms := math.Sqrt(ss / n); rms < 0.005e-6 || rms > 0.04e-6 {
		t.Errorf("flicker RMS %.4g ppm, want about 0.02", rms*1e6)
	}
	sc = LAN(4, 5*86400)
	sc.Osc.TempPPM, sc.Osc.SkewPPM = 0, 0
	sc.Osc.Load = Load{PPM: 0.5, MeanOn: 3600, MeanOff: 3600, Tau: 300}
	s, _ = New(sc)
	on, hi := 0, 0.0
	for tt := 0.0; tt < 5*86400; tt += 60 {
		r := rateRel(s, tt)
		if r < -1e-12 || r > 0.5e-6+1e-12 {
			t.Fatalf("load rate %.4g ppm outside [0, 0.5]", r*1e6)
		}
		if r > 0.45e-6 {
			on++
		}
		hi = max(hi, r)
	}
	if frac := float64(on) / (5 * 1440); frac < 0.2 || frac > 0.8 {
		t.Errorf("loaded %.0f%% of the time, want about half", 100*frac)
	}
}

func TestParetoBurstsMinWander(t *testing.T) {
	sc := LAN(5, 2*86400)
	sc.Path.SpikeProb = 0
	sc.Path.ParetoAlpha = 1.8
	s, _ := New(sc)
	var q []float64
	for _, ex := range s.Run() {
		q = append(q, ex.Fwd-sc.Path.MinFwd)
	}
	sort.Float64s(q)
	var sum float64
	for _, v := range q {
		sum += v
	}
	mean, med := sum/float64(len(q)), q[len(q)/2]
	// Lomax(1.8) of mean 20 µs: median 20·0.8·(2^(1/1.8)−1) = 7.0 µs, a heavy tail.
	if med < 5e-6 || med > 9e-6 || mean < 12e-6 || mean > 35e-6 || q[len(q)-1] < 500e-6 {
		t.Errorf("Pareto queueing: median %.1fµs mean %.1fµs max %.1fµs", med*1e6, mean*1e6, q[len(q)-1]*1e6)
	}

	sc = LAN(6, 2*86400)
	sc.Path.SpikeProb = 0
	sc.Path.BurstProb, sc.Path.BurstLen, sc.Path.BurstFactor = 0.02, 20, 20
	s, _ = New(sc)
	big, runs, prevBig := 0, 0, false
	exs := s.Run()
	for _, ex := range exs {
		b := ex.Fwd-sc.Path.MinFwd > 200e-6
		if b {
			big++
			if !prevBig {
				runs++
			}
		}
		prevBig = b
	}
	// In a burst (≈ 2%·20 / (1 + 2%·20) ≈ 29% of exchanges) queueing has
	// mean 400 µs; a burst shows as a run of large delays.
	if frac := float64(big) / float64(len(exs)); frac < 0.1 || frac > 0.4 || float64(big)/float64(runs) < 1.5 {
		t.Errorf("bursts: %.0f%% large delays in %d runs", 100*frac, runs)
	}

	sc = LAN(7, 86400)
	sc.Path.MinWanderAmp, sc.Path.MinWanderPeriod = 100e-6, 43200
	s, _ = New(sc)
	for _, ex := range s.Run() {
		want := 100e-6 * (1 - math.Cos(2*math.Pi*ex.T/43200)) / 2
		if ex.Fwd < sc.Path.MinFwd+want-1e-12 || ex.Back < sc.Path.MinBack+want-1e-12 || ex.Asymmetry != 0 {
			t.Fatalf("minimum wander at %v s: fwd %.1fµs back %.1fµs asym %g", ex.T, ex.Fwd*1e6, ex.Back*1e6, ex.Asymmetry)
		}
	}
}

func TestValidateFamilies(t *testing.T) {
	for name, f := range map[string]func(*Scenario){
		"pareto":  func(s *Scenario) { s.Path.ParetoAlpha = 1 },
		"burst":   func(s *Scenario) { s.Path.BurstProb, s.Path.BurstLen = 0.1, 0.5 },
		"minwand": func(s *Scenario) { s.Path.MinWanderAmp = 1e-4 },
		"load":    func(s *Scenario) { s.Osc.Load.PPM = 1 },
		"flicker": func(s *Scenario) { s.Osc.FlickerPPM = -1 },
		"step":    func(s *Scenario) { s.Osc.Steps = []RateStep{{At: 1, PPM: 1e3}} },
	} {
		sc := LAN(1, 100)
		f(&sc)
		if _, err := New(sc); err == nil {
			t.Errorf("%s: invalid scenario accepted", name)
		}
	}
}
