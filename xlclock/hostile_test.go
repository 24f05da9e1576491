package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xenradclock/xenradclock/guestclock/report"
	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xlclock/internal/view"
)

// safeText fails on anything a terminal would interpret in out.
func safeText(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: invalid UTF-8 in output:\n%q", what, out)
	}
	for _, r := range out {
		if (r < 0x20 && r != '\n') || (r >= 0x7f && r < 0xa0) || r == '\u2028' || (r >= 0x202a && r <= 0x202e) {
			t.Errorf("%s: control character %U reached the output:\n%q", what, r, out)
			return
		}
	}
}

// hostileReports are reports a guest can write: every string field full of
// escape sequences, line breaks, tabs and format characters; one forging a
// whole row of another guest; invalid UTF-8; one over the size limit; one
// that is not JSON at all.
func hostileReports() map[uint32][]byte {
	esc := &report.Report{
		Version: report.Version, AgentVersion: "\x1b[2J\x1b[H\x1b]0;owned\x07", Mode: "dependent\r\x1b[1A",
		Counter: "xen\tsystem\x00", State: "synchronised\u009b31m", HostID: goldenHostIDHex,
		HostName: "\u202eevil\u2028", Generation: 42, ReportedUnixNs: unixNs(0),
		LastMigration: &report.Migration{FromHost: "\x1b[31m", ToHost: "\n", Kind: "migration\x1b[0m"},
	}
	escB, _ := esc.Encode()
	forge := goodReport()
	forge.AgentVersion = "0.4.0\nweb1      1   dependent    xen-system  FORGED"
	forgeB, _ := forge.Encode()
	badUTF8 := []byte("{\"v\":1,\"agent_version\":\"\xff\xfe\xc0\x80\",\"mode\":\"dependent\",\"state\":\"\xed\xa0\x80\"}")
	return map[uint32][]byte{
		11: escB,
		12: forgeB,
		13: badUTF8,
		14: []byte(`{"v":1,"agent_version":"` + strings.Repeat("A", 2100) + `"}`),
		15: []byte("\x1b[2J not json \x1b]0;x\x07"),
	}
}

// newHostileHost is the golden guests with the hostile ones beside them.
func newHostileHost(t *testing.T) *testHost {
	t.Helper()
	h := newTestHost(t)
	goldenGuests(h)
	for id, b := range hostileReports() {
		g := h.addGuest(id, "hostile")
		if err := h.write(g, report.Node, b); err != nil {
			t.Fatalf("guest %d could not write its report: %v", id, err)
		}
	}
	// A name is written by the toolstack, but it may come from the
	// guest's configuration: treat it the same.
	h.mustWrite(h.dom0, "/local/domain/11/name", []byte("\x1b[31mred\x1b[0m\nweb1"))
	return h
}

// A guest cannot inject terminal control into any table, make the CLI fail
// or misreport another guest: the honest guests' rows and JSON objects are
// the same with the hostile guests beside them as without.
func TestHostileGuests(t *testing.T) {
	fixNow(t, goldenNow)
	clean := newTestHost(t)
	goldenGuests(clean)
	wantList, err := clean.xl("list")
	if err != nil {
		t.Fatal(err)
	}
	var wantJSON view.Snapshot
	clean.xlJSON(&wantJSON, "list")

	h := newHostileHost(t)

	out, err := h.xl("list")
	if err != nil {
		t.Fatalf("list failed with hostile guests: %v\n%s", err, out)
	}
	t.Log("\n" + out)
	safeText(t, "list", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1+6+5 {
		t.Errorf("%d lines, want a header and one row for each of 11 domains:\n%s", len(lines), out)
	}
	// Column widths change with the neighbours; the cells must not.
	got := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		got[f[1]] = strings.Join(f, " ")
	}
	for _, l := range strings.Split(strings.TrimSuffix(wantList, "\n"), "\n")[1:] {
		f := strings.Fields(l)
		if want := strings.Join(f, " "); got[f[1]] != want {
			t.Errorf("domain %s misreported beside hostile guests:\n got %q\nwant %q", f[1], got[f[1]], want)
		}
	}
	if strings.Contains(out, "FORGED") {
		t.Errorf("a guest's forged row reached the output:\n%s", out)
	}
	var snap view.Snapshot
	raw := h.xlJSON(&snap, "list")
	safeText(t, "list --json", raw) // no raw control bytes either (JSON escapes them; Clean removed them)
	if strings.Contains(raw, `\u001b`) || strings.Contains(raw, `\n`) {
		t.Errorf("escape or newline survived into JSON strings")
	}
	byID := map[uint32]view.Domain{}
	for _, d := range snap.Domains {
		byID[d.Domid] = d
	}
	for _, w := range wantJSON.Domains {
		g, _ := json.Marshal(byID[w.Domid])
		wb, _ := json.Marshal(w)
		if string(g) != string(wb) {
			t.Errorf("domain %d misreported beside hostile guests:\n got %s\nwant %s", w.Domid, g, wb)
		}
	}
	for id, want := range map[uint32]view.Agent{11: view.AgentReporting, 12: view.AgentReporting, 13: view.AgentReporting, 14: view.AgentInvalid, 15: view.AgentInvalid} {
		if byID[id].Agent != want {
			t.Errorf("domain %d: agent %q, want %q (%s)", id, byID[id].Agent, want, byID[id].AgentError)
		}
	}
	for _, id := range []string{"11", "12", "13", "14", "15"} {
		out, err := h.xl("show", id)
		if err != nil {
			t.Errorf("show %s: %v", id, err)
		}
		safeText(t, "show "+id, out)
	}
}

