package xenstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

type env struct {
	t    *testing.T
	srv  *xsd.Server
	dir  string
	sock string
	dom5 string
	cfg  xsd.Config
}

func newEnv(t *testing.T, cfg xsd.Config) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, sock: filepath.Join(dir, "socket"), dom5: filepath.Join(dir, "dom5"), cfg: cfg}
	e.start()
	t.Cleanup(func() { e.srv.Close() })
	return e
}

func (e *env) start() {
	e.t.Helper()
	srv, err := xsd.New(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := srv.Listen(e.sock); err != nil {
		e.t.Fatal(err)
	}
	if err := srv.ListenDomain(e.dom5, 5); err != nil {
		e.t.Fatal(err)
	}
	e.srv = srv
}

func (e *env) dial(path string, opt ...xenstore.Option) *xenstore.Client {
	e.t.Helper()
	opt = append([]xenstore.Option{xenstore.WithBackoff(5*time.Millisecond, 50*time.Millisecond)}, opt...)
	c, err := xenstore.DialSocket(context.Background(), path, opt...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErrno(t *testing.T, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %s", err, want)
	}
}

func TestOperations(t *testing.T) {
	e := newEnv(t, xsd.Config{})
	c := e.dial(e.sock)
	ctx := ctxT(t)

	must(t, c.Write(ctx, "/a/b/c", []byte("hello")))
	v, err := c.Read(ctx, "/a/b/c")
	must(t, err)
	if string(v) != "hello" {
		t.Fatalf("read %q", v)
	}
	// Parents are created empty.
	v, err = c.Read(ctx, "/a/b")
	must(t, err)
	if len(v) != 0 {
		t.Fatalf("parent value %q", v)
	}
	// Binary values survive, NULs included.
	bin := []byte{0, 1, 2, 0, 255}
	must(t, c.Write(ctx, "/a/bin", bin))
	v, err = c.Read(ctx, "/a/bin")
	must(t, err)
	if !bytes.Equal(v, bin) {
		t.Fatalf("binary read %v", v)
	}
	must(t, c.Mkdir(ctx, "/a/d"))
	must(t, c.Mkdir(ctx, "/a/d")) // idempotent
	names, err := c.Directory(ctx, "/a")
	must(t, err)
	if fmt.Sprint(names) != "[b bin d]" {
		t.Fatalf("directory %v", names)
	}
	_, err = c.Read(ctx, "/nope")
	wantErrno(t, err, syscall.ENOENT)
	if !errors.Is(err, xenstore.ErrNotFound) {
		t.Fatal("ErrNotFound does not match")
	}
	var xe *xenstore.Error
	if !errors.As(err, &xe) || xe.Name != "ENOENT" || xe.Op != xenstore.TypeRead || xe.Path != "/nope" {
		t.Fatalf("error detail %#v", err)
	}
	ok, err := c.Exists(ctx, "/a/b")
	must(t, err)
	if !ok {
		t.Fatal("exists false")
	}
	must(t, c.Rm(ctx, "/a/b"))
	ok, err = c.Exists(ctx, "/a/b/c")
	must(t, err)
	if ok {
		t.Fatal("rm not recursive")
	}
	must(t, c.Rm(ctx, "/a/b"))                      // absent, parent present: fine
	wantErrno(t, c.Rm(ctx, "/x/y"), syscall.ENOENT) // parent absent
	wantErrno(t, c.Rm(ctx, "/"), syscall.EINVAL)
	wantErrno(t, c.Write(ctx, "/bad//path", nil), syscall.EINVAL)
	wantErrno(t, c.Write(ctx, "/bad/", nil), syscall.EINVAL)
	wantErrno(t, c.Write(ctx, "/bad path", nil), syscall.EINVAL)

	ps, err := c.GetPerms(ctx, "/a")
	must(t, err)
	if ps.String() != "n0" {
		t.Fatalf("perms %v", ps)
	}
	want := xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}, {Domid: 5, Access: xenstore.AccessBoth}}
	must(t, c.SetPerms(ctx, "/a", want))
	ps, err = c.GetPerms(ctx, "/a")
	must(t, err)
	if ps.String() != "r0,b5" {
		t.Fatalf("perms after set %v", ps)
	}
	// New children inherit.
	must(t, c.Write(ctx, "/a/new", nil))
	ps, err = c.GetPerms(ctx, "/a/new")
	must(t, err)
	if ps.String() != "r0,b5" {
		t.Fatalf("inherited perms %v", ps)
	}
	ps, err = c.GetPerms(ctx, "@introduceDomain")
	must(t, err)
	if ps.String() != "n0" {
		t.Fatalf("special perms %v", ps)
	}

	home, err := c.GetDomainPath(ctx, 5)
	must(t, err)
	if home != "/local/domain/5" {
		t.Fatalf("domain path %q", home)
	}
	_, err = c.GetDomainPath(ctx, 70000)
	wantErrno(t, err, syscall.EINVAL)
	for d, want := range map[uint32]bool{0: true, 5: true, 6: false} {
		got, err := c.IsDomainIntroduced(ctx, d)
		must(t, err)
		if got != want {
			t.Fatalf("introduced(%d) = %v", d, got)
		}
	}
	me, err := c.OwnDomid(ctx)
	must(t, err)
	if me != 0 {
		t.Fatalf("own domid %d", me)
	}
	g := e.dial(e.dom5)
	me, err = g.OwnDomid(ctx)
	must(t, err)
	if me != 5 {
		t.Fatalf("guest own domid %d", me)
	}
	// Relative paths resolve below the guest's home.
	must(t, g.Write(ctx, "data/x", []byte("1")))
	v, err = c.Read(ctx, "/local/domain/5/data/x")
	must(t, err)
	if string(v) != "1" {
		t.Fatalf("relative write landed as %q", v)
	}

	// Payload limit: refused locally, connection intact.
	err = c.Write(ctx, "/big", make([]byte, xenstore.PayloadMax))
	wantErrno(t, err, syscall.E2BIG)
	_, err = c.Read(ctx, "/a/d")
	must(t, err)
	// Largest legal payload passes.
	must(t, c.Write(ctx, "/big", bytes.Repeat([]byte("x"), xenstore.PayloadMax-len("/big")-1)))

	// RESET_WATCHES on a socket connection is allowed.
	must(t, c.ResetWatches(ctx))
}

