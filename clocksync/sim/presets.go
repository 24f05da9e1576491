package sim

import "github.com/xenradclock/xenradclock/bintime"

// DefaultEpoch is the true UNIX time at the start of the preset runs
// (2027-01-15 00:00:00 UTC, away from any leap second).
var DefaultEpoch = bintime.Time{Sec: 1800000000}

// LAN is issue 2's LAN scenario: 16 s poll with an 8-exchange start burst
// and a dom0d's default fast start (which matters only at longer polls),
// 50 µs minimum one-way delay, exponential queueing of mean 20 µs each way,
// 1% spikes of mean 2 ms, a 1 GHz counter with +35 ppm skew and a 0.05 ppm
// daily temperature cycle, a stratum-1 server on the LAN.
func LAN(seed uint64, duration float64) Scenario {
	return Scenario{
		Name:  "lan",
		Seed:  seed,
		Epoch: DefaultEpoch,
		Osc: Oscillator{
			NominalHz: 1e9, SkewPPM: 35, TempPPM: 0.05,
			TempPhase: 1.0, StartCount: 123456789012345,
		},
		Path: Path{
			MinFwd: 50e-6, MinBack: 50e-6, QueueFwd: 20e-6, QueueBack: 20e-6,
			SpikeProb: 0.01, SpikeMean: 2e-3,
		},
		Server: Server{
			Name: "192.0.2.1", Stratum: 1, RefID: 0x47505300, TTL: 64,
			Proc: 20e-6, ProcJitter: 5e-6, RootDisp: 10e-6,
		},
		Poll: Live(16, duration),
	}
}

// Live is ntp.Source's default schedule at a poll period of poll seconds:
// a burst of 8 exchanges 2 s apart, then the fast start (16 s while the slot
// is within the first 15 minutes), then the poll period.
// TestLiveSchedule checks it against ntp.Source.
func Live(poll, duration float64) Schedule {
	return Schedule{Period: poll, Burst: 8, BurstInterval: 2, FastStartPoll: 16, FastStartDuration: 900, Duration: duration}
}

// Far is issue 2's far server: 5 ms each way with 0.2 ms asymmetry (the
// forward path is the longer), exponential queueing of mean 300 µs out and
// 500 µs back, 3% spikes of mean 20 ms, 1% loss, 64 s poll.
func Far(seed uint64, duration float64) Scenario {
	sc := LAN(seed, duration)
	sc.Name = "far"
	sc.Path = Path{
		MinFwd: 5.1e-3, MinBack: 4.9e-3, QueueFwd: 300e-6, QueueBack: 500e-6,
		SpikeProb: 0.03, SpikeMean: 20e-3, Loss: 0.01,
	}
	sc.Server.RootDelay = 0
	sc.Poll.Period = 64
	return sc
}
