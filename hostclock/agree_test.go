package hostclock

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
)

func ivAt(name string, offsetS, half float64) SourceInterval {
	base := bintime.Time{Sec: 1_800_000_000}
	return SourceInterval{Name: name, Center: base.Add(bintime.MustFloat(offsetS)), Half: half}
}

func TestIntersect(t *testing.T) {
	const tenYears = 315_360_000.0
	cases := []struct {
		name        string
		iv          []SourceInterval
		base        int
		ok          bool
		falseticker []string
		lo, hi      float64 // agreement interval, s from the base time
	}{
		{"one server", []SourceInterval{ivAt("a", 0.001, 0.002)}, 1, true, nil, -0.001, 0.003},
		{"two agree", []SourceInterval{ivAt("a", 0, 0.002), ivAt("b", 0.001, 0.002)}, 2, true, nil, -0.001, 0.002},
		{"two disagree", []SourceInterval{ivAt("a", 0, 0.002), ivAt("b", 0.05, 0.0001)}, 2, false, []string{"a", "b"}, 0, 0},
		{"touching intervals agree", []SourceInterval{ivAt("a", 0, 0.5), ivAt("b", 1, 0.5)}, 2, true, nil, 0.5, 0.5},
		{"liar at +50 ms among 4", []SourceInterval{ivAt("a", 0, 0.0025), ivAt("liar", 0.05, 0.00002),
			ivAt("b", 0.0003, 0.0025), ivAt("c", -0.0002, 0.0025)}, 4, true, []string{"liar"}, -0.0022, 0.0023},
		{"liar 10 years ahead", []SourceInterval{ivAt("liar", tenYears, 0.00002), ivAt("a", 0, 0.0025),
			ivAt("b", 0.0003, 0.0025), ivAt("c", -0.0002, 0.0025)}, 4, true, []string{"liar"}, -0.0022, 0.0023},
		{"two colluding liars among 5", []SourceInterval{ivAt("l1", 0.05, 0.00002), ivAt("a", 0, 0.0025),
			ivAt("l2", 0.05, 0.00002), ivAt("b", 0.001, 0.0025), ivAt("c", -0.001, 0.0025)}, 5, true, []string{"l1", "l2"}, -0.0015, 0.0015},
		// A liar inside the others' bounds is a truechimer, and the agreement
		// interval is where any three of the four meet, wider than the liar's.
		{"liar inside the bounds", []SourceInterval{ivAt("a", 0, 0.0025), ivAt("b", 0, 0.0025),
			ivAt("liar", 0.002, 0.00002), ivAt("c", 0, 0.0025)}, 4, true, nil, -0.0025, 0.0025},
		{"the first to answer cannot outvote the others", []SourceInterval{ivAt("a", 0, 0.001)}, 3, false, []string{"a"}, 0, 0},
		{"3 of 5 answered and agree", []SourceInterval{ivAt("a", 0, 0.001), ivAt("b", 0, 0.001), ivAt("c", 0, 0.001)}, 5, true, nil, -0.001, 0.001},
		{"no server", nil, 0, false, nil, 0, 0},
	}
	base := bintime.Time{Sec: 1_800_000_000}
	for _, tc := range cases {
		a := Intersect(tc.iv, tc.base)
		if a.OK != tc.ok || !reflect.DeepEqual(a.Falsetickers(), tc.falseticker) {
			t.Errorf("%s: ok %v falsetickers %v, want %v %v (%+v)", tc.name, a.OK, a.Falsetickers(), tc.ok, tc.falseticker, a)
			continue
		}
		if a.Truechimers != len(tc.iv)-len(tc.falseticker) {
			t.Errorf("%s: %d truechimers", tc.name, a.Truechimers)
		}
		if !a.OK {
			if !math.IsInf(a.Cover(base), 1) || !math.IsInf(a.Width(), 1) {
				t.Errorf("%s: cover without agreement", tc.name)
			}
			continue
		}
		lo := a.LoFrom.Center.Sub(base).Float() - a.LoFrom.Half
		hi := a.HiFrom.Center.Sub(base).Float() + a.HiFrom.Half
		if math.Abs(lo-tc.lo) > 1e-9 || math.Abs(hi-tc.hi) > 1e-9 {
			t.Errorf("%s: agreement [%g, %g], want [%g, %g]", tc.name, lo, hi, tc.lo, tc.hi)
		}
		// Cover from any point inside holds the whole interval.
		mid := base.Add(bintime.MustFloat((lo + hi) / 2))
		if c := a.Cover(mid); math.Abs(c-(hi-lo)/2) > 1e-9 || math.Abs(a.Width()-(hi-lo)) > 1e-9 {
			t.Errorf("%s: cover %g, width %g for [%g, %g]", tc.name, c, a.Width(), lo, hi)
		}
	}
}