func TestDirectoryPart(t *testing.T) {
	e := newEnv(t, xsd.Config{})
	c := e.dial(e.sock)
	ctx := ctxT(t)
	var want []string
	must(t, c.Transaction(ctx, func(tx *xenstore.Tx) error {
		for i := 0; i < 500; i++ {
			n := fmt.Sprintf("a-rather-long-child-name-%04d", i)
			want = append(want, n)
			if err := tx.Write(ctx, "/many/"+n, nil); err != nil {
				return err
			}
		}
		return nil
	}))
	got, err := c.Directory(ctx, "/many")
	must(t, err)
	if len(got) != 500 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %d names", len(got))
	}
}

func TestPermissions(t *testing.T) {
	e := newEnv(t, xsd.Config{})
	d0 := e.dial(e.sock)
	g := e.dial(e.dom5)
	ctx := ctxT(t)

	must(t, d0.Write(ctx, "/secret", []byte("s")))
	must(t, d0.Write(ctx, "/xenradclock/clock", []byte("rec")))
	must(t, d0.SetPerms(ctx, "/xenradclock", xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}}))
	must(t, d0.SetPerms(ctx, "/xenradclock/clock", xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}}))

	_, err := g.Read(ctx, "/secret")
	wantErrno(t, err, syscall.EACCES)
	_, err = g.Read(ctx, "/secret/below") // no probing below unreadable nodes
	wantErrno(t, err, syscall.EACCES)
	_, err = g.Directory(ctx, "/")
	wantErrno(t, err, syscall.EACCES)
	v, err := g.Read(ctx, "/xenradclock/clock")
	must(t, err)
	if string(v) != "rec" {
		t.Fatalf("guest read %q", v)
	}
	wantErrno(t, g.Write(ctx, "/xenradclock/clock", []byte("forged")), syscall.EACCES)
	wantErrno(t, g.Write(ctx, "/xenradclock/other", []byte("x")), syscall.EACCES)
	wantErrno(t, g.Rm(ctx, "/xenradclock"), syscall.EACCES)
	wantErrno(t, g.SetPerms(ctx, "/xenradclock/clock", xenstore.Perms{{Domid: 5}}), syscall.EACCES)
	wantErrno(t, g.Write(ctx, "/newtop", nil), syscall.EACCES)
	v, err = d0.Read(ctx, "/xenradclock/clock")
	must(t, err)
	if string(v) != "rec" {
		t.Fatalf("clock changed by guest: %q", v)
	}

	// Home is n0,r5: the guest reads it, cannot write it.
	wantErrno(t, g.Write(ctx, "name", []byte("x")), syscall.EACCES)
	// Dom0 writes below the guest's home: inherited n0,r5.
	must(t, d0.Write(ctx, "/local/domain/5/clock/params", []byte("p")))
	ps, err := d0.GetPerms(ctx, "/local/domain/5/clock/params")
	must(t, err)
	if ps.String() != "n0,r5" {
		t.Fatalf("inherited %v", ps)
	}
	_, err = g.Read(ctx, "clock/params")
	must(t, err)
	wantErrno(t, g.Write(ctx, "clock/params", []byte("x")), syscall.EACCES)

	// ~/data is the guest's: nodes it creates are its own.
	must(t, g.Write(ctx, "data/xenradclock/report", []byte("r")))
	ps, err = g.GetPerms(ctx, "data/xenradclock/report")
	must(t, err)
	if ps.Owner() != 5 {
		t.Fatalf("guest-created node owner %v", ps)
	}
	// The guest may grant read access but not give the node away.
	must(t, g.SetPerms(ctx, "data/xenradclock/report", xenstore.Perms{{Domid: 5}, {Domid: 7, Access: xenstore.AccessRead}}))
	wantErrno(t, g.SetPerms(ctx, "data/xenradclock/report", xenstore.Perms{{Domid: 0}}), syscall.EPERM)
	// Dom0 may take it.
	must(t, d0.SetPerms(ctx, "/local/domain/5/data/xenradclock/report", xenstore.Perms{{Domid: 0}}))
	_, err = g.Read(ctx, "data/xenradclock/report")
	wantErrno(t, err, syscall.EACCES)
	// Privileged-only operations.
	_, err = g.IsDomainIntroduced(ctx, 5)
	must(t, err)
	wantErrno(t, g.SetPerms(ctx, "@introduceDomain", xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}}), syscall.EACCES)
	_, err = g.GetPerms(ctx, "@introduceDomain")
	wantErrno(t, err, syscall.EACCES)
}

