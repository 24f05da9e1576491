package xsd_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

// rawConn speaks the wire protocol directly, as a hostile or careless
// peer would: it can pipeline requests, ignore replies and pick any tx_id.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, sock string) *rawConn {
	t.Helper()
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (c *rawConn) send(typ xenstore.MsgType, tx uint32, payload []byte) {
	c.t.Helper()
	m := xenstore.Msg{Header: xenstore.Header{Type: typ, ReqID: 1, TxID: tx}, Payload: payload}
	b, err := m.Encode()
	if err != nil {
		c.t.Fatal(err)
	}
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("sending %s: %v", typ, err)
	}
}

// recv returns the next reply, skipping watch events.
func (c *rawConn) recv() (xenstore.Msg, error) {
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		m, err := xenstore.ReadMsg(c.r)
		if err != nil || m.Type != xenstore.TypeWatchEvent {
			return m, err
		}
	}
}

// call sends a request and returns its reply payload, or the error name
// ("ENOSPC") for an ERROR reply.
func (c *rawConn) call(typ xenstore.MsgType, tx uint32, payload []byte) (string, string) {
	c.t.Helper()
	c.send(typ, tx, payload)
	m, err := c.recv()
	if err != nil {
		c.t.Fatalf("%s: no reply: %v", typ, err)
	}
	if m.Type == xenstore.TypeError {
		return "", strings.TrimSuffix(string(m.Payload), "\x00")
	}
	return string(m.Payload), ""
}

func (c *rawConn) startTx() uint32 {
	c.t.Helper()
	p, e := c.call(xenstore.TypeTransactionStart, 0, js(""))
	if e != "" {
		c.t.Fatalf("TRANSACTION_START: %s", e)
	}
	id, err := strconv.ParseUint(strings.TrimSuffix(p, "\x00"), 10, 32)
	if err != nil {
		c.t.Fatalf("TRANSACTION_START reply %q", p)
	}
	return uint32(id)
}

func newServer(t *testing.T, cfg xsd.Config) (*xsd.Server, string) {
	t.Helper()
	srv, err := xsd.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	sock := filepath.Join(t.TempDir(), "socket")
	if err := srv.Listen(sock); err != nil {
		t.Fatal(err)
	}
	return srv, sock
}

// newGuestServer is newServer with defaults and a socket for domain 5.
func newGuestServer(t *testing.T) (srv *xsd.Server, sock, dom5 string) {
	t.Helper()
	srv, sock = newServer(t, xsd.Config{})
	dom5 = filepath.Join(t.TempDir(), "dom5")
	if err := srv.ListenDomain(dom5, 5); err != nil {
		t.Fatal(err)
	}
	return srv, sock, dom5
}

// deepPath is an absolute path of depth components below base, as long
// as the protocol allows.
func deepPath(base string, depth int) string {
	return base + strings.Repeat("/x", depth)
}

// A transaction that touches more nodes than the per-transaction quota
// gets ENOSPC and can never commit. Without the cap, one READ of a deep
// missing path made the server record every ancestor, and a few thousand
// such READs grew it by hundreds of megabytes.
func TestTransactionNodeQuota(t *testing.T) {
	_, _, dsock := newGuestServer(t)
	g := dialRaw(t, dsock)
	tx := g.startTx()
	deep := deepPath("/local/domain/5/data", 1500) // 1500 missing ancestors
	var got string
	for i := 0; i < 3 && got != "ENOSPC"; i++ {
		_, got = g.call(xenstore.TypeRead, tx, js(fmt.Sprintf("%s%d", deep[:len(deep)-2], i)))
	}
	if got != "ENOSPC" {
		t.Fatalf("READs touching 4500 nodes in one transaction: %q, want ENOSPC", got)
	}
	if _, e := g.call(xenstore.TypeTransactionEnd, tx, js("T")); e != "ENOSPC" {
		t.Fatalf("commit of a transaction over its node quota: %q, want ENOSPC", e)
	}
	// A transaction within the quota still works, and Dom0 has no cap.
	tx = g.startTx()
	if _, e := g.call(xenstore.TypeWrite, tx, []byte("data/a\x00v")); e != "" {
		t.Fatal(e)
	}
	if _, e := g.call(xenstore.TypeTransactionEnd, tx, js("T")); e != "" {
		t.Fatal(e)
	}
}

