package clocksync

import "math"

// kf is the offset/rate filter: a Kalman filter over the state
// X = (θ, ρ, δ): θ the offset of the anchored clock from true time (s), ρ
// its rate error (s/s) and δ the rate's drift (1/s). The oscillator model is
// a rate random walk (variance q2 per second) plus a drift random walk
// (variance q3 per s³), which follows a temperature cycle's smooth rate
// changes without lag. Measurements are naive offsets whose variance comes
// from their point error.
//
// P is the covariance the gains come from (the point-error model's); Q is
// the same state's covariance propagated with the same gains but each
// measurement's real variance (the model's plus a learnt noise floor), the
// one the bounds are made from. Without a floor Q equals P.
type kf struct {
	X [3]float64
	P [3][3]float64
	Q [3][3]float64
}

// predict advances the filter by d seconds. The drift decays with time
// constant tau (a Gauss-Markov drift): over minutes it extrapolates a
// temperature trend, over a long gap it cannot run away quadratically.
func (f *kf) predict(d, q2, q3, tau float64) {
	if !(d > 0) {
		return
	}
	a := math.Exp(-d / tau)
	b := tau * (1 - a) // ∫ drift decay: rate gained per unit drift
	c := tau * (d - b) // ∫∫: offset gained per unit drift
	x := &f.X
	x[0] += x[1]*d + x[2]*c
	x[1] += x[2] * b
	x[2] *= a
	propagate(&f.P, d, a, b, c, q2, q3)
	propagate(&f.Q, d, a, b, c, q2, q3)
}

// propagate moves a covariance by d seconds (see predict).
func propagate(p *[3][3]float64, d, a, b, c, q2, q3 float64) {
	d2 := d * d
	// P = F P Fᵀ, F = [[1 d c] [0 1 b] [0 0 a]].
	var fp [3][3]float64
	for j := range 3 {
		fp[0][j] = p[0][j] + d*p[1][j] + c*p[2][j]
		fp[1][j] = p[1][j] + b*p[2][j]
		fp[2][j] = a * p[2][j]
	}
	for i := range 3 {
		p[i][0] = fp[i][0] + d*fp[i][1] + c*fp[i][2]
		p[i][1] = fp[i][1] + b*fp[i][2]
		p[i][2] = a * fp[i][2]
	}
	d3 := d2 * d
	p[0][0] += q2*d3/3 + q3*d3*d2/20
	p[0][1] += q2*d2/2 + q3*d2*d2/8
	p[1][1] += q2*d + q3*d3/3
	p[0][2] += q3 * d3 / 6
	p[1][2] += q3 * d2 / 2
	p[2][2] += q3 * d
	p[1][0], p[2][0], p[2][1] = p[0][1], p[0][2], p[1][2]
}

// update takes a measurement of θ with innovation nu and model variance
// r; extra is the variance the measurement has beyond the model. The gain
// comes from P and r; Q is propagated with that gain and the real variance
// r+extra (Joseph form, valid for any gain).
func (f *kf) update(nu, r, extra float64) {
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
	// Q ← (I−KH) Q (I−KH)ᵀ + K (r+extra) Kᵀ, H = [1 0 0].
	q0 := f.Q[0]
	q00 := q0[0]
	for i := range 3 {
		for j := range 3 {
			f.Q[i][j] += -k[i]*q0[j] - q0[i]*k[j] + k[i]*k[j]*(q00+r+extra)
		}
	}
	for i := range 3 {
		f.P[i][i] = max(f.P[i][i], 1e-40)
		f.Q[i][i] = max(f.Q[i][i], 1e-40)
	}
}
