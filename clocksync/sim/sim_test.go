package sim

import (
	"math"
	"testing"
)

func TestReproducible(t *testing.T) {
	a, _ := New(LAN(7, 3600))
	b, _ := New(LAN(7, 3600))
	ea, eb := a.Run(), b.Run()
	if len(ea) != len(eb) || len(ea) < 200 {
		t.Fatalf("lengths %d %d", len(ea), len(eb))
	}
	for i := range ea {
		if ea[i].Stamp != eb[i].Stamp {
			t.Fatalf("exchange %d differs", i)
		}
	}
	c, _ := New(LAN(8, 3600))
	if c.Run()[20].Stamp == ea[20].Stamp {
		t.Fatal("different seeds gave the same stamp")
	}
}

func TestTruthConsistent(t *testing.T) {
	s, _ := New(LAN(1, 86400))
	var prev uint64
	for _, ex := range s.Run() {
		st := ex.Stamp
		if st.Ta <= prev {
			t.Fatalf("counter not increasing at %d", ex.Index)
		}
		prev = st.Ta
		// TrueTime of a counter reading lies within one tick before the event.
		tt := s.TrueTime(st.Ta)
		d := ex.TrueTa.Sub(tt).Float()
		if d < -1e-10 || d > 1.01e-9 {
			t.Fatalf("TrueTime(Ta) off by %g s at %d", d, ex.Index)
		}
		if ex.Lost {
			continue
		}
		if st.Tf <= st.Ta || st.Te.Cmp(st.Tb) < 0 {
			t.Fatalf("bad stamp %+v", st)
		}
		d = ex.TrueTf.Sub(s.TrueTime(st.Tf)).Float()
		if d < -1e-10 || d > 1.01e-9 {
			t.Fatalf("TrueTime(Tf) off by %g s", d)
		}
		// Server stamps are the true times rounded to the ns (no faults here).
		if e := math.Abs(st.Tb.Sub(ex.TrueTb).Float()); e > 0.6e-9 {
			t.Fatalf("Tb off truth by %g", e)
		}
	}
	// The counter rate includes the +35 ppm skew.
	t0, t1 := s.CounterAt(1000), s.CounterAt(2000)
	r := float64(t1-t0) / 1000 / 1e9
	if math.Abs(r-1-35e-6) > 0.2e-6 {
		t.Fatalf("rate %v", r)
	}
	// TrueTime inverts CounterAt across segment boundaries and before the start.
	for _, x := range []float64{0, 15.999, 16, 1e4 + 0.123456789} {
		c := s.CounterAt(x)
		got := s.TrueTime(c).Sub(s.sc.Epoch).Float()
		if got > x || x-got > 1.01e-9 {
			t.Fatalf("TrueTime(CounterAt(%v)) = %v", x, got)
		}
	}
	before := s.TrueTime(s.sc.Osc.StartCount - 1e9).Sub(s.sc.Epoch).Float()
	if math.Abs(before+1/(1+35e-6+0.05e-6*math.Sin(1))) > 1e-6 {
		t.Fatalf("extrapolation before start: %v", before)
	}
}

func TestFeatures(t *testing.T) {
	sc := LAN(3, 7200)
	sc.Path.Loss = 0.1
	sc.Path.Shifts = []LevelShift{{Start: 1000, End: 2000, Fwd: 1e-3}}
	sc.Server.Faults = []Fault{{Start: 3000, End: 3600, Offset: 0.05}}
	sc.Server.Outages = []Interval{{Start: 4000, End: 5000}}
	sc.Poll.Changes = []PollChange{{At: 5000, Period: 64}}
	s, err := New(sc)
	if err != nil {
		t.Fatal(err)
	}
	var lost, outage, shifted, faulty int
	var lastT float64
	for _, ex := range s.Run() {
		if ex.T > 5100 && lastT > 5100 && math.Abs(ex.T-lastT-64) > 1e-9 {
			t.Fatalf("poll change not applied: %v after %v", ex.T, lastT)
		}
		lastT = ex.T
		if ex.Lost {
			lost++
			if ex.Why == "outage" {
				outage++
				if ex.T < 3990 || ex.T >= 5000 {
					t.Fatalf("outage at %v", ex.T)
				}
			}
			continue
		}
		if ex.Asymmetry != 0 {
			shifted++
			if ex.Fwd < 1.05e-3 {
				t.Fatal("shift not applied")
			}
		}
		if ex.ServerErr != 0 {
			faulty++
			if d := ex.Stamp.Tb.Sub(ex.TrueTb).Float(); math.Abs(d-0.05) > 1e-9 {
				t.Fatalf("fault offset %v", d)
			}
		}
	}
	if outage < 55 || lost < outage+20 || shifted < 50 || faulty < 30 {
		t.Fatalf("lost %d outage %d shifted %d faulty %d", lost, outage, shifted, faulty)
	}
}

func TestNaive(t *testing.T) {
	s, _ := New(LAN(2, 600))
	for _, ex := range s.Run()[:20] {
		if ex.Lost {
			continue
		}
		n := Naive(ex.Stamp, 1e-9)
		e := n.Sub(s.TrueTime(ex.Stamp.Tf)).Float()
		// The naive error is bounded by half the queueing plus the skew over the RTT.
		if math.Abs(e) > (ex.Fwd+ex.Back)/2+1e-6 {
			t.Fatalf("naive error %v", e)
		}
	}
	if _, err := New(Scenario{}); err == nil {
		t.Fatal("empty scenario accepted")
	}
}