func TestQuotas(t *testing.T) {
	e := newEnv(t, xsd.Config{Quota: xsd.Quota{Nodes: 8, Watches: 3, Transactions: 2}})
	g := e.dial(e.dom5)
	d0 := e.dial(e.sock)
	ctx := ctxT(t)

	// Node size: 2048 bytes for unprivileged domains, E2BIG.
	wantErrno(t, g.Write(ctx, "data/big", make([]byte, 3000)), syscall.E2BIG)
	wantErrno(t, g.Write(ctx, "data/deep/er/big", make([]byte, 3000)), syscall.E2BIG)
	if ok, _ := d0.Exists(ctx, "/local/domain/5/data/deep"); ok {
		t.Fatal("a refused write left its parents behind")
	}
	must(t, g.Write(ctx, "data/ok", make([]byte, 1000)))
	must(t, d0.Write(ctx, "/dom0big", make([]byte, 3000))) // dom0 is exempt
	// Node count: the domain owns data and data/ok; 8 allowed.
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		err = g.Write(ctx, "data/n"+strconv.Itoa(i), nil)
	}
	wantErrno(t, err, syscall.ENOSPC)
	// Watches: E2BIG.
	for i := 0; i < 4 && err == nil || i == 0; i++ {
		_, err = g.Watch(ctx, "data", "t"+strconv.Itoa(i))
	}
	wantErrno(t, err, syscall.E2BIG)
	// Transactions: ENOSPC.
	t1, err := g.StartTransaction(ctx)
	must(t, err)
	t2, err := g.StartTransaction(ctx)
	must(t, err)
	_, err = g.StartTransaction(ctx)
	wantErrno(t, err, syscall.ENOSPC)
	must(t, t1.Abort(ctx))
	must(t, t2.Abort(ctx))
	// Permission entries: ENOSPC beyond 5.
	many := xenstore.Perms{{Domid: 5}}
	for i := uint32(10); i < 16; i++ {
		many = append(many, xenstore.Perm{Domid: i, Access: xenstore.AccessRead})
	}
	wantErrno(t, g.SetPerms(ctx, "data/ok", many), syscall.ENOSPC)
}

