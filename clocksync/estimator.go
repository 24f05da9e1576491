package clocksync

import (
	"math"
	"slices"

	"github.com/xenradclock/xenradclock/bintime"
)

// ringCap is the depth of the stamp history (a power of two). It bounds
// memory whatever the run length and must exceed the largest shift window
// (1500 stamps at a 1 s poll).
const ringCap = 2048

const (
	maxLevels = 8 // remembered RTT levels with their carried asymmetry
	nRecent   = 8 // recent good stamps kept for max_error
)

// rec is one stamp in the history, server times on the continuous
// (leap-free) timescale.
type rec struct {
	Ta, Tf  uint64       // counter when the request left and the reply arrived
	Tb, Te  bintime.Time // server receive and transmit times, continuous timescale
	RTT     float64      // net RTT (host RTT minus server hold time), s
	Beta    float64      // asymmetry correction in force when it was processed, s
	RootErr float64      // root dispersion + root delay/2, s
	Good    bool         // used for an offset update
	Excl    bool         // excluded from the offset whatever its point error (suspect step, server change)
}

// level is an RTT level of the path with the asymmetry correction that
// belongs to it.
type level struct {
	RTT, Beta, BetaVar float64 // the level's minimum RTT, s; its asymmetry, s; that asymmetry's variance, s²
	Used               bool    // the slot holds a level
	Seen               int64   // stamp index when last left, for replacement
}

// state is everything the estimator carries from stamp to stamp; it is
// what MarshalState saves (hence exported fields). "Index" means a stamp's
// index among the stamps that passed the filter (0 for the first). Times
// on the "continuous" timescale are UTC labels plus LeapsApplied.
type state struct {
	CounterHz float64 // nominal counter frequency the state was built for, Hz (Restore checks it)
	Poll      float64 // poll period in force, s
	// RADclock's windows, in stamps (setWindows): offset window, level
	// shift window, warm-up and history window.
	OffsetWin, ShiftWin, WarmupWin, HWin int64

	I        int64     // stamps that passed the filter
	HaveLast bool      // Last is valid
	Last     lastStamp // previous stamp that passed the filter (server name in Estimator.lastServer)

	DqH   int64        // deque head: the slot of Estimator.dq holding its oldest index
	DqN   int64        // deque length, stamps
	Phat  float64      // long-term period, s/tick
	Perr  float64      // its relative error bound, s/s (RADclock's perr; +Inf before a measurement)
	Kc    uint64       // anchor counter
	Kt    bintime.Time // the clock at Kc, continuous timescale: Ca(Kc) + LeapsApplied
	UKt   bintime.Time // the uncorrected clock at Kc (RADclock's Cu: follows the period only)
	Meas  bool         // Phat measured (not just nominal)
	EpDiv float64      // 5, then 50 after the first history half-window

	// offset/rate filter: state (θ, ρ, δ, w) relative to the clock
	// anchored at (Kc, Kt) with period Phat; covariances P and BoundCov.
	F             kf
	Updates       int64   // offset updates taken (first stamp included)
	LastGoodTf    uint64  // Tf of the last offset update (Last.Tf is the last accepted stamp)
	LastGoodEB    float64 // error_bound at RefCount right after the last offset update, before the max_error cap, s
	LastGoodSdRho float64 // rate standard deviation right after the last good update, s/s

	// Measurement noise adaptation (adaptNoise): EWMAs of z²/S and 1/S
	// over offset updates (z² = nu²/S, clipped), whose ratio is the 1/S
	// weighted normalised innovation; NoiseVar is the variance, s², the
	// innovations say every stamp has beyond the point-error model.
	NISNum, NISDen, NoiseVar float64
	NISN                     int64 // updates monitored
	// Recent precision-weighted innovation mean (biasTrack): what the
	// latest stamps say the clock's error is, beyond the filter's belief.
	// EWMAs of w·ν (1/s) and w (1/s²), w = 1/(R + P_θθ).
	BiasNum, BiasDen float64
	// Coverage self-check (selfCheck): the factor, ≥ 1, by which
	// error_bound and its growth are widened because the stamps arriving
	// fell outside the published bound more often than it promises.
	BoundScale float64
	Cov        covCheck // the self-check's frame, counts and stamp ring

	RTThat      float64          // minimum RTT of the current path level, s
	BaseN       int64            // stamps behind RTThat
	MeanPe      float64          // mean point error of usable stamps (pe ≤ offset quality), s; running mean over min(BaseN, 256)
	LastShiftI  int64            // index of the last level shift (up or down); the upshift test waits ShiftWin after it
	Beta        float64          // carried asymmetry of the current level, s (Params.Asymmetry; sign in api.go)
	BetaVar     float64          // variance of Beta, s²
	Refine      int64            // stamps left to refine a new level's asymmetry
	RefineStart int64            // index of the stamp that began the level being refined
	Levels      [maxLevels]level // remembered RTT levels, each with its asymmetry

	// Long-baseline period (periodUpdate) and RADclock's history
	// half-windows (history, historyCandidate).
	PStamp      rec     // long-baseline period reference
	PStampPe    float64 // its point error against RTThat when it was taken, s
	PStampRTT   float64 // RTThat when it was taken, s
	NextP       rec     // the next reference being searched for (RTT +Inf: none yet)
	NextPPe     float64 // its point error when taken, s
	NextPRTT    float64 // RTThat when it was taken, s
	NextPCount  int64   // stamps offered to the search (only the first WarmupWin may become NextP)
	NextRTThat  float64 // minimum RTT since SearchStart, s: the next RTThat
	Searching   bool    // a half-window search is running
	SearchStart int64   // index at which the (next) search starts
	HistoryEnd  int64   // index at which the search's results replace PStamp and RTThat

	SuspectSince uint64 // Tf of the first stamp of the current suspect run (0: none)
	StepAt       uint64 // Tf at which a persistent suspect step was accepted (0: none); StatusServerStep for SuspectHold after
	// Rate-change test (rateStory): two staggered runs of stamps, each
	// fitted as a line against the filter's prediction frozen at its start.
	Rc [2]rcRun
	// Learnt rate wander (rcLearn): the factor on RateWander² in force
	// (≥ 1; 0 in a fresh state means 1), the EWMA of the completed runs'
	// normalised squared slopes, and the runs counted.
	QScale, QNIS float64
	QRuns        int64
	RateChanges  int64  // runs explained as a rate change and followed
	RestartTa    uint64 // Ta of a stamp far behind the previous one (0: none)

	LeapsApplied int32 // leap seconds applied since the start, s (continuous timescale − UTC labels)
	LeapNext     int8  // scheduled leap: −1, 0 (none) or +1
	LeapCount    int64 // consecutive stamps whose leap indicator announces a leap
	LeapClear    int64 // consecutive stamps announcing none while one is scheduled
	LeapTime     int64 // UTC label (UNIX seconds) of the scheduled leap
	LastLeap     int64 // UTC label (UNIX seconds) of the last leap applied: none at or before it is scheduled again
	LeapExt      bool  // leaps come from SetLeap (the daemon's vote), not this server's indicator

	Recent  [nRecent]rec // the last nRecent offset-update stamps (a ring), for max_error
	RecentN int64        // stamps held in Recent
	RecentH int64        // slot of Recent written next

	Sticky Status // bits to report on the next stamp
	P      Params // the clock after the last accepted stamp (what Params returns)
}

// Estimator is the feed-forward clock estimator. It is not safe for
// concurrent use; Params values it returns are plain values.
type Estimator struct {
	cfg        Config
	q          float64 // rate random-walk variance per second
	q3         float64 // drift random-walk variance per s³
	st         state
	recs       []rec   // the stamp history ring, ringCap deep
	dq         []int32 // monotonic deque of stamp indices: sliding minimum RTT over ShiftWin
	lastServer string  // Server of the previous stamp
}

// rcRun is one run of the rate-change test: its first Tf (0: none), the
// last offset update before it, the filter's prediction of true time
// frozen at its start (time at counter Since, true s per tick), and
// weighted sums for a line fit of the stamps' departures from that line
// against the time since Since (t and departure in s, weights 1/variance).
type rcRun struct {
	Since, LastGood     uint64
	Time                bintime.Time
	Per                 float64
	RhoVar              float64 // the filter's rate variance (BoundCov), (s/s)², at the start
	Dep2                float64 // squared departure of the fitted line at the last stamp while its slope is significant (rcWiden σ), s²
	N                   int64
	W, T, TT, Y, TY, YY float64
}

