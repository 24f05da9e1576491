package compare

import (
	"math"
	mrand "math/rand/v2"
	"slices"
)

// Stats summarises one client's run after warm-up.
type Stats struct {
	Samples                       int
	MedianNs, P95Ns, MaxNs        float64 // |error|, raw
	MedianFRNs, P95FRNs, MaxFRNs  float64 // |error − floor|
	FloorNs                       float64 // median emulation asymmetry of its exchanges
	FloorP95Ns                    float64 // p95 of |emulation asymmetry|
	FreqErrPPM                    float64 // median |frequency error|; NaN unknown
	Exchanges                     int
	FirstUsableS                  float64 // NaN: never
	BoundCoverage, MaxErrCoverage float64 // dom0d only; NaN otherwise
	absFR                         []float64
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return quantile(s, 0.5)
}

// Summarise computes a client's statistics over the samples after warmUp.
func Summarise(cr ClientRun, warmUpNs int64) Stats {
	st := Stats{Exchanges: len(cr.Exchanges), FirstUsableS: math.NaN(), FreqErrPPM: math.NaN(),
		BoundCoverage: math.NaN(), MaxErrCoverage: math.NaN()}
	var floors, absFloors []float64
	for _, x := range cr.Exchanges {
		if x.KernelStamps && x.ActBackNs >= 0 {
			floors = append(floors, float64(x.FloorNs()))
			absFloors = append(absFloors, math.Abs(float64(x.FloorNs())))
		}
	}
	st.FloorNs = median(floors)
	slices.Sort(absFloors)
	st.FloorP95Ns = quantile(absFloors, 0.95)
	floor := st.FloorNs
	if math.IsNaN(floor) {
		floor = 0
	}
	var raw, fr, freq []float64
	var nb, inB, inM int
	for _, s := range cr.Samples {
		if s.Usable && math.IsNaN(st.FirstUsableS) {
			st.FirstUsableS = float64(s.ElapsedNs) / 1e9
		}
		if s.ElapsedNs < warmUpNs || !s.Usable {
			continue
		}
		raw = append(raw, math.Abs(float64(s.ErrNs)))
		fr = append(fr, math.Abs(float64(s.ErrNs)-floor))
		if !math.IsNaN(s.FreqErrPPM) {
			freq = append(freq, math.Abs(s.FreqErrPPM))
		}
		if s.HasBounds {
			nb++
			if s.InBound {
				inB++
			}
			if s.InMax {
				inM++
			}
		}
	}
	st.Samples = len(raw)
	st.absFR = slices.Clone(fr)
	slices.Sort(raw)
	slices.Sort(fr)
	st.MedianNs, st.P95Ns, st.MaxNs = quantile(raw, 0.5), quantile(raw, 0.95), quantile(raw, 1)
	st.MedianFRNs, st.P95FRNs, st.MaxFRNs = quantile(fr, 0.5), quantile(fr, 0.95), quantile(fr, 1)
	st.FreqErrPPM = median(freq)
	if nb > 0 {
		st.BoundCoverage, st.MaxErrCoverage = float64(inB)/float64(nb), float64(inM)/float64(nb)
	}
	return st
}

// blockLen is the moving-block length of the bootstrap: consecutive
// samples of a clock's error are correlated over about a poll's filter.
const blockLen = 10

// RatioCI is the ratio of the floor-removed medians a/b with a
// moving-block bootstrap 95% interval (2000 resamples, fixed seed).
func RatioCI(a, b Stats) (ratio, lo, hi float64) {
	if len(a.absFR) == 0 || len(b.absFR) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	ratio = median(a.absFR) / median(b.absFR)
	rng := mrand.New(mrand.NewPCG(17, 17))
	const n = 2000
	rs := make([]float64, 0, n)
	for range n {
		rs = append(rs, median(resample(rng, a.absFR))/median(resample(rng, b.absFR)))
	}
	slices.Sort(rs)
	return ratio, quantile(rs, 0.025), quantile(rs, 0.975)
}

func resample(rng *mrand.Rand, v []float64) []float64 {
	out := make([]float64, 0, len(v))
	for len(out) < len(v) {
		i := rng.IntN(len(v))
		for j := i; j < i+blockLen && j < len(v) && len(out) < len(v); j++ {
			out = append(out, v[j])
		}
	}
	return out
}
