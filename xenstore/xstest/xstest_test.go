package xstest_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
	"github.com/xenradclock/xenradclock/xenstore/xstest"
)

// The battery against the embedded server; test-vms runs it against
// xenstored.
func TestBatteryOnEmbeddedServer(t *testing.T) {
	srv, err := xsd.New(xsd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	sock, dom := filepath.Join(dir, "s"), filepath.Join(dir, "d")
	if err := srv.Listen(sock); err != nil {
		t.Fatal(err)
	}
	if err := srv.ListenDomain(dom, 3); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d0, err := xenstore.DialSocket(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer d0.Close()
	g, err := xenstore.DialSocket(ctx, dom)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	rs := xstest.Dom0(ctx, d0, "/xstest")
	nodes, err := xstest.Dom0Prepare(ctx, d0, "/xstest-guest")
	if err != nil {
		t.Fatal(err)
	}
	rs = append(rs, xstest.Guest(ctx, g, nodes)...)
	for _, r := range rs {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Name, r.Err)
		}
	}
	if len(rs) < 20 {
		t.Fatalf("only %d checks ran", len(rs))
	}
}
