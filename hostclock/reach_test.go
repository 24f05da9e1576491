package hostclock

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
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