// lastStamp is a Stamp without the server name (fixed size, for the state).
type lastStamp struct {
	Ta, Tf                    uint64
	Tb, Te                    bintime.Time
	Stratum, Leap, TTL        uint8
	RefID                     uint32
	RootDelay, RootDispersion int64
}

func toLast(s Stamp) lastStamp {
	return lastStamp{Ta: s.Ta, Tf: s.Tf, Tb: s.Tb, Te: s.Te, Stratum: s.Side.Stratum, Leap: s.Side.Leap,
		TTL: s.Side.TTL, RefID: s.Side.RefID, RootDelay: s.Side.RootDelay, RootDispersion: s.Side.RootDispersion}
}

// Result is the outcome of one stamp.
type Result struct {
	Accepted bool
	// Rejection says why the stamp was rejected (Reason is ReasonNone if
	// it was accepted): Reason is the bounded label, Detail() the log text.
	Rejection
	Params Params // the clock after the stamp (unchanged if rejected, with StatusRejected)
}

// New makes an estimator.
func New(cfg Config) (*Estimator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Estimator{cfg: cfg, q: cfg.RateWander * cfg.RateWander, q3: cfg.DriftWander * cfg.DriftWander}
	e.reset(cfg.PollPeriod)
	return e, nil
}

func (e *Estimator) reset(poll float64) {
	sticky := e.st.Sticky
	if e.recs == nil {
		e.recs = make([]rec, ringCap)
		e.dq = make([]int32, ringCap)
	}
	clear(e.recs)
	clear(e.dq)
	e.lastServer = ""
	e.st = state{
		CounterHz:  e.cfg.CounterHz,
		Phat:       1 / e.cfg.CounterHz,
		Perr:       math.Inf(1),
		EpDiv:      5,
		Sticky:     sticky,
		BoundScale: 1,
	}
	e.setWindows(poll)
	e.st.P = Params{Period: e.st.Phat, PeriodLocal: e.st.Phat, Status: StatusUnsync | StatusWarmup | StatusRateUnverified,
		LeapTotal: e.cfg.TAIOffset, ErrorBound: math.Inf(1), MaxError: math.Inf(1)}
}

// setWindows derives RADclock's windows (in stamps) for a poll period.
func (e *Estimator) setWindows(poll float64) {
	st := &e.st
	st.Poll = poll
	st.OffsetWin = max(int64(e.cfg.SKMScale/poll), 2)
	st.ShiftWin = min(max(int64(math.Ceil(10*e.cfg.TSLimit/1e-7/poll)), 100), ringCap-1)
	plocal := max(5*st.OffsetWin, 4)
	st.WarmupWin = max(100, st.OffsetWin, st.ShiftWin, plocal+plocal/2)
	st.HWin = int64(e.cfg.HistoryWindow / poll)
	if st.WarmupWin+st.ShiftWin > st.HWin/2 {
		st.HWin = 3 * (2*(st.WarmupWin+st.ShiftWin) + 1)
	}
	if st.SearchStart == 0 {
		st.SearchStart = st.HWin / 2
		st.HistoryEnd = st.HWin - 1
	}
}

// Config returns the configuration in use.
func (e *Estimator) Config() Config { return e.cfg }

// Params returns the clock after the last stamp.
func (e *Estimator) Params() Params { return e.st.P }

// Progress reports how many stamps have been taken and the length of the
// fast start (the stamps that carry StatusWarmup).
func (e *Estimator) Progress() (stamps, warmup int) { return int(e.st.I), int(e.fastWarm()) }

// fastWarm is the number of stamps after which the fast start has its
// normal accuracy: the burst and 16 more stamps (RADclock's warm-up when
// that is shorter).
func (e *Estimator) fastWarm() int64 {
	return min(e.st.WarmupWin, int64(e.cfg.Burst)+16)
}

// SetPollPeriod tells the estimator the poll period changed (RADclock's
// update_state): windows are re-derived, the history is kept.
func (e *Estimator) SetPollPeriod(seconds float64) {
	if !(seconds >= 1) {
		seconds = 1
	}
	seconds = min(seconds, 1024)
	if seconds == e.st.Poll {
		return
	}
	e.setWindows(seconds)
	for e.st.DqN > 0 && int64(e.dq[e.st.DqH]) <= e.st.I-1-e.st.ShiftWin {
		e.dqPopFront()
	}
	e.st.Sticky |= StatusPollChanged
}

// CounterChanged re-initialises the estimator for a new counter of nominal
// frequency hz (an invalid hz keeps the old nominal). The next stamps start a
// fresh fast start; nothing exits.
func (e *Estimator) CounterChanged(hz float64) {
	if hz >= 1e3 && hz <= 1e11 {
		e.cfg.CounterHz = hz
	}
	e.st.Sticky |= StatusCounterReset
	e.reset(e.st.Poll)
}

// Process takes one stamp. It is deterministic and allocation-free in the
// steady state.
func (e *Estimator) Process(s Stamp) Result {
	// A counter far behind the previous stamp is a new counter (a reboot,
	// or a state restored on another boot): once two such stamps in a row
	// agree, start over rather than reject every stamp from now on. One
	// bogus stamp is only rejected.
	if st := &e.st; st.HaveLast && s.Ta < st.Last.Ta && float64(st.Last.Ta-s.Ta)*st.Phat > max(10*st.Poll, 600) {
		if why := e.filterAlone(s); why.Reason != ReasonNone {
			return e.reject(why)
		}
		if st.RestartTa == 0 || s.Ta <= st.RestartTa || float64(s.Ta-st.RestartTa)*st.Phat > 20*st.Poll+60 {
			st.RestartTa = s.Ta
			return e.reject(rejectFig(ReasonRestartSuspected, float64(st.Last.Ta-s.Ta)*st.Phat, max(10*st.Poll, 600)))
		}
		st.Sticky |= StatusCounterReset
		e.reset(st.Poll)
	}
	if why := e.filter(s); why.Reason != ReasonNone {
		return e.reject(why)
	}
	e.st.RestartTa = 0
	e.process(s)
	if !e.healthy() {
		// Never publish NaN: start over rather than carry a broken state.
		e.st.Sticky |= StatusCounterReset
		e.reset(e.st.Poll)
		p := e.st.P
		p.Status |= StatusRejected
		return Result{Rejection: reject(ReasonNonFinite), Params: p}
	}
	return Result{Accepted: true, Params: e.st.P}
}

func (e *Estimator) healthy() bool {
	st := &e.st
	return finite(st.F.X[0]) && finite(st.F.X[1]) && finite(st.F.P[0][0]) && finite(st.F.P[1][1]) && finite(st.F.P[0][1]) &&
		st.F.P[0][0] >= 0 && st.F.P[1][1] >= 0 && finite(st.F.BoundCov[0][0]) && finite(st.F.BoundCov[1][1]) && st.F.BoundCov[0][0] >= 0 && st.F.BoundCov[1][1] >= 0 && st.Phat > 0 && st.Phat < 1 && finite(st.RTThat) && finite(st.Beta)
}

func (e *Estimator) reject(why Rejection) Result {
	p := e.st.P
	p.Status |= StatusRejected
	return Result{Rejection: why, Params: p}
}

// filter is RADclock's stamp sanity filter plus packet vetting.
func (e *Estimator) filter(s Stamp) Rejection {
	if why := e.filterAlone(s); why.Reason != ReasonNone {
		return why
	}
	st := &e.st
	switch {
	case st.HaveLast && toLast(s) == st.Last && s.Side.Server == e.lastServer:
		return reject(ReasonDuplicate)
	case st.HaveLast && s.Ta <= st.Last.Ta:
		return reject(ReasonTaNotAfter)
	case st.HaveLast && s.Tf <= st.Last.Tf:
		return reject(ReasonTfNotAfter)
	}
	return Rejection{}
}

