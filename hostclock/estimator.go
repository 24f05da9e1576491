package hostclock

import (
	"sync"
	"time"

	"github.com/xenradclock/xenradclock/clocksync"
)

// ClocksyncFactory makes the project's feed-forward estimators
// (clocksync), one per server, from clocksync.DefaultConfig with the
// counter's nominal frequency and the server's poll period.
type ClocksyncFactory struct {
	mu   sync.Mutex
	hz   float64
	Base *clocksync.Config // nil: clocksync.DefaultConfig()
}

// SetCounterHz sets the nominal counter frequency (the daemon calls it once
// the counter is open).
func (f *ClocksyncFactory) SetCounterHz(hz float64) {
	f.mu.Lock()
	f.hz = hz
	f.mu.Unlock()
}

func (f *ClocksyncFactory) config(poll time.Duration) clocksync.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg := clocksync.DefaultConfig()
	if f.Base != nil {
		cfg = *f.Base
	}
	if f.hz > 0 {
		cfg.CounterHz = f.hz
	}
	cfg.PollPeriod = min(max(poll.Seconds(), 1), 1024)
	return cfg
}

// New implements EstimatorFactory.
func (f *ClocksyncFactory) New(poll time.Duration) (Estimator, error) {
	e, err := clocksync.New(f.config(poll))
	if err != nil {
		return nil, err
	}
	return clocksyncEstimator{e}, nil
}

// Restore implements EstimatorFactory.
func (f *ClocksyncFactory) Restore(state []byte, poll time.Duration) (Estimator, error) {
	return restoreClocksync(f.config(poll), state)
}

type clocksyncEstimator struct{ e *clocksync.Estimator }

func (c clocksyncEstimator) Process(s clocksync.Stamp) Estimate {
	r := c.e.Process(s)
	if r.Accepted {
		return Estimate{Accepted: true, Params: r.Params}
	}
	return Estimate{Reason: r.Reason.String(), Detail: r.Detail(), Params: r.Params}
}
func (c clocksyncEstimator) Params() clocksync.Params      { return c.e.Params() }
func (c clocksyncEstimator) Progress() (int, int)          { return c.e.Progress() }
func (c clocksyncEstimator) SetPollPeriod(seconds float64) { c.e.SetPollPeriod(seconds) }

func (c clocksyncEstimator) MarshalState() ([]byte, error) { return c.e.MarshalState() }

func restoreClocksync(cfg clocksync.Config, state []byte) (Estimator, error) {
	e, err := clocksync.Restore(cfg, state)
	if err != nil {
		return nil, err
	}
	// The saved windows follow the saved poll; a changed poll applies now.
	e.SetPollPeriod(cfg.PollPeriod)
	return clocksyncEstimator{e}, nil
}
func (c clocksyncEstimator) SetLeap(next int8, atUTC int64) { c.e.SetLeap(next, atUTC) }
