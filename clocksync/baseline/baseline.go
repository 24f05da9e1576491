// Package baseline is plain RADclock (v0.8's bidirectional algorithm with
// its GOOD defaults), kept as a yardstick for clocksync's estimator: the
// benchmarks run it beside the estimator on the same stamps, so "never worse
// than plain RADclock" is measured, not assumed.
//
// It follows docs/estimator.md's reference (the RADclock specification)
// step by step and keeps its weaknesses on purpose: the one-stamp sliding
// minimum, the upshift detected only after ShiftWin stamps and only after
// warm-up, the Gaussian-weighted offset window with its local-rate
// correction from two windows ~85 minutes apart (Absolute reads with the
// long-term period, as the daemon does: PLOCAL_ACTIVE is off), the 1.5 ms +
// 10 µs/s offset
// sanity band, perr recorded even when the period sanity check fails, and
// the published bound "second-best point error of the last genuine update +
// RateErrBOUND·age", which is not a statistical bound. Not implemented
// (the benchmarks need none of them): poll changes, leap seconds, several
// servers, starvation flags.
//
// Sign convention (RADclock's): Thetahat is the offset of the uncorrected
// clock Cu from true time, positive when Cu is ahead; Ca = Cu − Thetahat.
//
// The clock is held as Cu(T) = Base + Phat·(T − T0) + K, Base and T0 being
// the first stamp's Tb and Ta, so every float is a difference of at most
// days (RADclock's own K = Tb0 − phat·Ta0 would be an absolute float).
package baseline

import (
	"math"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
)

// Config is RADclock's meta-parameters (GOOD quality by default).
type Config struct {
	CounterHz        float64 // nominal counter frequency: the first period is 1/CounterHz
	PollPeriod       float64 // polling_period, s
	TSLimit          float64 // ts_limit, s
	SKMScale         float64 // skm_scale, s
	OscRateErrorSpec float64 // rate_error_bound
	BestSKMRate      float64 // best_skm_rate (ages point errors in the offset window)
	OffsetRatio      float64 // offset_ratio (v0.8: 10)
	PlocalQual       float64 // plocal_quality
	HistoryWin       float64 // h_win, s (one week)
	Burst            int     // NTP_BURST: UNSYNC clears after this many stamps
}

// DefaultConfig is temperature_quality = good at a 16 s poll, v0.8's
// offset_ratio, a 1 GHz counter.
func DefaultConfig() Config {
	return Config{CounterHz: 1e9, PollPeriod: 16, TSLimit: 15e-6, SKMScale: 1024, OscRateErrorSpec: 5e-7,
		BestSKMRate: 2e-7, OffsetRatio: 10, PlocalQual: 8e-7, HistoryWin: 604800, Burst: 8}
}

// ringCap bounds the stamp history. It must exceed the warm-up (7680 stamps
// at a 1 s poll), whose far window reaches back to stamp 0.
const ringCap = 1 << 14

type rec struct {
	Ta, Tf  uint64
	Tb, Te  bintime.Time
	RTT     uint64  // Tf − Ta, counts
	RTThat  uint64  // RTThat_hist: the minimum RTT in force for this stamp, counts
	ThNaive float64 // th_naive with the Phat and K current at this stamp, s
}

// Clock is one plain RADclock instance.
type Clock struct {
	cfg  Config
	recs []rec
	i    int64 // index of the next stamp

	// Windows and thresholds (stamps, counts, s).
	offsetWin, shiftWin, warmupWin, hWin int64
	plocalWin, plocalW                   int64
	eshift, ep, epQual, epSanity         float64
	eoffset, eoffsetQual                 float64
	shiftThres                           uint64

	// Clock: Cu(T) = base + phat·(T − t0) + k; Ca = Cu − theta.
	base         bintime.Time
	t0           uint64
	phat, k      float64
	plocal       float64 // local period, s/tick
	plocalOK     bool    // plocal_problem == 0
	theta        float64
	perr         float64
	lastTa       uint64
	lastSide     clocksync.SideInfo
	rtthat       uint64
	nextRTThat   uint64
	wwidth       int64
	nearI, farI  int64
	pstampI      int64 // warm-up RTT argmin
	pstamp       rec   // period reference stamp
	pstampPerr   float64
	pstampRTThat uint64
	next         rec // next period reference (history half-window search)
	nextPerr     float64
	nextRTThatP  uint64
	jcount       int64
	historyEnd   int64
	thetaStamp   uint64  // Tf of the last genuine offset update
	eboundLast   float64 // Ebound_min_last, s
	haveGenuine  bool
}

