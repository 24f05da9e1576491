package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/guestclock/guesttest"
)

// TestWaitsyncAndStatusExitCodes runs `domu-agent status` and `waitsync`
// as processes on pages in each state: warming up, usable, usable but too
// loose for --max-error, void, disrupted, missing, and a page that
// becomes usable while waitsync waits.
func TestWaitsyncAndStatusExitCodes(t *testing.T) {
	dir := t.TempDir()
	h, err := guesttest.NewHost(dir, guesttest.HostConfig{Name: "h", Sim: counter.SimHostConfig{HostID: 3, NominalHz: 1e9, Offset: 1e12},
		MaxErrorNs: 2_000_000, GrowthPsPerS: 1_000_000, VoidAfter: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	page := filepath.Join(dir, "clock")
	w, err := clockdata.CreatePage(page)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	env := []string{counter.SimulatedEnv + "=" + h.CounterPath}
	run := func(args ...string) (int, string) {
		out, err := selfCmd(t, "agent", env, args...).CombinedOutput()
		return exitCodeOf(err), string(out)
	}
	publishVoid := false
	publish := func(state clockdata.ClockState, f clockdata.PageFlags) {
		t.Helper()
		r, err := h.Next()
		if err != nil {
			t.Fatal(err)
		}
		if publishVoid {
			r.NextExpectedCount, r.VoidAfterCount = r.RefCount+1, r.RefCount+2 // void 2 ns after its reference
		}
		r.State = state
		if err := w.PublishFlags(&r, f); err != nil {
			t.Fatal(err)
		}
	}
	dep := clockdata.PageFlags{Mode: clockdata.ModeDependent}
	cases := []struct {
		name  string
		setup func()
		args  []string
		exit  int
	}{
		{"status, missing page", nil, []string{"status", "--page", filepath.Join(dir, "none")}, 3},
		{"waitsync, missing page", nil, []string{"waitsync", "--page", filepath.Join(dir, "none"), "--timeout", "300ms"}, 5},
		{"status, warming up", func() { publish(clockdata.StateWarmUp, dep) }, []string{"status", "--page", page}, 2},
		{"waitsync, warming up", nil, []string{"waitsync", "--page", page, "--timeout", "300ms"}, 5},
		{"status, usable", func() { publish(clockdata.StateSynchronised, dep) }, []string{"status", "--page", page, "--json"}, 0},
		{"waitsync, usable", nil, []string{"waitsync", "--page", page, "--max-error", "10ms", "--timeout", "5s"}, 0},
		{"waitsync, usable but looser than --max-error", nil, []string{"waitsync", "--page", page, "--max-error", "1ms", "--timeout", "300ms"}, 5},
		{"status, disrupted", func() {
			publish(clockdata.StateSynchronised, clockdata.PageFlags{Mode: clockdata.ModeDependent, Disrupted: true})
		},
			[]string{"status", "--page", page}, 3},
		{"status, void", func() { publishVoid = true; publish(clockdata.StateSynchronised, dep); publishVoid = false }, []string{"status", "--page", page}, 3},
		{"waitsync, void", nil, []string{"waitsync", "--page", page, "--timeout", "300ms"}, 5},
		{"waitsync, bad usage", nil, []string{"waitsync", "--page", page, "--timeout", "0s"}, 4},
	}
	for _, c := range cases {
		if c.setup != nil {
			c.setup()
		}
		code, out := run(c.args...)
		if code != c.exit {
			t.Errorf("%s: exit %d, want %d\n%s", c.name, code, c.exit, out)
		}
		t.Logf("%-45s exit %d", c.name, code)
	}
	// Warming up, then usable while waitsync waits.
	publish(clockdata.StateWarmUp, dep)
	cmd := selfCmd(t, "agent", env, "waitsync", "--page", page, "--max-error", "10ms", "--timeout", "10s")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	publish(clockdata.StateSynchronised, dep)
	if code := exitCodeOf(cmd.Wait()); code != 0 {
		t.Errorf("waitsync across warm-up -> synchronised: exit %d", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("waitsync took %v", d)
	}
}
