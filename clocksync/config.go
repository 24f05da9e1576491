package clocksync

import (
	"errors"
	"fmt"
	"math"
)

// TemperatureQuality is RADclock's temperature_quality: it picks the set of
// oscillator meta-parameters (TSLimit, SKMScale, OscRateErrorSpec, BestSKMRate,
// OffsetRatio, PlocalQuality) and the estimator's rate wander.
type TemperatureQuality int

// The three temperature qualities of RADclock.
const (
	QualityGood      TemperatureQuality = iota // RADclock's default
	QualityExcellent                           // temperature-controlled room
	QualityPoor                                // large temperature swings
)

func (q TemperatureQuality) String() string {
	switch q {
	case QualityGood:
		return "good"
	case QualityExcellent:
		return "excellent"
	case QualityPoor:
		return "poor"
	}
	return fmt.Sprintf("quality(%d)", int(q))
}

// ParseTemperatureQuality reads "poor", "good" or "excellent".
func ParseTemperatureQuality(s string) (TemperatureQuality, error) {
	for _, q := range []TemperatureQuality{QualityGood, QualityExcellent, QualityPoor} {
		if q.String() == s {
			return q, nil
		}
	}
	return 0, fmt.Errorf("clocksync: temperature quality %q: want poor, good or excellent", s)
}

