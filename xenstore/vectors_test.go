package xenstore_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/xenstore"
)

type vector struct {
	name    string
	client  bool
	request []byte
	replies [][]byte
}

func loadVectors(t *testing.T) []vector {
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			fl := strings.Fields(line[3:])
			out = append(out, vector{name: fl[0], client: len(fl) > 1 && fl[1] == "client"})
		case strings.HasPrefix(line, ">"), strings.HasPrefix(line, "<"):
			b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(line[1:]), " ", ""))
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			v := &out[len(out)-1]
			if line[0] == '>' {
				v.request = b
			} else {
				v.replies = append(v.replies, b)
			}
		}
	}
	return out
}

// TestClientVectors drives the client through the recorded sequence
// against a server that checks every request byte for byte and answers
// with the recorded bytes.
func TestClientVectors(t *testing.T) {
	var vs []vector
	for _, v := range loadVectors(t) {
		if v.client {
			vs = append(vs, v)
		}
	}
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	must(t, err)
	defer l.Close()
	srvErr := make(chan error, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer nc.Close()
		for _, v := range vs {
			m, err := xenstore.ReadMsg(nc)
			if err != nil {
				srvErr <- fmt.Errorf("%s: %w", v.name, err)
				return
			}
			got, _ := m.Encode()
			if !bytes.Equal(got, v.request) {
				srvErr <- fmt.Errorf("%s: client sent\n %x\nwant\n %x", v.name, got, v.request)
				return
			}
			for _, r := range v.replies {
				if _, err := nc.Write(r); err != nil {
					srvErr <- err
					return
				}
			}
		}
		srvErr <- nil
		// Keep the connection open until the client is done.
		nc.Read(make([]byte, 1))
	}()

	ctx := ctxT(t)
	c, err := xenstore.DialSocket(ctx, sock, xenstore.WithoutReconnect())
	must(t, err)
	defer c.Close()
	expect := func(name string, ok bool, detail ...any) {
		t.Helper()
		if !ok {
			t.Fatalf("%s: unexpected result %v", name, detail)
		}
	}
	must(t, c.Write(ctx, "/a", []byte("hello")))
	v, err := c.Read(ctx, "/a")
	expect("read", err == nil && string(v) == "hello", v, err)
	_, err = c.Read(ctx, "/nope")
	expect("read-enoent", errors.Is(err, syscall.ENOENT), err)
	must(t, c.Mkdir(ctx, "/a/d"))
	names, err := c.Directory(ctx, "/a")
	expect("directory", err == nil && fmt.Sprint(names) == "[d]", names, err)
	ps, err := c.GetPerms(ctx, "/a")
	expect("get-perms", err == nil && ps.String() == "n0", ps, err)
	must(t, c.SetPerms(ctx, "/a", xenstore.Perms{{Domid: 0}, {Domid: 5, Access: xenstore.AccessRead}}))
	w, err := c.Watch(ctx, "/a", "tok")
	must(t, err)
	ev := recv(t, w)
	expect("watch", ev.Path == "/a" && ev.Token == "tok", ev)
	must(t, c.Write(ctx, "/a/e", nil))
	ev = recv(t, w)
	expect("write-fires-watch", ev.Path == "/a/e", ev)
	must(t, w.Unwatch(ctx))
	tx, err := c.StartTransaction(ctx)
	must(t, err)
	expect("transaction-start", tx.ID() == 1, tx.ID())
	must(t, tx.Write(ctx, "/a/t", []byte("x")))
	must(t, tx.Commit(ctx))
	must(t, c.Rm(ctx, "/a/t"))
	home, err := c.GetDomainPath(ctx, 5)
	expect("get-domain-path", err == nil && home == "/local/domain/5", home, err)
	intro, err := c.IsDomainIntroduced(ctx, 0)
	expect("is-domain-introduced", err == nil && intro, intro, err)
	tx2, err := c.StartTransaction(ctx)
	must(t, err)
	v, err = tx2.Read(ctx, "/a")
	expect("read-in-transaction", err == nil && string(v) == "hello", v, err)
	must(t, c.Write(ctx, "/a", []byte("changed")))
	err = tx2.Commit(ctx)
	expect("transaction-end-eagain", errors.Is(err, xenstore.ErrAgain), err)
	must(t, c.ResetWatches(ctx))

	select {
	case err := <-srvErr:
		must(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("server did not see every vector")
	}
}
