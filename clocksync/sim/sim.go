// Package sim is a clock simulator for tests and benchmarks: an oscillator
// driving a raw counter, a network path, an NTP server and a poll schedule,
// all seeded so a run is reproducible bit for bit. For every exchange it
// yields the clocksync.Stamp the host would have recorded and the exact
// truth behind it, and TrueTime gives the true time at any counter value of
// the run, so a test can score Ca(T) − true time anywhere.
//
// Times in a Scenario are float64 seconds since the start of the run (the
// Epoch); the truth is exact to well under a nanosecond because absolute
// times are only ever formed as bintime.Time.
package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
)

// Oscillator drives the raw counter. Its rate at true time t is
// NominalHz·(1 + SkewPPM·1e-6 + wander(t) + TempPPM·1e-6·sin(2π·t/TempPeriod + TempPhase)
// + flicker(t) + steps(t) + load(t)), where wander is a random walk. The
// rate is held constant over segments of SegmentSeconds, which makes the
// counter an exactly invertible piecewise linear function of true time.
// Flicker, steps and load draw from their own random streams, so a
// scenario without them runs exactly as before they existed.
type Oscillator struct {
	NominalHz  float64 // nominal counter frequency, ticks per second
	SkewPPM    float64 // constant frequency error, ppm (positive: counter runs fast)
	WanderPPM  float64 // random-walk wander: std dev of the frequency change after one day, ppm
	TempPPM    float64 // amplitude of the daily temperature cycle, ppm
	TempPeriod float64 // period of the temperature cycle, s (default 86400)
	TempPhase  float64 // phase of the cycle at t=0, radians
	StartCount uint64  // counter value at t=0
	// FlickerPPM is the standard deviation, ppm, of a flicker-like wander:
	// a sum of five Ornstein–Uhlenbeck processes with time constants 10² to
	// 10⁶ s, one per decade, of equal variance (a 1/f-like spectrum over
	// those scales; bounded, unlike the random walk).
	FlickerPPM float64
	Steps      []RateStep // abrupt rate changes
	Load       Load       // rate change with load
}

// RateStep changes the rate by PPM from true time At on (steps add up).
type RateStep struct{ At, PPM float64 }

// Load is a host whose load switches on and off (exponential durations of
// mean MeanOn and MeanOff seconds, starting off); while on, the rate moves
// by PPM, approached with the time constant Tau seconds (the crystal
// warming up). PPM 0: no load.
type Load struct {
	PPM, MeanOn, MeanOff, Tau float64
}

// LevelShift adds Fwd and Back seconds to the path's one-way delays for
// exchanges whose request leaves in [Start, End).
type LevelShift struct {
	Start, End float64
	Fwd, Back  float64
}

// Path is the network between host and server.
type Path struct {
	MinFwd, MinBack     float64 // minimum one-way delays, s (host→server, server→host)
	QueueFwd, QueueBack float64 // mean of the queueing delay per direction, s (exponential unless ParetoAlpha)
	// ParetoAlpha > 1 makes the queueing heavy-tailed: Lomax (Pareto II)
	// with that shape and the mean above, so its variance is infinite for
	// shapes up to 2.
	ParetoAlpha float64
	// Bursts: congestion episodes that multiply the queueing means by
	// BurstFactor. One starts with probability BurstProb per exchange and
	// lasts a geometric number of exchanges of mean BurstLen.
	BurstProb, BurstLen, BurstFactor float64
	// MinWanderAmp adds a slowly varying minimum, the same in both
	// directions: Amp·(1 − cos(2π·t/MinWanderPeriod))/2 seconds each way.
	MinWanderAmp, MinWanderPeriod float64
	SpikeProb                     float64 // probability, per packet, of an extra exponential spike
	SpikeMean                     float64 // mean of a spike, s
	Loss                          float64 // probability that an exchange is lost
	Shifts                        []LevelShift
}

// Fault makes the server's clock wrong by Offset seconds in [Start, End).
type Fault struct {
	Start, End float64
	Offset     float64
}

// Interval is a span [Start, End) of the run in seconds.
type Interval struct{ Start, End float64 }

// Server answers the requests.
type Server struct {
	Name       string
	Stratum    uint8
	RefID      uint32
	TTL        uint8
	Proc       float64 // constant processing delay between receive and transmit, s
	ProcJitter float64 // mean of an extra exponential processing delay, s
	RootDelay  float64 // advertised root delay, s
	RootDisp   float64 // advertised root dispersion, s
	Faults     []Fault
	Outages    []Interval // no replies in these spans
}

