package clocksync_test

import (
	"fmt"
	"math"
	"sort"
	"testing"

	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/clocksync/sim"
)

// runStats collects what a scenario run measured.
type runStats struct {
	name                string
	errs, naive         []float64 // |error| after warm-up, s
	early               []float64 // |error| in the first 10 minutes
	signed              []float64 // signed error after warm-up
	ebOver, ebN         int       // error_bound coverage after warm-up (stamps)
	ebs                 []float64 // error_bound values after warm-up
	meViol, meN         int       // max_error violations, every row
	gridEbViol, gridN   int       // grid rows: error_bound violations
	maxAbs              float64   // max |error| after warm-up
	maxAbsFrom          float64   // max |error| after time `from`
	statusOr            clocksync.Status
	params              []clocksync.Params
	exs                 []sim.Exchange
	worstMe, worstMeErr float64
	gridViolAt          []float64 // times of grid rows outside error_bound
	gridAt, gridErr     []float64 // every grid row: time since the start, |error|
	deAsym, earlyDeAsym []float64 // |error − path asymmetry/2|
	ebAboveMe           int       // rows (and aged bounds) where error_bound > max_error
	earlyEbOver         int       // error_bound coverage in the first 20 minutes
	earlyEbN            int
	allEbOver, allEbN   int // error_bound coverage over every stamp, warm-up included
}

// boundAges are the ages, s, at which every row's bounds are also compared
// as they grow (error_bound's quadratic term against max_error's linear one).
var boundAges = []float64{0, 60, 3600, 86400, 10 * 86400, 100 * 86400}

// checkBoundOrder counts where p's statistical bound exceeds its guaranteed
// one, at T and at boundAges past RefCount.
func (st *runStats) checkBoundOrder(p clocksync.Params, T uint64) {
	Ts := []uint64{T}
	for _, a := range boundAges {
		Ts = append(Ts, p.RefCount+uint64(a/p.Period))
	}
	if p.ErrorBound > p.MaxError || p.ErrorRate > p.MaxErrorRate {
		st.ebAboveMe++
	}
	for _, T := range Ts {
		if eb, me := p.Bounds(T); eb > me {
			st.ebAboveMe++
		}
	}
}

type runOpts struct {
	cfg    func(*clocksync.Config)
	grid   float64 // grid spacing, s (0: none)
	from   float64 // maxAbsFrom start time
	skip   float64 // seconds treated as warm-up for the statistics (default: estimator warm-up)
	report func(ex sim.Exchange, r clocksync.Result, err float64)
}