// filterAlone is the part of the filter that needs no previous stamp.
func (e *Estimator) filterAlone(s Stamp) Rejection {
	st := &e.st
	switch {
	case s.Ta == 0 || s.Tf == 0 || s.Tb.IsZero() || s.Te.IsZero():
		return reject(ReasonZeroTimestamp)
	case s.Tf <= s.Ta:
		return reject(ReasonCounterOrder)
	case s.Te.Cmp(s.Tb) < 0:
		return reject(ReasonServerTimeOrder)
	case s.Tb.Sec < 0 || s.Te.Sec > 1<<40:
		return reject(ReasonServerTimeRange)
	case s.Tf-s.Ta < 120:
		return rejectFig(ReasonRTTTooSmall, float64(s.Tf-s.Ta)*st.Phat, 120*st.Phat)
	case s.Side.Leap == 3:
		return reject(ReasonUnsynchronised)
	case s.Side.Stratum > 15:
		return rejectFig(ReasonStratum, float64(s.Side.Stratum), 15)
	}
	rtt := float64(s.Tf-s.Ta) * st.Phat
	if rtt > e.cfg.MaxRTT {
		return rejectFig(ReasonRTTTooLarge, rtt, e.cfg.MaxRTT)
	}
	if hold := s.Te.Sub(s.Tb).Float(); hold > rtt*(1+e.cfg.CounterTolerance)+2e-9 {
		return rejectFig(ReasonHoldExceedsRTT, hold, rtt)
	}
	return Rejection{}
}

func (e *Estimator) sideChanged(b SideInfo) bool {
	a := &e.st.Last
	return e.lastServer != b.Server || a.Stratum != b.Stratum || a.RefID != b.RefID || a.TTL != b.TTL
}

// cu is the anchored clock at counter T, in seconds relative to Kt.
func (e *Estimator) rel(T uint64) float64 {
	return float64(int64(T-e.st.Kc)) * e.st.Phat
}

// yMid is the naive offset of r: the anchored clock at the counter midpoint
// minus the server midpoint, s (no asymmetry correction).
func (e *Estimator) yMid(r *rec) float64 {
	st := &e.st
	mid := (float64(int64(r.Ta-st.Kc)) + float64(int64(r.Tf-st.Kc))) / 2 * st.Phat
	return st.Kt.Sub(r.Tb).Float() + mid - r.Te.Sub(r.Tb).Float()/2
}

// midAge is the time from r's counter midpoint to counter T, s.
func (e *Estimator) midAge(r *rec, T uint64) float64 {
	return (float64(int64(T-r.Ta)) + float64(int64(T-r.Tf))) / 2 * e.st.Phat
}

func (e *Estimator) ring(i int64) *rec { return &e.recs[i&(ringCap-1)] }

func (e *Estimator) dqPopFront() {
	e.st.DqH = (e.st.DqH + 1) & (ringCap - 1)
	e.st.DqN--
}

func (e *Estimator) dqPush(i int64, rtt float64) {
	st := &e.st
	for st.DqN > 0 {
		back := e.dq[(st.DqH+st.DqN-1)&(ringCap-1)]
		if e.ring(int64(back)).RTT < rtt {
			break
		}
		st.DqN--
	}
	e.dq[(st.DqH+st.DqN)&(ringCap-1)] = int32(i)
	st.DqN++
	for st.DqN > 0 && int64(e.dq[st.DqH]) <= i-st.ShiftWin {
		e.dqPopFront()
	}
}

func (e *Estimator) dqMin() float64 { return e.ring(int64(e.dq[e.st.DqH])).RTT }

// omega is the temperature cycle's angular frequency.
func (e *Estimator) omega() float64 { return 2 * math.Pi / e.cfg.CyclePeriod }

// predict moves the filter to counter T.
func (e *Estimator) predict(T uint64) {
	e.st.F.predict(e.rel(T), e.qRate(), e.q3, e.omega())
}

// anchor moves the anchor to T, folding the filter's offset into the clock,
// and optionally changes the period, keeping the clock continuous at T.
func (e *Estimator) anchor(T uint64, newPhat float64) {
	st := &e.st
	d := e.rel(T)
	st.Kt = st.Kt.Add(bintime.MustFloat(d - st.F.X[0]))
	st.UKt = st.UKt.Add(bintime.MustFloat(d))
	st.Kc = T
	st.F.X[0] = 0
	if newPhat != st.Phat {
		// The filter's rate is relative to the period: re-express it.
		st.F.X[1] = (newPhat/st.Phat)*(1+st.F.X[1]) - 1
		st.Phat = newPhat
	}
}

// stampCtx is what process works out about one stamp as it runs through the
// steps of docs/estimator.md ("Per-stamp processing"); it lives on the
// stack for one stamp.
type stampCtx struct {
	i        int64   // the stamp's index (stamps that passed the filter before it)
	r        rec     // its history record
	status   Status  // status bits gathered so far
	qualWarn bool    // server characteristics changed (step 2)
	warm     bool    // within RADclock's warm-up (i < WarmupWin)
	eshift   float64 // level shift threshold Eshift, s
	offQual  float64 // offset quality limit on the point error, s
	pe       float64 // point error RTT − RTThat, s (step 6)
	m        float64 // uncertainty of the minimum RTT, s
	R        float64 // the offset measurement's model variance, s²
	y        float64 // naive offset carried to Tf, asymmetry-corrected, s
	nu       float64 // innovation y − θ, s
	update   bool    // the stamp updates the offset filter
}

// process runs a stamp that passed the filter (step 1) through the steps
// of docs/estimator.md's "Per-stamp processing".
func (e *Estimator) process(s Stamp) {
	var c stampCtx
	e.intake(s, &c) // step 2 and the leap indicator
	if c.i == 0 {
		e.first(&c.r, c.status)
		return
	}
	e.predict(s.Tf)
	e.gates(&c)
	e.levelShifts(&c) // steps 3 and 4
	c.r.Beta = e.st.Beta
	e.history(c.i, &c.r) // step 5
	e.pointError(&c, s.Tf)
	e.offsetGate(&c, s.Tf) // steps 6 and 7
	if c.warm {
		e.warmPStamp(c.i)
	}
	if c.update {
		e.offsetUpdate(&c, s.Tf) // steps 8 to 10
	}
	e.historyCandidate(&c.r)
	if c.i < fastWin && e.st.StepAt == 0 {
		e.refit(c.i, c.offQual)
	}
	e.conclude(&c, s) // step 11
}

// intake notes a server change (step 2) and starvation, makes s the last
// stamp, takes its leap indicator and builds its history record.
func (e *Estimator) intake(s Stamp, c *stampCtx) {
	st := &e.st
	c.status = st.Sticky
	st.Sticky = 0
	c.qualWarn = st.HaveLast && e.sideChanged(s.Side)
	if c.qualWarn {
		c.status |= StatusServerChanged
	}
	// Starving is RADclock's: no valid stamp (one past the filter) for
	// more than 10 polls. Stamps that arrive but fail the offset quality
	// gate are OFFSET_QUALITY (the clock free-runs), not starvation.
	if st.HaveLast && float64(s.Tf-st.Last.Tf)*st.Phat > 10*st.Poll {
		c.status |= StatusStarving
	}
	st.Last, st.HaveLast = toLast(s), true
	e.lastServer = s.Side.Server
	e.leapIntake(s)

	lp := bintime.Time{Sec: int64(st.LeapsApplied)}
	c.r = rec{Ta: s.Ta, Tf: s.Tf, Tb: s.Tb.Add(lp), Te: s.Te.Add(lp),
		RootErr: float64(s.Side.RootDispersion)*1e-9 + float64(s.Side.RootDelay)*0.5e-9, Beta: st.Beta}
	c.r.RTT = float64(s.Tf-s.Ta)*st.Phat - c.r.Te.Sub(c.r.Tb).Float()
	c.i = st.I
	st.I++
}

// gates sets the stamp's thresholds: Eshift = 10·TSLimit and the offset
// quality limit 3·Eoffset, tripled and doubled for a far server.
func (e *Estimator) gates(c *stampCtx) {
	st := &e.st
	c.warm = c.i < st.WarmupWin
	c.eshift = 10 * e.cfg.TSLimit
	c.offQual = 3 * e.cfg.OffsetRatio * e.cfg.TSLimit
	if st.RTThat > 3e-3 {
		c.eshift *= 3
		c.offQual *= 2
	}
}

