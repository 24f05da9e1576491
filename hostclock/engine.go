package hostclock

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/clocksync"
)

// Estimator is one server's feed-forward estimator as the engine drives it.
// NewClocksyncFactory adapts clocksync's; tests use fakes.
type Estimator interface {
	Process(clocksync.Stamp) Estimate
	Params() clocksync.Params
	Progress() (stamps, warmup int)
	SetPollPeriod(seconds float64)
	MarshalState() ([]byte, error)
	// SetLeap hands the estimator the engine's leap vote (see voteLeap):
	// next +1, −1 or 0, atUTC the midnight it precedes (UNIX s). From the
	// first call on, the server's own leap indicator schedules nothing.
	SetLeap(next int8, atUTC int64)
}

// Estimate is the outcome of one stamp.
type Estimate struct {
	Accepted bool
	Reason   string // why not accepted: a label from a fixed set (metrics, status map keys)
	Detail   string // the same with its figures, for logs; never a label
	Params   clocksync.Params
}

// EstimatorFactory makes and restores estimators.
type EstimatorFactory interface {
	New(poll time.Duration) (Estimator, error)
	Restore(state []byte, poll time.Duration) (Estimator, error)
}

// Update is one publication: the preferred server's clock.
type Update struct {
	Server   string
	Params   clocksync.Params
	Poll     time.Duration
	Switched bool // the preferred server changed with this update
	// State, when not StateUnknown, overrides the state the estimator's
	// status gives: the servers disagree (server-fault) or too few agree
	// (free-running) and the last agreed clock is held.
	State clockdata.ClockState
}

// Publisher puts the preferred clock where readers find it (Xenstore, the
// shared page) and reports the generation of the record it published.
type Publisher interface {
	Publish(Update) (generation uint64, err error)
}

// EngineConfig is the engine's part of the configuration.
type EngineConfig struct {
	Servers   []ServerConfig // Poll filled (see Config.PollOf)
	Select    SelectConfig
	CounterHz float64
	// MinSources is how many servers must agree before the clock is
	// published as synchronised, when more than one is configured (0: 1).
	MinSources int
	// Log receives the changes of source agreement (nil: none).
	Log *zap.Logger
	// StepCheck, when set, vets the first clock published from the servers
	// (the step onto their time): an error refuses it, and it is asked again
	// at the next publication until it passes.
	StepCheck func(server string, p clocksync.Params) error
}

// Engine runs one estimator per server, chooses the preferred server and
// hands its clock to the Publisher. Stamps and ticks come from one
// goroutine at a time; Snapshot may be called from any goroutine.
type Engine struct {
	mu       sync.Mutex
	cfg      EngineConfig
	factory  EstimatorFactory
	pub      Publisher
	metrics  *Metrics
	sel      *Selector
	servers  []*serverState
	byName   map[string]*serverState
	decision Decision

	lastCount  uint64
	generation uint64
	published  bool
	pubParams  clocksync.Params
	lastErr    string
	restored   string

	started    bool   // a stamp, rejection or tick was seen
	firstCount uint64 // counter value of the first
	agreement  Agreement
	trusted    bool   // the servers agree now (and minsources is met)
	agreeKey   string // what was last logged of the agreement
	// The last clock published from servers that agreed, held (free-running,
	// with growing bounds) while they do not.
	good *Update
	held bool // the held clock is published now

	stepped bool   // the first clock passed StepCheck
	refused string // the server whose first clock StepCheck refused, logged once

	leap    clocksync.LeapVote // the last vote with voters, held while none votes
	leapKey string             // what was last logged of the leap vote
}

type serverState struct {
	cfg        ServerConfig
	est        Estimator
	usable     bool
	accepted   uint64
	rejected   map[string]uint64
	lastTf     uint64
	haveStamp  bool
	params     clocksync.Params
	haveParams bool
	lastErr    string
	side       clocksync.SideInfo
}