// Config holds the estimator's meta-parameters. The first group keeps
// RADclock's names and defaults (docs/estimator.md maps each to its
// RADclock configuration key); the second group is this project's.
// DefaultConfig gives the GOOD temperature quality and a 16 s poll.
type Config struct {
	// CounterHz is the counter's nominal frequency, ticks per second. The
	// first period estimate is 1/CounterHz (RADclock's init_period_estimate).
	CounterHz float64
	// CounterTolerance bounds |nominal/true − 1| of the counter (default
	// 500e-6): the prior uncertainty of the first period, and the rate
	// allowance of max_error until a period has been measured.
	CounterTolerance float64
	// PollPeriod is the polling period in seconds, 1..1024 (RADclock's
	// polling_period, default 16). Change it at run time with SetPollPeriod.
	PollPeriod float64
	// Quality is RADclock's temperature_quality; WithQuality sets the six
	// meta-parameters below from it.
	Quality TemperatureQuality

	// TSLimit (ts_limit) is the base timestamping noise unit, s (15e-6).
	// Derived: the upshift threshold Eshift = 10·TSLimit, the period point
	// error gate Ep = 3·TSLimit and Eoffset = OffsetRatio·TSLimit.
	TSLimit float64
	// SKMScale (skm_scale) is the timescale over which the oscillator
	// behaves as a constant rate, s (1024; 512 for poor). It sizes the
	// windows as in RADclock.
	SKMScale float64
	// OscRateErrorSpec is the oscillator's rate error specification, s/s
	// (RADclock's rate_error_bound): a bound on the counter's relative rate
	// error at any timescale (5e-7 good, 1e-7 excellent, 1e-6 poor). It is
	// an input that only gates the long-term period: the period quality
	// threshold OscRateErrorSpec/5 and the sanity bound 3·OscRateErrorSpec.
	// Not to be confused with RateErrorBound below (the lying-server
	// model's cap) or Params.RateErrorBound (the estimate's own bound).
	OscRateErrorSpec float64
	// BestSKMRate (best_skm_rate) is the rate accuracy achievable within the
	// SKM scale (2e-7 good). It ages RADclock's point errors; here it is
	// reported as the plocal quality reference only.
	BestSKMRate float64
	// OffsetRatio (offset_ratio): Eoffset = OffsetRatio·TSLimit (10, v0.8).
	// A stamp whose point error exceeds 3·Eoffset (near server) or 6·Eoffset
	// (far server) is not used for the offset (OFFSET_QUALITY).
	OffsetRatio float64
	// PlocalQuality (plocal_quality): the local period is flagged
	// PLOCAL_QUALITY while its bound exceeds this (8e-7).
	PlocalQuality float64
	// HistoryWindow is RADclock's h_win in seconds (one week): the minimum
	// RTT and the long-baseline period reference are renewed every half.
	HistoryWindow float64

	// RateErrorBound is the lying-server model's bound on the relative
	// error of the estimated rate, s/s (default 1e-7): the suspect
	// allowance's rate term is min(RateErrorBound, BoundK·σρ), σρ the
	// filter's rate standard deviation. It is neither the oscillator's
	// spec (OscRateErrorSpec) nor the published Params.RateErrorBound.
	RateErrorBound float64
	// DriftRateBound bounds how fast the oscillator's rate can change, 1/s
	// (default 1 ppm/day = 1e-6/86400). It grows both the suspect allowance
	// and the statistical error bound quadratically with age.
	DriftRateBound float64
	// SuspectK scales the suspect allowance: a server step is suspect when
	// |step| > SuspectK·(offset error + rate error·gap + ½·DriftRateBound·gap²)
	// plus the stamp's own half point error (default 1).
	SuspectK float64
	// SuspectHold is how long, s, a suspect step must persist before it is
	// accepted, loudly (default 1800).
	SuspectHold float64
	// MaxDrift is max_error's guaranteed rate allowance (default 15e-6, as
	// ClockBound's max drift).
	MaxDrift float64
	// RateWander is the standard deviation of the oscillator's random-walk
	// rate change per √s used by the offset/rate filter (default 7e-12;
	// 3e-12 excellent, 1e-10 poor). Larger follows rate changes faster
	// and trusts old stamps less; smaller than the oscillator's real
	// wander makes error_bound overconfident (docs/estimator.md).
	RateWander float64
	// DriftWander is the standard deviation of the random walk of the
	// rate's drift, per s^1.5 (default 2e-16): how quickly the filter
	// lets the drift depart from the daily harmonic (CyclePeriod).
	DriftWander float64
	// CyclePeriod is the period, s, of the temperature cycle the filter's
	// drift follows (default 86400: machine rooms warm and cool daily).
	// The drift is modelled as a harmonic of this period plus DriftWander,
	// so a daily cycle is predicted across hours between stamps; a very
	// long period makes it a plain drift random walk.
	CyclePeriod float64
	// QuickUpshift enables the quick upward level-shift test (a clear RTT
	// step on a clean path accepted after 2 minutes or 8 stamps instead of
	// ShiftWin). Off by default: it breaks the sweep's bursty family
	// (coverage worst 50% against 99.6%); see docs/estimator.md.
	QuickUpshift bool
	// PointNoise is the timestamping noise floor, s (default 0.5e-6): the
	// smallest standard deviation the filter assigns to one stamp.
	PointNoise float64
	// BoundK is the multiple of a standard deviation that error_bound and
	// the rate error bound use for the rate, its growth with age and a
	// carried asymmetry (default 2.6).
	BoundK float64
	// OffsetBoundK is the multiple for error_bound's offset term, the
	// filter's offset standard deviation combined with the recent stamps'
	// mean innovation (default 2.1; see biasTrack).
	OffsetBoundK float64
	// Burst is the number of exchanges in the start burst (default 8, as
	// RADclock's NTP_BURST) and BurstInterval their spacing, s (default 2).
	// The estimator uses Burst to decide when the clock is synchronised;
	// the exchange scheduler in dom0d sends the burst.
	Burst         int
	BurstInterval float64
	// MaxRTT rejects stamps whose RTT exceeds it, s (default 2).
	MaxRTT float64
	// TAIOffset is TAI−UTC at start, s (default 37): LeapTotal starts here.
	TAIOffset int32
	// LeapConfirm is the number of consecutive stamps announcing a leap
	// second before it is scheduled (default 3).
	LeapConfirm int
}