// levelShifts puts the stamp in the history and the sliding minimum (step
// 3) and detects RTT level shifts (step 4): downward ones act at once,
// upward ones after ShiftWin (or the quick test, when enabled).
func (e *Estimator) levelShifts(c *stampCtx) {
	st := &e.st
	i, r := c.i, &c.r
	*e.ring(i) = *r
	e.dqPush(i, r.RTT)
	if i >= st.ShiftWin && r.RTT < st.RTThat-c.eshift {
		e.downshift(i, r)
		c.status |= StatusRTTDownshift
	} else if r.RTT < st.RTThat {
		st.RTThat = r.RTT
	}
	st.BaseN++
	// On a path where every packet queues (a mean point error of hundreds
	// of µs), the minimum of a window sits above the level's all-time
	// minimum by chance: the rise must exceed that spread too, or noise
	// alone makes false level shifts (and carries a false asymmetry).
	thr := st.RTThat + max(c.eshift, upshiftPe*st.MeanPe)
	if i >= st.ShiftWin && i-st.LastShiftI >= st.ShiftWin {
		if m := e.dqMin(); m > thr {
			e.upshift(i, st.ShiftWin, m, c.offQual)
			c.status |= StatusRTTUpshift
		}
	}
	if e.cfg.QuickUpshift && c.status&StatusRTTUpshift == 0 && st.MeanPe <= c.eshift/2 {
		// The quick test is for a clear step on a clean path only: a
		// slowly moving minimum or a path where most packets queue is
		// left to the ShiftWin test above.
		qthr := st.RTThat + max(quickShiftEshift*c.eshift, quickShiftPe*st.MeanPe)
		if m, q, ok := e.quickShift(i, qthr); ok {
			e.upshift(i, q, m, c.offQual)
			c.status |= StatusRTTUpshift
		}
	}
}

// pointError works out the stamp's point error (step 6), the offset
// measurement's variance and its innovation.
func (e *Estimator) pointError(c *stampCtx, tf uint64) {
	st := &e.st
	c.pe = max(c.r.RTT-st.RTThat, 0)
	if c.pe <= c.offQual {
		st.MeanPe += (c.pe - st.MeanPe) / float64(min(st.BaseN, 256))
	}
	c.m = e.minRTTErr(st.MeanPe, st.BaseN)
	c.R = e.measVar(c.pe, c.m)
	c.y, c.nu = e.innovation(&c.r, tf)
}

// innovation is r's naive offset carried to tf and corrected for the
// carried asymmetry, and its departure from the filter's offset.
func (e *Estimator) innovation(r *rec, tf uint64) (y, nu float64) {
	st := &e.st
	y = e.yMid(r) - st.Beta + st.F.X[1]*e.midAge(r, tf)
	return y, y - st.F.X[0]
}

// offsetGate decides whether the stamp updates the offset: not while a new
// level is refined, not with a large point error (step 6) or after a
// server change, and not while it is a suspect server step (step 7).
func (e *Estimator) offsetGate(c *stampCtx, tf uint64) {
	st := &e.st
	switch {
	case st.Refine > 0:
		e.refine(c.i, tf, c.offQual)
	case !(c.pe <= c.offQual):
		c.status |= StatusOffsetQuality
	case c.qualWarn:
		c.status |= StatusOffsetSanity
		e.ring(c.i).Excl = true
	default:
		c.update = e.lyingServer(c, tf)
	}
}

// lyingServer is the suspect server step test (docs/estimator.md, "Lying
// server"): it reports whether the stamp may update the offset, following
// a rate change the stamps tell of, and accepting a step that persisted
// past SuspectHold.
func (e *Estimator) lyingServer(c *stampCtx, tf uint64) bool {
	st := &e.st
	cfg := &e.cfg
	// The lying-server allowance grows with the time since the last offset
	// update, however many stamps arrived in between.
	gap := float64(tf-st.LastGoodTf) * st.Phat
	suspect := false
	if st.Updates >= 16 {
		// The rate term is the rate error at the last update; rate
		// changes during the gap are DriftRateBound's.
		rateErr := min(cfg.RateErrorBound, cfg.BoundK*st.LastGoodSdRho)
		allow := cfg.SuspectK*(st.LastGoodEB+rateErr*gap+0.5*cfg.DriftRateBound*gap*gap) +
			(c.pe+c.m)/2 + 3*cfg.PointNoise + 3*math.Sqrt(st.NoiseVar)
		suspect = math.Abs(c.nu) > allow
	}
	if st.Updates >= 16 && c.pe < c.eshift && e.rateStory(&c.r, c.R) {
		// The oscillator's (or the server's) rate moved: the filter
		// now holds the fitted offset and rate; follow from here.
		st.SuspectSince = 0
		st.RateChanges++
		c.nu = 0
		return true
	}
	if !suspect {
		st.SuspectSince = 0
		return true
	}
	if st.SuspectSince == 0 {
		st.SuspectSince = tf
	}
	if float64(tf-st.SuspectSince)*st.Phat < cfg.SuspectHold {
		c.status |= StatusServerSuspect | StatusOffsetSanity
		e.ring(c.i).Excl = true
		return false
	}
	// The step persisted: accept it, loudly, restarting the offset.
	st.F.X[0] = c.y
	st.F.P[0] = [nState]float64{c.R}
	st.F.BoundCov[0] = [nState]float64{c.R + st.NoiseVar}
	for j := 1; j < nState; j++ {
		st.F.P[j][0], st.F.BoundCov[j][0] = 0, 0
	}
	st.SuspectSince = 0
	st.StepAt = tf
	c.nu = 0
	return true
}

// offsetUpdate takes the stamp: the long-term period (step 8), the noise
// adaptation (step 10) and the filter's update (step 9).
func (e *Estimator) offsetUpdate(c *stampCtx, tf uint64) {
	st := &e.st
	// Long-term period from the reference stamp and this one.
	ps := e.periodUpdate(&c.r, c.pe, c.warm, c.qualWarn)
	c.status |= ps
	if ps&StatusPeriodUpdated != 0 {
		c.y, c.nu = e.innovation(&c.r, tf)
	}
	e.adaptNoise(c.nu, c.R)
	e.biasTrack(c.nu, c.R)
	st.F.update(c.nu, c.R, st.NoiseVar)
	st.Updates++
	st.LastGoodTf = tf
	c.r.Good = true
	e.ring(c.i).Good = true
	st.Recent[st.RecentH] = c.r
	st.RecentH = (st.RecentH + 1) % nRecent
	st.RecentN = min(st.RecentN+1, nRecent)
}

// conclude moves the anchor to the stamp's Tf and publishes the clock
// (step 11), then feeds the coverage self-check.
func (e *Estimator) conclude(c *stampCtx, s Stamp) {
	st := &e.st
	cfg := &e.cfg
	prev := st.P
	e.anchor(s.Tf, st.Phat)
	// The offset term (the filter's variance plus what the recent stamps
	// say beyond it) and the carried asymmetry's, each at its own multiple.
	eb := st.BoundScale * math.Sqrt(cfg.OffsetBoundK*cfg.OffsetBoundK*(st.F.BoundCov[0][0]+e.bias2()+e.rcDep2())+cfg.BoundK*cfg.BoundK*st.BetaVar)
	if c.update {
		st.LastGoodEB = eb
		st.LastGoodSdRho = math.Sqrt(st.F.BoundCov[1][1])
	}
	if st.StepAt != 0 && float64(s.Tf-st.StepAt)*st.Phat < cfg.SuspectHold {
		c.status |= StatusServerStep
	} else {
		st.StepAt = 0
	}
	e.publish(c.status, c.warm, eb, &prev)
	e.selfCheck(s, c.R+st.NoiseVar, c.update && c.pe <= c.offQual)
}

// Rate-change test constants: the suspect stamps needed before a rate
// story is considered, the largest rate change it may explain (relative),
// the significance the fitted rate change must reach (in standard
// deviations), the largest mean squared normalised residual of the fit,
// and the inflation of the fit's covariance handed to the filter.
const (
	rcMinStamps = 4
	rcMaxRate   = 5e-6
	rcSigma     = 5
	rcMaxChi2   = 4
	rcInflate   = 2
	rcMaxStamps = 256
	rcSpan      = 600
	rcWiden     = 3
	rcMinRate   = 2e-8
)

