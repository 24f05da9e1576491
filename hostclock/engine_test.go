package hostclock

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
)

// fakeEst accepts stamps with Tf > Ta and reports the minimum RTT seen. Its
// clock reads the counter's nanoseconds plus ShiftNs: all fakes agree
// unless shifted.
type fakeEst struct {
	Bad     bool    `json:"bad"` // report a period 3% off nominal
	N       int     `json:"n"`
	MinRTT  float64 `json:"min_rtt"`
	Poll    float64 `json:"poll"`
	ShiftNs int64   `json:"shift_ns"`
	last    clocksync.Params
}

func (f *fakeEst) Process(st clocksync.Stamp) Estimate {
	if st.Tf <= st.Ta {
		return Estimate{Reason: "time_order", Params: f.last}
	}
	rtt := float64(st.Tf-st.Ta) * 1e-9
	if f.N == 0 || rtt < f.MinRTT {
		f.MinRTT = rtt
	}
	f.N++
	f.last = f.Params()
	f.last.RefCount = st.Tf
	f.last.RefTime = bintime.FromNanos(int64(st.Tf) + f.ShiftNs)
	return Estimate{Accepted: true, Params: f.last}
}

func (f *fakeEst) Params() clocksync.Params {
	p := clocksync.Params{Period: 1e-9, MinRTT: f.MinRTT, ErrorBound: 1e-6, MaxError: 1e-5, RateErrorBound: 1e-7}
	if f.Bad {
		p.Period = 0.97e-9
	}
	if f.N < 5 {
		p.Status = clocksync.StatusWarmup
	}
	return p
}
func (f *fakeEst) Progress() (int, int)           { return f.N, 5 }
func (f *fakeEst) SetPollPeriod(s float64)        { f.Poll = s }
func (f *fakeEst) MarshalState() ([]byte, error)  { return json.Marshal(f) }
func (f *fakeEst) SetLeap(next int8, atUTC int64) {}

type fakeFactory struct{}

func (fakeFactory) New(poll time.Duration) (Estimator, error) {
	return &fakeEst{Poll: poll.Seconds()}, nil
}
func (fakeFactory) Restore(b []byte, poll time.Duration) (Estimator, error) {
	var f fakeEst
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	if f.N == 0 {
		return nil, errors.New("empty")
	}
	return &f, nil
}

type fakePub struct {
	updates []Update
	fail    error
}

func (p *fakePub) Publish(u Update) (uint64, error) {
	if p.fail != nil {
		return 0, p.fail
	}
	p.updates = append(p.updates, u)
	return uint64(len(p.updates)), nil
}

func stamp(t uint64, rttNs uint64) clocksync.Stamp {
	return clocksync.Stamp{Ta: t, Tf: t + rttNs}
}

func newTestEngine(t *testing.T, saved *State) (*Engine, *fakePub) {
	t.Helper()
	pub := &fakePub{}
	cfg := EngineConfig{
		Servers:   []ServerConfig{{Address: "a:123", Poll: time.Second}, {Address: "b:123", Poll: time.Second}},
		Select:    SelectConfig{MinStamps: 20, Hold: time.Hour},
		CounterHz: 1e9,
	}
	e, err := NewEngine(cfg, fakeFactory{}, pub, NewMetrics(), saved)
	if err != nil {
		t.Fatal(err)
	}
	return e, pub
}

func TestEnginePublishesPreferredOnly(t *testing.T) {
	e, pub := newTestEngine(t, nil)
	now := uint64(1e9)
	for i := 0; i < 25; i++ {
		now += 1e9
		if err := e.Stamp("a:123", stamp(now, 2e6), now+2e6); err != nil {
			t.Fatal(err)
		}
		if err := e.Stamp("b:123", stamp(now+1e8, 5e5), now+1e8+5e5); err != nil {
			t.Fatal(err)
		}
	}
	d := e.Decision()
	if d.Preferred != "b:123" || d.Provisional {
		t.Fatalf("decision %+v", d)
	}
	// Every publication since b became preferred comes from b.
	last := pub.updates[len(pub.updates)-1]
	if last.Server != "b:123" {
		t.Errorf("last publication from %s", last.Server)
	}
	// Provisional phase: a got the first stamp and stays until b counts.
	if pub.updates[0].Server != "a:123" {
		t.Errorf("first publication from %s", pub.updates[0].Server)
	}
	switchesToB := 0
	for _, u := range pub.updates {
		if u.Switched {
			switchesToB++
		}
	}
	if switchesToB != 1 {
		t.Errorf("%d switch publications, want 1", switchesToB)
	}
	// Only b's stamps publish once b is preferred: the count of b
	// publications after the switch equals b's stamps after the switch.
	var doc StatusDoc
	e.Snapshot(&doc)
	if doc.Preferred != "b:123" || len(doc.Servers) != 2 || !doc.Servers[1].Preferred || doc.Servers[0].Accepted != 25 {
		t.Errorf("status %+v", doc)
	}
	if doc.Servers[1].Penalty == nil || doc.Servers[0].Penalty == nil || *doc.Servers[1].Penalty >= *doc.Servers[0].Penalty {
		t.Errorf("penalties %v %v", doc.Servers[0].Penalty, doc.Servers[1].Penalty)
	}
	if doc.Clock.Generation != uint64(len(pub.updates)) || !doc.Clock.Published {
		t.Errorf("generation %d, %d updates", doc.Clock.Generation, len(pub.updates))
	}
}