// NewEngine makes an engine; saved, when not nil, seeds the estimators of
// the servers it has state for.
func NewEngine(cfg EngineConfig, f EstimatorFactory, pub Publisher, m *Metrics, saved *State) (*Engine, error) {
	if cfg.CounterHz <= 0 {
		return nil, errors.New("engine: counter frequency unknown")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	e := &Engine{cfg: cfg, factory: f, pub: pub, metrics: m, sel: NewSelector(cfg.Select), byName: map[string]*serverState{}}
	restored := 0
	for _, sc := range cfg.Servers {
		s, ok, err := e.newServer(sc, saved)
		if err != nil {
			return nil, err
		}
		if ok {
			restored++
		}
		e.servers = append(e.servers, s)
		e.byName[sc.Address] = s
	}
	if saved != nil {
		e.restored = fmt.Sprintf("restored %d of %d servers", restored, len(cfg.Servers))
	}
	return e, nil
}

func (e *Engine) newServer(sc ServerConfig, saved *State) (*serverState, bool, error) {
	s := &serverState{cfg: sc, usable: true, rejected: map[string]uint64{}}
	if saved != nil {
		if b := saved.Server(sc.Address); b != nil {
			est, err := e.factory.Restore(b, sc.Poll)
			if err == nil {
				s.est = est
				s.params = est.Params()
				s.haveParams = s.params.Period > 0
				n, _ := est.Progress()
				s.accepted = uint64(n)
				e.sel.ObserveBaseline(sc.Address, s.params.MinRTT)
				return s, true, nil
			}
			s.lastErr = "saved state unusable: " + err.Error()
		}
	}
	est, err := e.factory.New(sc.Poll)
	if err != nil {
		return nil, false, fmt.Errorf("estimator for %s: %w", sc.Address, err)
	}
	est.SetLeap(e.leap.Next, e.leap.At) // leaps come from the vote from the start
	s.est = est
	return s, false, nil
}

// Restored says how the state file seeded the engine ("" when it did not).
func (e *Engine) Restored() string { return e.restored }

// Reconfigure applies a reloaded server list and selection tuning: servers
// that stay keep their estimators, removed ones are forgotten, new ones
// start afresh.
func (e *Engine) Reconfigure(cfg EngineConfig) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	keep := map[string]*serverState{}
	var list []*serverState
	for _, sc := range cfg.Servers {
		if s, ok := e.byName[sc.Address]; ok {
			if s.cfg.Poll != sc.Poll {
				s.est.SetPollPeriod(sc.Poll.Seconds())
			}
			s.cfg = sc
			keep[sc.Address] = s
			list = append(list, s)
			continue
		}
		s, _, err := e.newServer(sc, nil)
		if err != nil {
			return err
		}
		keep[sc.Address] = s
		list = append(list, s)
	}
	for name := range e.byName {
		if _, ok := keep[name]; !ok {
			e.sel.Forget(name)
			e.metrics.ForgetServer(name)
		}
	}
	e.cfg.Servers = cfg.Servers
	e.cfg.Select = cfg.Select
	e.cfg.MinSources = cfg.MinSources
	e.cfg.StepCheck = cfg.StepCheck
	e.sel.SetConfig(cfg.Select)
	e.servers, e.byName = list, keep
	return nil
}

// now converts a counter value to the engine's monotonic time.
func (e *Engine) now(count uint64) time.Duration {
	return time.Duration(float64(count) / e.cfg.CounterHz * float64(time.Second))
}

// Stamp feeds one exchange of server, read back at counter value now.
func (e *Engine) Stamp(server string, st clocksync.Stamp, now uint64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.byName[server]
	if !ok {
		return fmt.Errorf("stamp from unknown server %s", server)
	}
	e.setNow(now)
	res := s.est.Process(st)
	if res.Params.Period > 0 {
		s.params = res.Params
		s.haveParams = true
	}
	if res.Accepted {
		s.accepted++
		s.lastTf = st.Tf
		s.side = st.Side
		s.haveStamp = true
		s.lastErr = ""
		e.metrics.Accepted(server)
		e.sel.ObserveBaseline(server, s.params.MinRTT)
	} else {
		reason := res.Reason
		if reason == "" {
			reason = "estimator"
		}
		s.rejected[reason]++
		e.metrics.Rejected(server, reason)
	}
	return e.selectAndPublish(server)
}

// Reject counts an exchange that produced no stamp (timeout, wrong origin,
// KoD, ...). fatal marks the server unusable (KoD DENY or RSTR).
func (e *Engine) Reject(server, reason string, fatal bool, now uint64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.byName[server]
	if !ok {
		return fmt.Errorf("rejection from unknown server %s", server)
	}
	e.setNow(now)
	s.rejected[reason]++
	e.metrics.Rejected(server, reason)
	if fatal && s.usable {
		s.usable = false
		s.lastErr = "unusable: " + reason
		return e.selectAndPublish("")
	}
	return nil
}

// Tick re-runs the selection at counter value now, so starvation counts
// even when no stamp arrives.
func (e *Engine) Tick(now uint64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.setNow(now)
	return e.selectAndPublish("")
}