func runScenario(t testing.TB, sc sim.Scenario, o runOpts) *runStats {
	t.Helper()
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := clocksync.DefaultConfig()
	cfg.CounterHz = sc.Osc.NominalHz
	cfg.PollPeriod = sc.Poll.Period
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	est, err := clocksync.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := &runStats{name: sc.Name}
	nominal := 1 / sc.Osc.NominalHz
	var last clocksync.Params
	var gridNext uint64
	haveLast := false
	poll := sc.Poll.Period
	for {
		ex, ok := s.Next()
		if !ok {
			break
		}
		// Poll changes are announced to the estimator as dom0d would.
		for _, c := range sc.Poll.Changes {
			if ex.T >= c.At && poll != c.Period && ex.T-c.At < c.Period+1 {
				poll = c.Period
				est.SetPollPeriod(poll)
			}
		}
		if o.grid > 0 && haveLast {
			// Grid rows from the last params up to this exchange's send time.
			end := s.CounterAt(ex.T)
			step := uint64(o.grid * sc.Osc.NominalHz)
			if gridNext <= last.RefCount {
				gridNext = last.RefCount + step
			}
			for ; gridNext < end; gridNext += step {
				T := gridNext
				e := last.Absolute(T).Sub(s.TrueTime(T)).Float()
				eb, me := last.Bounds(T)
				st.gridN++
				st.gridAt = append(st.gridAt, s.TrueTime(T).Sub(sc.Epoch).Float())
				st.gridErr = append(st.gridErr, math.Abs(e))
				if math.Abs(e) > eb {
					st.gridEbViol++
					st.gridViolAt = append(st.gridViolAt, s.TrueTime(T).Sub(sc.Epoch).Float())
				}
				st.meN++
				if math.Abs(e) > me {
					st.meViol++
				}
				st.checkBoundOrder(last, T)
			}
		}
		if ex.Lost {
			continue
		}
		r := est.Process(ex.Stamp)
		p := r.Params
		last, haveLast = p, true
		tf := ex.Stamp.Tf
		e := p.Absolute(tf).Sub(s.TrueTime(tf)).Float()
		eb, me := p.Bounds(tf)
		st.meN++
		if math.Abs(e) > me {
			st.meViol++
			if math.Abs(e)-me > st.worstMe {
				st.worstMe, st.worstMeErr = math.Abs(e)-me, e
			}
		}
		st.statusOr |= p.Status
		st.checkBoundOrder(p, tf)
		st.allEbN++
		if math.Abs(e) <= eb {
			st.allEbOver++
		}
		if ex.T < 1200 {
			st.earlyEbN++
			if math.Abs(e) <= eb {
				st.earlyEbOver++
			}
		}
		if o.report != nil {
			o.report(ex, r, e)
		}
		st.params = append(st.params, p)
		st.exs = append(st.exs, ex)
		if ex.T < 600 {
			st.early = append(st.early, math.Abs(e))
			st.earlyDeAsym = append(st.earlyDeAsym, math.Abs(e-ex.Asymmetry))
		}
		if o.from > 0 && ex.T >= o.from {
			st.maxAbsFrom = max(st.maxAbsFrom, math.Abs(e))
		}
		n, w := est.Progress()
		warm := n < w
		if o.skip > 0 {
			warm = ex.T < o.skip
		}
		if warm {
			continue
		}
		st.errs = append(st.errs, math.Abs(e))
		st.signed = append(st.signed, e)
		st.deAsym = append(st.deAsym, math.Abs(e-ex.Asymmetry))
		ne := sim.Naive(ex.Stamp, nominal).Sub(s.TrueTime(tf)).Float()
		st.naive = append(st.naive, math.Abs(ne))
		st.ebN++
		st.ebs = append(st.ebs, eb)
		if math.Abs(e) <= eb {
			st.ebOver++
		}
		st.maxAbs = max(st.maxAbs, math.Abs(e))
	}
	return st
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	c := append([]float64(nil), xs...)
	sort.Float64s(c)
	i := int(math.Ceil(q*float64(len(c)))) - 1
	return c[max(i, 0)]
}

func (st *runStats) coverage() float64 { return float64(st.ebOver) / float64(max(st.ebN, 1)) }

// wholeCoverage is error_bound's coverage over every stamp of the run, the
// fast start included.
func (st *runStats) wholeCoverage() float64 {
	return float64(st.allEbOver) / float64(max(st.allEbN, 1))
}

// earlyCoverage is error_bound's coverage over the first 20 minutes.
func (st *runStats) earlyCoverage() float64 {
	return float64(st.earlyEbOver) / float64(max(st.earlyEbN, 1))
}

func (st *runStats) summary() string {
	return fmt.Sprintf("%s: n=%d median=%.2fµs p99=%.2fµs max=%.1fµs | naive median=%.2fµs p99=%.1fµs | early(10min) median=%.2fµs | eb coverage=%.2f%% eb/err medians=%.2f | max_error violations %d/%d grid eb viol %d/%d | eb coverage whole run %.2f%%, first 20 min %.1f%% of %d",
		st.name, len(st.errs), quantile(st.errs, 0.5)*1e6, quantile(st.errs, 0.99)*1e6, st.maxAbs*1e6,
		quantile(st.naive, 0.5)*1e6, quantile(st.naive, 0.99)*1e6, quantile(st.early, 0.5)*1e6,
		100*st.coverage(), quantile(st.ebs, 0.5)/quantile(st.errs, 0.5), st.meViol, st.meN, st.gridEbViol, st.gridN, 100*st.wholeCoverage(), 100*st.earlyCoverage(), st.earlyEbN)
}
