package compare

import (
	"fmt"
	"math"
	mrand "math/rand/v2"
	"strings"
	"time"
)

// Path is an emulated network path. The random parts are drawn from a
// generator seeded by (Seed, server, request index), so every client sees
// the same delays for its n-th request to a server; the timed parts (a step,
// a shift, an outage) are functions of the time since the scenario started.
type Path struct {
	FwdNs, BackNs int64 // base one-way delays
	QueueMeanNs   int64 // exponential queueing added to each way
	// BurstFrac of the blocks of BurstLen requests queue BurstMeanNs more
	// (exponential) each way: bursty congestion.
	BurstFrac   float64
	BurstLen    int
	BurstMeanNs int64
	// SpikeProb of the requests get SpikeNs..2·SpikeNs on one way.
	SpikeProb float64
	SpikeNs   int64
	// From StepAt on both ways are StepNs longer (a permanent RTT step).
	StepAt time.Duration
	StepNs int64
	// From ShiftAt on the forward way is ShiftNs longer (a level shift).
	ShiftAt  time.Duration
	ShiftNs  int64
	LossProb float64
	// Between OutageFrom and OutageTo every request is dropped.
	OutageFrom, OutageTo time.Duration
}

// Delay is one request's emulated path.
type Delay struct {
	FwdNs, BackNs int64
	Drop          bool
}

// Draw returns the delays of request n to server srv at el into the run.
func (p *Path) Draw(seed uint64, srv, n int, el time.Duration) Delay {
	rng := mrand.New(mrand.NewPCG(seed^uint64(srv)<<48, uint64(n)))
	exp := func(mean int64) int64 {
		if mean <= 0 {
			return 0
		}
		return int64(rng.ExpFloat64() * float64(mean))
	}
	d := Delay{FwdNs: p.FwdNs + exp(p.QueueMeanNs), BackNs: p.BackNs + exp(p.QueueMeanNs)}
	if p.BurstLen > 0 {
		block := mrand.New(mrand.NewPCG(seed^uint64(srv)<<48, uint64(n/p.BurstLen)|1<<62))
		if block.Float64() < p.BurstFrac {
			d.FwdNs += exp(p.BurstMeanNs)
			d.BackNs += exp(p.BurstMeanNs)
		}
	}
	if p.SpikeProb > 0 && rng.Float64() < p.SpikeProb {
		s := p.SpikeNs + rng.Int64N(p.SpikeNs+1)
		if rng.IntN(2) == 0 {
			d.FwdNs += s
		} else {
			d.BackNs += s
		}
	}
	if p.StepNs != 0 && el >= p.StepAt {
		d.FwdNs += p.StepNs
		d.BackNs += p.StepNs
	}
	if p.ShiftNs != 0 && el >= p.ShiftAt {
		d.FwdNs += p.ShiftNs
	}
	d.Drop = (p.LossProb > 0 && rng.Float64() < p.LossProb) || (p.OutageTo > p.OutageFrom && el >= p.OutageFrom && el < p.OutageTo)
	return d
}

// Scenario is one comparison run: the served clock, the path to each of its
// servers, the clients' polling interval and how long it lasts.
type Scenario struct {
	Name     string
	About    string
	Poll     time.Duration
	Duration time.Duration
	WarmUp   time.Duration // excluded from the error statistics
	Servers  int           // servers per client (1, or 4 for the falseticker)
	// FalseNs is added to the served time of the last server when Servers > 1.
	FalseNs int64
	Path    Path
	Clock   Served // Base and Raw0 are set when the run starts
	// RestartAt, when set, stops each client there and starts it again
	// RestartGap later from its saved state.
	RestartAt, RestartGap time.Duration
}

// SymmetricPath reports whether the scenario's path has no designed
// asymmetry (where the goal is dom0d at most half of chrony's error).
func (s *Scenario) SymmetricPath() bool {
	return s.Path.FwdNs == s.Path.BackNs && s.Path.ShiftNs == 0
}

const us = int64(time.Microsecond)

// lan is the clean LAN path: 500 µs each way, exponential queueing 20 µs.
func lan() Path { return Path{FwdNs: 500 * us, BackNs: 500 * us, QueueMeanNs: 20 * us} }

// defaultClock is the served clock of every scenario: 25 ms ahead, 15 ppm
// fast, with a slow wander of ±0.02 ppm over 15 minutes.
func defaultClock() Served {
	return Served{Offset: 25 * time.Millisecond, SkewPPM: 15, WanderPPM: 0.02, WanderPeriod: 15 * time.Minute}
}