// maxPeriodError bounds |Period·nominal Hz − 1| of a publishable estimate:
// clockdata refuses records beyond 1%, and no counter worth using is off
// its nominal frequency by more than a fraction of that.
const maxPeriodError = 0.005

// sane tells whether a server's clock can be published at all.
func (e *Engine) sane(p clocksync.Params) bool {
	r := p.Period*e.cfg.CounterHz - 1
	return p.Period > 0 && r > -maxPeriodError && r < maxPeriodError && !math.IsNaN(p.MaxError)
}

func (e *Engine) setNow(now uint64) {
	e.lastCount = now
	if !e.started {
		e.started, e.firstCount = true, now
	}
}

func (e *Engine) paths(ag Agreement) []PathInput {
	paths := make([]PathInput, len(e.servers))
	for i, s := range e.servers {
		n, _ := s.est.Progress()
		gap := time.Duration(0)
		if s.haveStamp && e.lastCount > s.lastTf {
			gap = e.now(e.lastCount - s.lastTf)
		}
		ok, has := ag.Truechimer[s.cfg.Address]
		paths[i] = PathInput{
			Name: s.cfg.Address, Usable: s.usable && s.haveParams && e.sane(s.params), Stamps: n,
			MinRTT: s.params.MinRTT, ErrorBound: s.params.ErrorBound, RateErrorBound: s.params.RateErrorBound,
			Gap: gap, Poll: s.cfg.Poll, Falseticker: has && !ok, Unsynced: s.params.Status&clocksync.StatusUnsync != 0,
		}
	}
	return paths
}

// startupTries is how many failed exchanges a server without a clock may
// have before the majority is counted without it; startupPolls bounds, in
// its poll periods (at most the fast start's 16 s each), how long after the
// start it is waited for.
const (
	startupTries   = 3
	startupPolls   = 4
	startupMaxPoll = 16 * time.Second
)

// candidate tells whether a server's clock takes part in the agreement.
func (e *Engine) candidate(s *serverState) bool {
	return s.usable && s.haveParams && e.sane(s.params) && !math.IsNaN(s.params.MaxError) && !math.IsInf(s.params.MaxError, 0)
}

// awaited: a server with no clock yet that may soon have one (at start, or
// after a reload added it), counted in the majority so that the first
// server to answer cannot outvote the others alone.
func (e *Engine) awaited(s *serverState) bool {
	if !s.usable || s.haveParams {
		return false
	}
	var tries uint64
	for _, n := range s.rejected {
		tries += n
	}
	return tries < startupTries && e.now(e.lastCount-e.firstCount) < startupPolls*min(max(s.cfg.Poll, MinPoll), startupMaxPoll)
}

// agree intersects the servers' intervals at counter value now.
func (e *Engine) agree(now uint64) Agreement {
	var iv []SourceInterval
	base := 0
	for _, s := range e.servers {
		switch {
		case e.candidate(s):
			_, maxErr := s.params.Bounds(now)
			iv = append(iv, SourceInterval{Name: s.cfg.Address, Center: s.params.Absolute(now), Half: maxErr})
			base++
		case e.awaited(s):
			base++
		}
	}
	return Intersect(iv, base)
}

// minSources is how many servers must agree: minsources when more than one
// server is configured, else 1.
func (e *Engine) minSources() int {
	if len(e.servers) <= 1 {
		return 1
	}
	return max(e.cfg.MinSources, 1)
}

// noteAgreement logs a change of agreement once, and updates the metrics.
func (e *Engine) noteAgreement(ag Agreement) {
	e.metrics.Agreement(ag.Truechimers, e.minSources())
	ft := ag.Falsetickers()
	key := fmt.Sprint(e.trusted, ft)
	if key == e.agreeKey {
		return
	}
	first := e.agreeKey == ""
	e.agreeKey = key
	msg := ag.Summary(e.minSources())
	fields := []zap.Field{zap.String("agreement", msg), zap.Int("truechimers", ag.Truechimers),
		zap.Int("min_sources", e.minSources()), zap.Strings("falsetickers", ft)}
	switch {
	case !ag.OK && len(ag.Truechimer) < ag.Base:
		e.cfg.Log.Info("waiting for the servers to agree", fields...)
	case !e.trusted || len(ft) > 0:
		e.cfg.Log.Warn("servers disagree", fields...)
	case !first:
		e.cfg.Log.Info("servers agree", fields...)
	}
}