// New makes a clock.
func New(cfg Config) *Clock {
	c := &Clock{cfg: cfg, recs: make([]rec, ringCap), phat: 1 / cfg.CounterHz, plocal: 1 / cfg.CounterHz, perr: math.Inf(1)}
	poll := cfg.PollPeriod
	c.offsetWin = max(int64(cfg.SKMScale/poll), 2)
	c.shiftWin = max(int64(math.Ceil(10*cfg.TSLimit/1e-7/poll)), 100)
	plocalWin := max(5*c.offsetWin, 4)
	c.warmupWin = max(100, c.offsetWin, c.shiftWin, plocalWin+plocalWin/2)
	c.plocalWin, c.plocalW = plocalWin, max(4, plocalWin/5)
	c.hWin = int64(cfg.HistoryWin / poll)
	if c.warmupWin+c.shiftWin > c.hWin/2 {
		c.hWin = 3 * (2*(c.warmupWin+c.shiftWin) + 1)
	}
	c.historyEnd = c.hWin - 1
	c.eshift = 10 * cfg.TSLimit
	c.ep = 3 * cfg.TSLimit
	c.epQual = cfg.OscRateErrorSpec / 5
	c.epSanity = 3 * cfg.OscRateErrorSpec
	c.eoffset = cfg.OffsetRatio * cfg.TSLimit
	c.eoffsetQual = 3 * c.eoffset
	return c
}

func (c *Clock) at(j int64) *rec { return &c.recs[j%ringCap] }

// Absolute is Ca(T), the absolute clock.
func (c *Clock) Absolute(T uint64) bintime.Time {
	return c.base.Add(bintime.MustFloat(c.phat*float64(int64(T-c.t0)) + c.k - c.theta))
}

// ErrorBound is RADclock's published error at counter T: the quality of the
// last genuine offset update plus RateErrBOUND times its age (+Inf before
// the first).
func (c *Clock) ErrorBound(T uint64) float64 {
	if !c.haveGenuine {
		return math.Inf(1)
	}
	return c.eboundLast + c.phat*float64(int64(T-c.thetaStamp))*c.cfg.OscRateErrorSpec
}

// Unsync reports RADclock's UNSYNC: fewer than Burst stamps taken.
func (c *Clock) Unsync() bool { return c.i <= int64(c.cfg.Burst) }

// Warmup reports RADclock's WARMUP.
func (c *Clock) Warmup() bool { return c.i < c.warmupWin }

// Process takes one stamp; it reports false if RADclock's stamp filter
// (§1.3) discards it.
func (c *Clock) Process(s clocksync.Stamp) bool {
	if s.Ta == 0 || s.Tf == 0 || s.Tb.IsZero() || s.Te.IsZero() || s.Tf < s.Ta || s.Te.Cmp(s.Tb) < 0 ||
		s.Tf-s.Ta < 120 || (c.i > 0 && s.Ta <= c.lastTa) {
		return false
	}
	qualWarning := c.i > 0 && (s.Side.TTL != c.lastSide.TTL || s.Side.Leap != c.lastSide.Leap ||
		s.Side.RefID != c.lastSide.RefID || s.Side.Stratum != c.lastSide.Stratum)
	i := c.i
	r := c.at(i)
	*r = rec{Ta: s.Ta, Tf: s.Tf, Tb: s.Tb, Te: s.Te, RTT: s.Tf - s.Ta}
	if i == 0 {
		c.base, c.t0 = s.Tb, s.Ta
		c.rtthat, c.nextRTThat = r.RTT, r.RTT
		c.wwidth = 1
		r.RTThat = r.RTT
		r.ThNaive = c.thNaive(r)
		c.finish(s)
		return true
	}
	if i < c.warmupWin {
		c.rttWarmup(i, r)
		c.phatWarmup(i)
		c.plocal = c.phat
		c.thetaUpdate(i, true, qualWarning)
		if i == c.warmupWin-1 {
			c.endWarmup()
		}
	} else {
		c.history(i, r)
		c.rttFull(i, r)
		c.nextPstamp(r)
		c.phatFull(r, qualWarning)
		c.plocalFull(i, qualWarning)
		c.thetaUpdate(i, false, qualWarning)
	}
	c.finish(s)
	return true
}

func (c *Clock) finish(s clocksync.Stamp) {
	c.lastTa, c.lastSide = s.Ta, s.Side
	c.i++
}

// thNaive is th_naive with the current Phat and K: Cu at the counter
// midpoint minus the server midpoint.
func (c *Clock) thNaive(r *rec) float64 {
	mid := (float64(int64(r.Ta-c.t0)) + float64(int64(r.Tf-c.t0))) / 2
	return c.base.Sub(r.Tb).Float() + c.phat*mid + c.k - r.Te.Sub(r.Tb).Float()/2
}

