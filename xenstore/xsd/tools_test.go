package xsd_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xenradclock/xenradclock/internal/testtool"
	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

// These tests run Debian's xenstore-utils (libxenstore 4.17) unmodified
// against the embedded server through XENSTORED_PATH. What libxenstore
// sends (observed with xsd.Config.Trace, pinned by TestToolsWireBehaviour):
// req_id 0 on every request; xenstore-rm/-chmod/-list/-exists, and
// xenstore-write of several nodes, wrap their work in a transaction and redo
// it on EAGAIN; a one-node xenstore-write and xenstore-ls do not;
// xs_directory falls back to DIRECTORY_PART on E2BIG; xenstore-watch sends
// WATCH and reads events.

type toolEnv struct {
	t    *testing.T
	srv  *xsd.Server
	sock string
	dom5 string
}

func needTools(t *testing.T) {
	for _, b := range []string{"xenstore-read", "xenstore-write", "xenstore-ls", "xenstore-chmod",
		"xenstore-watch", "xenstore-rm", "xenstore-list", "xenstore-exists"} {
		testtool.Require(t, b)
	}
}

func newToolEnv(t *testing.T) *toolEnv {
	needTools(t)
	dir := t.TempDir()
	srv, err := xsd.New(xsd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := &toolEnv{t: t, srv: srv, sock: filepath.Join(dir, "socket"), dom5: filepath.Join(dir, "dom5")}
	if err := srv.Listen(e.sock); err != nil {
		t.Fatal(err)
	}
	if err := srv.ListenDomain(e.dom5, 5); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return e
}

// run runs a tool as domain 0 (sock) or as a guest (dom5).
func (e *toolEnv) run(sock string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "XENSTORED_PATH="+sock)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (e *toolEnv) ok(sock string, args ...string) string {
	e.t.Helper()
	out, err := e.run(sock, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *toolEnv) fails(sock string, args ...string) {
	e.t.Helper()
	if out, err := e.run(sock, args...); err == nil {
		e.t.Fatalf("%v succeeded (%q), want failure", args, out)
	}
}

func TestToolsOperations(t *testing.T) {
	e := newToolEnv(t)
	e.ok(e.sock, "xenstore-write", "/xenradclock/clock", "v=1 gen=7", "/xenradclock/other", "x")
	if got := e.ok(e.sock, "xenstore-read", "/xenradclock/clock"); got != "v=1 gen=7\n" {
		t.Fatalf("read %q", got)
	}
	e.ok(e.sock, "xenstore-exists", "/xenradclock/clock")
	e.fails(e.sock, "xenstore-exists", "/xenradclock/absent")
	e.fails(e.sock, "xenstore-read", "/xenradclock/absent")
	if got := e.ok(e.sock, "xenstore-list", "/xenradclock"); got != "clock\nother\n" {
		t.Fatalf("list %q", got)
	}
	e.ok(e.sock, "xenstore-chmod", "/xenradclock", "r0")
	e.ok(e.sock, "xenstore-chmod", "/xenradclock/clock", "r0")
	e.ok(e.sock, "xenstore-chmod", "/xenradclock/other", "n0", "r5")
	ls := e.ok(e.sock, "xenstore-ls", "-p", "/xenradclock")
	for _, want := range []string{`clock = "v=1 gen=7"`, "(r0)", `other = "x"`, "(n0,r5)"} {
		if !strings.Contains(ls, want) {
			t.Fatalf("xenstore-ls -p lacks %q:\n%s", want, ls)
		}
	}
	// xenstore-ls of the whole tree walks every node.
	full := e.ok(e.sock, "xenstore-ls", "/")
	if !strings.Contains(full, "domid = \"5\"") || !strings.Contains(full, "name = \"Domain-0\"") {
		t.Fatalf("xenstore-ls /:\n%s", full)
	}
	e.ok(e.sock, "xenstore-rm", "/xenradclock/other")
	e.fails(e.sock, "xenstore-exists", "/xenradclock/other")
	// Binary-safe and empty values.
	e.ok(e.sock, "xenstore-write", "/empty", "")
	if got := e.ok(e.sock, "xenstore-read", "/empty"); got != "\n" {
		t.Fatalf("empty read %q", got)
	}
	// Go client and C tools see the same tree.
	c, err := xenstore.DialSocket(context.Background(), e.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v, err := c.Read(context.Background(), "/xenradclock/clock")
	if err != nil || string(v) != "v=1 gen=7" {
		t.Fatalf("go read %q %v", v, err)
	}
	if err := c.Write(context.Background(), "/from-go", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if got := e.ok(e.sock, "xenstore-read", "/from-go"); got != "hi\n" {
		t.Fatalf("tool read of go write %q", got)
	}
}

func TestToolsPermissions(t *testing.T) {
	e := newToolEnv(t)
	e.ok(e.sock, "xenstore-write", "/secret", "s", "/pub", "p")
	e.ok(e.sock, "xenstore-chmod", "/pub", "r0")
	// A guest cannot read n0 nodes.
	e.fails(e.dom5, "xenstore-read", "/secret")
	// It reads r0 nodes but cannot write them.
	if got := e.ok(e.dom5, "xenstore-read", "/pub"); got != "p\n" {
		t.Fatalf("guest read %q", got)
	}
	e.fails(e.dom5, "xenstore-write", "/pub", "forged")
	e.fails(e.dom5, "xenstore-rm", "/pub")
	e.fails(e.dom5, "xenstore-chmod", "/pub", "b5")
	if got := e.ok(e.sock, "xenstore-read", "/pub"); got != "p\n" {
		t.Fatalf("value after guest attempts %q", got)
	}
	// Relative paths resolve to the guest's home.
	if got := e.ok(e.dom5, "xenstore-read", "domid"); got != "5\n" {
		t.Fatalf("guest domid %q", got)
	}
	e.ok(e.dom5, "xenstore-write", "data/xenradclock/offset", "12")
	if got := e.ok(e.sock, "xenstore-read", "/local/domain/5/data/xenradclock/offset"); got != "12\n" {
		t.Fatalf("guest report %q", got)
	}
	ls := e.ok(e.sock, "xenstore-ls", "-p", "/local/domain/5/data")
	if !strings.Contains(ls, "(n5)") {
		t.Fatalf("guest-created node not guest-owned:\n%s", ls)
	}
	e.fails(e.dom5, "xenstore-write", "name", "evil") // home is n0,r5
	e.fails(e.dom5, "xenstore-ls", "/")
}

func TestToolsWatch(t *testing.T) {
	e := newToolEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "xenstore-watch", "-n", "3", "/w")
	cmd.Env = append(os.Environ(), "XENSTORED_PATH="+e.sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "/w" {
		t.Fatalf("first line %q (registration event)", sc.Text())
	}
	e.ok(e.sock, "xenstore-write", "/w/a", "1")
	if !sc.Scan() || sc.Text() != "/w/a" {
		t.Fatalf("second line %q", sc.Text())
	}
	e.ok(e.sock, "xenstore-rm", "/w")
	if !sc.Scan() || sc.Text() != "/w" {
		t.Fatalf("third line %q", sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("xenstore-watch -n 3: %v", err)
	}
}

func TestToolsLongDirectory(t *testing.T) {
	e := newToolEnv(t)
	args := []string{"xenstore-write"}
	for i := 0; i < 300; i++ {
		args = append(args, fmt.Sprintf("/many/a-long-child-name-number-%04d", i), "")
	}
	e.ok(e.sock, args...)
	out := e.ok(e.sock, "xenstore-list", "/many")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 300 || lines[299] != "a-long-child-name-number-0299" {
		t.Fatalf("xenstore-list gave %d names", len(lines))
	}
}

// Parallel xenstore-write processes conflict on the parent's child list;
// libxenstore's tools retry on EAGAIN, so every write lands.
func TestToolsConcurrentTransactions(t *testing.T) {
	e := newToolEnv(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := e.run(e.sock, "xenstore-write", "/c/k"+strconv.Itoa(i), "v", "/c/shared", strconv.Itoa(i))
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d concurrent xenstore-write runs; the server refused %d commits with EAGAIN", n, e.srv.Stats().Conflicts)
	out := e.ok(e.sock, "xenstore-list", "/c")
	if got := len(strings.Fields(out)); got != n+1 {
		t.Fatalf("%d nodes under /c, want %d:\n%s", got, n+1, out)
	}
}

// TestToolsWireBehaviour pins down what libxenstore 4.17 sends, as
// docs/xenstore.md describes it, from the server's trace.
func TestToolsWireBehaviour(t *testing.T) {
	needTools(t)
	core, logs := observer.New(zap.DebugLevel)
	srv, err := xsd.New(xsd.Config{Logger: zap.New(core), Trace: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	e := &toolEnv{t: t, srv: srv, sock: filepath.Join(t.TempDir(), "socket")}
	if err := srv.Listen(e.sock); err != nil {
		t.Fatal(err)
	}
	requests := func() []string {
		var out []string
		for _, l := range logs.TakeAll() {
			if l.Message != "request" {
				continue
			}
			f := l.ContextMap()
			out = append(out, fmt.Sprintf("%v/%v/%v", f["type"], f["req"], f["tx"]))
		}
		return out
	}
	e.ok(e.sock, "xenstore-write", "/a", "1")
	if got := strings.Join(requests(), " "); got != "WRITE/0/0" {
		t.Fatalf("xenstore-write of one node sent %s", got)
	}
	e.ok(e.sock, "xenstore-write", "/a", "1", "/b", "2")
	if got := strings.Join(requests(), " "); got != "TRANSACTION_START/0/0 WRITE/0/1 WRITE/0/1 TRANSACTION_END/0/1" {
		t.Fatalf("xenstore-write of two nodes sent %s", got)
	}
	e.ok(e.sock, "xenstore-rm", "/b")
	if got := strings.Join(requests(), " "); got != "TRANSACTION_START/0/0 RM/0/1 TRANSACTION_END/0/1" {
		t.Fatalf("xenstore-rm sent %s", got)
	}
	e.ok(e.sock, "xenstore-ls", "/a")
	if got := strings.Join(requests(), " "); got != "DIRECTORY/0/0" {
		t.Fatalf("xenstore-ls sent %s", got)
	}
	args := []string{"xenstore-write"}
	for i := 0; i < 200; i++ {
		args = append(args, fmt.Sprintf("/d/a-long-child-name-number-%04d", i), "")
	}
	e.ok(e.sock, args...)
	requests()
	e.ok(e.sock, "xenstore-list", "/d")
	got := strings.Join(requests(), " ")
	if !strings.HasPrefix(got, "TRANSACTION_START/0/0 DIRECTORY/0/1 DIRECTORY_PART/0/1 DIRECTORY_PART/0/1") || !strings.HasSuffix(got, "TRANSACTION_END/0/1") {
		t.Fatalf("xenstore-list of a long directory sent %s", got)
	}
}
