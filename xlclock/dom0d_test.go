package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/guestclock/report"
	"github.com/xenradclock/xenradclock/ntp"
	"github.com/xenradclock/xenradclock/xlclock/internal/view"
)

// buildBins builds the tree's commands named (dom0d, domu-agent, xlclock)
// into dir with one go build, their version fixed to testVersion so that
// what they print about themselves is reproducible. It returns dir.
func buildBins(t *testing.T, dir string, names ...string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build %v with: %v", names, err)
	}
	args := []string{"build", "-ldflags", "-X github.com/xenradclock/xenradclock/internal/version.Version=" + testVersion, "-o", dir + "/"}
	for _, n := range names {
		args = append(args, "github.com/xenradclock/xenradclock/"+n)
	}
	t0 := time.Now()
	if out, err := exec.Command(goBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("building %v: %v\n%s", names, err, out)
	}
	t.Logf("built %v in %v", names, time.Since(t0).Round(time.Millisecond))
	return dir
}

// testVersion is the version the test builds report (AGENT column).
const testVersion = "0.0.0-test"

// testProc is a child process of a test: its output is kept and logged if
// the test fails; it dies with the test binary (PR_SET_PDEATHSIG) and is
// stopped (SIGTERM) at the test's end.
type testProc struct {
	name string
	cmd  *exec.Cmd
	out  syncBuf
	done chan struct{}
}

