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
	if err := newApp().Run([]string{"dom0d", "xenstored"}); err == nil {
		t.Fatal("missing --socket accepted")
	}
}
