package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/guestclock/report"
)

// The golden scenario with real processes, as issue 13 asks: the embedded
// Xenstore populated by a real dom0d and real domu-agents, read by the
// real xlclock binary. This host (rack1-h07) runs a dom0d on a simulated
// counter against a loopback NTP server, and five guests:
//
//	web1  (1) domu-agent, dependent: fresh
//	db1   (2) no agent
//	batch (3) domu-agent, dependent, killed (SIGKILL) once it reported the
//	          host's warm-up clock: its report ages past the staleness
//	          limit (10 s) and stays at the generation it had
//	moved (4) domu-agent, dependent, started on a second host (rack2-h03:
//	          its own embedded Xenstore, dom0d and simulated counter) as
//	          domain 14 and live-migrated here once both hosts are
//	          synchronised, as the demo does: suspend request, counter and
//	          Xenstore socket moved, the source domain released
//	indep (5) domu-agent --mode independent, its own counter and NTP
//
// What a live run cannot reproduce is masked by normList and normShow;
// states, modes, names, ids, counters, disruptions, agents, notes and the
// table's layout are compared literally.
func TestGoldenRealProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: builds and runs dom0d, domu-agent and xlclock")
	}
	t0 := time.Now()
	h := newTestHost(t)
	bins := buildBins(t, h.dir, "dom0d", "domu-agent", "xlclock")
	agentBin, xlBin := filepath.Join(bins, "domu-agent"), filepath.Join(bins, "xlclock")
	d := startDom0d(t, h, filepath.Join(bins, "dom0d"), dom0dOpts{poll: time.Second, simHostID: 31, ppm: 8, name: "rack1-h07"})
	src := startDom0d(t, newTestHost(t), filepath.Join(bins, "dom0d"), dom0dOpts{poll: time.Second, simHostID: 32, ppm: -6, name: "rack2-h03"})

	web1 := startAgent(t, agentBin, h.dir, "web1", h.addDomain(1, "web1"), d.sim, "--mode", "dependent")
	h.addDomain(2, "db1")
	batch := startAgent(t, agentBin, h.dir, "batch", h.addDomain(3, "batch"), d.sim, "--mode", "dependent")
	// moved reaches its Xenstore through a link the migration repoints.
	movedXS := filepath.Join(src.dir, "moved.xs")
	if err := os.Symlink(src.addDomain(14, "moved"), movedXS); err != nil {
		t.Fatal(err)
	}
	moved := startAgent(t, agentBin, h.dir, "moved", movedXS, src.sim, "--mode", "dependent")
	own := filepath.Join(h.dir, "indep.counter")
	if err := counter.CreateSimHost(own, counter.SimHostConfig{HostID: 0x95, NominalHz: 1e9, PPM: 7, Offset: 5 << 40}); err != nil {
		t.Fatal(err)
	}
	indep := startAgentOn(t, agentBin, "indep", h.addDomain(5, "indep"), filepath.Join(h.dir, "indep.page"), own,
		"--mode", "independent", "--server", d.ntp.Addr().String(), "--set", "poll=1s")

	// batch dies while it serves the host's warm-up clock: what it last
	// reported stays, and ages.
	d.waitReport(t, 3, batch, 30*time.Second, func(r *report.Report) bool { return r.Mode == "dependent" && r.State == "warm-up" })
	batch.stop(syscall.SIGKILL)
	killed := d.mustReport(t, 3)
	t.Logf("batch killed %v after start, its last report: %s, generation %d", time.Since(t0).Round(time.Millisecond), killed.State, killed.Generation)

	recDst := d.waitRecord(t, 60*time.Second, clockdata.StateSynchronised)
	recSrc := src.waitRecord(t, 60*time.Second, clockdata.StateSynchronised)
	t.Logf("both hosts synchronised %v after start", time.Since(t0).Round(time.Millisecond))
	src.waitReport(t, 14, moved, 20*time.Second, func(r *report.Report) bool {
		return r.State == "synchronised" && r.HostID == fmt.Sprintf("%x", recSrc.HostID)
	})
	migrate(t, src, d, 14, 4, "moved", movedXS, filepath.Join(h.dir, "moved.counter"), filepath.Join(h.dir, "moved.page"))

	dstID := fmt.Sprintf("%x", recDst.HostID)
	d.waitReport(t, 1, web1, 30*time.Second, func(r *report.Report) bool { return r.State == "synchronised" && r.HostID == dstID })
	d.waitReport(t, 4, moved, 30*time.Second, func(r *report.Report) bool {
		return r.State == "synchronised" && r.HostID == dstID && r.LastMigration != nil
	})
	d.waitReport(t, 5, indep, 40*time.Second, func(r *report.Report) bool { return r.State == "synchronised" })
	// The staleness limit is 10 s (three 1 s polls, at least 10 s); one
	// more second of margin.
	staleAt := time.Unix(0, killed.ReportedUnixNs).Add(11 * time.Second)
	if w := time.Until(staleAt); w > 0 {
		t.Logf("waiting %v more for batch's report to be stale", w.Round(time.Millisecond))
		time.Sleep(w)
	}
	t.Logf("scenario ready %v after start", time.Since(t0).Round(time.Millisecond))

	env := []string{counter.SimulatedEnv + "=" + d.sim} // Dom0's row: the record's age on its counter
	out := settledList(t, xlBin, env, h.sock)
	t.Log("\n" + out)
	norm, err := normList(out)
	if err != nil {
		t.Error(err)
	}
	golden(t, "procs-list.golden", norm)
	for _, g := range []struct{ arg, name string }{{"web1", "web1"}, {"db1", "db1"}, {"3", "batch"}, {"moved", "moved"}, {"5", "indep"}} {
		out := runXL(t, xlBin, env, "show", "--xenstore", h.sock, g.arg)
		t.Log("\n" + out)
		golden(t, "procs-show-"+g.name+".golden", normShow(out))
	}
	t.Logf("done %v after start", time.Since(t0).Round(time.Millisecond))
}