// DefaultConfig is the GOOD temperature quality, a 16 s poll and a 1 GHz
// nominal counter.
func DefaultConfig() Config {
	c := Config{
		CounterHz:        1e9,
		CounterTolerance: 500e-6,
		PollPeriod:       16,
		HistoryWindow:    604800,
		RateErrorBound:   1e-7,
		DriftRateBound:   1e-6 / 86400,
		SuspectK:         1,
		SuspectHold:      1800,
		MaxDrift:         15e-6,
		PointNoise:       0.5e-6,
		DriftWander:      2e-16,
		CyclePeriod:      86400,
		BoundK:           2.6,
		OffsetBoundK:     2.1,
		Burst:            8,
		BurstInterval:    2,
		MaxRTT:           2,
		TAIOffset:        37,
		LeapConfirm:      3,
	}
	return c.WithQuality(QualityGood)
}

// WithQuality returns c with the six RADclock meta-parameters and the rate
// wander set for temperature quality q (RADclock v0.8's table).
func (c Config) WithQuality(q TemperatureQuality) Config {
	c.Quality = q
	c.TSLimit, c.OffsetRatio = 15e-6, 10
	switch q {
	case QualityExcellent:
		c.SKMScale, c.OscRateErrorSpec, c.BestSKMRate, c.PlocalQuality, c.RateWander = 1024, 1e-7, 5e-8, 8e-7, 3e-12
	case QualityPoor:
		c.SKMScale, c.OscRateErrorSpec, c.BestSKMRate, c.PlocalQuality, c.RateWander = 512, 1e-6, 1e-6, 2e-6, 1e-10
	default:
		c.SKMScale, c.OscRateErrorSpec, c.BestSKMRate, c.PlocalQuality, c.RateWander = 1024, 5e-7, 2e-7, 8e-7, 7e-12
	}
	return c
}

// Validate reports the first unusable field, by name.
func (c Config) Validate() error {
	type rng struct {
		name     string
		v        float64
		min, max float64
	}
	for _, r := range []rng{
		{"CounterHz", c.CounterHz, 1e3, 1e11},
		{"CounterTolerance", c.CounterTolerance, 1e-7, 0.01},
		{"PollPeriod", c.PollPeriod, 1, 1024},
		{"TSLimit", c.TSLimit, 1e-9, 1e-2},
		{"SKMScale", c.SKMScale, 16, 1e5},
		{"OscRateErrorSpec", c.OscRateErrorSpec, 1e-10, 1e-3},
		{"BestSKMRate", c.BestSKMRate, 1e-11, 1e-3},
		{"OffsetRatio", c.OffsetRatio, 1, 1000},
		{"PlocalQuality", c.PlocalQuality, 1e-10, 1e-3},
		{"HistoryWindow", c.HistoryWindow, 3600, 1e8},
		{"RateErrorBound", c.RateErrorBound, 1e-11, 1e-3},
		{"DriftRateBound", c.DriftRateBound, 0, 1e-6},
		{"SuspectK", c.SuspectK, 0.1, 100},
		{"SuspectHold", c.SuspectHold, 0, 1e6},
		{"MaxDrift", c.MaxDrift, 1e-9, 1e-3},
		{"RateWander", c.RateWander, 1e-14, 1e-6},
		{"DriftWander", c.DriftWander, 0, 1e-9},
		{"CyclePeriod", c.CyclePeriod, 3600, 1e12},
		{"PointNoise", c.PointNoise, 1e-10, 1e-2},
		{"BoundK", c.BoundK, 1, 10},
		{"OffsetBoundK", c.OffsetBoundK, 1, 10},
		{"BurstInterval", c.BurstInterval, 0.1, 60},
		{"MaxRTT", c.MaxRTT, 1e-3, 60},
	} {
		if math.IsNaN(r.v) || r.v < r.min || r.v > r.max {
			return fmt.Errorf("clocksync: config %s = %v out of range [%g, %g]", r.name, r.v, r.min, r.max)
		}
	}
	if c.Burst < 0 || c.Burst > 64 {
		return fmt.Errorf("clocksync: config Burst = %d out of range [0, 64]", c.Burst)
	}
	if c.LeapConfirm < 1 || c.LeapConfirm > 1000 {
		return fmt.Errorf("clocksync: config LeapConfirm = %d out of range [1, 1000]", c.LeapConfirm)
	}
	if c.Quality < QualityGood || c.Quality > QualityPoor {
		return errors.New("clocksync: config Quality unknown")
	}
	return nil
}