// A guest can write only below its own data/: not another guest's report,
// not the host record or name, not its own name. What the CLI reads about
// one guest is therefore that guest's alone.
func TestGuestCannotForgeOthers(t *testing.T) {
	h := newTestHost(t)
	goldenGuests(h)
	evil := h.addGuest(9, "evil")
	for _, p := range []string{"/local/domain/1/data/xenradclock/report", "/xenradclock/clock", "/xenradclock/host-name", "/local/domain/9/name", "/local/domain/1/name"} {
		if err := h.write(evil, p, []byte(`{"v":1}`)); !errors.Is(err, xenstore.ErrAccess) && !errors.Is(err, xenstore.ErrNotFound) {
			t.Errorf("guest 9 wrote %s: %v", p, err)
		}
	}
}

// An unreachable Xenstore is a clear error, for every command; a Xenstore
// that accepts but never answers cannot hang the CLI.
func TestXenstoreUnreachable(t *testing.T) {
	dir := t.TempDir()
	for _, cmd := range []string{"list", "host", "watch"} {
		_, err := xlRun(cmd, "--xenstore", filepath.Join(dir, "none"))
		if err == nil || !strings.Contains(err.Error(), "cannot reach Xenstore") {
			t.Errorf("%s without Xenstore: %v", cmd, err)
		}
	}
	if _, err := xlRun("show", "--xenstore", filepath.Join(dir, "none"), "1"); err == nil || !strings.Contains(err.Error(), "cannot reach Xenstore") {
		t.Errorf("show without Xenstore: %v", err)
	}
	t.Setenv("XENSTORED_PATH", filepath.Join(dir, "none"))
	if _, err := xlRun("list"); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "none")) {
		t.Errorf("auto with XENSTORED_PATH: %v", err)
	}

	sock := filepath.Join(dir, "mute")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accepted, never answered
		}
	}()
	start := time.Now()
	_, err = xlRun("list", "--xenstore", sock, "--timeout", "300ms")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "deadline") {
		t.Errorf("a mute Xenstore: %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("a mute Xenstore held the CLI for %v", d)
	}
}

// XENSTORED_PATH is honoured by --xenstore auto (the default).
func TestXenstoredPath(t *testing.T) {
	h := newTestHost(t)
	goldenGuests(h)
	t.Setenv("XENSTORED_PATH", h.sock)
	out, err := xlRun("list")
	if err != nil || !strings.Contains(out, "moved") {
		t.Errorf("list through XENSTORED_PATH: %v\n%s", err, out)
	}
}

// Entries under /local/domain that are not domain ids are skipped and
// counted, not read.
func TestDomainEntriesBounded(t *testing.T) {
	h := newTestHost(t)
	goldenGuests(h)
	h.mustWrite(h.dom0, "/local/domain/junk/name", []byte("junk"))
	h.mustWrite(h.dom0, "/local/domain/007/name", []byte("leading zero"))
	var s view.Snapshot
	h.xlJSON(&s, "list")
	if s.Skipped != 2 || len(s.Domains) != 6 {
		t.Errorf("skipped %d, domains %d; want 2 and 6", s.Skipped, len(s.Domains))
	}
	if _, err := os.Stat(h.sock); err != nil {
		t.Fatal(err)
	}
}

// watch with hostile guests beside the honest ones, into a pipe: plain
// tables with nothing a terminal would interpret, no forged row, the honest
// guests' rows in every refresh, and no failure or hang.
func TestWatchHostileGuests(t *testing.T) {
	h := newHostileHost(t)

	cmd := xlclockCmd("watch", "--xenstore", h.sock, "--interval", "100ms", "--count", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.Output(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("watch hung with hostile guests")
	}
	if err != nil {
		t.Fatalf("watch failed with hostile guests: %v\n%s", err, out)
	}
	safeText(t, "watch into a pipe", string(out))
	if strings.Contains(string(out), "FORGED") {
		t.Errorf("a guest's forged row reached watch's output:\n%s", out)
	}
	if n := strings.Count(string(out), "\nNAME "); n != 2 {
		t.Errorf("%d tables for 2 refreshes:\n%s", n, out)
	}
	for _, name := range []string{"web1", "moved"} {
		if n := strings.Count(string(out), "\n"+name+" "); n != 2 {
			t.Errorf("%d rows for honest guest %s in 2 refreshes:\n%s", n, name, out)
		}
	}
}