// PollChange sets a new poll period from At seconds on.
type PollChange struct{ At, Period float64 }

// Schedule says when requests leave. It is ntp.Source's schedule: the
// burst from t=0, then, while the next slot is before FastStartDuration,
// the shorter of FastStartPoll and the poll period, then the poll period.
// Each interval is taken from the send time of the previous exchange with
// the period in force at that time.
type Schedule struct {
	Period        float64 // poll period, s
	Changes       []PollChange
	Burst         int     // number of exchanges in the start burst (0: none)
	BurstInterval float64 // spacing of the burst, s (default 2)
	// FastStartPoll is the period after the burst while the next slot is
	// before FastStartDuration seconds (0: no fast start). The presets use
	// ntp.Source's defaults, 16 s for 900 s.
	FastStartPoll     float64
	FastStartDuration float64
	Duration          float64 // length of the run, s
}

// Scenario is one complete simulated run.
type Scenario struct {
	Name   string
	Seed   uint64
	Epoch  bintime.Time // true UNIX time at t=0
	Osc    Oscillator
	Path   Path
	Server Server
	Poll   Schedule
}

// Exchange is one NTP exchange with its truth.
type Exchange struct {
	Index  int             // exchange number, lost ones included
	Stamp  clocksync.Stamp // what the host recorded (Ta valid even when lost)
	Lost   bool            // no reply: Stamp.Tf, Tb, Te are zero
	Why    string          // "loss" or "outage" when Lost
	T      float64         // send time, s since the start
	TrueTa bintime.Time    // true time of each of the four events
	TrueTb bintime.Time
	TrueTe bintime.Time
	TrueTf bintime.Time
	Fwd    float64 // one-way delays actually applied, s
	Back   float64
	// ServerErr is the server's clock error at receive time (fault offset), s.
	ServerErr float64
	// Asymmetry is (Fwd−Back)/2 of the minimum-plus-shift delays (no
	// queueing): the bias a perfect symmetric-path estimator would show.
	Asymmetry float64
}

// SegmentSeconds is the length of the oscillator's constant-rate segments.
const SegmentSeconds = 16

type segment struct {
	count uint64  // integer part of the counter at the segment start
	frac  float64 // fractional part in [0,1)
	rate  float64 // ticks per second in the segment
}

// Sim runs one scenario.
type Sim struct {
	sc     Scenario
	oscRNG *rand.Rand
	netRNG *rand.Rand
	segs   []segment
	wander float64
	// Flicker, steps and load: own streams and state.
	flickRNG, loadRNG, burstRNG *rand.Rand
	flick                       [5]float64
	loadOn                      bool
	loadLeft, loadLevel         float64 // s until the load switches; current rate offset, relative
	inBurst                     bool
	next                        float64 // send time of the next exchange
	burst                       int     // burst exchanges sent
	index                       int
}

// Validate reports a clear error for an unusable scenario.
func (sc Scenario) Validate() error {
	o := sc.Osc
	switch {
	case !(o.NominalHz >= 1e3 && o.NominalHz <= 1e11):
		return fmt.Errorf("sim: oscillator NominalHz %v out of range [1e3, 1e11]", o.NominalHz)
	case math.Abs(o.SkewPPM) > 1000 || math.Abs(o.TempPPM) > 100 || o.WanderPPM < 0 || o.WanderPPM > 100:
		return errors.New("sim: oscillator skew, temperature or wander out of range")
	case sc.Poll.Period < 0.01 || sc.Poll.Period > 1e5:
		return fmt.Errorf("sim: poll period %v out of range", sc.Poll.Period)
	case !(sc.Poll.Duration > 0):
		return errors.New("sim: duration must be positive")
	case sc.Path.MinFwd < 0 || sc.Path.MinBack < 0 || sc.Path.QueueFwd < 0 || sc.Path.QueueBack < 0:
		return errors.New("sim: negative path delay")
	case sc.Path.Loss < 0 || sc.Path.Loss >= 1 || sc.Path.SpikeProb < 0 || sc.Path.SpikeProb > 1:
		return errors.New("sim: loss or spike probability out of range")
	case o.FlickerPPM < 0 || o.FlickerPPM > 100 || math.Abs(o.Load.PPM) > 100:
		return errors.New("sim: oscillator flicker or load out of range")
	case o.Load.PPM != 0 && !(o.Load.MeanOn > 0 && o.Load.MeanOff > 0 && o.Load.Tau >= 0):
		return errors.New("sim: load needs positive MeanOn, MeanOff and a non-negative Tau")
	case sc.Path.ParetoAlpha != 0 && !(sc.Path.ParetoAlpha > 1):
		return fmt.Errorf("sim: Pareto shape %v must exceed 1 (finite mean)", sc.Path.ParetoAlpha)
	case sc.Path.BurstProb < 0 || sc.Path.BurstProb > 1 || (sc.Path.BurstProb > 0 && !(sc.Path.BurstLen >= 1 && sc.Path.BurstFactor >= 0)):
		return errors.New("sim: burst probability out of range, or length below 1 exchange")
	case sc.Path.MinWanderAmp < 0 || (sc.Path.MinWanderAmp > 0 && !(sc.Path.MinWanderPeriod > 0)):
		return errors.New("sim: minimum wander needs a non-negative amplitude and a positive period")
	}
	for _, st := range o.Steps {
		if math.Abs(st.PPM) > 100 || math.IsNaN(st.At) {
			return fmt.Errorf("sim: rate step %v ppm at %v s out of range", st.PPM, st.At)
		}
	}
	if sc.Poll.FastStartPoll != 0 && (sc.Poll.FastStartPoll < 0.01 || sc.Poll.FastStartPoll > 1e5) {
		return fmt.Errorf("sim: fast-start poll %v s out of range", sc.Poll.FastStartPoll)
	}
	if sc.Poll.FastStartDuration < 0 {
		return fmt.Errorf("sim: negative fast-start duration %v s", sc.Poll.FastStartDuration)
	}
	for _, c := range sc.Poll.Changes {
		if c.Period < 0.01 || c.Period > 1e5 {
			return fmt.Errorf("sim: poll change to %v s out of range", c.Period)
		}
	}
	return nil
}

