package clocksync

import "math"

// nState is the filter's state size: offset, rate, and the rate's drift as
// a daily harmonic pair.
const nState = 4

// kf is the offset/rate filter: a Kalman filter over the state
// X = (θ, ρ, δ, w): θ the offset of the anchored clock from true time (s,
// anchored clock minus true time: anchor subtracts it from Kt),
// ρ its rate error (s/s), δ the rate's drift (1/s) and w δ's quadrature
// partner. (δ, w) rotate with the temperature cycle's angular frequency ω:
// a drift that follows a daily cycle is predicted hours ahead, which a
// drift random walk cannot do (it must forget within hours to follow the
// cycle, so at a 1024 s poll it rests on a handful of stamps). With ω → 0
// the pair is a plain drift random walk. The oscillator model adds a rate
// random walk (variance q2 per second) and a random walk of δ and w
// (variance q3 per s³ each). Measurements are naive offsets whose variance
// comes from their point error.
//
// P is the covariance the gains come from (the point-error model's).
// BoundCov is not process noise (that is q2, q3): it is the same state's
// covariance, propagated with the same gains and process noise but each
// measurement's real variance (the model's plus the learnt noise floor),
// the "honest" covariance error_bound and the rate bound are made from.
// Without a floor BoundCov equals P.
type kf struct {
	X        [nState]float64         // θ s, ρ s/s, δ 1/s, w 1/s
	P        [nState][nState]float64 // gain covariance (point-error model)
	BoundCov [nState][nState]float64 // honest covariance behind the bounds
}

// trans is the filter's state transition over d seconds at angular
// frequency ω, F = [[1 d c2 c3] [0 1 s1 c1] [0 0 C S] [0 0 −S C]]. With
// δ(t) = δ₀cos ωt + w₀sin ωt, ρ gains ∫δ = δ₀·s1 + w₀·c1 and θ gains
// ∫∫δ = δ₀·c2 + w₀·c3, where s1 = S/ω, c1 = (1−C)/ω, c2 = (1−C)/ω²,
// c3 = (d − S/ω)/ω and S, C = sin ωd, cos ωd (series for small ωd, where
// the closed forms cancel).
type trans struct{ d, s1, c1, c2, c3, S, C float64 }

func transition(d, omega float64) trans {
	x := omega * d
	t := trans{d: d}
	t.S, t.C = math.Sincos(x)
	if x < 1e-2 {
		x2 := x * x
		t.s1 = d * (1 - x2/6 + x2*x2/120)
		t.c2 = d * d * (0.5 - x2/24 + x2*x2/720)
		t.c1 = omega * t.c2
		t.c3 = omega * d * d * d * (1.0/6 - x2/120 + x2*x2/5040)
	} else {
		t.s1 = t.S / omega
		t.c1 = (1 - t.C) / omega
		t.c2 = t.c1 / omega
		t.c3 = (d - t.s1) / omega
	}
	return t
}

// apply returns F·v for a state vector or a covariance row.
func (t *trans) apply(v [nState]float64) [nState]float64 {
	return [nState]float64{
		v[0] + t.d*v[1] + t.c2*v[2] + t.c3*v[3],
		v[1] + t.s1*v[2] + t.c1*v[3],
		t.C*v[2] + t.S*v[3],
		-t.S*v[2] + t.C*v[3],
	}
}

// predict advances the filter by d seconds.
func (f *kf) predict(d, q2, q3, omega float64) {
	if !(d > 0) {
		return
	}
	t := transition(d, omega)
	f.X = t.apply(f.X)
	propagate(&f.P, &t, q2, q3)
	propagate(&f.BoundCov, &t, q2, q3)
}

// propagate moves a covariance by d seconds: F P Fᵀ plus the process
// noise, whose coupling of δ into ρ and θ is taken over d ≪ 1/ω.
func propagate(p *[nState][nState]float64, t *trans, q2, q3 float64) {
	// (F P)ᵀ = P Fᵀ column by column, then F (P Fᵀ): P is symmetric, so
	// apply F to P's rows, transpose, and apply F again.
	var a [nState][nState]float64
	for i := range nState {
		r := t.apply(p[i]) // column i of F P
		for j := range nState {
			a[j][i] = r[j]
		}
	}
	for i := range nState {
		p[i] = t.apply(a[i])
	}
	d := t.d
	d2 := d * d
	d3 := d2 * d
	p[0][0] += q2*d3/3 + q3*d3*d2/20
	p[0][1] += q2*d2/2 + q3*d2*d2/8
	p[1][1] += q2*d + q3*d3/3
	p[0][2] += q3 * d3 / 6
	p[1][2] += q3 * d2 / 2
	p[2][2] += q3 * d
	p[3][3] += q3 * d
	for i := range nState {
		for j := range i {
			p[i][j] = p[j][i]
		}
	}
}

// update takes a measurement of θ with innovation nu and model variance
// r; extra is the variance the measurement has beyond the model. The gain
// comes from P and r; BoundCov is propagated with that gain and the real variance
// r+extra (Joseph form, valid for any gain).
func (f *kf) update(nu, r, extra float64) {
	s := f.P[0][0] + r
	var k [nState]float64
	for i := range nState {
		k[i] = f.P[0][i] / s
		f.X[i] += k[i] * nu
	}
	p0 := f.P[0]
	for i := range nState {
		for j := range nState {
			f.P[i][j] -= k[i] * p0[j]
		}
	}
	// BoundCov ← (I−KH) BoundCov (I−KH)ᵀ + K (r+extra) Kᵀ, H = [1 0 0 0].
	q0 := f.BoundCov[0]
	q00 := q0[0]
	for i := range nState {
		for j := range nState {
			f.BoundCov[i][j] += -k[i]*q0[j] - q0[i]*k[j] + k[i]*k[j]*(q00+r+extra)
		}
	}
	for i := range nState {
		f.P[i][i] = max(f.P[i][i], 1e-40)
		f.BoundCov[i][i] = max(f.BoundCov[i][i], 1e-40)
	}
}
