package clocksync

import "math"

// kf is the offset/rate filter: a Kalman filter over the state
// X = (θ, ρ, δ): θ the offset of the anchored clock from true time (s), ρ
// its rate error (s/s) and δ the rate's drift (1/s). The oscillator model is
// a rate random walk (variance q2 per second) plus a drift random walk
// (variance q3 per s³), which follows a temperature cycle's smooth rate
// changes without lag. Measurements are naive offsets whose variance comes
// from their point error.
type kf struct {
	X [3]float64
	P [3][3]float64
}

// predict advances the filter by d seconds. The drift decays with time
// constant tau (a Gauss-Markov drift): over minutes it extrapolates a
// temperature trend, over a long gap it cannot run away quadratically.
func (f *kf) predict(d, q2, q3, tau float64) {
	if !(d > 0) {
		return
	}
	d2 := d * d
	a := math.Exp(-d / tau)
	b := tau * (1 - a) // ∫ drift decay: rate gained per unit drift
	c := tau * (d - b) // ∫∫: offset gained per unit drift
	x := &f.X
	x[0] += x[1]*d + x[2]*c
	x[1] += x[2] * b
	x[2] *= a
	// P = F P Fᵀ, F = [[1 d c] [0 1 b] [0 0 a]].
	var fp [3][3]float64
	for j := range 3 {
		fp[0][j] = f.P[0][j] + d*f.P[1][j] + c*f.P[2][j]
		fp[1][j] = f.P[1][j] + b*f.P[2][j]
		fp[2][j] = a * f.P[2][j]
	}
	for i := range 3 {
		f.P[i][0] = fp[i][0] + d*fp[i][1] + c*fp[i][2]
		f.P[i][1] = fp[i][1] + b*fp[i][2]
		f.P[i][2] = a * fp[i][2]
	}
	d3 := d2 * d
	f.P[0][0] += q2*d3/3 + q3*d3*d2/20
	f.P[0][1] += q2*d2/2 + q3*d2*d2/8
	f.P[1][1] += q2*d + q3*d3/3
	f.P[0][2] += q3 * d3 / 6
	f.P[1][2] += q3 * d2 / 2
	f.P[2][2] += q3 * d
	f.P[1][0], f.P[2][0], f.P[2][1] = f.P[0][1], f.P[0][2], f.P[1][2]
}

// update takes a measurement of θ with innovation nu and variance r.
func (f *kf) update(nu, r float64) {
	s := f.P[0][0] + r
	var k [3]float64
	for i := range 3 {
		k[i] = f.P[0][i] / s
		f.X[i] += k[i] * nu
	}
	p0 := f.P[0]
	for i := range 3 {
		for j := range 3 {
			f.P[i][j] -= k[i] * p0[j]
		}
	}
	for i := range 3 {
		f.P[i][i] = max(f.P[i][i], 1e-40)
	}
}