// Ten transactions, each within the node quota on its own, must not
// together leave the domain owning more than the quota: the count is
// checked again at commit (ENOSPC), as xenstored does.
func TestNodeQuotaAtCommit(t *testing.T) {
	_, sock, dsock := newGuestServer(t)
	g := dialRaw(t, dsock)
	const txs, perTx = 10, 150
	for i := 0; i < txs; i++ {
		if _, e := g.call(xenstore.TypeMkdir, 0, js(fmt.Sprintf("data/t%d", i))); e != "" {
			t.Fatal(e)
		}
	}
	ids := make([]uint32, txs)
	for i := range ids {
		ids[i] = g.startTx()
		for k := 0; k < perTx; k++ {
			if _, e := g.call(xenstore.TypeWrite, ids[i], []byte(fmt.Sprintf("data/t%d/k%d\x00v", i, k))); e != "" {
				t.Fatalf("tx %d write %d: %s", i, k, e)
			}
		}
	}
	var refused int
	for i, id := range ids {
		switch _, e := g.call(xenstore.TypeTransactionEnd, id, js("T")); e {
		case "":
		case "ENOSPC":
			refused++
		default:
			t.Fatalf("commit %d: %s", i, e)
		}
	}
	d := dialRaw(t, sock)
	owned := 1 // ~/data
	for i := 0; i < txs; i++ {
		p, e := d.call(xenstore.TypeDirectory, 0, js(fmt.Sprintf("/local/domain/5/data/t%d", i)))
		if e != "" {
			t.Fatal(e)
		}
		owned += 1 + strings.Count(p, "\x00")
	}
	t.Logf("%d transactions of %d nodes: %d commits refused, the domain owns %d nodes (quota %d)",
		txs, perTx, refused, owned, xsd.DefaultQuota.Nodes)
	if owned > xsd.DefaultQuota.Nodes {
		t.Fatalf("domain owns %d nodes, quota %d", owned, xsd.DefaultQuota.Nodes)
	}
	if refused == 0 {
		t.Fatal("no commit refused")
	}
}