// rateStory tests whether the recent stamps tell of a rate change rather
// than a server fault. An abrupt change of the oscillator's rate (a fan, a
// room's cooling, a host's load moving the crystal's temperature) or of
// the served rate makes the stamps depart linearly from the clock's
// prediction from some moment on; a server that steps its time makes them
// jump and stay. The filter, whose rate process noise is small, follows a
// rate change only slowly, and a lying-server test that allows little
// rate error flags the stamps suspect, so without this the clock free-ran
// on the old rate (178 µs half an hour after a 0.1 ppm step at 16 s).
//
// Two runs, staggered by half their span (rcSpan seconds, at most
// rcMaxStamps stamps: a longer span would mistake the daily cycle for a
// rate change, and at polls above rcSpan/4 the filter's own process noise
// over a gap follows a change), each freeze the
// filter's prediction at their first stamp as a line in the counter's
// frame (updates, anchor moves and period changes during the run do not
// move it) and fit the departures from it as a + b·t of the stamps whose
// point error is below Eshift (a path level shift's stamps, all queued by
// the shift until it is detected, would otherwise read as a trend). A
// run's story is a rate change if b is significant (rcSigma) and between
// rcMinRate and rcMaxRate, the line fits (mean normalised squared residual
// ≤ rcMaxChi2; a step in time fits no line), and it crosses zero after the
// last update before the run, at most SuspectHold before it. Then the
// filter takes the fit: offset and rate jump to the line at this stamp and
// their covariance grows by the fit's, inflated, so the bound stays honest
// while it re-converges; both runs restart. It returns whether a story was
// accepted.
func (e *Estimator) rateStory(r *rec, R float64) bool {
	st := &e.st
	v := R + st.NoiseVar
	if !(v > 0) {
		return false
	}
	T := r.Tf
	for k := range st.Rc {
		run := &st.Rc[k]
		if run.Since != 0 && (run.N >= rcMaxStamps || float64(T-run.Since)*st.Phat > rcSpan) {
			e.rcLearn(run)
			run.Since = 0
		}
		// Run 1 starts half a span after run 0.
		if run.Since == 0 && (k == 0 || (st.Rc[0].Since != 0 && float64(T-st.Rc[0].Since)*st.Phat >= rcSpan/2)) {
			*run = rcRun{Since: T, LastGood: st.LastGoodTf, Per: st.Phat / (1 + st.F.X[1]), RhoVar: st.F.BoundCov[1][1],
				Time: st.Kt.Add(bintime.MustFloat(e.rel(T) - st.F.X[0]))}
		}
		if run.Since == 0 {
			continue
		}
		if e.rcAdd(run, r, v) {
			st.Rc = [2]rcRun{}
			return true
		}
	}
	return false
}

// rcDep2 is what the rate-change runs say the clock's error may be beyond
// the filter's belief: the larger squared departure of a run whose slope is
// significant at rcWiden σ but not yet a story. It widens error_bound while
// a rate change is being detected.
func (e *Estimator) rcDep2() float64 {
	return max(e.st.Rc[0].Dep2, e.st.Rc[1].Dep2)
}

// qRate is the rate random-walk variance per second in force: RateWander²
// times the learnt factor.
func (e *Estimator) qRate() float64 {
	return e.q * max(e.st.QScale, 1)
}

// Rate-wander learning constants: the stamps a completed run needs, the
// EWMA weight over runs, the monitor levels above which the factor grows
// and below which it decays, the growth and decay per run, and the largest
// factor.
const (
	qlMinStamps = 12
	qlW         = 1.0 / 8
	qlHigh      = 2
	qlLow       = 1.2
	qlGrow      = 1.5
	qlDecay     = 0.9
	qlMax       = 1e4
)

// rcLearn learns the oscillator's rate wander from a completed run of the
// rate-change test that told no story. Its fitted slope b is the rate error
// of the filter's prediction over the run: the filter's own rate error at
// the start (variance RhoVar), the wander during the run (a random walk of
// variance q per second averages to q·τ/3 over a run of τ seconds) and the
// fit's noise (varB). If the filter's model is right, b²/(varB + RhoVar +
// q·τ/3) averages 1; its EWMA over runs (clipped at 9 per run, so one
// outlier cannot carry it) above qlHigh makes the factor on RateWander²
// grow, below qlLow decay towards 1. A fresh start behaves as before: the
// prior is RateWander, and nothing is learnt before three runs have ended.
func (e *Estimator) rcLearn(run *rcRun) {
	st := &e.st
	if run.N < qlMinStamps {
		return
	}
	det := run.W*run.TT - run.T*run.T
	if !(det > 0) {
		return
	}
	b := (run.W*run.TY - run.T*run.Y) / det
	a := (run.Y - b*run.T) / run.W
	chi2 := max(run.YY-a*run.Y-b*run.TY, 0) / float64(run.N-2)
	varB := run.W / det * max(1, chi2)
	// The run's span from the weighted spread of its times (uniform: σ²·12).
	spread := run.TT/run.W - (run.T/run.W)*(run.T/run.W)
	tau := math.Sqrt(12 * max(spread, 0))
	den := varB + run.RhoVar + e.qRate()*tau/3
	z := b * b / den
	if !(z >= 0) || !(den > 0) {
		return
	}
	st.QRuns++
	w := max(qlW, 1/float64(st.QRuns))
	st.QNIS += (min(z, 9) - st.QNIS) * w
	scale := max(st.QScale, 1)
	switch {
	case st.QRuns < 3:
	case st.QNIS > qlHigh:
		scale = min(scale*qlGrow, qlMax)
	case st.QNIS < qlLow:
		scale = max(scale*qlDecay, 1)
	}
	st.QScale = scale
}

// rcAdd adds a stamp of variance v to a run and reports whether the run
// now tells of a rate change, in which case the filter has taken its line.
func (e *Estimator) rcAdd(run *rcRun, r *rec, v float64) bool {
	st := &e.st
	T := r.Tf
	t := float64(T-run.Since) * st.Phat
	// The stamp's departure from the frozen line: the line's time at the
	// counter midpoint minus the server midpoint, less the carried
	// asymmetry (the sign of the filter's innovations).
	mid := (float64(int64(r.Ta-run.Since)) + float64(int64(r.Tf-run.Since))) / 2 * run.Per
	y := run.Time.Sub(r.Tb).Float() + mid - r.Te.Sub(r.Tb).Float()/2 - st.Beta
	w := 1 / v
	run.N++
	run.W += w
	run.T += w * t
	run.TT += w * t * t
	run.Y += w * y
	run.TY += w * t * y
	run.YY += w * y * y
	if run.N < rcMinStamps {
		return false
	}
	det := run.W*run.TT - run.T*run.T
	if !(det > 0) {
		return false
	}
	b := (run.W*run.TY - run.T*run.Y) / det
	a := (run.Y - b*run.T) / run.W
	chi2 := max(run.YY-a*run.Y-b*run.TY, 0) / float64(run.N-2)
	scale := max(1, chi2)
	varB := run.W / det * scale
	varA := run.TT / det * scale
	covAB := -run.T / det * scale
	run.Dep2 = 0
	if chi2 <= rcMaxChi2 && b*b >= rcWiden*rcWiden*varB {
		d := a + b*t
		run.Dep2 = d * d
	}
	// Written so that NaN (a corrupt restored run) fails every test.
	if !(chi2 <= rcMaxChi2 && math.Abs(b) <= rcMaxRate && math.Abs(b) >= rcMinRate && b*b >= rcSigma*rcSigma*varB) {
		return false
	}
	// Zero crossing, s before the run's first stamp.
	onset := a / b
	gap := float64(run.Since-run.LastGood) * st.Phat
	if !(onset >= -t && onset <= gap+e.cfg.SuspectHold) {
		return false
	}
	// The line at this stamp: value, its variance, and its covariance with
	// the rate. The new line's true time at T is the frozen line's less
	// a + b·t; the filter's offset is the anchored clock's distance from it.
	vT := varA + 2*t*covAB + t*t*varB
	cT := covAB + t*varB
	lineT := run.Time.Add(bintime.MustFloat(float64(int64(T-run.Since))*run.Per - (a + b*t)))
	st.F.X[0] = st.Kt.Add(bintime.MustFloat(e.rel(T))).Sub(lineT).Float()
	st.F.X[1] = st.Phat/(run.Per*(1-b)) - 1
	for _, m := range []*[nState][nState]float64{&st.F.P, &st.F.BoundCov} {
		m[0][0] += rcInflate * vT
		m[0][1] += rcInflate * cT
		m[1][0] = m[0][1]
		m[1][1] += rcInflate * varB
	}
	return true
}

// Noise adaptation constants: the EWMA weight of the innovation monitor,
// the clip of one stamp's normalised innovation (one outlier moves the
// monitor by little), the monitor level above which the noise floor grows
// and below which it decays, the updates monitored before it acts, and the
// fraction of the gap to the unexplained variance closed per update.
const (
	nisW     = 1.0 / 64
	nisClip  = 9
	nisHigh  = 1.5
	nisLow   = 0.7
	nisDecay = 0.98
	nisMin   = 4
	nisGrow  = 1.0 / 4
)

