package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/hostclock"
	"github.com/xenradclock/xenradclock/ntp"
)

// helperEnv makes this test binary act as dom0d: TestDom0dProcess runs the
// app with the arguments in helperArgs and exits. The restart tests start
// and kill real dom0d processes this way, without building a binary.
const (
	helperEnv  = "XENRADCLOCK_DOM0D_HELPER"
	helperArgs = "XENRADCLOCK_DOM0D_ARGS"
)

func TestDom0dProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper: runs as dom0d when started by the restart tests")
	}
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(helperArgs)), &args); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	if err := newApp().Run(append([]string{"dom0d"}, args...)); err != nil {
		fmt.Fprintln(os.Stderr, "dom0d:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

type proc struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

func startDom0d(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	a, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestDom0dProcess$")
	cmd.Env = append(append(os.Environ(), helperEnv+"=1", helperArgs+"="+string(a)), env...)
	p := &proc{cmd: cmd, out: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("dom0d output:\n%s", p.out.String())
		}
	})
	return p
}

// stop sends sig and waits for the exit.
func (p *proc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("dom0d did not stop on %v", sig)
		return nil
	}
}

func readStatus(t *testing.T, path string) *hostclock.StatusDoc {
	t.Helper()
	d, err := hostclock.ReadStatus(path)
	if err != nil {
		return nil
	}
	return d
}