// settledList runs xlclock list until no live guest is "behind" (at most
// 10 tries, 500 ms apart) and returns the last table.  A live agent
// reports at most once a second, so under load a row can lag the host's
// 1 s record by a generation more than xlclock tolerates for a moment;
// the stale guest's "behind" is expected and does not count.
func settledList(t *testing.T, xlBin string, env []string, sock string) string {
	t.Helper()
	var out string
	for try := 1; try <= 10; try++ {
		out = runXL(t, xlBin, env, "list", "--xenstore", sock)
		lagging := false
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] != "batch" && strings.Contains(f[len(f)-1], "behind") {
				lagging = true
			}
		}
		if !lagging {
			return out
		}
		t.Logf("try %d: a live guest is behind the host's record; listing again", try)
		time.Sleep(500 * time.Millisecond)
	}
	return out
}

// startAgent starts domu-agent for guest name with its page in dir, on a
// copy of hostCounter (the guest's view of its host's counter; a migration
// moves it).
func startAgent(t *testing.T, bin, dir, name, xs, hostCounter string, args ...string) *testProc {
	t.Helper()
	c := filepath.Join(dir, name+".counter")
	if err := counter.MigrateSim(c, hostCounter); err != nil {
		t.Fatal(err)
	}
	return startAgentOn(t, bin, name, xs, filepath.Join(dir, name+".page"), c, args...)
}

// startAgentOn starts domu-agent on the simulated counter file c, sampling
// every 100 ms so that its report follows each record within its 1 s
// spacing.
func startAgentOn(t *testing.T, bin, name, xs, page, c string, args ...string) *testProc {
	t.Helper()
	return startProc(t, name+" domu-agent", []string{counter.SimulatedEnv + "=" + c}, bin,
		append([]string{"run", "--xenstore", xs, "--page", page, "--counter", "simulated", "--name", name, "--tick", "100ms"}, args...)...)
}