// selectAndPublish runs the agreement and the selection, and publishes when
// the preferred server just processed a stamp (stamped == its name) or
// changed, or when trust is lost or regained.
func (e *Engine) selectAndPublish(stamped string) error {
	ag := e.agree(e.lastCount)
	e.agreement = ag
	e.voteLeap(ag)
	e.trusted = ag.OK && ag.Truechimers >= e.minSources()
	d := e.sel.Choose(e.now(e.lastCount), e.paths(ag))
	if !e.trusted {
		d.Reason = ag.Summary(e.minSources())
	}
	e.decision = d
	if d.Switched {
		e.metrics.Switched()
	}
	e.noteAgreement(ag)
	e.serverMetrics(ag, d)
	if !e.trusted {
		return e.hold(ag)
	}
	wasHeld := e.held
	e.held = false
	if d.Preferred == "" || (d.Preferred != stamped && !d.Switched && !wasHeld) {
		return nil
	}
	p := e.byName[d.Preferred]
	if !p.haveParams || !e.sane(p.params) {
		return nil
	}
	params := p.params
	// The bound covers the whole agreement interval: the truth is there
	// whenever fewer than half the servers lie, even if the preferred one
	// does within the others' bounds.
	_, grown := params.Bounds(e.lastCount)
	if c := ag.Cover(params.Absolute(e.lastCount)); c > grown {
		params.MaxError += c - grown
	}
	if !e.stepAllowed(d.Preferred, params) {
		return nil
	}
	u := Update{Server: d.Preferred, Params: params, Poll: p.cfg.Poll, Switched: d.Switched && d.Previous != ""}
	e.good = &u
	return e.publish(u)
}

// stepAllowed asks StepCheck about the first clock to be published; a
// refusal is logged once and shown as the selection's reason.
func (e *Engine) stepAllowed(server string, p clocksync.Params) bool {
	if e.stepped || e.cfg.StepCheck == nil {
		return true
	}
	err := e.cfg.StepCheck(server, p)
	if err == nil {
		e.stepped, e.refused = true, ""
		return true
	}
	e.decision.Reason = "initial step refused: " + err.Error()
	if server != e.refused {
		e.refused = server
		e.cfg.Log.Error("initial step refused: the servers' time is too far from what the host knew; nothing published",
			zap.String("server", server), zap.Error(err))
	}
	return false
}

func (e *Engine) serverMetrics(ag Agreement, d Decision) {
	for _, s := range e.servers {
		ok, has := ag.Truechimer[s.cfg.Address]
		e.metrics.SetServer(s.cfg.Address, ServerView{
			Offset: s.params.Offset, ErrorBound: s.params.ErrorBound, MaxError: s.params.MaxError,
			MinRTT: s.params.MinRTT, Period: s.params.Period, Penalty: d.Penalties[s.cfg.Address],
			Status: uint32(s.params.Status), Preferred: s.cfg.Address == d.Preferred, Falseticker: has && !ok,
		})
	}
}

// hold publishes, once, the last agreed clock under a state saying why it
// is no longer followed: server-fault when the servers disagree,
// free-running when too few agree. Its bounds grow from its last update at
// the guaranteed rate. With no agreed clock yet nothing is published.
func (e *Engine) hold(ag Agreement) error {
	if e.good == nil || e.held {
		return nil
	}
	e.held = true
	u := *e.good
	u.Switched = false
	switch {
	case clockdata.StateFromStatus(u.Params.Status) == clockdata.StateUnsynchronised:
		u.State = clockdata.StateUnsynchronised // a guess stays a guess
	case ag.OK:
		u.State = clockdata.StateFreeRunning
	default:
		u.State = clockdata.StateServerFault
	}
	return e.publish(u)
}

func (e *Engine) publish(u Update) error {
	gen, err := e.pub.Publish(u)
	if gen != 0 {
		// Made and published somewhere, perhaps not everywhere (a sink's
		// failure is in err): the record exists.
		e.generation = gen
		e.published = true
		e.pubParams = u.Params
		e.metrics.Published(gen, u.Params.ErrorBound, u.Params.MaxError, uint32(u.Params.Status))
	}
	if err != nil {
		e.lastErr = err.Error()
		return fmt.Errorf("publish: %w", err)
	}
	e.lastErr = ""
	return nil
}

// Decision is the last selection outcome.
func (e *Engine) Decision() Decision {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.decision
}

// Preferred is the preferred server's current clock, if any.
func (e *Engine) Preferred() (string, clocksync.Params, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.published {
		return "", clocksync.Params{}, false
	}
	return e.decision.Preferred, e.pubParams, true
}

// PreferredSide is what the preferred server said of itself in its last
// accepted stamp, and its path's minimum RTT.
func (e *Engine) PreferredSide() (clocksync.SideInfo, float64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.byName[e.decision.Preferred]
	if !ok || !s.haveStamp {
		return clocksync.SideInfo{}, 0, false
	}
	return s.side, s.params.MinRTT, true
}

