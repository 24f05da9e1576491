package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// The helper: this test binary acts as xlclock when started by the watch
// tests, so watch runs with a real terminal (or pipe) as its stdout.
const (
	xlHelperEnv  = "XENRADCLOCK_XLCLOCK_HELPER"
	xlHelperArgs = "XENRADCLOCK_XLCLOCK_ARGS"
)

func TestXlclockProcess(t *testing.T) {
	if os.Getenv(xlHelperEnv) != "1" {
		t.Skip("helper: runs as xlclock when started by the watch tests")
	}
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(xlHelperArgs)), &args); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(4)
	}
	if err := newApp().Run(append([]string{"xlclock"}, args...)); err != nil {
		fmt.Fprintln(os.Stderr, "xlclock:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func xlclockCmd(args ...string) *exec.Cmd {
	a, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestXlclockProcess$")
	cmd.Env = append(os.Environ(), xlHelperEnv+"=1", xlHelperArgs+"="+string(a))
	return cmd
}

// openPTY opens a pseudo-terminal pair through /dev/ptmx, cols×rows.
func openPTY(t *testing.T, cols, rows uint16) (master, slave *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows}); err != nil {
		t.Fatal(err)
	}
	return master, slave
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls until ok holds on the output so far (a generous limit:
// this is not a timing assertion).
func waitFor(t *testing.T, out *syncBuf, what string, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; output:\n%q", what, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastFrame is the last complete frame drawn: the text between the last
// cursor-home and the clear-to-end-of-screen after it, as lines.
func lastFrame(out string) []string {
	end := strings.LastIndex(out, escClearEOS)
	start := strings.LastIndex(out[:max(end, 0)], escHome)
	if end < 0 || start < 0 {
		return nil
	}
	var lines []string
	// The terminal's output processing may turn the "\r\n" written into
	// "\r\r\n".
	for _, l := range strings.Split(out[start+len(escHome):end], "\n") {
		lines = append(lines, strings.TrimSuffix(strings.TrimRight(l, "\r"), escClearEOL))
	}
	return lines
}

// watch under a pseudo-terminal: the alternate screen, frames redrawn in
// place (cursor home, clear to end of line and screen, never a full clear),
// cut to the terminal's width, a refresh that shows a guest's new state,
// and q quits, restoring the screen.
func TestWatchTerminal(t *testing.T) {
	h := newTestHost(t)
	goldenGuests(h)
	master, slave := openPTY(t, 100, 30)
	cmd := xlclockCmd("watch", "--xenstore", h.sock, "--interval", "200ms")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	out := &syncBuf{}
	go func() { _, _ = copyAll(out, master) }()

	waitFor(t, out, "two frames", func(s string) bool { return strings.Count(s, escClearEOS) >= 2 })
	s := out.String()
	if !strings.HasPrefix(s, escAltScreenOn) {
		t.Errorf("does not start on the alternate screen: %q", s[:min(len(s), 40)])
	}
	if strings.Contains(s, "\x1b[2J") {
		t.Error("clears the whole screen (flicker)")
	}
	f := lastFrame(s)
	if end := strings.LastIndex(s, escClearEOS); strings.Count(s[strings.LastIndex(s[:end], escHome):end], escClearEOL) != len(f) {
		t.Errorf("not every line of the frame clears to its end (stale text would remain)")
	}
	if len(f) < 9 || !strings.HasPrefix(f[0], "xlclock watch: every 200ms") || !strings.HasPrefix(f[2], "NAME") {
		t.Fatalf("frame layout:\n%s", strings.Join(f, "\n"))
	}
	for i, name := range []string{"Domain-0", "web1", "db1", "batch", "moved", "indep"} {
		if !strings.HasPrefix(f[3+i], name+" ") {
			t.Errorf("row %d is %q, want domain %s", i, f[3+i], name)
		}
	}
	for _, l := range f {
		if n := utf8.RuneCountInString(l); n > 100 {
			t.Errorf("line of %d columns on a 100-column terminal: %q", n, l)
		}
	}

	// The refresh: a guest's new state appears in a later frame.
	r := goodReport()
	r.State = "free-running"
	h.report(h.dial(h.dir+"/d1"), r)
	waitFor(t, out, "the refreshed state", func(s string) bool {
		for _, l := range lastFrame(s) {
			if strings.HasPrefix(l, "web1 ") && strings.Contains(l, "free-running") {
				return true
			}
		}
		return false
	})

	if _, err := master.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("watch exited with %v after q", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("q did not quit watch")
	}
	waitFor(t, out, "the screen restored", func(s string) bool { return strings.HasSuffix(s, escCursorShow+escAltScreenOff) })
}

func copyAll(dst *syncBuf, src *os.File) (int64, error) {
	buf := make([]byte, 4096)
	var n int64
	for {
		k, err := src.Read(buf)
		if k > 0 {
			dst.Write(buf[:k])
			n += int64(k)
		}
		if err != nil {
			return n, err
		}
	}
}

// watch into a pipe: plain tables, one per refresh, no escape sequences.
func TestWatchPipe(t *testing.T) {
	h := newTestHost(t)
	goldenGuests(h)
	cmd := xlclockCmd("watch", "--xenstore", h.sock, "--interval", "100ms", "--count", "3")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output() // stdout is a pipe
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	out := string(b)
	if strings.ContainsRune(out, 0x1b) {
		t.Errorf("escape sequences written to a pipe:\n%q", out)
	}
	if n := strings.Count(out, "xlclock watch: every 100ms"); n != 3 {
		t.Errorf("%d titles for 3 refreshes:\n%s", n, out)
	}
	if n := strings.Count(out, "\nNAME "); n != 3 {
		t.Errorf("%d tables for 3 refreshes:\n%s", n, out)
	}
	if n := strings.Count(out, "\nmoved "); n != 3 {
		t.Errorf("%d rows for guest moved in 3 refreshes:\n%s", n, out)
	}

	// --json: one list document per line.
	b, err = xlclockCmd("watch", "--xenstore", h.sock, "--interval", "100ms", "--count", "2", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d JSON lines for 2 refreshes", len(lines))
	}
	for _, l := range lines {
		var v struct {
			Domains []json.RawMessage `json:"domains"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil || len(v.Domains) != 6 {
			t.Errorf("line %q: %v, %d domains", l, err, len(v.Domains))
		}
	}
}
