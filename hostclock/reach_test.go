package hostclock

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/ntp"
)

// closedUDPPort returns a loopback address nothing listens on.
func closedUDPPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// A server that fails is visible at the default log level: one warning
// when it starts failing, with the reason ("connection refused" for a
// closed port, as dom0d check says), not one per exchange.
func TestUnreachableServerWarnsOnce(t *testing.T) {
	dir := t.TempDir()
	addr := closedUDPPort(t)
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := testConfig(t, dir, []string{addr})
	d, err := New(cfg, Options{Log: zap.New(core), Counter: simCounter(t, dir, 0), BurstInterval: testBurstInterval})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	// The burst sends an exchange every 100 ms: wait for a few of them.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if rejectedSum(d) >= 5 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := rejectedSum(d); n < 5 {
		t.Fatalf("only %d failed exchanges with the closed port, want 5", n)
	}
	warns := logs.FilterLevelExact(zapcore.WarnLevel).FilterField(zap.String("server", addr)).All()
	if len(warns) != 1 {
		t.Fatalf("%d warnings for %s, want exactly 1: %v", len(warns), addr, warns)
	}
	ctxMap := warns[0].ContextMap()
	if detail, _ := ctxMap["detail"].(string); !strings.Contains(detail, "refused") {
		t.Errorf("warning %q %v: want the reason 'connection refused'", warns[0].Message, ctxMap)
	}
}

func rejectedSum(d *Daemon) uint64 {
	var n uint64
	for _, s := range d.Status().Servers {
		for _, v := range s.Rejected {
			n += v
		}
	}
	return n
}

// A server that answers "unsynchronised" is failing too: one warning, and
// one info line when it serves time again.
func TestUnsynchronisedServerWarnsThenRecovers(t *testing.T) {
	dir := t.TempDir()
	mono, err := counter.Open("monotonic-raw")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := ntp.NewSkewedClock(mono, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var synced atomic.Bool
	srv, err := ntp.NewServer(ntp.ServerConfig{Addr: "127.0.0.1:0", Time: func() ntp.ServerReading {
		r := sk.Reading()
		r.Synced = synced.Load()
		return r
	}})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stopSrv := context.WithCancel(context.Background())
	defer stopSrv()
	go func() { _ = srv.Serve(sctx) }()
	defer srv.Close()
	addr := srv.Addr().String()

	core, logs := observer.New(zapcore.InfoLevel)
	d, err := New(testConfig(t, dir, []string{addr}), Options{Log: zap.New(core), Counter: simCounter(t, dir, 0), BurstInterval: testBurstInterval})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 10 s", what)
			}
		}
	}
	waitFor("5 rejected exchanges", func() bool { return rejectedSum(d) >= 5 })
	synced.Store(true)
	waitFor("a stamp", func() bool { s := d.Status().Servers; return len(s) == 1 && s[0].Accepted > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mine := logs.FilterField(zap.String("server", addr))
	if w := mine.FilterLevelExact(zapcore.WarnLevel).All(); len(w) != 1 || w[0].ContextMap()["reason"] != "unsynchronised" {
		t.Errorf("warnings %v, want one with reason unsynchronised", w)
	}
	if n := mine.FilterMessage("server answers again").Len(); n != 1 {
		t.Errorf("%d 'server answers again' lines, want 1", n)
	}
}