func waitStatus(t *testing.T, path string, limit time.Duration, what string, ok func(*hostclock.StatusDoc) bool) *hostclock.StatusDoc {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if d := readStatus(t, path); d != nil && ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			d := readStatus(t, path)
			t.Fatalf("timed out after %v waiting for %s; status: %+v", limit, what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kill and restart dom0d processes: after SIGTERM (state saved at exit) and
// after SIGKILL (state from the periodic save) the restarted daemon resumes
// its estimator, keeps the disruption marker and continues the generation
// within a few exchanges; a corrupt state file is survived with a new
// marker. Also checks `dom0d status` on the live daemon's status file.
func TestRunKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs dom0d processes")
	}
	dir := t.TempDir()
	sim := filepath.Join(dir, "simhost")
	if err := counter.CreateSimHost(sim, counter.SimHostConfig{HostID: 99, NominalHz: 1e9, PPM: 12, Offset: 1 << 41}); err != nil {
		t.Fatal(err)
	}
	mono, err := counter.Open("monotonic-raw")
	if err != nil {
		t.Fatal(err)
	}
	clk, err := ntp.NewSkewedClock(mono, 1500*time.Millisecond, -20)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ntp.NewServer(ntp.ServerConfig{Addr: "127.0.0.1:0", Time: clk.Reading})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx)
	defer srv.Close()

	conf := filepath.Join(dir, "dom0d.conf")
	// A server counts after 3 stamps here, so the 1 s poll gives a clock in
	// seconds; the state is saved every second as well as at exit.
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`# test configuration
server = %s
poll = 1s
burst = 0
counter = simulated
xenstore = none
page = %s
status = %s
state = %s
state_interval = 1s
select_min_stamps = 3
log_level = info
# the test server is 1.5 s off the system clock on purpose; on a host whose
# system clock is synchronised the first-step check would refuse it
max_initial_step = none
`, srv.Addr(), filepath.Join(dir, "clock"), filepath.Join(dir, "status.json"), filepath.Join(dir, "state.json"))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{counter.SimulatedEnv + "=" + sim}
	status := filepath.Join(dir, "status.json")
	state := filepath.Join(dir, "state.json")
	synced := func(min uint64) func(*hostclock.StatusDoc) bool {
		return func(d *hostclock.StatusDoc) bool {
			return d.Clock.Published && !d.Provisional && d.Preferred != "" && d.Clock.Generation >= min &&
				d.Clock.State != "unsynchronised"
		}
	}

	p1 := startDom0d(t, env, "run", "--config", conf)
	// Synchronised first: the step onto the first synchronised estimate
	// (a new marker by design) must not be confused with a restart.
	s1 := waitStatus(t, status, 20*time.Second, "a synchronised clock", synced(3))

	// dom0d status, human and JSON, on the live status file.
	t.Setenv(counter.SimulatedEnv, sim) // dom0d status reads the page with the daemon's counter
	checkStatusCommand(t, status, srv.Addr().String())

	if err := p1.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: exit %v", err)
	}
	s1 = readStatus(t, status)
	if _, err := hostclock.LoadState(state); err != nil {
		t.Fatalf("no state after SIGTERM: %v", err)
	}

	// Restart after SIGTERM: good again on the first exchange.
	start := time.Now()
	p2 := startDom0d(t, env, "run", "--config", conf)
	s2 := waitStatus(t, status, 10*time.Second, "the first record after restart", func(d *hostclock.StatusDoc) bool {
		return d.PID == p2.cmd.Process.Pid && d.Clock.Generation > s1.Clock.Generation
	})
	t.Logf("after SIGTERM: first record %v after restart, generation %d→%d", time.Since(start).Round(time.Millisecond), s1.Clock.Generation, s2.Clock.Generation)
	if s2.StateRestore != "restored 1 of 1 servers" || s2.Provisional || s2.Clock.Disruption != s1.Clock.Disruption ||
		s2.Clock.Generation != s1.Clock.Generation+1 || s2.Servers[0].Stamps <= s1.Servers[0].Stamps {
		t.Errorf("restart after SIGTERM was not seamless:\nbefore %+v\nafter  %+v", s1.Clock, s2)
	}

	// SIGKILL: no save at exit; the periodic save (1 s) is what survives.
	// Under load the bound stays too wide for "synchronised" until the
	// warm-up's 24 stamps (24 s at this poll) are in: wait that long.
	waitStatus(t, status, 30*time.Second, "a few more records", synced(s2.Clock.Generation+2))
	time.Sleep(1200 * time.Millisecond)
	saved, err := hostclock.LoadState(state)
	if err != nil {
		t.Fatal(err)
	}
	_ = p2.stop(t, syscall.SIGKILL)
	p3 := startDom0d(t, env, "run", "--config", conf)
	s3 := waitStatus(t, status, 10*time.Second, "the first record after SIGKILL", func(d *hostclock.StatusDoc) bool {
		return d.PID == p3.cmd.Process.Pid && d.Clock.Generation > saved.Generation
	})
	if s3.StateRestore != "restored 1 of 1 servers" || s3.Provisional || s3.Clock.Disruption != s1.Clock.Disruption ||
		s3.Clock.Generation != saved.Generation+1 {
		t.Errorf("restart after SIGKILL: %+v (saved generation %d)", s3, saved.Generation)
	}
	if err := p3.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: exit %v", err)
	}

	// A corrupt state file: ignored with a warning, new disruption marker.
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(state, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p4 := startDom0d(t, env, "run", "--config", conf)
	s4 := waitStatus(t, status, 15*time.Second, "a record after a corrupt state", func(d *hostclock.StatusDoc) bool {
		return d.PID == p4.cmd.Process.Pid && d.Clock.Published
	})
	if !strings.HasPrefix(s4.StateRestore, "ignored: ") || s4.Clock.Disruption == s1.Clock.Disruption {
		t.Errorf("corrupt state: restore %q, marker %x (before %x)", s4.StateRestore, s4.Clock.Disruption, s1.Clock.Disruption)
	}
	if err := p4.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: exit %v", err)
	}
	if !strings.Contains(p4.out.String(), "state file ignored") {
		t.Errorf("no warning about the corrupt state file in the log")
	}
}

