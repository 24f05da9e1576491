package guestclock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

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
	cfg.Page, cfg.Tick = filepath.Join(dir, "clock"), 100*time.Millisecond // the estimator's page beside it
	cfg.Servers = []string{srv.Addr().String()}
	obs, logs := observer.New(zapcore.WarnLevel)
	log := zaptest.NewLogger(t, zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, obs) })))
	a, err := New(cfg, Options{Log: log, Counter: c})
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
	if _, err := os.Stat(filepath.Join(dir, DefaultIndepPageName)); err != nil {
		t.Errorf("the estimator's private page is not beside the page: %v", err)
	}
	if n.Flags.Mode != clockdata.ModeIndependent || a.Mode() != clockdata.ModeIndependent {
		t.Errorf("mode %v (agent %v), want independent", n.Flags.Mode, a.Mode())
	}
	t.Logf("independent: %v, state %v, max error %d ns", n.Status, n.State, n.MaxErrorNs)
	// The server goes away: the clock goes free-running, and the log says
	// where the records stopped coming from (not "Dom0").
	for deadline := time.Now().Add(60 * time.Second); n.State != clockdata.StateSynchronised; {
		if time.Now().After(deadline) {
			t.Fatalf("not synchronised within 60 s: %v", n.State)
		}
		time.Sleep(200 * time.Millisecond)
		if p, err := clockdata.OpenPage(cfg.Page); err == nil {
			n, _ = p.Now(c)
			p.Close()
		}
	}
	srv.Close()
	for deadline := time.Now().Add(30 * time.Second); logs.FilterMessageSnippet("free-running").Len() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no free-running warning within 30 s of the server stopping")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, e := range logs.FilterMessageSnippet("free-running").All() {
		if strings.Contains(e.Message, "Dom0") || !strings.Contains(e.Message, "estimator") {
			t.Errorf("independent mode's staleness warning %q: want the guest's estimator, not Dom0", e.Message)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("agent: %v", err)
	}
}
