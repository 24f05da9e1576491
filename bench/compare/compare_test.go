package compare

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/internal/testtool"
)

// TestDrawSameSequenceByIndex: every client's n-th request to a server gets
// the same delays, whatever the order the requests come in.
func TestDrawSameSequenceByIndex(t *testing.T) {
	p := Scenarios()[1].Path // noisy: bursts and exponential queueing
	a := p.Draw(7, 0, 42, time.Minute)
	p.Draw(7, 0, 41, time.Minute)
	if b := p.Draw(7, 0, 42, time.Minute); a != b {
		t.Fatalf("request 42 drew %+v then %+v", a, b)
	}
	if c := p.Draw(7, 1, 42, time.Minute); c == a {
		t.Errorf("server 1 drew the same delays as server 0: %+v", c)
	}
	step := Scenarios()[4].Path
	before, after := step.Draw(7, 0, 3, step.StepAt-time.Second), step.Draw(7, 0, 3, step.StepAt)
	if after.FwdNs-before.FwdNs != step.StepNs || after.BackNs-before.BackNs != step.StepNs {
		t.Errorf("RTT step: %+v before, %+v after", before, after)
	}
}

// TestServedWander: the served clock's phase is the integral of its rate.
func TestServedWander(t *testing.T) {
	s := Served{SkewPPM: 10, WanderPPM: 1, WanderPeriod: 2 * time.Minute}
	const step = int64(time.Second)
	for raw := int64(0); raw < int64(3*time.Minute); raw += 7 * step {
		got := float64(s.At(raw+step).Sub(s.At(raw)).Nanos()-step) / float64(step) * 1e6
		want := (s.RatePPM(raw) + s.RatePPM(raw+step)) / 2
		if math.Abs(got-want) > 0.01 {
			t.Fatalf("at %d s: rate %.4f ppm over a second, RatePPM says %.4f", raw/step, got, want)
		}
	}
}

func TestParseTracking(t *testing.T) {
	tr, err := parseTracking("0AD70102,10.215.1.2,2,1764662000.1,0.025000123,-0.000001,0.000002,-14.95,0.001,0.01,0.001,0.0001,1.0,Normal\n")
	if err != nil || !tr.Synced || tr.CorrectionS != 0.025000123 || tr.FreqPPM != 14.95 {
		t.Fatalf("%+v, %v", tr, err)
	}
	if _, err := parseTracking("506 Cannot talk to daemon"); err == nil {
		t.Error("no error for chronyc's failure text")
	}
}

// TestShortComparison is the short version of `make compare`: the clean
// scenario for a minute, dom0d and chronyd 4.3, namespaces removed after.
// It checks the harness works end to end, not who wins.
func TestShortComparison(t *testing.T) {
	if testing.Short() {
		t.Skip("starts dom0d and chronyd for a minute")
	}
	if os.Geteuid() != 0 {
		testtool.Missing(t, "the comparison needs root (network namespaces)")
	}
	chronyd := testtool.Require(t, "chronyd")
	chronyc := testtool.Require(t, "chronyc")
	testtool.Require(t, "ip")
	testtool.Require(t, "setpriv")
	dir := t.TempDir()
	dom0d := filepath.Join(dir, "dom0d")
	if out, err := exec.Command("go", "build", "-o", dom0d, "github.com/xenradclock/xenradclock/dom0d").CombinedOutput(); err != nil {
		t.Fatalf("building dom0d: %v\n%s", err, out)
	}
	sc := Scenarios()[0].Shorten(time.Minute)
	r, err := RunScenario(context.Background(), sc, Options{Dom0d: dom0d, Chronyd: chronyd, Chronyc: chronyc,
		Dir: filepath.Join(dir, "out"), Seed: 1, PinCPU: -1})
	if err != nil {
		t.Fatal(err)
	}
	var tbl strings.Builder
	WriteTable(&tbl, r)
	t.Logf("\n%s", tbl.String())
	if !r.Adjtimex.Unchanged {
		t.Errorf("the kernel clock's discipline changed during the run: %s", r.Adjtimex.Detail)
	}
	for _, c := range r.Clients {
		s := Summarise(c, int64(sc.WarmUp))
		// Generous: a client synchronised to the emulated LAN is within a
		// few ms even on a loaded machine; 25 ms (the served offset) is not.
		if s.Samples < 10 || s.Exchanges < 20 || !(s.MaxNs < 5e6) || math.IsNaN(s.FloorNs) {
			t.Errorf("%s: %d samples, %d exchanges, max |error| %.0f ns, floor %.0f ns", c.Name, s.Samples, s.Exchanges, s.MaxNs, s.FloorNs)
		}
	}
	if err := Plot(r, filepath.Join(dir, "clean.png")); err != nil {
		t.Error(err)
	}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ownPrefix()) {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
}
