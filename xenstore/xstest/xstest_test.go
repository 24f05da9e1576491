package xstest_test

import (
	"context"
	"os"
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

// The battery against a real Xenstore, for the Xen test VMs: build with
// `go test -c ./xenstore/xstest`, then run in Dom0 with XSTEST_REAL=dom0
// (it also prepares the guest's nodes) and in a DomU with XSTEST_REAL=guest,
// both with -test.run TestReal -test.v.
const realGuestBase = "/xenradclock-xstest-guest"

func runReal(t *testing.T, role string) {
	if got := os.Getenv("XSTEST_REAL"); got != role {
		t.Skipf("set XSTEST_REAL=%s to run against the real Xenstore (in the Xen test VMs)", role)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := xenstore.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("connected to %s (device: %v)", c.Target(), c.IsDevice())
	var rs []xstest.Result
	if role == "dom0" {
		rs = xstest.Dom0(ctx, c, "/xenradclock-xstest")
		if _, err := xstest.Dom0Prepare(ctx, c, realGuestBase); err != nil {
			t.Fatal(err)
		}
	} else {
		rs = xstest.Guest(ctx, c, xstest.GuestNodes{Public: realGuestBase + "/public", Secret: realGuestBase + "/secret"})
	}
	for _, r := range rs {
		if r.Err != nil {
			t.Errorf("FAIL %s: %v", r.Name, r.Err)
		} else {
			t.Logf("ok   %s", r.Name)
		}
	}
}

func TestRealDom0(t *testing.T)  { runReal(t, "dom0") }
func TestRealGuest(t *testing.T) { runReal(t, "guest") }