func checkStatusCommand(t *testing.T, status, server string) {
	t.Helper()
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"dom0d", "status", "--status-file", status}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"preferred:      " + server, "period:", "offset estimate:", "agreement:      1 truechimers of 1 servers", "error bound:", "max error:",
		"status:", "record:         generation ", "disruption marker", "WARM-UP", "(* preferred",
		"shared page now: fresh", "earliest", "latest"} {
		if !strings.Contains(text, want) {
			t.Errorf("dom0d status output lacks %q:\n%s", want, text)
		}
	}
	marked := false
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		marked = marked || (len(f) > 1 && f[0] == "*" && f[1] == server)
	}
	if !marked {
		t.Errorf("dom0d status does not mark %s preferred:\n%s", server, text)
	}
	out.Reset()
	app = newApp()
	app.Writer = &out
	if err := app.Run([]string{"dom0d", "status", "--json", "--status-file", status}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		hostclock.StatusDoc
		PageRead pageRead `json:"page_read"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out.String())
	}
	if doc.Preferred != server || len(doc.Servers) != 1 || doc.Servers[0].Warmup == 0 || doc.Clock.Generation == 0 ||
		len(doc.Clock.StatusNames) == 0 || doc.Clock.MaxError <= 0 || doc.Clock.ErrorBound <= 0 || doc.Clock.Period <= 0 ||
		doc.PageRead.Status != "fresh" || doc.PageRead.Time == "" {
		t.Errorf("status --json: %+v", doc)
	}
	// No status file: a clear error.
	app = newApp()
	app.Writer = &out
	err := app.Run([]string{"dom0d", "status", "--status-file", filepath.Join(t.TempDir(), "none.json")})
	if err == nil || !strings.Contains(err.Error(), "is dom0d running?") {
		t.Errorf("missing status file: %v", err)
	}
}

// Config mistakes stop `dom0d run` before anything starts, naming file,
// line and key, whether they come from the file or from flags.
func TestRunConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("server = 127.0.0.1\npol = 16s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--config", bad}, "bad.conf:2: pol: unknown key"},
		{[]string{"run", "--server", "127.0.0.1", "--poll", "500ms"}, "--poll: poll: 500ms is outside"},
		{[]string{"run", "--server", "127.0.0.1:99999"}, "--server: server: bad server port"},
		{[]string{"run", "--server", "127.0.0.1", "--xenstore", "maybe"}, "--xenstore: xenstore:"},
		{[]string{"run", "--state", ""}, "no server configured"},
		{[]string{"run", "--config", filepath.Join(dir, "missing.conf")}, "no such file"},
	}
	for _, c := range cases {
		err := newApp().Run(append([]string{"dom0d"}, c.args...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("dom0d %v: error %v, want %q", c.args, err, c.want)
		}
	}
}

// SIGHUP reloads the config file: a file with a mistake is refused whole
// (the daemon keeps running as it was), a good one adds a server at once.
func TestRunSIGHUPReload(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs a dom0d process")
	}
	dir := t.TempDir()
	sim := filepath.Join(dir, "simhost")
	if err := counter.CreateSimHost(sim, counter.SimHostConfig{HostID: 98, NominalHz: 1e9, PPM: -3}); err != nil {
		t.Fatal(err)
	}
	mono, err := counter.Open("monotonic-raw")
	if err != nil {
		t.Fatal(err)
	}
	clk, err := ntp.NewSkewedClock(mono, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var addrs []string
	for i := 0; i < 2; i++ {
		srv, err := ntp.NewServer(ntp.ServerConfig{Addr: "127.0.0.1:0", Time: clk.Reading})
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ctx)
		defer srv.Close()
		addrs = append(addrs, srv.Addr().String())
	}
	conf := filepath.Join(dir, "dom0d.conf")
	status := filepath.Join(dir, "status.json")
	write := func(extra string) {
		body := fmt.Sprintf("poll = 1s\nburst = 0\ncounter = simulated\nxenstore = none\npage = %s\nstatus = %s\nstate =\nselect_min_stamps = 2\nserver = %s\n%s",
			filepath.Join(dir, "clock"), status, addrs[0], extra)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	p := startDom0d(t, []string{counter.SimulatedEnv + "=" + sim}, "run", "--config", conf)
	waitStatus(t, status, 10*time.Second, "a first clock", func(d *hostclock.StatusDoc) bool { return d.Clock.Published })

	write("server = " + addrs[1] + "\nselect_gian = 0.3\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if d := readStatus(t, status); d == nil || len(d.Servers) != 1 {
		t.Fatalf("a config with a typo was applied: %+v", d)
	}
	write("server = " + addrs[1] + "\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, status, 10*time.Second, "the new server polled", func(d *hostclock.StatusDoc) bool {
		return len(d.Servers) == 2 && d.Servers[1].Address == addrs[1] && d.Servers[1].Accepted > 0 && d.Servers[0].Accepted > 2
	})
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	out := p.out.String()
	if !strings.Contains(out, "configuration not reloaded") || !strings.Contains(out, "select_gian") {
		t.Errorf("the refused reload is not logged with the bad key:\n%s", out)
	}
	if !strings.Contains(out, "configuration reloaded") {
		t.Errorf("the reload is not logged:\n%s", out)
	}
}
