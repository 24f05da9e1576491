package guestclock

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/ntp"
)

// TestIndependentMode: with --mode independent and no Xenstore, the agent
// runs the estimator itself against an NTP server on loopback and serves
// the same page, marked mode independent.
func TestIndependentMode(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for NTP exchanges")
	}
	c, err := counter.OpenFor("monotonic-raw", counter.Independent)
	if err != nil {
		t.Skip(err)
	}
	sk, err := ntp.NewSkewedClock(c, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ntp.NewServer(ntp.ServerConfig{Addr: "127.0.0.1:0", Time: sk.Reading})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx) //nolint:errcheck // ends with ctx
	dir := t.TempDir()
	cfg := Default()
	cfg.Mode, cfg.Xenstore, cfg.Counter, cfg.Poll = "independent", "none", "monotonic-raw", time.Second
	cfg.Page, cfg.IndepPage, cfg.Tick = filepath.Join(dir, "clock"), filepath.Join(dir, "indep.page"), 100*time.Millisecond
	cfg.Servers = []string{srv.Addr().String()}
	a, err := New(cfg, Options{Log: zaptest.NewLogger(t), Counter: c})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var n clockdata.Now
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := clockdata.OpenPage(cfg.Page)
		if err == nil {
			n, err = p.Now(c)
			p.Close()
		}
		if err == nil && n.Status.HasTime() {
			break
		}
		if err != nil && !errors.Is(err, clockdata.ErrUninitialised) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("no clock served in independent mode within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n.Flags.Mode != clockdata.ModeIndependent || a.Mode() != clockdata.ModeIndependent {
		t.Errorf("mode %v (agent %v), want independent", n.Flags.Mode, a.Mode())
	}
	t.Logf("independent: %v, state %v, max error %d ns", n.Status, n.State, n.MaxErrorNs)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("agent: %v", err)
	}
}
