package xenstore_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/xenstore"
)

func seedMessages(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})
	f.Add(xenstore.AppendHeader(nil, xenstore.Header{Type: xenstore.TypeRead, ReqID: 1, Len: 0xffffffff}))
	f.Add(xenstore.AppendHeader(nil, xenstore.Header{Type: 0xdead, ReqID: 1, Len: 2}))
	for _, m := range []xenstore.Msg{
		{Header: xenstore.Header{Type: xenstore.TypeRead, ReqID: 1}, Payload: []byte("hello")},
		{Header: xenstore.Header{Type: xenstore.TypeWatchEvent}, Payload: xenstore.JoinStrings("/a", "t")},
		{Header: xenstore.Header{Type: xenstore.TypeWatchEvent}, Payload: []byte("/a\x00t")},
		{Header: xenstore.Header{Type: xenstore.TypeError, ReqID: 1}, Payload: xenstore.JoinStrings("EWHAT")},
		{Header: xenstore.Header{Type: xenstore.TypeError, ReqID: 1}, Payload: xenstore.JoinStrings("ENOENT")},
		{Header: xenstore.Header{Type: xenstore.TypeGetPerms, ReqID: 1}, Payload: xenstore.JoinStrings("n0", "q5")},
	} {
		b, _ := m.Encode()
		f.Add(b)
	}
}

// FuzzDecode: the codec on arbitrary bytes returns messages or clear
// errors, never panics, never allocates more than the protocol allows, and
// round-trips what it accepts.
func FuzzDecode(f *testing.F) {
	seedMessages(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, rest, err := xenstore.DecodeMsg(b)
		if err == nil {
			if len(m.Payload) > xenstore.PayloadMax || int(m.Len) != len(m.Payload) {
				t.Fatalf("accepted %d-byte payload", len(m.Payload))
			}
			enc, err := m.Encode()
			if err != nil || !bytes.Equal(enc, b[:len(b)-len(rest)]) {
				t.Fatalf("round trip: %v", err)
			}
		} else if !errors.Is(err, xenstore.ErrShortHeader) && !errors.Is(err, xenstore.ErrPayloadTooLong) && !errors.Is(err, xenstore.ErrMalformed) {
			t.Fatalf("unclassified error %v", err)
		}
		r, err := xenstore.ReadMsg(bytes.NewReader(b))
		if err == nil && len(r.Payload) > xenstore.PayloadMax {
			t.Fatal("ReadMsg accepted oversize payload")
		}
		xenstore.SplitStrings(b)
		xenstore.ParseWatchEvent(b)
		xenstore.ParsePerms(string(b))
		if p, err := xenstore.ParsePerm(string(b)); err == nil {
			if q, err := xenstore.ParsePerm(p.String()); err != nil || q != p {
				t.Fatalf("perm %q round trip", b)
			}
		}
	})
}

// FuzzClientStream: a server that sends arbitrary bytes. The client's
// reader must not panic or hang; the pending call ends with a value or an
// error.
func FuzzClientStream(f *testing.F) {
	seedMessages(f)
	f.Fuzz(func(t *testing.T, stream []byte) {
		dir := t.TempDir()
		sock := filepath.Join(dir, "s")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			xenstore.ReadMsg(nc) // the client's request
			nc.Write(stream)
			nc.Close()
		}()
		c, err := xenstore.DialSocket(context.Background(), sock, xenstore.WithoutReconnect())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := c.GetPerms(ctx, "/a"); errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("client hung on a closed stream")
		}
	})
}