func (c *Clock) rttWarmup(i int64, r *rec) {
	if r.RTT < c.rtthat {
		c.rtthat = r.RTT
		c.pstampI = i
	}
	r.RTThat = c.rtthat
	r.ThNaive = c.thNaive(r)
}

// naivePeriod is RADclock's two-stamp period: the mean of the outgoing and
// incoming estimates; ok is false if a difference is not positive.
func naivePeriod(far, near *rec) (float64, bool) {
	dTb, dTe := near.Tb.Sub(far.Tb).Float(), near.Te.Sub(far.Te).Float()
	if near.Ta <= far.Ta || near.Tf <= far.Tf || dTb <= 0 || dTe <= 0 {
		return 0, false
	}
	return (dTb/float64(near.Ta-far.Ta) + dTe/float64(near.Tf-far.Tf)) / 2, true
}

// setPhat changes the period keeping Cu continuous at the previous stamp's Ta.
func (c *Clock) setPhat(p float64) {
	c.k += float64(int64(c.lastTa-c.t0)) * (c.phat - p)
	c.phat = p
}

func (c *Clock) phatWarmup(i int64) {
	oldNear, oldFar := c.nearI, c.farI
	if i%4 != 0 {
		lo := max(i-c.wwidth+1, 0)
		c.nearI = lo
		for j := lo + 1; j <= i; j++ {
			if c.at(j).RTT < c.at(c.nearI).RTT {
				c.nearI = j
			}
		}
	} else {
		if c.wwidth <= i && c.at(c.wwidth).RTT < c.at(c.farI).RTT {
			c.farI = c.wwidth
		}
		if c.at(i).RTT < c.at(c.nearI).RTT {
			c.nearI = i
		}
		c.wwidth++
	}
	if c.nearI == oldNear && c.farI == oldFar {
		return
	}
	far, near := c.at(c.farI), c.at(c.nearI)
	p, ok := naivePeriod(far, near)
	if !ok {
		return
	}
	c.setPhat(p)
	c.perr = c.phat * (float64(far.RTT-c.rtthat) + float64(near.RTT-c.rtthat)) / near.Tb.Sub(far.Tb).Float()
}

func (c *Clock) endWarmup() {
	c.pstamp = *c.at(c.pstampI)
	c.pstampPerr, c.pstampRTThat = 0, c.rtthat
	if far, near := c.at(c.farI), c.at(c.nearI); near.Tb.Cmp(far.Tb) > 0 {
		c.perr = c.phat * (float64(far.RTT-c.rtthat) + float64(near.RTT-c.rtthat)) / near.Tb.Sub(far.Tb).Float()
	}
	if float64(c.rtthat)*c.phat < 3e-3 {
		c.shiftThres = uint64(math.Ceil(c.eshift / c.phat))
		c.eoffsetQual = 3 * c.eoffset
	} else {
		c.shiftThres = uint64(math.Ceil(3 * c.eshift / c.phat))
		c.eoffsetQual = 6 * c.eoffset
	}
}

// history is the half-window management (§2.5.3).
func (c *Clock) history(i int64, r *rec) {
	if i == c.hWin/2 {
		c.nextRTThat = r.RTT
		c.next, c.nextPerr, c.nextRTThatP = *r, c.phat*float64(int64(r.RTT-c.rtthat)), c.rtthat
		c.jcount = 1
		c.epQual /= 10
	}
	if i == c.historyEnd {
		c.rtthat = c.nextRTThat
		c.nextRTThat = r.RTT
		c.pstamp, c.pstampPerr, c.pstampRTThat = c.next, c.nextPerr, c.nextRTThatP
		c.next, c.nextPerr, c.nextRTThatP = *r, c.phat*float64(int64(r.RTT-c.rtthat)), c.rtthat
		c.jcount = 1
		c.historyEnd += c.hWin / 2
	}
}

func (c *Clock) rttFull(i int64, r *rec) {
	c.rtthat = min(c.rtthat, r.RTT)
	if i >= c.hWin/2 {
		c.nextRTThat = min(c.nextRTThat, r.RTT)
	}
	r.RTThat = c.rtthat
	shift := r.RTT
	for j := max(i-c.shiftWin+1, 0); j < i; j++ {
		shift = min(shift, c.at(j).RTT)
	}
	if shift > c.rtthat+c.shiftThres {
		c.rtthat, c.nextRTThat = shift, shift
		last := i - c.shiftWin + 1
		for j := max(last, i-c.offsetWin+1); j <= i; j++ {
			c.at(j).RTThat = shift
		}
	}
	r.ThNaive = c.thNaive(r)
}