// migrate live-migrates the guest whose agent reaches Xenstore through
// link from domain fromID on src to domain toID on dst, as Xen's toolstack
// does: suspend request, the guest pauses (its page says disruption
// imminent), the domain created on dst, counter and Xenstore connection
// moved, the source domain released.
func migrate(t *testing.T, src, dst *dom0dHost, fromID, toID uint32, name, link, guestCounter, page string) {
	t.Helper()
	src.mustWrite(src.dom0, fmt.Sprintf("/local/domain/%d/control/shutdown", fromID), []byte("suspend"))
	deadline := time.Now().Add(10 * time.Second)
	for !disruptionImminent(page) {
		if time.Now().After(deadline) {
			t.Fatalf("%s's page does not say disruption imminent 10 s after the suspend request", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	sock := dst.addDomain(toID, name)
	if err := counter.MigrateSim(guestCounter, dst.sim); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sock, link+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link+".new", link); err != nil {
		t.Fatal(err)
	}
	if err := src.srv.ReleaseDomain(fromID); err != nil {
		t.Fatal(err)
	}
}

func disruptionImminent(page string) bool {
	p, err := clockdata.OpenPage(page)
	if err != nil {
		return false
	}
	defer p.Close()
	_, f, _, err := p.RecordFlags()
	return err == nil && f.DisruptionImminent
}

// readReport reads domain domid's report as Dom0 (nil: none yet).
func (d *dom0dHost) readReport(domid uint32) (*report.Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	b, err := d.dom0.Read(ctx, fmt.Sprintf("/local/domain/%d/%s", domid, report.Node))
	if err != nil {
		return nil, err
	}
	r, err := report.Parse(b)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (d *dom0dHost) mustReport(t *testing.T, domid uint32) *report.Report {
	t.Helper()
	r, err := d.readReport(domid)
	if err != nil {
		t.Fatalf("domain %d's report: %v", domid, err)
	}
	return r
}

// waitReport waits up to timeout for domain domid's report to satisfy ok
// (its agent p still running).
func (d *dom0dHost) waitReport(t *testing.T, domid uint32, p *testProc, timeout time.Duration, ok func(*report.Report) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, err := d.readReport(domid)
		if err == nil && ok(r) {
			return
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("domain %d: no report as wanted within %v (agent exited: %v); last: %+v, %v", domid, timeout, p.exited(), r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runXL runs the xlclock binary: its standard output; standard error must
// be empty.
func runXL(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("xlclock %v: %v\n%s%s", args, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// What a live run cannot reproduce, by shape. A duration as view.FmtNs
// prints it (3 significant digits and a unit, or minutes and seconds past
// 100 s); "0" and "-" are not durations here, so they stay literal.
const durPat = `(?:[0-9]+(?:\.[0-9]+)?(?:ns|µs|ms|s)|(?:[0-9]+h)?[0-9]+m[0-9]+s)`

var (
	durRe  = regexp.MustCompile(`^` + durPat + `$`)
	stepRe = regexp.MustCompile(`^[+-]` + durPat + `$`)
	genRe  = regexp.MustCompile(`^[1-9][0-9]*$`)
)

// liveColumns are the list's columns a live run cannot reproduce, with the
// shape their values must have to be masked.
var liveColumns = map[string]struct {
	shape *regexp.Regexp
	mask  string
}{
	"GEN": {genRe, "<gen>"}, "AGE": {durRe, "<age>"}, "ERR-BOUND": {durRe, "<dur>"}, "MAX-ERR": {durRe, "<dur>"},
	"LAST-STEP": {stepRe, "<step>"}, "PAUSE": {durRe, "<dur>"},
}

// normList checks the list's layout on the raw output and masks what a
// live run cannot reproduce, for a golden file. Layout: every cell starts
// at its header's column, after a space, and every column but the last is
// exactly two runes wider than its widest cell (tabwriter's padding). Cells
// are cut at the header's columns, not at spaces, so a shifted cell fails.
// Only the cells of liveColumns whose text has that column's shape are
// masked; "-", "0" and anything malformed stay as printed, and every other
// column (names, ids, modes, counters, states, disruptions, agents, notes)
// is kept. The result is re-aligned by the same rule. A layout error is
// returned with the raw output, so the golden comparison fails too.
func normList(out string) (string, error) {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	head := []rune(lines[0])
	var starts []int
	for i, r := range head {
		if r != ' ' && (i == 0 || head[i-1] == ' ') {
			starts = append(starts, i)
		}
	}
	names := strings.Fields(lines[0])
	rows := make([][]string, len(lines))
	widths := make([]int, len(starts))
	for li, l := range lines {
		rs := []rune(l)
		rows[li] = make([]string, len(starts))
		for c, st := range starts {
			end := len(rs)
			if c+1 < len(starts) {
				end = starts[c+1]
			}
			if st >= len(rs) || end > len(rs) || rs[st] == ' ' || (st > 0 && rs[st-1] != ' ') {
				return out, fmt.Errorf("list line %d: column %s is not aligned with its header:\n%s", li, names[c], out)
			}
			rows[li][c] = strings.TrimRight(string(rs[st:end]), " ")
			widths[c] = max(widths[c], utf8.RuneCountInString(rows[li][c]))
		}
	}
	for c := 0; c+1 < len(starts); c++ {
		if got := starts[c+1] - starts[c]; got != widths[c]+2 {
			return out, fmt.Errorf("list column %s is %d wide, its widest cell %d: want two spaces of padding\n%s", names[c], got, widths[c], out)
		}
	}
	masked := make([]int, len(starts))
	for li, row := range rows {
		for c, v := range row {
			if m, ok := liveColumns[names[c]]; ok && li > 0 && m.shape.MatchString(v) {
				row[c] = m.mask
			}
			masked[c] = max(masked[c], utf8.RuneCountInString(row[c]))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for c, v := range row {
			b.WriteString(v)
			if c+1 < len(row) {
				b.WriteString(strings.Repeat(" ", masked[c]+2-utf8.RuneCountInString(v)))
			}
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// showMasks are xlclock show's lines with values a live run cannot
// reproduce: each must match as a whole line, and only the groups shown
// as <...> in the replacement are masked; a line of that key in another
// shape is kept as printed.
var showMasks = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`^(generation:    )[0-9]+( \(this host's record: )[0-9]+(\))$`), "${1}<gen>${2}<gen>${3}"},
	{regexp.MustCompile(`^(error bound:   )` + durPat + `( statistical, )` + durPat + `( guaranteed \(when reported\))$`), "${1}<dur>${2}<dur>${3}"},
	{regexp.MustCompile(`^(clock updated: |reported:      |last migration: )[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z \(` + durPat + ` ago\)$`), "${1}<time> (<age> ago)"},
	{regexp.MustCompile(`^(  step:        )[+-]` + durPat + `( \(new host's clock minus the old one's, across the pause\))$`), "${1}<step>${2}"},
	{regexp.MustCompile(`^(  pause:       )` + durPat + `$`), "${1}<dur>"},
	{regexp.MustCompile(`^(  disrupted:   )` + durPat + `( \(readers told "disrupted"\))$`), "${1}<dur>${2}"},
}

// clockHostRe is show's clock host line with a host id, which a live run
// cannot reproduce (dom0d derives it from the boot id): the id is masked,
// and the host's name too where it is only the id's first 8 digits (a
// host that published no name).
var clockHostRe = regexp.MustCompile(`^(clock host:    )([^ ]+) \(host id ([0-9a-f]{32})\)(, .*)$`)

// normShow masks what a live run cannot reproduce in xlclock show's output
// (clockHostRe, showMasks); every other line is kept as printed.
func normShow(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if m := clockHostRe.FindStringSubmatch(l); m != nil {
			if m[2] == m[3][:8] {
				m[2] = "<host-id:8>"
			}
			lines[i] = m[1] + m[2] + " (host id <host-id>)" + m[4]
			continue
		}
		for _, m := range showMasks {
			if m.re.MatchString(l) {
				lines[i] = m.re.ReplaceAllString(l, m.repl)
				break
			}
		}
	}
	return strings.Join(lines, "\n")
}

// The normalisers mask only what they must: a wrong state, mode, note or
// disruption count, a misaligned cell, a missing value ("-" for a
// duration) and a malformed one all survive into the golden comparison.
func TestNormalisersAreNarrow(t *testing.T) {
	list := "NAME  ID  MODE       STATE         GEN  AGE    ERR-BOUND  DISR  LAST-STEP  NOTES\n" +
		"web1  1   dependent  synchronised  25   102ms  4.07µs     0     +12.3µs    -\n"
	want := "NAME  ID  MODE       STATE         GEN    AGE    ERR-BOUND  DISR  LAST-STEP  NOTES\n" +
		"web1  1   dependent  synchronised  <gen>  <age>  <dur>      0     <step>     -\n"
	if got, err := normList(list); err != nil || got != want {
		t.Fatalf("normList: %v\n%s\nwant:\n%s", err, got, want)
	}
	for what, bad := range map[string]string{
		"state":     strings.Replace(list, "synchronised", "warm-up     ", 1),
		"mode":      strings.Replace(list, "dependent ", "none      ", 1),
		"notes":     strings.Replace(list, "    -\n", "    stale\n", 1),
		"disr":      strings.Replace(list, "  0  ", "  1  ", 1),
		"no bound":  strings.Replace(list, "4.07µs", "-     ", 1),
		"zero age":  strings.Replace(list, "102ms", "0    ", 1),
		"unsigned":  strings.Replace(list, "+12.3µs", "12.3µs ", 1),
		"malformed": strings.Replace(list, "25 ", "2x ", 1),
	} {
		if got, _ := normList(bad); got == want {
			t.Errorf("%s: a wrong value was masked:\n%s", what, bad)
		}
	}
	for what, bad := range map[string]string{
		"shifted":  strings.Replace(list, "web1  1 ", "web1   1", 1),
		"too wide": strings.ReplaceAll(list, "  ID", "   ID"),
		"short":    strings.TrimSuffix(list, "  -\n") + "\n",
	} {
		if got, err := normList(bad); err == nil {
			t.Errorf("%s: a misaligned table passed:\n%s\nas\n%s", what, bad, got)
		}
	}
	show := "clock host:    0123abcd (host id 0123abcd0123456789abcdef01234567), not this host (h1)\n" +
		"clock host:    h1 (host id 0123abcd0123456789abcdef01234567), this host\n" +
		"state:         synchronised\ngeneration:    25 (this host's record: 26)\n" +
		"reported:      2026-12-02T14:52:09.123456Z (102ms ago)\n  step:        -12.3µs (new host's clock minus the old one's, across the pause)\n"
	wantShow := "clock host:    <host-id:8> (host id <host-id>), not this host (h1)\n" +
		"clock host:    h1 (host id <host-id>), this host\n" +
		"state:         synchronised\ngeneration:    <gen> (this host's record: <gen>)\n" +
		"reported:      <time> (<age> ago)\n  step:        <step> (new host's clock minus the old one's, across the pause)\n"
	if got := normShow(show); got != wantShow {
		t.Fatalf("normShow:\n%s\nwant:\n%s", got, wantShow)
	}
	for _, bad := range []string{"state:         warm-up\n", "clock host:    none\n",
		"generation:    - (no host record: the guest's own clock)\n",
		"reported:      - (undated)\n", "disruptions:   3\n", "notes:         stale\n"} {
		if got := normShow(bad); got != bad {
			t.Errorf("normShow changed %q to %q", bad, got)
		}
	}
}