func TestEngineRejectionsAndKoD(t *testing.T) {
	e, pub := newTestEngine(t, nil)
	now := uint64(1e9)
	for i := 0; i < 25; i++ {
		now += 1e9
		_ = e.Stamp("a:123", stamp(now, 5e5), now+5e5)
		_ = e.Stamp("b:123", stamp(now, 2e6), now+2e6)
	}
	if e.Decision().Preferred != "a:123" {
		t.Fatalf("%+v", e.Decision())
	}
	n := len(pub.updates)
	// Estimator rejection: counted, no publication of a new clock by b.
	_ = e.Stamp("b:123", clocksync.Stamp{Ta: now, Tf: now}, now)
	_ = e.Reject("a:123", "wrong_origin", false, now)
	if len(pub.updates) != n {
		t.Errorf("rejections published")
	}
	// DENY on the preferred server: immediate switch despite the hold.
	if err := e.Reject("a:123", "kod_deny", true, now); err != nil {
		t.Fatal(err)
	}
	if d := e.Decision(); d.Preferred != "b:123" {
		t.Fatalf("after DENY: %+v", d)
	}
	if got := pub.updates[len(pub.updates)-1]; got.Server != "b:123" || !got.Switched {
		t.Errorf("switch publication %+v", got)
	}
	var doc StatusDoc
	e.Snapshot(&doc)
	if doc.Servers[0].Usable || doc.Servers[0].Rejected["kod_deny"] != 1 || doc.Servers[0].Rejected["wrong_origin"] != 1 ||
		doc.Servers[1].Rejected["time_order"] != 1 {
		t.Errorf("status %+v", doc.Servers)
	}
	if err := e.Stamp("zz", stamp(1, 1), 2); err == nil {
		t.Error("unknown server accepted")
	}
	// Publication failure is reported and remembered.
	pub.fail = errors.New("xenstore gone")
	if err := e.Stamp("b:123", stamp(now+5e9, 2e6), now+5e9+2e6); err == nil {
		t.Error("publish error swallowed")
	}
	e.Snapshot(&doc)
	if doc.LastError == "" {
		t.Error("no last error in status")
	}
}

func TestEngineStarvationTick(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	now := uint64(1e9)
	for i := 0; i < 25; i++ {
		now += 1e9
		_ = e.Stamp("a:123", stamp(now, 5e5), now+5e5)
		_ = e.Stamp("b:123", stamp(now, 6e5), now+6e5)
	}
	// a starves for a long time; after the hold (1 h) b takes over.
	_ = e.Tick(now + uint64(2*time.Hour))
	if d := e.Decision(); d.Preferred != "a:123" {
		// b starves too at this instant: both penalised alike, so a keeps it.
		t.Fatalf("%+v", d)
	}
	for i := 0; i < 3; i++ {
		now += uint64(time.Hour)
		_ = e.Stamp("b:123", stamp(now, 6e5), now+6e5)
	}
	d := e.Decision()
	if d.Preferred != "b:123" || e.sel.Switches() != 2 {
		t.Fatalf("starving preferred kept: %+v (penalties %v)", d, d.Penalties)
	}
	if !(d.Penalties["a:123"] > 1e-3) || math.IsInf(d.Penalties["a:123"], 1) {
		t.Errorf("starving penalty %v", d.Penalties)
	}
}