func TestTransactions(t *testing.T) {
	e := newEnv(t, xsd.Config{})
	c := e.dial(e.sock)
	other := e.dial(e.sock)
	ctx := ctxT(t)
	must(t, c.Write(ctx, "/tx/n", []byte("0")))

	// Isolation and atomic commit.
	tx, err := c.StartTransaction(ctx)
	must(t, err)
	must(t, tx.Write(ctx, "/tx/a", []byte("1")))
	must(t, tx.Write(ctx, "/tx/b", []byte("2")))
	ok, err := other.Exists(ctx, "/tx/a")
	must(t, err)
	if ok {
		t.Fatal("uncommitted write visible outside")
	}
	v, err := tx.Read(ctx, "/tx/a")
	must(t, err)
	if string(v) != "1" {
		t.Fatalf("own write invisible in tx: %q", v)
	}
	must(t, tx.Commit(ctx))
	v, err = other.Read(ctx, "/tx/b")
	must(t, err)
	if string(v) != "2" {
		t.Fatalf("after commit %q", v)
	}

	// Conflict: a node read in the transaction changes outside: EAGAIN,
	// and nothing of the transaction applies.
	tx, err = c.StartTransaction(ctx)
	must(t, err)
	_, err = tx.Read(ctx, "/tx/n")
	must(t, err)
	must(t, tx.Write(ctx, "/tx/side", []byte("x")))
	must(t, other.Write(ctx, "/tx/n", []byte("changed")))
	wantErrno(t, tx.Commit(ctx), syscall.EAGAIN)
	ok, err = other.Exists(ctx, "/tx/side")
	must(t, err)
	if ok {
		t.Fatal("failed transaction applied a write")
	}
	// Abort discards.
	tx, err = c.StartTransaction(ctx)
	must(t, err)
	must(t, tx.Write(ctx, "/tx/aborted", nil))
	must(t, tx.Abort(ctx))
	ok, _ = other.Exists(ctx, "/tx/aborted")
	if ok {
		t.Fatal("aborted write applied")
	}
	// An unknown transaction id.
	_, err = tx.Read(ctx, "/tx/n")
	if err == nil {
		t.Fatal("read on ended transaction succeeded")
	}

	// Concurrent increments through the retrying helper: no update lost,
	// and conflicts did happen (counted through a hook in fn).
	must(t, c.Write(ctx, "/tx/n", []byte("0")))
	const workers, each = 4, 15
	var mu sync.Mutex
	attempts := 0
	var wg sync.WaitGroup
	clients := []*xenstore.Client{c, other, e.dial(e.sock), e.dial(e.sock)}
	start := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(cl *xenstore.Client) {
			defer wg.Done()
			<-start
			for i := 0; i < each; i++ {
				err := cl.Transaction(ctx, func(tx *xenstore.Tx) error {
					mu.Lock()
					attempts++
					mu.Unlock()
					v, err := tx.Read(ctx, "/tx/n")
					if err != nil {
						return err
					}
					n, _ := strconv.Atoi(string(v))
					time.Sleep(100 * time.Microsecond) // widen the race window
					return tx.Write(ctx, "/tx/n", []byte(strconv.Itoa(n+1)))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(clients[w])
	}
	close(start)
	wg.Wait()
	v, err = c.Read(ctx, "/tx/n")
	must(t, err)
	if string(v) != strconv.Itoa(workers*each) {
		t.Fatalf("counter %s, want %d (lost updates)", v, workers*each)
	}
	t.Logf("%d increments took %d attempts", workers*each, attempts)
}

func recv(t *testing.T, w *xenstore.Watch) xenstore.Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("watch %s closed: %v", w.Path, w.Err())
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatalf("no event on %s", w.Path)
	}
	return xenstore.Event{}
}

func noEvent(t *testing.T, w *xenstore.Watch) {
	t.Helper()
	// A round trip on the same server orders this after any event the
	// write caused (one server lock, events queued before the reply).
	select {
	case ev := <-w.Events():
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestWatches(t *testing.T) {
	e := newEnv(t, xsd.Config{})
	c := e.dial(e.sock)
	g := e.dial(e.dom5)
	ctx := ctxT(t)

	w, err := c.Watch(ctx, "/w", "tok")
	must(t, err)
	if ev := recv(t, w); ev.Path != "/w" || ev.Token != "tok" || ev.Kind != xenstore.EventChange {
		t.Fatalf("registration event %+v", ev)
	}
	must(t, c.Write(ctx, "/w/a/b", []byte("1")))
	if ev := recv(t, w); ev.Path != "/w/a/b" {
		t.Fatalf("event %+v", ev)
	}
	must(t, c.Write(ctx, "/wx", nil)) // a sibling with a common prefix: no event
	noEvent(t, w)
	must(t, c.Rm(ctx, "/w/a"))
	// xenstored fires the removed root for watches above it, and each
	// removed descendant only for watches on that exact node.
	if ev := recv(t, w); ev.Path != "/w/a" {
		t.Fatalf("rm event %+v", ev)
	}
	noEvent(t, w)
	// Same path, second token: both fire.
	w2, err := c.Watch(ctx, "/w", "tok2")
	must(t, err)
	recv(t, w2)
	must(t, c.Write(ctx, "/w", []byte("v")))
	recv(t, w)
	recv(t, w2)
	// Duplicate registration.
	_, err = c.Watch(ctx, "/w", "tok")
	wantErrno(t, err, syscall.EEXIST)
	must(t, w2.Unwatch(ctx))
	if _, ok := <-w2.Events(); ok {
		t.Fatal("channel open after Unwatch")
	}
	// Cancelling the watch's context ends it.
	wctx, cancel := context.WithCancel(ctx)
	w3, err := c.Watch(wctx, "/w3", "")
	must(t, err)
	recv(t, w3)
	cancel()
	select {
	case _, ok := <-w3.Events():
		if ok {
			// a last event may race the cancel; the close follows
			for range w3.Events() {
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch not closed after context cancel")
	}

	// Guest watches: relative paths are reported relative; events on nodes
	// the guest cannot read are not delivered.
	gw, err := g.Watch(ctx, "data", "g")
	must(t, err)
	if ev := recv(t, gw); ev.Path != "data" {
		t.Fatalf("relative registration event %+v", ev)
	}
	must(t, g.Write(ctx, "data/r", []byte("1")))
	if ev := recv(t, gw); ev.Path != "data/r" {
		t.Fatalf("relative event %+v", ev)
	}
	groot, err := g.Watch(ctx, "/", "root")
	must(t, err)
	recv(t, groot)
	must(t, c.Write(ctx, "/secret/x", nil)) // n0: invisible to domain 5
	must(t, c.Write(ctx, "/public", nil))
	must(t, c.SetPerms(ctx, "/public", xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}}))
	if ev := recv(t, groot); ev.Path != "/public" {
		t.Fatalf("guest saw %+v, want /public", ev)
	}

	// Special watches.
	iw, err := c.Watch(ctx, "@introduceDomain", "intro")
	must(t, err)
	recv(t, iw)
	rw, err := c.Watch(ctx, "@releaseDomain", "rel")
	must(t, err)
	recv(t, rw)
	gi, err := g.Watch(ctx, "@introduceDomain", "gintro") // registration allowed, events not (n0)
	must(t, err)
	recv(t, gi)
	all, err := c.Watch(ctx, "/", "all")
	must(t, err)
	recv(t, all)
	must(t, e.srv.IntroduceDomain(9))
	if ev := recv(t, iw); ev.Path != "@introduceDomain" {
		t.Fatalf("introduce event %+v", ev)
	}
	// xenstored also fires special events on watches of "/": Dom0's sees
	// the new home and @introduceDomain.
	seen := map[string]bool{}
	for len(seen) < 2 {
		seen[recv(t, all).Path] = true
	}
	if !seen["@introduceDomain"] || !seen["/local/domain/9"] {
		t.Fatalf("watch on / saw %v", seen)
	}
	must(t, all.Unwatch(ctx))
	must(t, e.srv.ReleaseDomain(9))
	if ev := recv(t, rw); ev.Path != "@releaseDomain" {
		t.Fatalf("release event %+v", ev)
	}
	noEvent(t, gi)
	ok, err := c.Exists(ctx, "/local/domain/9")
	must(t, err)
	if ok {
		t.Fatal("released domain's home still there")
	}
}

// A consumer that never reads must not block the reader, other callers or
// other watches; its events coalesce into an overflow.
func TestSlowWatchConsumer(t *testing.T) {
	e := newEnv(t, xsd.Config{})
	c := e.dial(e.sock, xenstore.WithWatchBuffer(4))
	ctx := ctxT(t)
	slow, err := c.Watch(ctx, "/s", "slow")
	must(t, err)
	fast, err := c.Watch(ctx, "/f", "fast")
	must(t, err)
	recv(t, fast)
	for i := 0; i < 200; i++ {
		must(t, c.Write(ctx, "/s/"+strconv.Itoa(i), nil))
	}
	must(t, c.Write(ctx, "/f/x", nil))
	if ev := recv(t, fast); ev.Path != "/f/x" {
		t.Fatalf("fast watch got %+v", ev)
	}
	// Drain: at most the buffer, ending with an overflow.
	n, overflow := 0, false
	for {
		select {
		case ev := <-slow.Events():
			n++
			if ev.Kind == xenstore.EventOverflow {
				overflow = true
			}
			continue
		case <-time.After(100 * time.Millisecond):
		}
		break
	}
	if !overflow || n > 5 {
		t.Fatalf("drained %d events, overflow %v", n, overflow)
	}
}

func TestReconnect(t *testing.T) {
	cfg := xsd.Config{PersistFile: filepath.Join(t.TempDir(), "tree.json")}
	e := newEnv(t, cfg)
	c := e.dial(e.sock)
	ctx := ctxT(t)
	must(t, c.Write(ctx, "/keep", []byte("kept")))
	w, err := c.Watch(ctx, "/keep", "k")
	must(t, err)
	recv(t, w)
	rc := c.Reconnected()
	staleTx, err := c.StartTransaction(ctx)
	must(t, err)
	retried := 0
	txDone := make(chan error, 1)
	txStarted := make(chan struct{})
	go func() {
		txDone <- c.Transaction(ctx, func(tx *xenstore.Tx) error {
			retried++
			if retried == 1 {
				close(txStarted)
				<-rc // hold the first attempt across the restart
			}
			return tx.Write(ctx, "/txkept", []byte("1"))
		})
	}()
	<-txStarted

	must(t, e.srv.Close())
	// A call during the outage waits for the new server.
	done := make(chan error, 1)
	go func() {
		v, err := c.Read(ctx, "/keep")
		if err == nil && string(v) != "kept" {
			err = fmt.Errorf("read %q after restart", v)
		}
		done <- err
	}()
	time.Sleep(30 * time.Millisecond)
	e.start()

	select {
	case <-rc:
	case <-time.After(5 * time.Second):
		t.Fatal("no Reconnected signal")
	}
	must(t, <-done)
	// A transaction of the old connection fails clearly; it is never sent
	// on the new one, where its id means nothing (or something else).
	_, err = staleTx.Read(ctx, "/keep")
	if !errors.Is(err, xenstore.ErrConnectionLost) {
		t.Fatalf("stale transaction: %v", err)
	}
	// The helper redid the interrupted transaction on the new connection.
	must(t, <-txDone)
	if retried != 2 {
		t.Fatalf("transaction ran %d times, want 2", retried)
	}
	kinds := map[xenstore.EventKind]bool{}
	for len(kinds) < 2 {
		ev := recv(t, w)
		kinds[ev.Kind] = true
	}
	if !kinds[xenstore.EventReconnected] || !kinds[xenstore.EventChange] {
		t.Fatalf("after reconnect got %v", kinds)
	}
	// The watch is live on the new server.
	must(t, c.Write(ctx, "/keep", []byte("again")))
	for {
		ev := recv(t, w)
		if ev.Kind == xenstore.EventChange && ev.Path == "/keep" {
			v, err := c.Read(ctx, "/keep")
			must(t, err)
			if string(v) == "again" {
				break
			}
		}
	}
	if c.Reconnected() == rc {
		t.Fatal("Reconnected channel not renewed")
	}
}

// A request in flight when the connection drops fails with
// ErrConnectionLost instead of hanging, and a cancelled context ends a
// wait for a reply that never comes.
func TestLostAndCancelled(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	must(t, err)
	defer l.Close()
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			n := len(conns)
			mu.Unlock()
			go func() {
				m, err := xenstore.ReadMsg(nc)
				if err != nil {
					return
				}
				if n == 1 && bytes.HasPrefix(m.Payload, []byte("/drop")) {
					nc.Close()
				}
				// otherwise: never answer
			}()
		}
	}()
	c, err := xenstore.DialSocket(context.Background(), sock, xenstore.WithBackoff(time.Millisecond, 10*time.Millisecond))
	must(t, err)
	defer c.Close()
	_, err = c.Read(context.Background(), "/drop")
	if !errors.Is(err, xenstore.ErrConnectionLost) {
		t.Fatalf("got %v, want ErrConnectionLost", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Read(ctx, "/silence")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want deadline", err)
	}
	c.Close()
	_, err = c.Read(context.Background(), "/x")
	if !errors.Is(err, xenstore.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	mu.Lock()
	for _, nc := range conns {
		nc.Close()
	}
	mu.Unlock()
}

func TestManyGoroutines(t *testing.T) {
	e := newEnv(t, xsd.Config{})
	c := e.dial(e.sock)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				p := fmt.Sprintf("/m/%d/%d", g, i)
				val := []byte(p)
				if err := c.Write(ctx, p, val); err != nil {
					errs <- err
					return
				}
				v, err := c.Read(ctx, p)
				if err != nil || !bytes.Equal(v, val) {
					errs <- fmt.Errorf("read %s = %q, %v", p, v, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	names, err := c.Directory(ctx, "/m")
	must(t, err)
	sort.Strings(names)
	if len(names) != 16 {
		t.Fatalf("%d dirs", len(names))
	}
}

func TestDialErrorNamesPaths(t *testing.T) {
	t.Setenv("XENSTORED_PATH", filepath.Join(t.TempDir(), "absent"))
	_, err := xenstore.Dial(context.Background())
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("absent")) {
		t.Fatalf("error %v does not name the path", err)
	}
}

// The device transport: payload limit 4080 and no RESET_WATCHES, both
// enforced before any I/O (here on /dev/null, which ends at once).
func TestDeviceRules(t *testing.T) {
	c, err := xenstore.DialDevice(context.Background(), "/dev/null", xenstore.WithoutReconnect())
	if err != nil {
		t.Skipf("no /dev/null: %v", err)
	}
	defer c.Close()
	if !c.IsDevice() {
		t.Fatal("not a device client")
	}
	if err := c.ResetWatches(context.Background()); !errors.Is(err, xenstore.ErrDevice) {
		t.Fatalf("ResetWatches on device: %v", err)
	}
	p := "/x"
	err = c.Write(context.Background(), p, make([]byte, xenstore.DevicePayloadMax-len(p)))
	wantErrno(t, err, syscall.E2BIG)
}

// After a restart without persistence the tree is gone, the watches are
// back, and a watch the new server refuses is closed with its error.
func TestReconnectWithoutPersistence(t *testing.T) {
	e := newEnv(t, xsd.Config{})
	g := e.dial(e.dom5)
	ctx := ctxT(t)
	must(t, g.Write(ctx, "data/x", []byte("1")))
	w1, err := g.Watch(ctx, "data", "a")
	must(t, err)
	recv(t, w1)
	w2, err := g.Watch(ctx, "domid", "b")
	must(t, err)
	recv(t, w2)
	rc := g.Reconnected()
	must(t, e.srv.Close())
	e.cfg.Quota = xsd.Quota{Watches: 1}
	e.start()
	select {
	case <-rc:
	case <-time.After(5 * time.Second):
		t.Fatal("no reconnection")
	}
	_, err = g.Read(ctx, "data/x")
	wantErrno(t, err, syscall.ENOENT)
	// One watch fits the new quota, the other is refused with E2BIG.
	refused, live := 0, 0
	for _, w := range []*xenstore.Watch{w1, w2} {
		sawReconnect := false
		for !sawReconnect {
			ev, ok := <-w.Events()
			if !ok {
				wantErrno(t, w.Err(), syscall.E2BIG)
				refused++
				break
			}
			sawReconnect = ev.Kind == xenstore.EventReconnected
		}
		if sawReconnect {
			live++
		}
	}
	if refused != 1 || live != 1 {
		t.Fatalf("refused %d live %d", refused, live)
	}
}

// Replies may come back in any order: the reader matches them by req_id,
// and routes an interleaved watch event to its watch.
func TestOutOfOrderReplies(t *testing.T) {
	sock := fakeServer(t, func(nc net.Conn) {
		// WATCH first: answer it normally.
		m, _ := xenstore.ReadMsg(nc)
		ok := xenstore.Msg{Header: m.Header, Payload: xenstore.JoinStrings("OK")}
		b, _ := ok.Encode()
		nc.Write(b)
		var reqs []xenstore.Msg
		for len(reqs) < 3 {
			m, err := xenstore.ReadMsg(nc)
			if err != nil {
				return
			}
			reqs = append(reqs, m)
		}
		ev := xenstore.Msg{Header: xenstore.Header{Type: xenstore.TypeWatchEvent}, Payload: xenstore.JoinStrings("/w/x", "t")}
		b, _ = ev.Encode()
		nc.Write(b)
		replyNewestFirst(nc, reqs, func(m xenstore.Msg) []byte { return bytes.TrimSuffix(m.Payload, []byte{0}) })
	})
	c := dialFake(t, sock)
	ctx := ctxT(t)
	w, err := c.Watch(ctx, "/w", "t")
	must(t, err)
	var wg sync.WaitGroup
	for _, p := range []string{"/p1", "/p2", "/p3"} {
		wg.Add(1)
		go func(p string) {
			defer wg.Done()
			v, err := c.Read(ctx, p) // the fake server echoes the path
			if err != nil || string(v) != p {
				t.Errorf("read %s got %q %v", p, v, err)
			}
		}(p)
	}
	wg.Wait()
	if ev := recv(t, w); ev.Path != "/w/x" {
		t.Fatalf("event %+v", ev)
	}
}

// A caller that gives up on TRANSACTION_START must not leak the server's
// transaction: the client aborts it when the late reply arrives.
func TestAbandonedTransactionAborted(t *testing.T) {
	e := newEnv(t, xsd.Config{})
	c := e.dial(e.dom5)
	ctx := ctxT(t)
	for i := 0; i < 50; i++ {
		cctx, cancel := context.WithCancel(ctx)
		cancel() // often before the reply, sometimes before the send
		if tx, err := c.StartTransaction(cctx); err == nil {
			must(t, tx.Abort(ctx)) // the reply won the race: ours to end
		}
	}
	// Requests on a connection are answered in order: after this reply
	// every TRANSACTION_START above has been handled and its reply read.
	_, err := c.Read(ctx, "domid")
	must(t, err)
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.Stats().Transactions != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions left open", e.srv.Stats().Transactions)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The quota (10) is intact.
	for i := 0; i < 10; i++ {
		tx, err := c.StartTransaction(ctx)
		must(t, err)
		defer tx.Abort(ctx)
	}
}