// New prepares a run.
func New(sc Scenario) (*Sim, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	if sc.Osc.TempPeriod == 0 {
		sc.Osc.TempPeriod = 86400
	}
	if sc.Poll.BurstInterval == 0 {
		sc.Poll.BurstInterval = 2
	}
	changes := append([]PollChange(nil), sc.Poll.Changes...)
	sort.Slice(changes, func(i, j int) bool { return changes[i].At < changes[j].At })
	sc.Poll.Changes = changes
	s := &Sim{
		sc:     sc,
		oscRNG: rand.New(rand.NewPCG(sc.Seed, 0x05c1)),
		netRNG: rand.New(rand.NewPCG(sc.Seed, 0x9e7)),
		// Streams for the newer oscillator and path families.
		flickRNG: rand.New(rand.NewPCG(sc.Seed, 0xf11c)),
		loadRNG:  rand.New(rand.NewPCG(sc.Seed, 0x10ad)),
		burstRNG: rand.New(rand.NewPCG(sc.Seed, 0xb0b5)),
	}
	if l := sc.Osc.Load; l.PPM != 0 {
		s.loadLeft = l.MeanOff * s.loadRNG.ExpFloat64()
	}
	s.segs = append(s.segs, segment{count: sc.Osc.StartCount, rate: s.rateAt(0)})
	return s, nil
}

// Scenario returns the scenario being run (with defaults filled in).
func (s *Sim) Scenario() Scenario { return s.sc }

func (s *Sim) rateAt(k int) float64 {
	o := s.sc.Osc
	mid := (float64(k) + 0.5) * SegmentSeconds
	temp := o.TempPPM * 1e-6 * math.Sin(2*math.Pi*mid/o.TempPeriod+o.TempPhase)
	extra := s.loadLevel
	for _, f := range s.flick {
		extra += f
	}
	for _, st := range o.Steps {
		if mid >= st.At {
			extra += st.PPM * 1e-6
		}
	}
	return o.NominalHz * (1 + o.SkewPPM*1e-6 + s.wander + temp + extra)
}

// advanceFamilies moves the flicker and load state on by one segment.
func (s *Sim) advanceFamilies() {
	o := s.sc.Osc
	if o.FlickerPPM > 0 {
		// Each component: x ← a·x + σ·√(1−a²)·N, stationary σ² = F²/5.
		sigma := o.FlickerPPM * 1e-6 / math.Sqrt(float64(len(s.flick)))
		tau := 100.0
		for i := range s.flick {
			a := math.Exp(-SegmentSeconds / tau)
			s.flick[i] = a*s.flick[i] + sigma*math.Sqrt(1-a*a)*s.flickRNG.NormFloat64()
			tau *= 10
		}
	}
	if l := o.Load; l.PPM != 0 {
		s.loadLeft -= SegmentSeconds
		for s.loadLeft <= 0 {
			s.loadOn = !s.loadOn
			mean := l.MeanOff
			if s.loadOn {
				mean = l.MeanOn
			}
			s.loadLeft += mean * s.loadRNG.ExpFloat64()
		}
		target := 0.0
		if s.loadOn {
			target = l.PPM * 1e-6
		}
		a := 0.0
		if l.Tau > 0 {
			a = math.Exp(-SegmentSeconds / l.Tau)
		}
		s.loadLevel = a*s.loadLevel + (1-a)*target
	}
}

