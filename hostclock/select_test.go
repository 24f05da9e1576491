package hostclock

import (
	"math"
	"testing"
	"time"
)

func tpath(name string, stamps int, rtt float64) PathInput {
	return PathInput{Name: name, Usable: true, Stamps: stamps, MinRTT: rtt, ErrorBound: 10e-6,
		RateErrorBound: 5e-7, Poll: 16 * time.Second}
}

func TestSelectNeedsMinStamps(t *testing.T) {
	s := NewSelector(SelectConfig{MinStamps: 20, Hold: time.Minute})
	d := s.Choose(0, []PathInput{tpath("a", 5, 1e-3), tpath("b", 8, 1e-4)})
	if !d.Provisional || d.Preferred != "b" {
		t.Fatalf("provisional choice %+v, want b (most stamps)", d)
	}
	if !math.IsInf(d.Penalties["a"], 1) {
		t.Errorf("server with 5 stamps has finite penalty %g", d.Penalties["a"])
	}
	// a gets more stamps, b keeps its provisional seat until someone counts.
	d = s.Choose(time.Second, []PathInput{tpath("a", 12, 1e-3), tpath("b", 9, 1e-4)})
	if d.Preferred != "b" || d.Switched {
		t.Fatalf("provisional churn: %+v", d)
	}
	// a reaches 20: it counts; b is about to: wait for it.
	d = s.Choose(2*time.Second, []PathInput{tpath("a", 20, 1e-3), tpath("b", 19, 1e-4)})
	if d.Preferred != "b" || d.Switched || !d.Provisional || d.Reason != "provisional, about to count" {
		t.Fatalf("about to count: %+v", d)
	}
	// b is far from counting: switch to a at once.
	d = s.Choose(3*time.Second, []PathInput{tpath("a", 20, 1e-3), tpath("b", 10, 1e-4)})
	if d.Preferred != "a" || !d.Switched || d.Provisional {
		t.Fatalf("first eligible: %+v", d)
	}
}

func TestSelectAntiChurn(t *testing.T) {
	s := NewSelector(SelectConfig{MinStamps: 20, Hold: 10 * time.Minute, Gain: 0.2})
	a, b := tpath("a", 30, 2e-3), tpath("b", 30, 2e-3)
	d := s.Choose(0, []PathInput{a, b})
	if d.Preferred != "a" {
		t.Fatalf("tie should go to the first: %+v", d)
	}
	// b becomes much better but within the hold time: no switch.
	b.MinRTT = 0.2e-3
	d = s.Choose(5*time.Minute, []PathInput{a, b})
	if d.Preferred != "a" || d.Switched {
		t.Fatalf("switched within hold: %+v", d)
	}
	// After the hold, but only 10% better: no switch.
	b.MinRTT = 1.78e-3 // penalty 0.89ms+10us vs 1ms+10us: ~11% better
	d = s.Choose(11*time.Minute, []PathInput{a, b})
	if d.Preferred != "a" {
		t.Fatalf("switched for a small gain: %+v (penalties %v)", d, d.Penalties)
	}
	// More than 20% better after the hold: switch.
	b.MinRTT = 1.0e-3
	d = s.Choose(12*time.Minute, []PathInput{a, b})
	if d.Preferred != "b" || !d.Switched || d.Reason != "better path" {
		t.Fatalf("no switch for a clear gain: %+v", d)
	}
	// And now a is better again immediately: hold applies from the switch.
	a.MinRTT = 0.1e-3
	d = s.Choose(13*time.Minute, []PathInput{a, b})
	if d.Preferred != "b" {
		t.Fatalf("flapped back within hold: %+v", d)
	}
	if s.Switches() != 2 {
		t.Errorf("switches = %d, want 2", s.Switches())
	}
}

func TestSelectUnusableAndStarving(t *testing.T) {
	s := NewSelector(SelectConfig{MinStamps: 20, Hold: time.Hour})
	a, b := tpath("a", 30, 0.5e-3), tpath("b", 30, 1e-3)
	if d := s.Choose(0, []PathInput{a, b}); d.Preferred != "a" {
		t.Fatalf("%+v", d)
	}
	// a starves: its penalty grows with the gap.
	a.Gap = 1000 * time.Second
	pen := s.Penalty(a)
	want := 0.5*0.5e-3 + 10e-6 + 1000*5e-7
	if math.Abs(pen-want) > 1e-12 {
		t.Errorf("starving penalty %g, want %g", pen, want)
	}
	// Within the hold it stays preferred even though b is better.
	if d := s.Choose(time.Minute, []PathInput{a, b}); d.Preferred != "a" {
		t.Fatalf("%+v", d)
	}
	// a gets a kiss-o'-death DENY: switch at once, hold or not.
	a.Usable = false
	d := s.Choose(2*time.Minute, []PathInput{a, b})
	if d.Preferred != "b" || d.Reason != "previous server unusable" {
		t.Fatalf("%+v", d)
	}
	// Nobody usable: no clock.
	b.Usable = false
	d = s.Choose(3*time.Minute, []PathInput{a, b})
	if d.Preferred != "" || !d.Switched {
		t.Fatalf("%+v", d)
	}
}