// adaptNoise watches the normalised innovations (nu²/S) of offset updates,
// S being the honest innovation variance (the covariance BoundCov plus the
// stamp's model variance plus the learnt floor). The point-error model
// trusts a stamp near the minimum RTT to microseconds; on a path where
// every packet carries independent random delay each way (no quiet
// packets: a loaded host, sleeping test servers) that is false, and a
// filter that believes it gets the rate wrong by ppm while claiming ppb.
// The monitor weights each stamp by 1/S, so the trusted stamps, whose
// misfit matters, dominate it. While it stays above nisHigh (one clipped
// outlier cannot hold it there) NoiseVar moves towards the unexplained
// variance, (NIS−1)·S at the monitor's typical S; below nisLow it decays.
// NoiseVar does not change the filter's gains (the estimates are those of
// the point-error model, which weighs stamps well relative to each other);
// it enters the covariance BoundCov behind every bound, the asymmetry variance
// and the lying-server allowance. Only accepted offset updates feed it:
// suspect steps, server changes, quality-failed stamps and level-shift
// refinement do not.
func (e *Estimator) adaptNoise(nu, R float64) {
	st := &e.st
	S := st.F.BoundCov[0][0] + R + st.NoiseVar
	if !(S > 0) || st.Updates < 3 {
		return
	}
	z2 := min(nu*nu/S, nisClip)
	st.NISN++
	w := max(nisW, 1/float64(st.NISN)) // a plain mean until the EWMA has its length
	st.NISNum += (z2/S - st.NISNum) * w
	st.NISDen += (1/S - st.NISDen) * w
	nis := st.NISNum / st.NISDen
	switch {
	case st.NISN < nisMin:
	case nis > nisHigh:
		st.NoiseVar = max(st.NoiseVar, st.NoiseVar+((nis-1)/st.NISDen-st.NoiseVar)*nisGrow)
	case nis < nisLow:
		st.NoiseVar *= nisDecay
	}
}

// biasW is the EWMA weight of the recent innovation mean (biasTrack).
const biasW = 1.0 / 64

// biasTrack keeps the precision-weighted mean of the recent offset
// innovations, each weighted by 1/(R+P₀₀). The filter's variance is an
// ensemble figure: in a quiet stretch the clock is better than it, in a
// slow excursion (a run of same-signed queueing, a rate error building
// up) worse, and the stamps show which. The mean's square joins the
// offset variance behind error_bound, so the bound can sit at a smaller
// multiple of the variance (OffsetBoundK) in quiet stretches and still
// widen when the stamps disagree with the clock.
func (e *Estimator) biasTrack(nu, R float64) {
	st := &e.st
	w := 1 / (R + st.F.P[0][0])
	st.BiasNum += (w*nu - st.BiasNum) * biasW
	st.BiasDen += (w - st.BiasDen) * biasW
}

// bias2 is the square of the recent innovation mean (0 before any).
func (e *Estimator) bias2() float64 {
	st := &e.st
	if !(st.BiasDen > 0) {
		return 0
	}
	b := st.BiasNum / st.BiasDen
	return b * b
}

// fastWin is the number of first stamps over which the fast start refits
// the offset and rate from scratch on every stamp, re-assessing every point
// error against the current minimum RTT (the minimum is still falling, so
// early stamps that looked good turn out poor).
const fastWin = 64

// refit replays the filter over stamps 0..i with point errors against the
// current RTThat, in the current anchor's frame.
func (e *Estimator) refit(i int64, offQual float64) {
	st := &e.st
	n, sum := 0, 0.0
	for j := int64(0); j <= i; j++ {
		if pe := e.ring(j).RTT - st.RTThat; pe <= offQual {
			sum += max(pe, 0)
			n++
		}
	}
	if n == 0 {
		return
	}
	m := e.minRTTErr(sum/float64(n), int64(n))
	var f kf
	var tPrev uint64
	started := false
	for j := int64(0); j <= i; j++ {
		r := e.ring(j)
		pe := max(r.RTT-st.RTThat, 0)
		if pe > offQual || r.Excl {
			continue
		}
		R := e.measVar(pe, m)
		if !started {
			f = e.prior(e.yMid(r), R)
			tPrev, started = r.Tf, true
			continue
		}
		f.predict(float64(r.Tf-tPrev)*st.Phat, e.qRate(), e.q3, e.omega())
		tPrev = r.Tf
		y := e.yMid(r) + f.X[1]*e.midAge(r, r.Tf)
		f.update(y-f.X[0], R, st.NoiseVar)
	}
	// Carry to this stamp's Tf (the filter's time).
	f.predict(float64(int64(e.ring(i).Tf-tPrev))*st.Phat, e.qRate(), e.q3, e.omega())
	st.F = f
	st.MeanPe = sum / float64(n)
}

// minRTTErr is the uncertainty of the minimum RTT after n stamps whose mean
// point error is meanPe: how far every point error may be underestimated.
// Over the first stamps meanPe itself is measured against a minimum that is
// still falling (a burst of stamps with alike RTTs says little about the
// path's floor), so it is taken as at least 2·TSLimit (TSLimit being the
// timestamping noise unit): without this the first stamps of a burst with
// alike RTTs claim microsecond errors they do not have.
func (e *Estimator) minRTTErr(meanPe float64, n int64) float64 {
	return max(meanPe, 2*e.cfg.TSLimit) * math.Sqrt(2/float64(max(n, 1)))
}

// measVar is the variance of a stamp's naive offset given its point error
// pe and the minimum RTT's uncertainty m: the offset error of an exchange
// lies within ±(pe+m)/2, uniform if both directions queue alike.
func (e *Estimator) measVar(pe, m float64) float64 {
	return (pe+m)*(pe+m)/12 + e.cfg.PointNoise*e.cfg.PointNoise
}

// first initialises everything from the first stamp.
func (e *Estimator) first(r *rec, status Status) {
	st := &e.st
	st.Kc = r.Tf
	half := r.Te.Sub(r.Tb).Float() / 2
	// Anchor so that the clock at the counter midpoint equals the server midpoint.
	st.Kt = r.Tb.Add(bintime.MustFloat(half + float64(r.Tf-r.Ta)/2*st.Phat))
	st.UKt = st.Kt
	st.F = e.prior(0, r.RTT*r.RTT/12+e.cfg.PointNoise*e.cfg.PointNoise)
	st.RTThat, st.BaseN, st.MeanPe = r.RTT, 1, 0
	st.LastShiftI = 0
	r.Good = true
	*e.ring(0) = *r
	st.DqH, st.DqN = 0, 0
	e.dqPush(0, r.RTT)
	st.PStamp, st.PStampPe, st.PStampRTT = *r, 0, r.RTT
	st.Updates, st.LastGoodTf = 1, r.Tf
	st.Recent[0], st.RecentN, st.RecentH = *r, 1, 1
	eb := e.cfg.BoundK * math.Sqrt(st.F.P[0][0])
	st.LastGoodEB = eb
	prev := st.P
	e.publish(status, true, eb, &prev)
}

// prior is the filter after one measurement y of variance r: the rate is
// known only to the counter's tolerance and the drift to DriftRateBound.
func (e *Estimator) prior(y, r float64) kf {
	var f kf
	f.X[0] = y
	f.P[0][0] = r
	tol := e.cfg.CounterTolerance + math.Abs(e.st.Phat*e.cfg.CounterHz-1)
	f.P[1][1] = tol * tol
	f.P[2][2] = e.cfg.DriftRateBound * e.cfg.DriftRateBound
	f.P[3][3] = f.P[2][2]
	f.BoundCov = f.P
	f.BoundCov[0][0] += e.st.NoiseVar
	return f
}

// warmPStamp keeps the period reference the best stamp of the first half
// of the stamps so far, so the baseline is always at least half the run.
func (e *Estimator) warmPStamp(i int64) {
	st := &e.st
	j := max(i/2, i-ringCap+1, 0)
	c := e.ring(j)
	if c.Good && c.RTT < st.PStamp.RTT && c.Beta == st.Beta {
		st.PStamp = *c
	}
	st.PStampPe = max(st.PStamp.RTT-st.RTThat, 0)
	st.PStampRTT = st.RTThat
}