// grow makes sure segment k exists.
func (s *Sim) grow(k int) {
	step := s.sc.Osc.WanderPPM * 1e-6 * math.Sqrt(SegmentSeconds/86400.0)
	for len(s.segs) <= k {
		last := s.segs[len(s.segs)-1]
		c := last.frac + last.rate*SegmentSeconds
		whole := math.Floor(c)
		if step > 0 {
			s.wander += step * s.oscRNG.NormFloat64()
		}
		s.advanceFamilies()
		s.segs = append(s.segs, segment{
			count: last.count + uint64(whole),
			frac:  c - whole,
			rate:  s.rateAt(len(s.segs)),
		})
	}
}

// counterAt is the counter reading (floor) at true time t >= 0 since start.
func (s *Sim) counterAt(t float64) uint64 {
	k := int(t / SegmentSeconds)
	if k < 0 {
		k = 0
	}
	s.grow(k)
	g := s.segs[k]
	u := t - float64(k)*SegmentSeconds
	return g.count + uint64(math.Floor(g.frac+u*g.rate))
}

// CounterAt is the raw counter value at true time t seconds since the start.
func (s *Sim) CounterAt(t float64) uint64 {
	if t < 0 {
		t = 0
	}
	return s.counterAt(t)
}

// TrueTime is the exact true time at which the counter read T (at the
// instant it reached T). Counter values before the start are extrapolated
// with the first segment's rate.
func (s *Sim) TrueTime(T uint64) bintime.Time {
	// Grow far enough to cover T.
	for {
		last := s.segs[len(s.segs)-1]
		if last.count > T {
			break
		}
		s.grow(len(s.segs))
	}
	k := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].count > T }) - 1
	if k < 0 {
		k = 0
	}
	g := s.segs[k]
	var d float64
	if T >= g.count {
		d = float64(T-g.count) - g.frac
	} else {
		d = -float64(g.count-T) - g.frac
	}
	dt := d / g.rate
	base := s.sc.Epoch.Add(bintime.Time{Sec: int64(k) * SegmentSeconds})
	return base.Add(bintime.MustFloat(dt))
}

// trueAbs converts seconds since the start to an absolute bintime.
func (s *Sim) trueAbs(t float64) bintime.Time {
	sec := math.Floor(t)
	return s.sc.Epoch.Add(bintime.Time{Sec: int64(sec)}).Add(bintime.MustFloat(t - sec))
}

// serverStamp is the server's clock reading at true time t, rounded to the
// nanosecond as a real NTP server's timestamps are quantised.
func (s *Sim) serverStamp(t float64) (bintime.Time, float64) {
	off := 0.0
	for _, f := range s.sc.Server.Faults {
		if t >= f.Start && t < f.End {
			off += f.Offset
		}
	}
	v := t + off
	sec := math.Floor(v)
	ns := math.Round((v - sec) * 1e9)
	return s.sc.Epoch.Add(bintime.Time{Sec: int64(sec)}).Add(bintime.FromNanos(int64(ns))), off
}

func (s *Sim) pollPeriodAt(t float64) float64 {
	p := s.sc.Poll.Period
	for _, c := range s.sc.Poll.Changes {
		if t >= c.At {
			p = c.Period
		}
	}
	return p
}

// intervalAfter is the period after an exchange sent at t, past the burst.
func (s *Sim) intervalAfter(t float64) float64 {
	p := s.pollPeriodAt(t)
	if f := min(p, s.sc.Poll.FastStartPoll); f > 0 && t+f < s.sc.Poll.FastStartDuration {
		return f
	}
	return p
}

func (s *Sim) exp(mean float64) float64 {
	if mean <= 0 {
		return 0
	}
	return mean * s.netRNG.ExpFloat64()
}

// queue draws one direction's queueing delay of the given mean: exponential,
// or Lomax of shape ParetoAlpha (scale mean·(α−1)).
func (s *Sim) queue(mean float64) float64 {
	a := s.sc.Path.ParetoAlpha
	if a == 0 || mean <= 0 {
		return s.exp(mean)
	}
	u := 1 - s.netRNG.Float64() // (0, 1]
	return mean * (a - 1) * (math.Pow(u, -1/a) - 1)
}