func (c *Clock) nextPstamp(r *rec) {
	if c.i < c.hWin/2 || c.jcount > c.warmupWin {
		return
	}
	c.jcount++
	if r.RTT < c.next.RTT {
		c.next, c.nextPerr, c.nextRTThatP = *r, c.phat*float64(int64(r.RTT-c.rtthat)), c.rtthat
	}
}

func (c *Clock) phatFull(r *rec, qualWarning bool) {
	perrI := c.phat * float64(int64(r.RTT-c.rtthat))
	if perrI >= c.ep {
		return
	}
	base := c.phat * math.Abs(float64(int64(c.rtthat-c.pstampRTThat)))
	dt := r.Tb.Sub(c.pstamp.Tb).Float()
	if dt <= 0 {
		return
	}
	perrIJ := (math.Abs(perrI) + math.Abs(c.pstampPerr) + base) / dt
	if perrIJ >= c.perr && perrIJ >= c.epQual {
		return
	}
	p, ok := naivePeriod(&c.pstamp, r)
	if !ok {
		return
	}
	c.perr = perrIJ // recorded even if the sanity check fails (RADclock's quirk)
	if math.Abs(p-c.phat)/c.phat > c.epSanity || qualWarning {
		return
	}
	c.setPhat(p)
}

// thetaUpdate is thetahat-warmup and thetahat-full (§2.8) without plocal.
func (c *Clock) thetaUpdate(i int64, warm, qualWarning bool) {
	cur := c.at(i)
	lo := max(1, i-c.offsetWin+1, i-ringCap+1)
	var sw, swx float64
	minET, second := math.Inf(1), math.Inf(1)
	gap := 0.0
	for j := lo; j <= i; j++ {
		r := c.at(j)
		base := r.RTThat
		if warm {
			base = c.rtthat
		}
		age := c.phat * float64(cur.Tf-r.Tf)
		et := c.phat*float64(int64(r.RTT-base)) + age*c.cfg.BestSKMRate
		w := math.Exp(-(et / c.eoffset) * (et / c.eoffset))
		x := r.ThNaive
		if !warm && c.plocalOK {
			x -= (c.plocal/c.phat - 1) * age
		}
		sw += w
		swx += w * x
		if et < minET {
			minET, second = et, minET
		} else if et < second {
			second = et
		}
		if j > lo {
			gap = max(gap, c.phat*float64(r.Tf-c.at(j-1).Tf))
		}
	}
	if !(minET < c.eoffsetQual) || sw == 0 {
		return // quality: free-run on the last thetahat
	}
	newTheta := swx / sw
	if c.haveGenuine {
		gap = max(gap, c.phat*float64(int64(cur.Tf-c.thetaStamp)))
	}
	if !warm && (math.Abs(c.theta-newTheta) > 100*c.cfg.TSLimit+20*c.cfg.OscRateErrorSpec*gap || qualWarning) {
		return // sanity
	}
	c.theta = newTheta
	if math.IsInf(second, 1) {
		second = minET
	}
	c.thetaStamp, c.eboundLast, c.haveGenuine = cur.Tf, second, true
}

// minRTTIn is the index of the lowest-RTT stamp in [lo, hi].
func (c *Clock) minRTTIn(lo, hi int64) int64 {
	best := lo
	for j := lo + 1; j <= hi; j++ {
		if c.at(j).RTT < c.at(best).RTT {
			best = j
		}
	}
	return best
}

// plocalFull is the local period (§2.7): the naive period between the best
// stamps of two windows plocal_win stamps apart, with its quality and
// sanity gates.
func (c *Clock) plocalFull(i int64, qualWarning bool) {
	w := c.plocalW
	farLo := i - w - c.plocalWin - w/2
	if farLo < 0 || i-farLo >= ringCap {
		c.plocal, c.plocalOK = c.phat, false
		return
	}
	c.plocalOK = true
	far, near := c.at(c.minRTTIn(farLo, farLo+w-1)), c.at(c.minRTTIn(i-w, i-1))
	p, ok := naivePeriod(far, near)
	if !ok {
		return
	}
	errp := c.phat * (float64(far.RTT-c.rtthat) + float64(near.RTT-c.rtthat)) / near.Tb.Sub(far.Tb).Float()
	if math.Abs(errp) >= c.cfg.PlocalQual || math.Abs(c.plocal-p)/c.plocal > 3*c.cfg.OscRateErrorSpec || qualWarning {
		return
	}
	c.plocal = p
}
