package xsd_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

// FuzzServer feeds arbitrary byte streams to a connection of domain 0 and
// of an unprivileged domain. The server must answer or drop the
// connection, never panic, and stay usable.
func FuzzServer(f *testing.F) {
	for _, s := range vectorSpecs {
		m := xenstore.Msg{Header: xenstore.Header{Type: s.typ, ReqID: 1, TxID: s.tx}, Payload: s.pay}
		b, _ := m.Encode()
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add(xenstore.AppendHeader(nil, xenstore.Header{Type: xenstore.TypeWrite, Len: 1 << 31}), false)
	f.Add([]byte("\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00/a\x00\xff\xfe"), true)
	f.Fuzz(func(t *testing.T, stream []byte, guest bool) {
		srv, err := xsd.New(xsd.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if err := srv.IntroduceDomain(5); err != nil {
			t.Fatal(err)
		}
		a, b := net.Pipe()
		domid := uint32(0)
		if guest {
			domid = 5
		}
		done := make(chan struct{})
		go func() {
			srv.Serve(b, domid)
			close(done)
		}()
		go io.Copy(io.Discard, a)
		a.SetWriteDeadline(time.Now().Add(2 * time.Second))
		a.Write(stream)
		a.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("connection handler did not finish")
		}
		// Still serving.
		c, d := net.Pipe()
		go srv.Serve(d, 0)
		defer c.Close()
		m := xenstore.Msg{Header: xenstore.Header{Type: xenstore.TypeGetDomainPath, ReqID: 9}, Payload: xenstore.JoinStrings("3")}
		enc, _ := m.Encode()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write(enc)
		r, err := xenstore.ReadMsg(c)
		if err != nil || string(r.Payload) != "/local/domain/3\x00" {
			t.Fatalf("server unusable after fuzz input: %v %q", err, r.Payload)
		}
	})
}