// burstFactor advances the congestion state by one exchange and returns
// the factor on the queueing means.
func (s *Sim) burstFactor() float64 {
	p := s.sc.Path
	if p.BurstProb <= 0 {
		return 1
	}
	if s.inBurst {
		s.inBurst = s.burstRNG.Float64() >= 1/p.BurstLen
	} else {
		s.inBurst = s.burstRNG.Float64() < p.BurstProb
	}
	if s.inBurst {
		return p.BurstFactor
	}
	return 1
}

// Next produces the next exchange; ok is false once the run's duration is over.
func (s *Sim) Next() (ex Exchange, ok bool) {
	t := s.next
	if t >= s.sc.Poll.Duration {
		return Exchange{}, false
	}
	if s.burst+1 < s.sc.Poll.Burst {
		s.burst++
		s.next = t + s.sc.Poll.BurstInterval
	} else {
		s.burst = s.sc.Poll.Burst
		s.next = t + s.intervalAfter(t)
	}
	p := s.sc.Path
	// Draw every random number in a fixed order whatever happens, so one
	// parameter change does not reshuffle the rest of the run.
	bf := s.burstFactor()
	qf, qb := s.queue(p.QueueFwd*bf), s.queue(p.QueueBack*bf)
	sf, sb := s.netRNG.Float64(), s.netRNG.Float64()
	spf, spb := s.exp(p.SpikeMean), s.exp(p.SpikeMean)
	lossDraw := s.netRNG.Float64()
	proc := s.sc.Server.Proc + s.exp(s.sc.Server.ProcJitter)

	fwd, back := p.MinFwd+qf, p.MinBack+qb
	if sf < p.SpikeProb {
		fwd += spf
	}
	if sb < p.SpikeProb {
		back += spb
	}
	minF, minB := p.MinFwd, p.MinBack
	if p.MinWanderAmp > 0 {
		m := p.MinWanderAmp * (1 - math.Cos(2*math.Pi*t/p.MinWanderPeriod)) / 2
		fwd, back, minF, minB = fwd+m, back+m, minF+m, minB+m
	}
	for _, l := range p.Shifts {
		if t >= l.Start && t < l.End {
			fwd += l.Fwd
			back += l.Back
			minF += l.Fwd
			minB += l.Back
		}
	}
	ta := t
	tb := ta + fwd
	te := tb + proc
	tf := te + back
	ex = Exchange{Index: s.index, T: t, Fwd: fwd, Back: back, Asymmetry: (minF - minB) / 2}
	s.index++
	ex.TrueTa, ex.TrueTb, ex.TrueTe, ex.TrueTf = s.trueAbs(ta), s.trueAbs(tb), s.trueAbs(te), s.trueAbs(tf)
	srv := s.sc.Server
	ex.Stamp.Ta = s.counterAt(ta)
	ex.Stamp.Side = clocksync.SideInfo{
		Server: srv.Name, Stratum: srv.Stratum, RefID: srv.RefID, TTL: srv.TTL,
		RootDelay: int64(math.Round(srv.RootDelay * 1e9)), RootDispersion: int64(math.Round(srv.RootDisp * 1e9)),
	}
	for _, o := range srv.Outages {
		if tb >= o.Start && tb < o.End {
			ex.Lost, ex.Why = true, "outage"
			return ex, true
		}
	}
	if lossDraw < p.Loss {
		ex.Lost, ex.Why = true, "loss"
		return ex, true
	}
	ex.Stamp.Tb, ex.ServerErr = s.serverStamp(tb)
	ex.Stamp.Te, _ = s.serverStamp(te)
	ex.Stamp.Tf = s.counterAt(tf)
	return ex, true
}

// Run produces every exchange of the scenario.
func (s *Sim) Run() []Exchange {
	var out []Exchange
	for {
		ex, ok := s.Next()
		if !ok {
			return out
		}
		out = append(out, ex)
	}
}

// Naive is the naive per-packet clock read at the stamp's Tf: the server's
// transmit time plus half the network RTT measured with the nominal period,
// Ca(Tf) = Te + ((Tf − Ta)·p − (Te − Tb))/2.
func Naive(st clocksync.Stamp, nominalPeriod float64) bintime.Time {
	rtt := float64(st.Tf-st.Ta) * nominalPeriod
	srv := st.Te.Sub(st.Tb).Float()
	return st.Te.Add(bintime.MustFloat((rtt - srv) / 2))
}