// SaveTo fills the estimator and selection parts of a state file.
func (e *Engine) SaveTo(st *State) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st.Preferred = e.decision.Preferred
	st.Servers = st.Servers[:0]
	for _, s := range e.servers {
		b, err := s.est.MarshalState()
		if err != nil {
			return fmt.Errorf("state of %s: %w", s.cfg.Address, err)
		}
		st.Servers = append(st.Servers, ServerState{Address: s.cfg.Address, Estimator: b})
	}
	return nil
}

// StatusNames spells out a status word. The estimator's String, when it
// has one, gives the names; otherwise the shared bits are named here and
// the others numbered.
func StatusNames(s clocksync.Status) []string {
	if s == 0 {
		return nil
	}
	if sv, ok := any(s).(fmt.Stringer); ok {
		return splitComma(sv.String())
	}
	known := map[clocksync.Status]string{clocksync.StatusUnsync: "unsync", clocksync.StatusWarmup: "warmup",
		clocksync.StatusStarving: "starving", clocksync.StatusRejected: "rejected"}
	var out []string
	for bit := 0; bit < 32; bit++ {
		b := clocksync.Status(1) << bit
		if s&b == 0 {
			continue
		}
		if n, ok := known[b]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("bit%d", bit))
		}
	}
	return out
}

func splitComma(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '|' || r == ' ' })
}

// ServerParams returns each server's current estimate, by address, for the
// servers that have one: a caller that knows the true time (the demo, tests)
// judges every server's own clock with it, not only the published one.
func (e *Engine) ServerParams() map[string]clocksync.Params {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := make(map[string]clocksync.Params, len(e.servers))
	for _, s := range e.servers {
		if s.haveParams {
			m[s.cfg.Address] = s.params
		}
	}
	return m
}

// Snapshot fills the engine's part of the status document.
func (e *Engine) Snapshot(d *StatusDoc) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d.Preferred = e.decision.Preferred
	d.Provisional = e.decision.Provisional
	d.MinSources = e.minSources()
	d.Truechimers = e.agreement.Truechimers
	d.SelectionReason = e.decision.Reason
	d.Switches = e.sel.Switches()
	if e.lastErr != "" {
		d.LastError = e.lastErr
	}
	p := e.pubParams
	d.Clock.Generation = e.generation
	d.Clock.Published = e.published
	d.Clock.Period = p.Period
	d.Clock.OffsetEstimate = p.Offset
	d.Clock.ErrorBound = p.ErrorBound
	d.Clock.MaxError = p.MaxError
	d.Clock.Status = uint32(p.Status)
	d.Clock.StatusNames = StatusNames(p.Status)
	d.Clock.RefCount = p.RefCount
	if e.published {
		d.Clock.Time = p.RefTime.Format9()
	}
	d.Servers = d.Servers[:0]
	for _, s := range e.servers {
		n, warm := s.est.Progress()
		rej := make(map[string]uint64, len(s.rejected))
		for k, v := range s.rejected {
			rej[k] = v
		}
		age := 0.0
		if s.haveStamp && e.lastCount > s.lastTf {
			age = e.now(e.lastCount - s.lastTf).Seconds()
		}
		pen := math.Inf(1)
		if v, ok := e.decision.Penalties[s.cfg.Address]; ok {
			pen = v
		}
		lastErr := s.lastErr
		if s.haveParams && !e.sane(s.params) && lastErr == "" {
			lastErr = fmt.Sprintf("estimate unusable: period %.6g s/tick is %.0f ppm off the nominal frequency",
				s.params.Period, (s.params.Period*e.cfg.CounterHz-1)*1e6)
		}
		ok, has := e.agreement.Truechimer[s.cfg.Address]
		d.Servers = append(d.Servers, ServerDoc{
			Address: s.cfg.Address, Preferred: s.cfg.Address == e.decision.Preferred, Usable: s.usable,
			Poll: s.cfg.Poll.Seconds(), Stamps: n, Warmup: warm, Accepted: s.accepted, Rejected: rej,
			Period: s.params.Period, OffsetEstimate: s.params.Offset, ErrorBound: s.params.ErrorBound,
			MaxError: s.params.MaxError, MinRTT: s.params.MinRTT, Status: uint32(s.params.Status),
			StatusNames: StatusNames(s.params.Status), Penalty: PenaltyPtr(pen), LastStamp: age, LastError: lastErr,
			Falseticker: has && !ok,
		})
	}
}