// periodUpdate is RADclock's long-baseline period estimate: a candidate
// from the reference stamp and this one, taken if its error bound improves
// (or is below the quality threshold after warm-up) and, after warm-up, if
// it passes the sanity check. Unlike RADclock the error bound is recorded
// only when the update is taken.
func (e *Estimator) periodUpdate(r *rec, pe float64, warm, qualWarn bool) Status {
	st := &e.st
	cfg := &e.cfg
	if pe >= 3*cfg.TSLimit || qualWarn {
		return 0
	}
	p := &st.PStamp
	// Server midpoints, each corrected for its own carried asymmetry.
	dS := r.Tb.Sub(p.Tb).Float() + (r.Te.Sub(r.Tb).Float()-p.Te.Sub(p.Tb).Float())/2 + (r.Beta - p.Beta)
	dC := (float64(r.Ta-p.Ta) + float64(r.Tf-p.Tf)) / 2
	if !(dS > 0) || !(dC > 0) || r.Ta <= p.Ta {
		return 0
	}
	pnew := dS / dC
	perr := (pe + st.PStampPe + math.Abs(st.RTThat-st.PStampRTT)) / dS
	if !(perr < st.Perr) && (warm || perr >= cfg.OscRateErrorSpec/st.EpDiv) {
		return 0
	}
	if !warm && math.Abs(pnew/st.Phat-1) > 3*cfg.OscRateErrorSpec {
		return StatusPeriodSanity
	}
	// Whatever the stamps say, the counter's frequency is within its
	// tolerance of nominal.
	if math.Abs(pnew*cfg.CounterHz-1) > cfg.CounterTolerance {
		return StatusPeriodSanity
	}
	st.Perr = perr
	st.Meas = true
	e.anchor(r.Tf, pnew)
	return StatusPeriodUpdated
}

// history renews the period reference and the RTT minimum every half
// history window, as RADclock's half-windows, so neither is older than
// about HistoryWindow.
func (e *Estimator) history(i int64, r *rec) {
	st := &e.st
	if i == st.SearchStart {
		st.Searching = true
		st.NextP, st.NextPCount = rec{RTT: math.Inf(1)}, 0
		st.NextRTThat = r.RTT
	} else if st.Searching {
		st.NextRTThat = min(st.NextRTThat, r.RTT)
	}
	if i >= st.HistoryEnd && st.Searching {
		if !math.IsInf(st.NextP.RTT, 0) && st.NextP.Beta == st.PStamp.Beta {
			st.PStamp, st.PStampPe, st.PStampRTT = st.NextP, st.NextPPe, st.NextPRTT
			st.Perr = math.Inf(1)
		}
		if st.NextRTThat > st.RTThat && st.NextRTThat < st.RTThat+10*e.cfg.TSLimit {
			st.RTThat = st.NextRTThat
		}
		st.EpDiv = 50
		st.SearchStart = i
		st.HistoryEnd = i + st.HWin/2
		st.Searching = true
		st.NextP, st.NextPCount = rec{RTT: math.Inf(1)}, 0
		st.NextRTThat = r.RTT
	}
}

// historyCandidate offers a stamp, once its fate is known, as the next
// period reference: the lowest-RTT good stamp of the search's first
// WarmupWin stamps.
func (e *Estimator) historyCandidate(r *rec) {
	st := &e.st
	if !st.Searching {
		return
	}
	if st.NextPCount < st.WarmupWin && r.Good && r.RTT < st.NextP.RTT && r.Beta == st.Beta {
		st.NextP, st.NextPPe, st.NextPRTT = *r, max(r.RTT-st.RTThat, 0), st.RTThat
	}
	st.NextPCount++
}

func (e *Estimator) rememberLevel(i int64) {
	st := &e.st
	slot, oldest := -1, int64(math.MaxInt64)
	for k := range st.Levels {
		l := &st.Levels[k]
		if l.Used && math.Abs(l.RTT-st.RTThat) < 10*e.cfg.TSLimit/4 {
			slot = k
			break
		}
		if !l.Used {
			slot, oldest = k, -1
		} else if oldest >= 0 && l.Seen < oldest {
			slot, oldest = k, l.Seen
		}
	}
	st.Levels[slot] = level{RTT: st.RTThat, Beta: st.Beta, BetaVar: st.BetaVar, Used: true, Seen: i}
}

// downshift handles an RTT drop larger than the shift threshold: back to a
// level seen before, whose asymmetry is restored, or to a new one, across
// which the offset is carried (the oscillator cannot jump, the path can).
func (e *Estimator) downshift(i int64, r *rec) {
	st := &e.st
	e.rememberLevel(i)
	best := -1
	tol := 10 * e.cfg.TSLimit
	for k := range st.Levels {
		l := &st.Levels[k]
		if l.Used && l.RTT <= r.RTT+tol/4 && r.RTT-l.RTT < tol && l.RTT < st.RTThat-tol/2 {
			if best < 0 || l.RTT > st.Levels[best].RTT {
				best = k
			}
		}
	}
	st.Refine = 0
	if best >= 0 {
		l := st.Levels[best]
		st.Beta, st.BetaVar = l.Beta, l.BetaVar
		st.RTThat = min(l.RTT, r.RTT)
		st.BaseN = max(st.BaseN, 64)
	} else {
		st.Beta = e.yMid(r) + st.F.X[1]*e.midAge(r, r.Tf) - st.F.X[0]
		st.BetaVar += st.F.BoundCov[0][0] + r.RTT*r.RTT/12
		st.RTThat = r.RTT
		st.BaseN = 1
		// Refine the new level's asymmetry over its first stamps while
		// the clock free-runs (one stamp alone is a noisy estimate).
		st.Refine, st.RefineStart = refineStamps, i
	}
	st.LastShiftI = i
}

// quickShiftS is the time over which a sustained RTT rise is taken for a
// new level without waiting for RADclock's ShiftWin (10·TSLimit/1e-7 s,
// about 25 minutes); quickShiftStamps is the fewest stamps that window
// holds at long polls.
// The rise must exceed quickShiftEshift·Eshift and quickShiftPe times the
// mean point error.
const (
	quickShiftS      = 120
	quickShiftStamps = 8
	quickShiftEshift = 3
	quickShiftPe     = 4
)

// quickWin is the quick level-shift window in stamps at the current poll.
func (e *Estimator) quickWin() int64 {
	q := max(int64(math.Ceil(quickShiftS/e.st.Poll)), quickShiftStamps)
	return min(q, e.st.ShiftWin)
}

// quickShift tests for an upward level shift over the last quickWin stamps
// robustly: at most a tenth of them (at least one: the old level's last
// stamp may be in the window) lie at or below thr. The new minimum is the least RTT above
// thr in the window, so neither an old-level stamp nor a loaded one before
// the change, whose RTT exceeds the new level's, sets it.
func (e *Estimator) quickShift(i int64, thr float64) (newMin float64, win int64, ok bool) {
	st := &e.st
	q := e.quickWin()
	if i < e.fastWarm()+q || i-st.LastShiftI < q || e.ring(i).RTT <= thr {
		return 0, 0, false
	}
	allowed := max(q/10, 1) + 1 // stamps at or below thr tolerated, plus one
	var buf [quickShiftS]float64
	n := 0
	for j := i - q + 1; j <= i && n < len(buf); j++ {
		rtt := e.ring(j).RTT
		if rtt <= thr {
			if allowed--; allowed == 0 {
				return 0, 0, false
			}
			continue
		}
		buf[n] = rtt
		n++
	}
	// A level, not a spell of queueing: the stamps sit as close above
	// their minimum as the old level's did (median within twice the mean
	// point error) and within a quarter of the rise.
	slices.Sort(buf[:n])
	newMin = buf[0]
	if spread := buf[n/2] - newMin; spread > (newMin-st.RTThat)/4 || spread > 2*st.MeanPe+e.cfg.PointNoise {
		return 0, 0, false
	}
	return newMin, q, true
}

// upshiftPe is the multiple of the mean point error that an upward level
// shift must exceed as well as Eshift.
const upshiftPe = 1.5

// refineStamps is how many stamps a new, lower path level's asymmetry is
// estimated over.
const refineStamps = 16

// refine re-estimates the carried asymmetry of a new level from its stamps
// so far against the free-running clock at counter T.
func (e *Estimator) refine(i int64, T uint64, offQual float64) {
	st := &e.st
	var sw, swz float64
	for j := st.RefineStart; j <= i; j++ {
		r := e.ring(j)
		pe := max(r.RTT-st.RTThat, 0)
		if pe > offQual || r.Excl {
			continue
		}
		w := 1 / (pe*pe/12 + e.cfg.PointNoise*e.cfg.PointNoise)
		sw += w
		swz += w * (e.yMid(r) - (st.F.X[0] - st.F.X[1]*e.midAge(r, T)))
	}
	if sw > 0 {
		st.Beta = swz / sw
		st.BetaVar = 1/sw + st.F.BoundCov[0][0] + st.NoiseVar
	}
	st.Refine--
}