// A wire RELEASE does what ReleaseDomain does: the domain's connections
// close, its home goes, @releaseDomain fires. While released its socket
// refuses connections; introduced again (migrating back) it serves again.
func TestWireReleaseAndReintroduce(t *testing.T) {
	srv, sock := newServer(t, xsd.Config{})
	dsock := filepath.Join(t.TempDir(), "dom7")
	if err := srv.ListenDomain(dsock, 7); err != nil {
		t.Fatal(err)
	}
	g := dialRaw(t, dsock)
	if p, e := g.call(xenstore.TypeWrite, 0, []byte("data/report\x00r")); e != "" {
		t.Fatalf("guest write: %q %s", p, e)
	}
	d := dialRaw(t, sock)
	if _, e := d.call(xenstore.TypeWatch, 0, js("@releaseDomain", "rel")); e != "" {
		t.Fatal(e)
	}
	// The registration event.
	if m, err := xenstore.ReadMsg(d.r); err != nil || m.Type != xenstore.TypeWatchEvent {
		t.Fatalf("registration event: %v %v", m.Type, err)
	}
	d.send(xenstore.TypeRelease, 0, js("7"))
	var ok, fired bool
	for !ok || !fired {
		d.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		m, err := xenstore.ReadMsg(d.r)
		if err != nil {
			t.Fatalf("after RELEASE: ok %v, @releaseDomain fired %v: %v", ok, fired, err)
		}
		switch {
		case m.Type == xenstore.TypeRelease && string(m.Payload) == "OK\x00":
			ok = true
		case m.Type == xenstore.TypeWatchEvent && string(m.Payload) == "@releaseDomain\x00rel\x00":
			fired = true
		default:
			t.Fatalf("after RELEASE: %s %q", m.Type, m.Payload)
		}
	}
	g.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := g.nc.Read(make([]byte, 16)); err == nil {
		t.Fatal("released domain's connection still open")
	}
	if _, e := d.call(xenstore.TypeRead, 0, js("/local/domain/7/data/report")); e != "ENOENT" {
		t.Fatalf("released domain's home: READ gave %q, want ENOENT", e)
	}
	if p, _ := d.call(xenstore.TypeIsDomainIntroduced, 0, js("7")); p != "F\x00" {
		t.Fatalf("IS_DOMAIN_INTRODUCED after RELEASE: %q", p)
	}
	// While released, the domain socket accepts and closes at once.
	r := dialRaw(t, dsock)
	enc, _ := (&xenstore.Msg{Header: xenstore.Header{Type: xenstore.TypeRead}, Payload: js("domid")}).Encode()
	r.nc.Write(enc) // may fail already: the server closes at once
	if m, err := r.recv(); err == nil {
		t.Fatalf("released domain served: %s %q", m.Type, m.Payload)
	}
	// Migrating back: INTRODUCE makes the home again and the socket serves.
	if _, e := d.call(xenstore.TypeIntroduce, 0, js("7", "0", "0")); e != "" {
		t.Fatal(e)
	}
	g = dialRaw(t, dsock)
	if p, e := g.call(xenstore.TypeRead, 0, js("domid")); p != "7" {
		t.Fatalf("reintroduced domain: READ domid gave %q %s", p, e)
	}
	if _, e := g.call(xenstore.TypeWrite, 0, []byte("data/report\x00again")); e != "" {
		t.Fatalf("reintroduced domain cannot write ~/data: %s", e)
	}
	// And the API path: release, then introduce, through the same socket.
	if err := srv.ReleaseDomain(7); err != nil {
		t.Fatal(err)
	}
	if err := srv.IntroduceDomain(7); err != nil {
		t.Fatal(err)
	}
	g = dialRaw(t, dsock)
	if p, e := g.call(xenstore.TypeRead, 0, js("domid")); p != "7" {
		t.Fatalf("after API release and introduce: READ domid gave %q %s", p, e)
	}
}

// emfileChild is the server half of TestAcceptSurvivesEMFILE, run in a
// child process so that lowering RLIMIT_NOFILE cannot hurt the tests.
func emfileChild(sock string) {
	log, _ := zap.NewDevelopment()
	srv, err := xsd.New(xsd.Config{Logger: log})
	if err == nil {
		err = srv.Listen(sock)
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	// Room for two connections (the ReadDir descriptor is closed again).
	lim := syscall.Rlimit{Cur: uint64(len(fds) + 1), Max: uint64(len(fds) + 1)}
	var old syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old)
	lim.Max = old.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // until the parent closes it
	os.Exit(0)
}