func TestEngineStateRoundTrip(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	now := uint64(1e9)
	for i := 0; i < 22; i++ {
		now += 1e9
		_ = e.Stamp("a:123", stamp(now, 5e5), now+5e5)
	}
	var st State
	if err := e.SaveTo(&st); err != nil {
		t.Fatal(err)
	}
	st.Servers[1].Estimator = []byte("{broken") // b's state is corrupt
	e2, pub2 := newTestEngine(t, &st)
	if e2.Restored() != "restored 1 of 2 servers" {
		t.Errorf("restored: %q", e2.Restored())
	}
	// Nothing is published before b, which has no clock yet, had its
	// chance to agree.
	now += 1e9
	_ = e2.Stamp("a:123", stamp(now, 5e5), now+5e5)
	if len(pub2.updates) != 0 {
		t.Fatalf("published before the other server answered: %+v", pub2.updates)
	}
	var doc StatusDoc
	e2.Snapshot(&doc)
	if doc.Servers[1].LastError == "" {
		t.Error("corrupt per-server state not reported")
	}
	// a counts at once (22 restored stamps): once b agrees, a's clock is
	// published as the preferred one, not provisionally.
	_ = e2.Stamp("b:123", stamp(now, 5e5), now+5e5)
	now += 1e9
	_ = e2.Stamp("a:123", stamp(now, 5e5), now+5e5)
	if d := e2.Decision(); d.Preferred != "a:123" || d.Provisional || len(pub2.updates) != 2 {
		t.Fatalf("%+v, %d updates", d, len(pub2.updates))
	}
}

func TestEngineReconfigure(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	now := uint64(2e9)
	_ = e.Stamp("a:123", stamp(now, 5e5), now+5e5)
	err := e.Reconfigure(EngineConfig{
		Servers:   []ServerConfig{{Address: "a:123", Poll: 4 * time.Second}, {Address: "c:123", Poll: time.Second}},
		Select:    SelectConfig{MinStamps: 20, Hold: time.Hour},
		CounterHz: 1e9,
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc StatusDoc
	e.Snapshot(&doc)
	if len(doc.Servers) != 2 || doc.Servers[0].Accepted != 1 || doc.Servers[1].Address != "c:123" || doc.Servers[0].Poll != 4 {
		t.Errorf("after reload %+v", doc.Servers)
	}
	if e.byName["a:123"].est.(*fakeEst).Poll != 4 {
		t.Error("poll change not passed to the estimator")
	}
}

func TestStatusNames(t *testing.T) {
	got := StatusNames(clocksync.StatusUnsync | clocksync.StatusStarving)
	if len(got) != 2 {
		t.Errorf("%v", got)
	}
	if StatusNames(0) != nil {
		t.Error("zero status has names")
	}
}

// A server whose estimate cannot be published (period far off nominal) is
// not preferred, and never published.
func TestEngineInsaneEstimate(t *testing.T) {
	e, pub := newTestEngine(t, nil)
	now := uint64(1e9)
	for i := 0; i < 25; i++ {
		now += 1e9
		_ = e.Stamp("a:123", stamp(now, 5e5), now+5e5)
		_ = e.Stamp("b:123", stamp(now, 2e6), now+2e6)
	}
	if e.Decision().Preferred != "a:123" {
		t.Fatalf("%+v", e.Decision())
	}
	e.byName["a:123"].est.(*fakeEst).Bad = true
	n := len(pub.updates)
	now += 1e9
	_ = e.Stamp("a:123", stamp(now, 5e5), now+5e5)
	if d := e.Decision(); d.Preferred != "b:123" {
		t.Fatalf("insane server still preferred: %+v", d)
	}
	for _, u := range pub.updates[n:] {
		if u.Server != "b:123" || u.Params.Period != 1e-9 {
			t.Errorf("published %+v", u)
		}
	}
	var doc StatusDoc
	e.Snapshot(&doc)
	if !strings.Contains(doc.Servers[0].LastError, "ppm off the nominal") {
		t.Errorf("status does not say why: %q", doc.Servers[0].LastError)
	}
}

// ServerParams reports each server's own estimate, and only for servers
// that have one.
func TestEngineServerParams(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	if m := e.ServerParams(); len(m) != 0 {
		t.Fatalf("params before any stamp: %+v", m)
	}
	now := uint64(5e9)
	if err := e.Stamp("a:123", stamp(now, 2e6), now+2e6); err != nil {
		t.Fatal(err)
	}
	m := e.ServerParams()
	if len(m) != 1 || m["a:123"].RefCount != now+2e6 || m["a:123"].MinRTT != 2e-3 {
		t.Errorf("params after a's stamp: %+v", m)
	}
}