// upshift handles a sustained RTT increase: the new level's asymmetry is
// estimated from the stamps of the shift window against the clock, which
// free-ran across them.
func (e *Estimator) upshift(i, win int64, newMin, offQual float64) {
	st := &e.st
	e.rememberLevel(i)
	st.Refine = 0
	tol := 10 * e.cfg.TSLimit
	for k := range st.Levels {
		// Back up to a level seen before: its asymmetry is known exactly.
		if l := &st.Levels[k]; l.Used && l.RTT <= newMin+tol/8 && newMin-l.RTT < tol/4 && l.RTT > st.RTThat+tol/2 {
			st.Beta, st.BetaVar = l.Beta, l.BetaVar
			st.RTThat = min(l.RTT, newMin)
			st.BaseN = max(st.BaseN, st.ShiftWin)
			st.LastShiftI = i
			return
		}
	}
	T := e.ring(i).Tf
	var sw, swz float64
	for j := i - win + 1; j <= i; j++ {
		r := e.ring(j)
		pe := r.RTT - newMin
		if pe > offQual || pe < -offQual || r.Excl {
			continue
		}
		w := 1 / (pe*pe/12 + e.cfg.PointNoise*e.cfg.PointNoise)
		z := e.yMid(r) - (st.F.X[0] - st.F.X[1]*e.midAge(r, T))
		sw += w
		swz += w * z
	}
	if sw > 0 {
		st.Beta = swz / sw
		st.BetaVar = 1/sw + st.F.BoundCov[0][0] + st.NoiseVar
	}
	st.RTThat = newMin
	st.BaseN = st.ShiftWin
	st.LastShiftI = i
}

// leapIntake follows the server's leap indicator and applies a scheduled
// leap once the clock passes it, keeping the estimator's timescale
// continuous.
func (e *Estimator) leapIntake(s Stamp) {
	st := &e.st
	li := s.Side.Leap
	if li == 1 || li == 2 {
		st.LeapCount++
		st.LeapClear = 0
	} else {
		st.LeapCount = 0
		st.LeapClear++
	}
	if st.LeapExt {
		st.LeapCount, st.LeapClear = 0, 0 // the daemon's vote decides (SetLeap)
	}
	if st.LeapNext == 0 && st.LeapCount >= int64(e.cfg.LeapConfirm) {
		// Only at the end of June or December; elsewhere the
		// announcement is ignored.
		if at, ok := leapMonthEnd(s.Te.Sec); ok && at > st.LastLeap {
			st.LeapTime = at
			st.LeapNext = 1
			if li == 2 {
				st.LeapNext = -1
			}
		}
	}
	if st.LeapNext != 0 && st.LeapClear >= int64(e.cfg.LeapConfirm) {
		st.LeapNext = 0 // the server withdrew the announcement
	}
	if st.LeapNext != 0 && st.I > 0 {
		now := st.Kt.Add(bintime.MustFloat(e.rel(s.Ta)))
		if now.Sec >= st.LeapTime+int64(st.LeapsApplied) {
			st.LeapsApplied += int32(st.LeapNext)
			st.LastLeap = st.LeapTime
			st.LeapNext, st.LeapCount = 0, 0
		}
	}
}

// SetLeap hands the estimator the daemon's leap decision (VoteLeap over the
// usable servers): next is +1, −1 or 0, atUTC the UTC label (UNIX s) of the
// midnight the leap precedes. From the first call on, this server's own
// leap indicator no longer schedules leaps; a vote of 0 cancels a pending
// one. A leap at a time not after the last one applied is ignored. It takes
// effect on the next stamp's Params.
func (e *Estimator) SetLeap(next int8, atUTC int64) {
	st := &e.st
	st.LeapExt = true
	switch {
	case next == 0:
		st.LeapNext = 0
	case (next == 1 || next == -1) && atUTC > st.LastLeap:
		if _, ok := leapMonthEnd(atUTC - 1); ok {
			st.LeapNext, st.LeapTime = next, atUTC
		}
	}
}

// syncRateLimit is the rate uncertainty (BoundK·σρ, relative) above which
// the clock is unsynchronised. Both bounds carry the rate uncertainty as
// they grow, so a clock whose rate is known to a crystal's tolerance is
// usable with honest wide bounds: at 5 ppm, a path with 50 µs of queueing
// at a 16 s poll waited 46 s, a far server (5 ms each way) minutes, for a
// clock its bounds already described.
const syncRateLimit = 50e-6

// publish fills Params after a stamp.
func (e *Estimator) publish(status Status, warm bool, eb float64, prev *Params) {
	st := &e.st
	cfg := &e.cfg
	p := &st.P
	T := st.Kc
	sdRho := math.Sqrt(st.F.BoundCov[1][1])
	if st.Updates < 3 || cfg.BoundK*sdRho > syncRateLimit {
		status |= StatusUnsync
	}
	// Warm-up as users see it is the fast start's: the clock has its
	// normal accuracy after fastWarm stamps. RADclock's long warm-up
	// (level-shift detection, long-baseline period) continues behind it,
	// shown as fast-start.
	if st.I <= e.fastWarm() {
		status |= StatusWarmup
	} else if warm && status&StatusUnsync == 0 {
		status |= StatusFastStart
	}
	if !st.Meas {
		status |= StatusRateUnverified
	}
	if cfg.BoundK*sdRho > cfg.PlocalQuality {
		status |= StatusPlocalQuality
	}
	if st.Beta != 0 {
		status |= StatusAsymmetry
	}
	if st.LeapNext != 0 {
		status |= StatusLeapPending
	}
	qs := cfg.BoundK * math.Sqrt(e.qRate()/3)
	rateG := cfg.MaxDrift + math.Abs(st.F.X[1])
	if !st.Meas || cfg.BoundK*sdRho > cfg.MaxDrift/2 {
		// Not converged: only the counter's specification is guaranteed.
		rateG = cfg.CounterTolerance + math.Abs(st.Phat*cfg.CounterHz-1)
	}
	// max_error: the tightest of the recent good stamps' guaranteed
	// intervals (server midpoint ± RTT/2, server root error, quantisation)
	// aged at the guaranteed rate, and the previous bound grown.
	best := math.Inf(1)
	for k := range st.RecentN {
		r := &st.Recent[k]
		v := math.Abs(e.yMid(r)) + r.RTT/2 + r.RootErr + 2*st.Phat + 2e-9 + rateG*e.midAge(r, T)
		best = min(best, v)
	}
	if prev.MaxError > 0 && !math.IsInf(prev.MaxError, 0) && prev.RefCount != 0 && T >= prev.RefCount {
		_, grown := prev.Bounds(T)
		jump := math.Abs(st.Kt.Sub(prev.Absolute(T).Add(bintime.Time{Sec: int64(prev.LeapTotal - cfg.TAIOffset)})).Float())
		best = min(best, grown+jump)
	}
	// A statistical bound above the guaranteed one says nothing: error_bound
	// never exceeds max_error, at RefCount nor in its growth (Bounds also
	// caps the quadratic term).
	errRate := st.BoundScale * (math.Abs(st.F.X[1]) + cfg.BoundK*sdRho + qs)
	*p = Params{
		RefCount: T,
		RefTime:  st.Kt.Sub(bintime.Time{Sec: int64(st.LeapsApplied)}),
		// Extrapolate with the filter's rate, not the long-term period:
		// during an outage the clock follows the filter's prediction
		// (holdover; a 6 h outage cost 1404 µs, now 228 µs).
		Period:         st.Phat / (1 + st.F.X[1]),
		PeriodLocal:    st.Phat / (1 + st.F.X[1]),
		Offset:         st.UKt.Sub(st.Kt).Float(),
		ErrorBound:     min(eb, best),
		MaxError:       best,
		ErrorRate:      min(errRate, rateG),
		MaxErrorRate:   rateG,
		RateErrorBound: math.Abs(st.F.X[1]) + cfg.BoundK*sdRho,
		MinRTT:         st.RTThat,
		Status:         status,
		NextExpected:   T + uint64(st.Poll/st.Phat),
		LeapTotal:      cfg.TAIOffset + st.LeapsApplied,
		ErrorDrift:     st.BoundScale * (0.5*cfg.DriftRateBound + qs),
		Asymmetry:      st.Beta,
	}
	if st.LeapNext != 0 {
		p.LeapNext = st.LeapNext
		d := bintime.Time{Sec: st.LeapTime + int64(st.LeapsApplied)}.Sub(st.Kt).Float()
		if d > 0 {
			p.LeapAt = T + uint64(d/st.Phat)
		} else {
			p.LeapAt = T
		}
	}
}