// After accept fails (here EMFILE: the process is out of descriptors) the
// server keeps accepting once descriptors are free again.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	if sock := os.Getenv("XSD_EMFILE_CHILD"); sock != "" {
		emfileChild(sock)
		return
	}
	sock := filepath.Join(t.TempDir(), "socket")
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptSurvivesEMFILE$")
	cmd.Env = append(os.Environ(), "XSD_EMFILE_CHILD="+sock)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The child's log goes to a file the test reads while it runs.
	errFile, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	cmd.Stderr = errFile
	stderr := func() string {
		b, _ := os.ReadFile(errFile.Name())
		return string(b)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("child: %q %v\n%s", line, err, stderr())
	}
	// More connections than the child has descriptors for: accept fails.
	var held []*rawConn
	for i := 0; i < 6; i++ {
		held = append(held, dialRaw(t, sock))
	}
	c := held[0]
	if p, e := c.call(xenstore.TypeGetDomainPath, 0, js("3")); p != "/local/domain/3\x00" {
		t.Fatalf("first connection: %q %s", p, e)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr(), "too many open files") {
		if time.Now().After(deadline) {
			t.Fatalf("the child never ran out of descriptors:\n%s", stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, h := range held {
		h.nc.Close()
	}
	// Descriptors are free again: a new connection is served.
	fresh := dialRaw(t, sock)
	fresh.send(xenstore.TypeGetDomainPath, 0, js("4"))
	m, err := fresh.recv()
	if err != nil || string(m.Payload) != "/local/domain/4\x00" {
		t.Fatalf("after EMFILE the server no longer accepts: %v %q\n%s", err, m.Payload, stderr())
	}
}

func heapBytes() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func rssKiB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// A guest does everything it can to make the server hold memory: more
// connections than allowed, watches with long tokens, every transaction
// reading deep missing paths, nodes until refused, and thousands of
// requests it never reads the replies of. The server's accounting stays
// within the domain's quota, the heap grows by a bounded amount, and Dom0
// is still served.
func TestHostileGuestBounded(t *testing.T) {
	srv, sock, dsock := newGuestServer(t)
	q := xsd.DefaultQuota
	d := dialRaw(t, sock)
	if _, e := d.call(xenstore.TypeWrite, 0, append([]byte("/big\x00"), bytes.Repeat([]byte("v"), 4000)...)); e != "" {
		t.Fatal(e)
	}
	if _, e := d.call(xenstore.TypeSetPerms, 0, js("/big", "r0")); e != "" {
		t.Fatal(e)
	}
	heap0, rss0 := heapBytes(), rssKiB()

	// Connections: the quota's worth are served, the rest closed.
	var gs []*rawConn
	refused := 0
	for i := 0; i < q.Connections+4; i++ {
		g := dialRaw(t, dsock)
		enc, _ := (&xenstore.Msg{Header: xenstore.Header{Type: xenstore.TypeGetDomainPath}, Payload: js("5")}).Encode()
		g.nc.Write(enc)
		if _, err := g.recv(); err != nil {
			refused++
			continue
		}
		gs = append(gs, g)
	}
	if len(gs) != q.Connections || refused != 4 {
		t.Fatalf("%d connections served, %d refused; quota %d", len(gs), refused, q.Connections)
	}
	errs := map[string]int{}
	token := strings.Repeat("t", 3000)
	deep := deepPath("", 600)
	for ci, g := range gs {
		for w := 0; w < 10; w++ { // 160 in all: the last ones get E2BIG
			_, e := g.call(xenstore.TypeWatch, 0, js(fmt.Sprintf("/local/domain/5/quiet/c%dw%d", ci, w), token))
			errs["WATCH "+e]++
		}
	}
	for ci, g := range gs {
		for k := 0; k < q.Transactions; k++ {
			tx := g.startTx()
			for r := 0; r < 4; r++ {
				_, e := g.call(xenstore.TypeRead, tx, js(fmt.Sprintf("/local/domain/5/data/c%dt%dr%d%s", ci, k, r, deep)))
				errs["READ in transaction "+e]++
			}
		}
		for n := 0; n < 40; n++ {
			_, e := g.call(xenstore.TypeWrite, 0, append([]byte(fmt.Sprintf("data/c%dn%d\x00", ci, n)), bytes.Repeat([]byte("w"), 2000)...))
			errs["WRITE "+e]++
		}
	}
	// Requests whose replies are never read: each asks for 4000 bytes.
	var wg sync.WaitGroup
	sent := make([]int, len(gs))
	for i, g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			enc, _ := (&xenstore.Msg{Header: xenstore.Header{Type: xenstore.TypeRead}, Payload: js("/big")}).Encode()
			g.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
			for ; sent[i] < 2000; sent[i]++ {
				if _, err := g.nc.Write(enc); err != nil {
					return // the server stopped reading: our socket buffer is full
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range sent {
		total += n
	}
	u := srv.Usage(5)
	heap1, rss1 := heapBytes(), rssKiB()
	// Dom0 is still served while every guest connection sits unread.
	lat := make([]time.Duration, 200)
	for i := range lat {
		start := time.Now()
		if p, e := d.call(xenstore.TypeRead, 0, js("/local/domain/5/domid")); p != "5" {
			t.Fatalf("Dom0 READ during the attack: %q %s", p, e)
		}
		lat[i] = time.Since(start)
	}
	slices.Sort(lat)
	t.Logf("replies of the quotas: %v", errs)
	t.Logf("unread requests sent: %d over %d connections", total, len(gs))
	t.Logf("server accounting for domain 5: %+v (quota %d bytes)", u, q.DomainMemory)
	t.Logf("heap +%.1f MiB, RSS +%.1f MiB; Dom0 READ p50 %v, p99 %v (not asserted: shared machine)",
		float64(int64(heap1)-int64(heap0))/(1<<20), float64(rss1-rss0)/1024, lat[len(lat)/2], lat[len(lat)*99/100])
	if u.MemoryBytes > q.DomainMemory {
		t.Fatalf("domain 5 holds %d bytes, quota %d", u.MemoryBytes, q.DomainMemory)
	}
	// Throttled (the server stopped reading them), not dropped for
	// overflowing their output queue.
	if u.Connections != q.Connections {
		t.Fatalf("%d of the guest's %d connections left", u.Connections, q.Connections)
	}
	if max := q.Connections * q.Outstanding * (xenstore.HeaderSize + 4000); u.QueuedBytes > max {
		t.Fatalf("%d bytes queued for unread replies, bound %d", u.QueuedBytes, max)
	}
	if errs["WATCH E2BIG"] != 160-q.Watches || errs["READ in transaction ENOMEM"]+errs["READ in transaction ENOSPC"] == 0 ||
		errs["WRITE ENOMEM"]+errs["WRITE ENOSPC"] == 0 {
		t.Fatalf("a quota never refused: %v", errs)
	}
	if grow := int64(heap1) - int64(heap0); grow > 32<<20 {
		t.Fatalf("heap grew by %d bytes under a hostile guest", grow)
	}
}

// Rewriting one node inside a transaction adds no node, but each write
// queues a watch event for the commit: those are charged too, so the
// transaction is refused long before it holds much.
func TestTransactionRewritesBounded(t *testing.T) {
	srv, _, dsock := newGuestServer(t)
	g := dialRaw(t, dsock)
	tx := g.startTx()
	long := "data/" + strings.Repeat("n", 2000)
	var e string
	n := 0
	for ; n < 5000 && e == ""; n++ {
		_, e = g.call(xenstore.TypeWrite, tx, []byte(long+"\x00v"))
	}
	u := srv.Usage(5)
	t.Logf("refused with %s after %d rewrites; domain 5 accounts %d bytes", e, n, u.MemoryBytes)
	if e != "ENOMEM" || u.MemoryBytes > xsd.DefaultQuota.DomainMemory {
		t.Fatalf("after %d rewrites: %q, %d bytes accounted", n, e, u.MemoryBytes)
	}
	if _, e := g.call(xenstore.TypeTransactionEnd, tx, js("F")); e != "" {
		t.Fatal(e)
	}
	if u := srv.Usage(5); u.Transactions != 0 || u.MemoryBytes > 4096 {
		t.Fatalf("after abort: %+v", u)
	}
}

// TestDocQuotas keeps docs/xenstore.md's quota table equal to the code:
// every name Quota.Set knows, each with DefaultQuota's value.
func TestDocQuotas(t *testing.T) {
	doc, err := os.ReadFile("../../docs/xenstore.md")
	if err != nil {
		t.Fatal(err)
	}
	var got xsd.Quota
	var names []string
	for _, l := range strings.Split(string(doc), "\n") {
		f := strings.Split(l, "|")
		if len(f) < 4 || !strings.HasPrefix(strings.TrimSpace(f[1]), "`") {
			continue
		}
		name := strings.Trim(strings.TrimSpace(f[1]), "`")
		if !slices.Contains(xsd.QuotaNames(), name) {
			continue
		}
		if err := got.Set(name, strings.TrimSpace(f[2])); err != nil {
			t.Fatalf("docs/xenstore.md: %v", err)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	if !slices.Equal(names, xsd.QuotaNames()) {
		t.Fatalf("docs/xenstore.md lists quotas %v, the server has %v", names, xsd.QuotaNames())
	}
	if got != xsd.DefaultQuota {
		t.Fatalf("docs/xenstore.md defaults %+v, DefaultQuota %+v", got, xsd.DefaultQuota)
	}
}
