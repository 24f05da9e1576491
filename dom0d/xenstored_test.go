package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/xenstore"
)

func TestXenstoredCommand(t *testing.T) {
	dir := t.TempDir()
	sock, dom5, file := filepath.Join(dir, "sock"), filepath.Join(dir, "dom5"), filepath.Join(dir, "tree.json")
	run := func(ctx context.Context) chan error {
		done := make(chan error, 1)
		go func() {
			done <- newApp().RunContext(ctx, []string{"dom0d", "xenstored", "--socket", sock,
				"--domain-socket", "5=" + dom5, "--persist", file})
		}()
		return done
	}
	dial := func(path string) *xenstore.Client {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := xenstore.DialSocket(context.Background(), path, xenstore.WithoutReconnect())
			if err == nil {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := run(ctx)
	c := dial(sock)
	bg := context.Background()
	if err := c.Write(bg, "/xenradclock/clock", []byte("rec")); err != nil {
		t.Fatal(err)
	}
	g := dial(dom5)
	if d, err := g.OwnDomid(bg); err != nil || d != 5 {
		t.Fatalf("domain socket is domid %d, %v", d, err)
	}
	c.Close()
	g.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	done = run(ctx)
	c = dial(sock)
	defer c.Close()
	if v, err := c.Read(bg, "/xenradclock/clock"); err != nil || string(v) != "rec" {
		t.Fatalf("after restart with --persist: %q %v", v, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
}

func TestXenstoredFlagErrors(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range []string{"0=/x", "5", "x=/y", "5="} {
		err := newApp().Run([]string{"dom0d", "xenstored", "--socket", filepath.Join(dir, "s"), "--domain-socket", bad})
		if err == nil || !strings.Contains(err.Error(), "DOMID=PATH") {
			t.Fatalf("--domain-socket %q: %v", bad, err)
		}
	}
	for _, bad := range []string{"bogus=1", "nodes=x", "nodes=0", "nodes"} {
		err := newApp().Run([]string{"dom0d", "xenstored", "--socket", filepath.Join(dir, "s"), "--quota", bad})
		if err == nil || !strings.Contains(err.Error(), "--quota") {
			t.Fatalf("--quota %q: %v", bad, err)
		}
	}
	if err := newApp().Run([]string{"dom0d", "xenstored"}); err == nil {
		t.Fatal("missing --socket accepted")
	}
}

// --quota connections=1: a domain's second connection is refused.
func TestXenstoredQuotaFlag(t *testing.T) {
	dir := t.TempDir()
	sock, dom5 := filepath.Join(dir, "sock"), filepath.Join(dir, "dom5")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- newApp().RunContext(ctx, []string{"dom0d", "xenstored", "--socket", sock,
			"--domain-socket", "5=" + dom5, "--quota", "connections=1"})
	}()
	bg := context.Background()
	var g *xenstore.Client
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if g, err = xenstore.DialSocket(bg, dom5, xenstore.WithoutReconnect()); err == nil {
			if _, err = g.OwnDomid(bg); err == nil {
				break
			}
			g.Close()
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	defer g.Close()
	g2, err := xenstore.DialSocket(bg, dom5, xenstore.WithoutReconnect())
	if err == nil {
		defer g2.Close()
		tctx, tcancel := context.WithTimeout(bg, 5*time.Second)
		defer tcancel()
		_, err = g2.OwnDomid(tctx)
	}
	if err == nil {
		t.Fatal("second connection served with --quota connections=1")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