func startProc(t *testing.T, name string, env []string, bin string, args ...string) *testProc {
	t.Helper()
	p := &testProc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// stop sends sig and waits for the process to exit (SIGKILL after 5 s).
func (p *testProc) stop(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *testProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// dom0dHost is a real dom0d process publishing to a testHost's Xenstore,
// on a simulated counter, from a test NTP server on loopback that serves
// the system time 0.7 s ahead, 5 ppm fast.
type dom0dHost struct {
	*testHost
	sim    string // the simulated counter's file (counter.SimulatedEnv)
	status string // dom0d's status file
	ntp    *ntp.Server
	proc   *testProc
}

// dom0dOpts: dom0d's poll period, its simulated counter (the host's
// identity follows from the counter's) and host_name ("": none).
type dom0dOpts struct {
	poll      time.Duration
	simHostID uint64
	ppm       float64
	name      string
}

// startDom0d starts dom0d from bin, publishing to h's Xenstore.
func startDom0d(t *testing.T, h *testHost, bin string, o dom0dOpts) *dom0dHost {
	t.Helper()
	d := &dom0dHost{testHost: h, sim: filepath.Join(h.dir, "simhost"), status: filepath.Join(h.dir, "status.json")}
	if err := counter.CreateSimHost(d.sim, counter.SimHostConfig{HostID: o.simHostID, NominalHz: 1e9, PPM: o.ppm}); err != nil {
		t.Fatal(err)
	}
	mono, err := counter.Open("monotonic-raw")
	if err != nil {
		t.Fatal(err)
	}
	clk, err := ntp.NewSkewedClock(mono, 700*time.Millisecond, 5)
	if err != nil {
		t.Fatal(err)
	}
	if d.ntp, err = ntp.NewServer(ntp.ServerConfig{Addr: "127.0.0.1:0", Time: clk.Reading}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go d.ntp.Serve(ctx) //nolint:errcheck // ends with the test
	// Cleanups run last-in first-out: the server outlives dom0d.
	t.Cleanup(func() { cancel(); d.ntp.Close() })

	conf := fmt.Sprintf("server = %s\npoll = %v\nburst = 0\ncounter = simulated\nxenstore = %s\npage = %s\nstatus = %s\nstate =\nselect_min_stamps = 3\n",
		d.ntp.Addr(), o.poll, h.sock, filepath.Join(h.dir, "clock"), d.status)
	if o.name != "" {
		conf += "host_name = " + o.name + "\n"
	}
	confPath := filepath.Join(h.dir, "dom0d.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d.proc = startProc(t, strings.TrimSpace("dom0d "+o.name), []string{counter.SimulatedEnv + "=" + d.sim}, bin, "run", "--config", confPath)
	return d
}

// waitRecord waits up to timeout for dom0d to publish a record in state.
func (d *dom0dHost) waitRecord(t *testing.T, timeout time.Duration, state clockdata.ClockState) clockdata.Record {
	t.Helper()
	var (
		rec clockdata.Record
		err error
	)
	deadline := time.Now().Add(timeout)
	for {
		rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
		b, rerr := d.dom0.Read(rctx, view.RecordPath)
		rcancel()
		if err = rerr; err == nil {
			if rec, err = clockdata.ParseText(string(b)); err == nil && rec.State == state {
				return rec
			}
		}
		if d.proc.exited() || time.Now().After(deadline) {
			t.Fatalf("dom0d published no %v record in %v (last: %v, state %v; exited %v)", state, timeout, err, rec.State, d.proc.exited())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A real dom0d process publishes to the embedded Xenstore; guests report
// on their own domain sockets; list and host show both sides.
func TestListWithDom0d(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: builds and runs dom0d")
	}
	h := newTestHost(t)
	d := startDom0d(t, h, filepath.Join(buildBins(t, h.dir, "dom0d"), "dom0d"), dom0dOpts{poll: time.Second, simHostID: 31, ppm: 8})
	// The record dom0d published, once its clock is out of warm-up.
	rec := d.waitRecord(t, 60*time.Second, clockdata.StateSynchronised)
	hostID := fmt.Sprintf("%x", rec.HostID)

	now := time.Now()
	dep := func(gen uint64, id string, reported time.Time) *report.Report {
		return &report.Report{Version: report.Version, AgentVersion: "0.4.0", Mode: "dependent", Counter: "simulated",
			State: "synchronised", ErrorBoundNs: rec.ErrorBoundNs, MaxErrorNs: rec.MaxErrorNs, Generation: gen, HostID: id,
			UpdatedUnixNs: reported.UnixNano(), ReportedUnixNs: reported.UnixNano()}
	}
	h.report(h.addGuest(1, "web1"), dep(rec.Generation, hostID, now))
	h.addGuest(2, "db1")
	h.report(h.addGuest(3, "batch"), dep(rec.Generation, hostID, now.Add(-10*time.Minute)))
	moved := dep(rec.Generation, hostID, now)
	moved.Disruptions = 1
	moved.LastMigration = &report.Migration{FromHost: "elsewhere", ToHost: hostID[:8], StepNs: -12_300, PauseNs: 150e6, DisruptedNs: 170e6, AtUnixNs: now.Add(-time.Second).UnixNano(), Kind: "migration"}
	h.report(h.addGuest(4, "moved"), moved)
	h.report(h.addGuest(5, "indep"), &report.Report{Version: report.Version, AgentVersion: "0.4.0", Mode: "independent", Counter: "tsc",
		State: "synchronised", ReportedUnixNs: now.UnixNano()})
	h.report(h.addGuest(6, "lagging"), dep(rec.Generation, strings.Repeat("ab", 16), now))

	t.Setenv(counter.SimulatedEnv, d.sim) // xlclock reads the record's counter, as in Dom0
	var s view.Snapshot
	h.xlJSON(&s, "list")
	if s.Host.Clock == nil || s.Host.Clock.Generation < rec.Generation || s.Host.HostID != hostID || s.Host.Name == "" {
		t.Fatalf("host %+v, record generation %d", s.Host, rec.Generation)
	}
	want := map[uint32]struct {
		agent view.Agent
		notes string
	}{0: {view.AgentNone, ""}, 1: {view.AgentReporting, ""}, 2: {view.AgentNone, ""}, 3: {view.AgentReporting, "stale"},
		4: {view.AgentReporting, ""}, 5: {view.AgentReporting, ""}, 6: {view.AgentReporting, "other-host"}}
	if len(s.Domains) != len(want) {
		t.Fatalf("%d domains, want %d", len(s.Domains), len(want))
	}
	for _, d := range s.Domains {
		w := want[d.Domid]
		if d.Agent != w.agent || strings.Join(d.Notes, ",") != w.notes {
			t.Errorf("domain %d (%s): agent %s notes %v, want %s %q", d.Domid, d.Name, d.Agent, d.Notes, w.agent, w.notes)
		}
	}
	out, err := h.xl("list")
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out)
	if s.Host.Clock.AgeNs < 0 || s.Host.Clock.AgeNs > 5e9 {
		t.Errorf("record age %d ns: not measured on the record's counter (the host clock is 0.7 s ahead of the system clock)", s.Host.Clock.AgeNs)
	}
	if !strings.Contains(out, "Domain-0  0   host         simulated") {
		t.Errorf("Domain-0's row is not dom0d's clock:\n%s", out)
	}
	golden(t, "list-dom0d.golden", maskLive(out))

	var hd view.HostDoc
	h.xlJSON(&hd, "host", "--status", d.status)
	if hd.Status == nil || len(hd.Status.Servers) != 1 || hd.Status.Servers[0].Address != d.ntp.Addr().String() || hd.Host.Clock == nil {
		t.Fatalf("host document: %+v", hd)
	}
	if hd.FastStart != "running" && hd.FastStart != "done" {
		t.Errorf("fast start %q", hd.FastStart)
	}
	out, err = h.xl("host", "--status", d.status)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out)
	for _, w := range []string{"offset estimate:", "max error:", d.ntp.Addr().String() + "  yes", "fast start:", "status bits:"} {
		if !strings.Contains(out, w) {
			t.Errorf("host output lacks %q", w)
		}
	}
}

// maskLive replaces what a live run cannot reproduce (GEN, AGE, ERR-BOUND,
// MAX-ERR where present) with '*' and joins the cells with one space, so
// the rest of a live list (names, modes, counters, states, disruptions,
// steps, agents, notes) is compared with a golden file.
func maskLive(out string) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		f := strings.Fields(l)
		for c := 5; i > 0 && c <= 8 && c < len(f); c++ {
			if f[c] != "-" {
				f[c] = "*"
			}
		}
		b.WriteString(strings.Join(f, " ") + "\n")
	}
	return b.String()
}
