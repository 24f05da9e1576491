package xenstore_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

// fakeServer listens on a socket of its own and hands the first
// connection to serve.
func fakeServer(t *testing.T, serve func(nc net.Conn)) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	must(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		serve(nc)
	}()
	return sock
}

// replyNewestFirst answers reqs in reverse order, then waits for the
// client to hang up.
func replyNewestFirst(nc net.Conn, reqs []xenstore.Msg, payload func(xenstore.Msg) []byte) {
	for i := len(reqs) - 1; i >= 0; i-- {
		r := xenstore.Msg{Header: reqs[i].Header, Payload: payload(reqs[i])}
		b, _ := r.Encode()
		nc.Write(b)
	}
	nc.Read(make([]byte, 1))
}

func dialFake(t *testing.T, sock string) *xenstore.Client {
	t.Helper()
	c, err := xenstore.DialSocket(context.Background(), sock, xenstore.WithoutReconnect())
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestReadWithPermsOneFlight: a server that answers nothing until it holds
// both requests (and then answers them newest first) still serves
// ReadWithPerms: READ and GET_PERMS left together, one round trip.
func TestReadWithPermsOneFlight(t *testing.T) {
	sock := fakeServer(t, func(nc net.Conn) {
		var reqs []xenstore.Msg
		for len(reqs) < 2 {
			m, err := xenstore.ReadMsg(nc)
			if err != nil {
				return
			}
			reqs = append(reqs, m)
		}
		replyNewestFirst(nc, reqs, func(m xenstore.Msg) []byte {
			if m.Type == xenstore.TypeRead {
				return []byte("value")
			}
			return xenstore.JoinStrings("n0", "r5")
		})
	})
	c := dialFake(t, sock)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	v, ps, err := c.ReadWithPerms(ctx, "/clock")
	must(t, err)
	if string(v) != "value" || len(ps) != 2 || ps[0].Domid != 0 || ps[1].Domid != 5 {
		t.Fatalf("got %q %v", v, ps)
	}
	if st := c.Stats(); st.Requests != 2 || st.Flights != 1 {
		t.Fatalf("stats %+v, want 2 requests in 1 flight", st)
	}
}

// TestReadWithPermsEmbedded: against the embedded xenstored, as a guest.
func TestReadWithPermsEmbedded(t *testing.T) {
	e := newEnv(t, xsd.Config{})
	d0, g := e.dial(e.sock), e.dial(e.dom5)
	ctx := ctxT(t)
	must(t, d0.Write(ctx, "/xenradclock/clock", []byte("rec")))
	must(t, d0.SetPerms(ctx, "/xenradclock/clock", xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}}))
	before := g.Stats()
	v, ps, err := g.ReadWithPerms(ctx, "/xenradclock/clock")
	must(t, err)
	after := g.Stats()
	if string(v) != "rec" || len(ps) != 1 || ps[0].Domid != 0 {
		t.Fatalf("got %q %v", v, ps)
	}
	if after.Requests-before.Requests != 2 || after.Flights-before.Flights != 1 {
		t.Fatalf("stats %+v -> %+v, want 2 requests in 1 flight", before, after)
	}
	if _, _, err := g.ReadWithPerms(ctx, "/xenradclock/none"); err == nil {
		t.Fatal("absent node read")
	}
}
