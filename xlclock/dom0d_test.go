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

// buildDom0d builds the tree's dom0d into dir.
func buildDom0d(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "dom0d")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build dom0d with: %v", err)
	}
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/xenradclock/xenradclock/dom0d")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building dom0d: %v\n%s", err, out)
	}
	return bin
}

// A real dom0d process publishes to the embedded Xenstore; guests report
// on their own domain sockets; list and host show both sides.
func TestListWithDom0d(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: builds and runs dom0d")
	}
	h := newTestHost(t)
	bin := buildDom0d(t, h.dir)
	sim := filepath.Join(h.dir, "simhost")
	if err := counter.CreateSimHost(sim, counter.SimHostConfig{HostID: 31, NominalHz: 1e9, PPM: 8}); err != nil {
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
	srv, err := ntp.NewServer(ntp.ServerConfig{Addr: "127.0.0.1:0", Time: clk.Reading})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx)
	defer srv.Close()

	status := filepath.Join(h.dir, "status.json")
	conf := filepath.Join(h.dir, "dom0d.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("server = %s\npoll = 1s\nburst = 0\ncounter = simulated\nxenstore = %s\npage = %s\nstatus = %s\nstate =\nselect_min_stamps = 3\n",
		srv.Addr(), h.sock, filepath.Join(h.dir, "clock"), status)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", conf)
	cmd.Env = append(os.Environ(), counter.SimulatedEnv+"="+sim)
	var dlog syncBuf
	cmd.Stdout, cmd.Stderr = &dlog, &dlog
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dom0d output:\n%s", dlog.String())
		}
	})

	// The record dom0d published, once its clock is out of warm-up.
	var rec clockdata.Record
	deadline := time.Now().Add(60 * time.Second)
	for {
		rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
		b, err := h.dom0.Read(rctx, view.RecordPath)
		rcancel()
		if err == nil {
			if rec, err = clockdata.ParseText(string(b)); err == nil && rec.State == clockdata.StateSynchronised {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dom0d published no synchronised record in 60 s (last: %v, state %v)", err, rec.State)
		}
		time.Sleep(200 * time.Millisecond)
	}
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

	t.Setenv(counter.SimulatedEnv, sim) // xlclock reads the record's counter, as in Dom0
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
	h.xlJSON(&hd, "host", "--status", status)
	if hd.Status == nil || len(hd.Status.Servers) != 1 || hd.Status.Servers[0].Address != srv.Addr().String() || hd.Host.Clock == nil {
		t.Fatalf("host document: %+v", hd)
	}
	if hd.FastStart != "running" && hd.FastStart != "done" {
		t.Errorf("fast start %q", hd.FastStart)
	}
	out, err = h.xl("host", "--status", status)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out)
	for _, w := range []string{"offset estimate:", "max error:", srv.Addr().String() + "  yes", "fast start:", "status bits:"} {
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