func TestSelectVariationCounts(t *testing.T) {
	s := NewSelector(SelectConfig{MinStamps: 1, TVAlpha: 0.5})
	for i, r := range []float64{1e-3, 2e-3, 1e-3, 2e-3} {
		_ = i
		s.ObserveBaseline("jumpy", r)
		s.ObserveBaseline("steady", 1.2e-3)
	}
	if v := s.Variation("steady"); v != 0 {
		t.Errorf("steady variation %g", v)
	}
	// tv: 0 -> 0.5ms -> 0.75ms -> 0.875ms
	if v := s.Variation("jumpy"); math.Abs(v-0.875e-3) > 1e-12 {
		t.Errorf("jumpy variation %g", v)
	}
	j, st := tpath("jumpy", 5, 1e-3), tpath("steady", 5, 1.2e-3)
	d := s.Choose(0, []PathInput{j, st})
	if d.Preferred != "steady" {
		t.Errorf("a jumpy path with a lower RTT won: %+v", d)
	}
	s.ObserveBaseline("x", math.NaN())
	if s.Variation("x") != 0 {
		t.Error("NaN baseline recorded")
	}
}

func TestSelectNewcomerComparedOnce(t *testing.T) {
	s := NewSelector(SelectConfig{MinStamps: 20, Hold: time.Hour})
	a, b := tpath("a", 20, 2e-3), tpath("b", 19, 0.5e-3)
	if d := s.Choose(0, []PathInput{a, b}); d.Preferred != "a" {
		t.Fatalf("%+v", d)
	}
	// b comes to count within the hold and is clearly better: switch.
	b.Stamps = 20
	d := s.Choose(time.Second, []PathInput{a, b})
	if d.Preferred != "b" || d.Reason != "better path, new server" {
		t.Fatalf("%+v", d)
	}
	// A newcomer only slightly better does not move the choice.
	c := tpath("c", 20, 0.45e-3)
	if d := s.Choose(2*time.Second, []PathInput{a, b, c}); d.Preferred != "b" {
		t.Fatalf("%+v", d)
	}
	// Nor does it later, within the hold, once it is no longer new.
	c.MinRTT = 0.01e-3
	if d := s.Choose(3*time.Second, []PathInput{a, b, c}); d.Preferred != "b" {
		t.Fatalf("%+v", d)
	}
}

// A worse provisional server that comes to count does not get the hold's
// protection: the better one takes over at once.
func TestSelectProvisionalNotHeld(t *testing.T) {
	s := NewSelector(SelectConfig{MinStamps: 20, Hold: time.Hour})
	far, near := tpath("far", 1, 3e-3), tpath("near", 0, 1e-3)
	if d := s.Choose(0, []PathInput{far, near}); d.Preferred != "far" || !d.Provisional {
		t.Fatalf("%+v", d)
	}
	near.Stamps, far.Stamps = 20, 19
	if d := s.Choose(20*time.Second, []PathInput{far, near}); d.Preferred != "far" || !d.Provisional {
		t.Fatalf("%+v", d)
	}
	far.Stamps, near.Stamps = 20, 21
	d := s.Choose(21*time.Second, []PathInput{far, near})
	if d.Preferred != "near" || d.Reason != "better path" {
		t.Fatalf("%+v", d)
	}
	// Now the hold protects near.
	far.MinRTT = 0.1e-3
	near.Stamps, far.Stamps = 40, 40
	if d := s.Choose(22*time.Second, []PathInput{far, near}); d.Preferred != "near" {
		t.Fatalf("%+v", d)
	}
}

// A synchronised preferred server is not left for a better path whose clock
// is still unsynchronised (a guess): that switch made the published state
// dip to unsynchronised. Once the newcomer is synchronised it may win.
func TestSelectKeepsSynchronisedOverUnsynchronised(t *testing.T) {
	s := NewSelector(SelectConfig{MinStamps: 20, Hold: time.Hour})
	a, b := tpath("a", 25, 2e-3), tpath("b", 19, 0.5e-3)
	if d := s.Choose(0, []PathInput{a, b}); d.Preferred != "a" {
		t.Fatalf("%+v", d)
	}
	b.Stamps, b.Unsynced = 20, true
	if d := s.Choose(time.Second, []PathInput{a, b}); d.Preferred != "a" {
		t.Fatalf("switched to an unsynchronised server: %+v", d)
	}
	b.Unsynced = false
	if d := s.Choose(2*time.Hour, []PathInput{a, b}); d.Preferred != "b" {
		t.Fatalf("synchronised better path not taken: %+v", d)
	}
}