// shiftedEngine: three servers with fake estimators; shift moves one
// server's clock.
func shiftedEngine(t *testing.T, minSources int) (*Engine, *fakePub) {
	t.Helper()
	pub := &fakePub{}
	cfg := EngineConfig{
		Servers: []ServerConfig{{Address: "a:123", Poll: time.Second}, {Address: "b:123", Poll: time.Second},
			{Address: "c:123", Poll: time.Second}},
		Select:     SelectConfig{MinStamps: 20, Hold: time.Hour},
		CounterHz:  1e9,
		MinSources: minSources,
	}
	e, err := NewEngine(cfg, fakeFactory{}, pub, NewMetrics(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, pub
}

func stampAll(t *testing.T, e *Engine, now *uint64, rounds int, names ...string) {
	t.Helper()
	for range rounds {
		*now += 1e9
		for i, n := range names {
			at := *now + uint64(i)*1e7
			if err := e.Stamp(n, stamp(at, 5e5+uint64(i)*1e5), at+5e5+uint64(i)*1e5); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Two of three servers move 50 ms apart from each other and the third
// fails: no majority. The last agreed clock is held once as server-fault and
// nothing else is published until they agree again.
func TestEngineHoldsLastAgreedClock(t *testing.T) {
	e, pub := shiftedEngine(t, 1)
	now := uint64(1e9)
	stampAll(t, e, &now, 25, "a:123", "b:123", "c:123")
	if d := e.Decision(); d.Preferred != "a:123" || d.Provisional {
		t.Fatalf("%+v", d)
	}
	_ = e.Reject("c:123", "kod_deny", true, now)
	e.byName["b:123"].est.(*fakeEst).ShiftNs = 50e6
	n := len(pub.updates)
	stampAll(t, e, &now, 5, "a:123", "b:123")
	// a's first stamp still agreed with b's old clock; b's first shifted
	// stamp ends the agreement.
	held := pub.updates[n:]
	if len(held) != 2 || held[0].State != clockdata.StateUnknown || held[1].State != clockdata.StateServerFault ||
		held[1].Params != held[0].Params {
		t.Fatalf("after the disagreement: %+v, want the last agreed clock once as server-fault", held)
	}
	var doc StatusDoc
	e.Snapshot(&doc)
	if doc.Preferred != "" || doc.Truechimers != 0 || !doc.Servers[0].Falseticker || !doc.Servers[1].Falseticker ||
		doc.Servers[2].Falseticker {
		t.Errorf("status: preferred %q, truechimers %d, servers %+v", doc.Preferred, doc.Truechimers, doc.Servers)
	}
	if doc.SelectionReason == "" || doc.MinSources != 1 {
		t.Errorf("status: reason %q, min sources %d", doc.SelectionReason, doc.MinSources)
	}
	// b comes back: the agreed clock is published at once.
	e.byName["b:123"].est.(*fakeEst).ShiftNs = 0
	n = len(pub.updates)
	stampAll(t, e, &now, 1, "a:123", "b:123")
	if got := pub.updates[n:]; len(got) == 0 || got[0].State != clockdata.StateUnknown || got[0].Server != "a:123" {
		t.Errorf("after agreement returned: %+v", got)
	}
}

// minsources 3 with three servers: when one becomes a falseticker the other
// two still agree, too few: the clock is held free-running.
func TestEngineMinSources(t *testing.T) {
	e, pub := shiftedEngine(t, 3)
	now := uint64(1e9)
	stampAll(t, e, &now, 25, "a:123", "b:123", "c:123")
	if d := e.Decision(); d.Preferred != "a:123" || len(pub.updates) == 0 {
		t.Fatalf("%+v, %d updates", d, len(pub.updates))
	}
	e.byName["c:123"].est.(*fakeEst).ShiftNs = 50e6
	n := len(pub.updates)
	stampAll(t, e, &now, 3, "a:123", "b:123", "c:123")
	held := pub.updates[n:]
	if len(held) != 2 || held[1].State != clockdata.StateFreeRunning || held[1].Params != held[0].Params {
		t.Fatalf("with 2 of minsources 3 agreeing: %+v", held)
	}
	var doc StatusDoc
	e.Snapshot(&doc)
	if doc.Truechimers != 2 || doc.MinSources != 3 || !doc.Servers[2].Falseticker {
		t.Errorf("status: truechimers %d, min sources %d, c falseticker %v", doc.Truechimers, doc.MinSources, doc.Servers[2].Falseticker)
	}
}

// The published max_error covers the whole interval on which a majority
// agrees, not only the preferred server's own bound.
func TestEngineBoundCoversAgreement(t *testing.T) {
	e, pub := shiftedEngine(t, 1)
	// b and c are 8 and 12 µs ahead of a, all with a 10 µs bound: b and c
	// agree up to 18 µs from a's clock, outside a's own interval.
	e.byName["b:123"].est.(*fakeEst).ShiftNs = 8000
	e.byName["c:123"].est.(*fakeEst).ShiftNs = 12000
	now := uint64(1e9)
	stampAll(t, e, &now, 25, "a:123", "b:123", "c:123")
	u := pub.updates[len(pub.updates)-1]
	if u.Server != "a:123" {
		t.Fatalf("published %s", u.Server)
	}
	if _, m := u.Params.Bounds(e.lastCount); m < 18e-6-1e-9 {
		t.Errorf("published max error %g s, want at least 18 µs", m)
	}
}

// At start a server that has not answered counts in the majority, until it
// has failed three exchanges or four polls have passed: the first server to
// answer is not published alone.
func TestEngineWaitsForSilentServers(t *testing.T) {
	e, pub := shiftedEngine(t, 1)
	now := uint64(1e9)
	stampAll(t, e, &now, 2, "a:123")
	if len(pub.updates) != 0 {
		t.Fatalf("published from the first server alone: %+v", pub.updates)
	}
	// b fails three exchanges; c stays silent past four polls.
	for range startupTries {
		_ = e.Reject("b:123", "timeout", false, now)
	}
	stampAll(t, e, &now, 1, "a:123")
	if len(pub.updates) != 0 {
		t.Fatalf("published while c is awaited: %+v", pub.updates)
	}
	stampAll(t, e, &now, startupPolls, "a:123")
	if len(pub.updates) == 0 {
		t.Fatal("never published after the start-up wait")
	}
}
