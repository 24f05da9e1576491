package xsd_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

func rawReq(t *testing.T, c net.Conn, typ xenstore.MsgType, payload []byte) xenstore.Msg {
	t.Helper()
	m := xenstore.Msg{Header: xenstore.Header{Type: typ, ReqID: 1}, Payload: payload}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	r, err := xenstore.ReadMsg(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// xenstored drops a connection whose header claims more than 4096 bytes;
// the server survives and serves others.
func TestOversizePayloadDropsConnection(t *testing.T) {
	srv, err := xsd.New(xsd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sock := filepath.Join(t.TempDir(), "s")
	if err := srv.Listen(sock); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hdr := xenstore.AppendHeader(nil, xenstore.Header{Type: xenstore.TypeWrite, ReqID: 1, Len: xenstore.PayloadMax + 1})
	c.Write(hdr)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 64)); !errors.Is(err, io.EOF) {
		t.Fatalf("connection not dropped: %v", err)
	}
	// Exactly the maximum is accepted.
	c2, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	p := append([]byte("/max\x00"), make([]byte, xenstore.PayloadMax-5)...)
	for i := 5; i < len(p); i++ {
		p[i] = 'x'
	}
	if r := rawReq(t, c2, xenstore.TypeWrite, p); r.Type != xenstore.TypeWrite {
		t.Fatalf("max payload: %s %q", r.Type, r.Payload)
	}
}

// A watcher that stops reading is dropped once its queue fills; writers
// and the server carry on.
func TestSlowReaderDropped(t *testing.T) {
	srv, err := xsd.New(xsd.Config{Quota: xsd.Quota{OutputQueue: 8}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a, b := net.Pipe()
	defer a.Close()
	go srv.Serve(b, 0)
	w := xenstore.Msg{Header: xenstore.Header{Type: xenstore.TypeWatch, ReqID: 1}, Payload: xenstore.JoinStrings("/", "t")}
	enc, _ := w.Encode()
	a.Write(enc) // never read the reply, the event or anything after
	sock := filepath.Join(t.TempDir(), "s")
	if err := srv.Listen(sock); err != nil {
		t.Fatal(err)
	}
	c, err := xenstore.DialSocket(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 50; i++ {
		if err := c.Write(ctx, "/x", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().Connections != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("slow connection still open: %+v", srv.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tree.json")
	sock := filepath.Join(dir, "s")
	start := func() (*xsd.Server, *xenstore.Client) {
		srv, err := xsd.New(xsd.Config{PersistFile: file})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Listen(sock); err != nil {
			t.Fatal(err)
		}
		c, err := xenstore.DialSocket(context.Background(), sock, xenstore.WithoutReconnect())
		if err != nil {
			t.Fatal(err)
		}
		return srv, c
	}
	ctx := context.Background()
	srv, c := start()
	if err := srv.IntroduceDomain(12); err != nil {
		t.Fatal(err)
	}
	bin := []byte{0, 1, 2, 255}
	if err := c.Write(ctx, "/p/bin", bin); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPerms(ctx, "/p", xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}, {Domid: 12, Access: xenstore.AccessBoth}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPerms(ctx, "@releaseDomain", xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv, c = start()
	defer srv.Close()
	defer c.Close()
	v, err := c.Read(ctx, "/p/bin")
	if err != nil || string(v) != string(bin) {
		t.Fatalf("after restart: %v %v", v, err)
	}
	ps, _ := c.GetPerms(ctx, "/p")
	if ps.String() != "r0,b12" {
		t.Fatalf("perms after restart %v", ps)
	}
	ps, _ = c.GetPerms(ctx, "@releaseDomain")
	if ps.String() != "r0" {
		t.Fatalf("special perms after restart %v", ps)
	}
	if ok, _ := c.IsDomainIntroduced(ctx, 12); !ok {
		t.Fatal("introduced domain forgotten")
	}
	names, _ := c.Directory(ctx, "/local/domain")
	if len(names) != 2 || names[0] != "0" || names[1] != "12" {
		t.Fatalf("child order after restart %v", names)
	}

	// A damaged file is an error, never a silently empty tree.
	bad := filepath.Join(dir, "bad.json")
	for _, content := range []string{"{", `{"version":1,"nodes":[{"path":"/a","perms":"n0"}]}`,
		`{"version":1,"nodes":[{"path":"/","perms":"n0"},{"path":"/a/b","perms":"n0"}]}`,
		`{"version":1,"nodes":[{"path":"/","perms":"x0"}]}`, `{"version":9}`} {
		os.WriteFile(bad, []byte(content), 0o600)
		if _, err := xsd.New(xsd.Config{PersistFile: bad}); err == nil {
			t.Fatalf("loaded damaged file %q", content)
		}
	}
}

func TestReleaseDropsDomainConnections(t *testing.T) {
	srv, err := xsd.New(xsd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sock := filepath.Join(t.TempDir(), "d7")
	if err := srv.ListenDomain(sock, 7); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := rawReq(t, c, xenstore.TypeRead, xenstore.JoinStrings("domid"))
	if string(r.Payload) != "7" {
		t.Fatalf("domid %q", r.Payload)
	}
	// Unprivileged domains may not introduce or release.
	r = rawReq(t, c, xenstore.TypeIntroduce, xenstore.JoinStrings("9", "1", "1"))
	if r.Type != xenstore.TypeError || string(r.Payload) != "EACCES\x00" {
		t.Fatalf("guest INTRODUCE: %s %q", r.Type, r.Payload)
	}
	if err := srv.ReleaseDomain(7); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 16)); err == nil {
		t.Fatal("released domain's connection still open")
	}
	if err := srv.ReleaseDomain(7); err == nil {
		t.Fatal("double release accepted")
	}
}