// at1s is a 1 s polling scenario: 60 s of warm-up then 300 exchanges.
func at1s(name, about string, p Path) Scenario {
	return Scenario{Name: name, About: about, Poll: time.Second, Duration: 6 * time.Minute, WarmUp: time.Minute,
		Servers: 1, Path: p, Clock: defaultClock()}
}

// at16s is a 16 s polling scenario: 4 min of warm-up then 60 exchanges.
func at16s(s Scenario) Scenario {
	s.Name += "-16s"
	s.Poll = 16 * time.Second
	s.WarmUp = 4 * time.Minute
	s.Duration = s.WarmUp + 16*time.Minute
	return s
}

// Scenarios is every scenario of the comparison, in the order they run.
func Scenarios() []Scenario {
	noisy := lan()
	noisy.QueueMeanNs, noisy.BurstFrac, noisy.BurstLen, noisy.BurstMeanNs = 100*us, 0.3, 10, 2000*us
	asym := lan()
	asym.FwdNs += 1000 * us
	spikes := lan()
	spikes.SpikeProb, spikes.SpikeNs = 0.05, 5000*us
	step := lan()
	step.StepAt, step.StepNs = 3*time.Minute, 2000*us
	shift := lan()
	shift.ShiftAt, shift.ShiftNs = 3*time.Minute, 1000*us
	loss := lan()
	loss.LossProb = 0.1
	outage := lan()
	outage.OutageFrom, outage.OutageTo = 3*time.Minute, 3*time.Minute+12*time.Second
	clean := at1s("clean", "clean LAN: 500 µs each way, exponential queueing 20 µs", lan())
	wander := at1s("wander", "clean LAN, the served rate moving ±1 ppm over 2 minutes", lan())
	wander.Clock.WanderPPM, wander.Clock.WanderPeriod = 1, 2*time.Minute
	stepS := at1s("rtt-step", "clean LAN, +2 ms on both ways from 3 min on", step)
	falsetick := at1s("falseticker", "four servers on clean LANs, the fourth 5 ms wrong", lan())
	falsetick.Servers, falsetick.FalseNs = 4, 5*int64(time.Millisecond)
	restart := at1s("restart", "clean LAN, each client restarted from its saved state at 3 min", lan())
	restart.RestartAt, restart.RestartGap = 3*time.Minute, 5*time.Second
	return []Scenario{
		clean,
		at1s("noisy", "heavy bursty queueing: 100 µs each way, and 2 ms more in 30% of 10-request blocks", noisy),
		at1s("asymmetric", "clean LAN with 1 ms more on the way to the server", asym),
		at1s("spikes", "clean LAN, 5% of the requests 5-10 ms late on one way", spikes),
		stepS,
		at1s("one-way-shift", "clean LAN, +1 ms on the way to the server from 3 min on", shift),
		at1s("loss", "clean LAN, 10% of the requests lost", loss),
		wander,
		falsetick,
		at1s("outage", "clean LAN, the server silent for 12 s from 3 min on", outage),
		restart,
		at16s(clean), at16s(wander), at16s(stepS),
	}
}

// Select returns the scenarios named in names (comma-separated; "all" for
// every one), with the duration scaled by scale when it is not 1.
func Select(names string) ([]Scenario, error) {
	all := Scenarios()
	if names == "" || names == "all" {
		return all, nil
	}
	var out []Scenario
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		found := false
		for _, s := range all {
			if s.Name == n {
				out, found = append(out, s), true
			}
		}
		if !found {
			return nil, fmt.Errorf("no scenario %q (have %s)", n, strings.Join(Names(), ", "))
		}
	}
	return out, nil
}

// Names lists the scenarios' names.
func Names() []string {
	var n []string
	for _, s := range Scenarios() {
		n = append(n, s.Name)
	}
	return n
}

// Shorten returns s lasting d instead, its timed events scaled to match.
func (s Scenario) Shorten(d time.Duration) Scenario {
	if d <= 0 || d >= s.Duration {
		return s
	}
	f := float64(d) / float64(s.Duration)
	sc := func(x *time.Duration) { *x = time.Duration(math.Round(float64(*x) * f)) }
	for _, x := range []*time.Duration{&s.WarmUp, &s.Path.StepAt, &s.Path.ShiftAt, &s.Path.OutageFrom, &s.Path.OutageTo, &s.RestartAt} {
		sc(x)
	}
	s.Duration = d
	return s
}
