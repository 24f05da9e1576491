package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/internal/helptest"
)

func TestParsePath(t *testing.T) {
	good := map[string]pathSpec{
		"a:300us:200us:40us": {"a", 300 * time.Microsecond, 200 * time.Microsecond, 40 * time.Microsecond},
		"b:0s:1ms:0s":        {"b", 0, time.Millisecond, 0},
	}
	for in, want := range good {
		got, err := parsePath(in)
		if err != nil || got != want {
			t.Errorf("parsePath(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, err := parsePath(got.String()); err != nil || back != got {
			t.Errorf("parsePath(%q.String()) = %+v, %v", in, back, err)
		}
	}
	for _, in := range []string{"", "a", ":1ms:1ms:1ms", "a:1ms:1ms", "a:-1ms:1ms:0s", "a:2s:0s:0s", "a:x:0s:0s"} {
		if _, err := parsePath(in); err == nil {
			t.Errorf("parsePath(%q) accepted", in)
		}
	}
}

func TestValidate(t *testing.T) {
	bin := t.TempDir()
	for _, b := range binaries {
		if err := os.WriteFile(filepath.Join(bin, b), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ok := demoDefaults
	ok.Bin = bin
	if err := ok.validate(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	bad := map[string]func(*options){
		"short duration":   func(o *options) { o.Duration = time.Second },
		"negative migrate": func(o *options) { o.MigrateAt = -time.Second },
		"migrate too late": func(o *options) { o.MigrateAt = o.Duration },
		"zero interval":    func(o *options) { o.Interval = 0 },
		"absurd skew":      func(o *options) { o.SkewPPM = 1e4 },
		"absurd offset":    func(o *options) { o.Offset = 2 * time.Hour },
		"no binaries":      func(o *options) { o.Bin = t.TempDir() },
	}
	for name, f := range bad {
		o := ok
		f(&o)
		if err := o.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	p := &prefixWriter{out: &lockedWriter{w: &out}, prefix: "h | "}
	p.Write([]byte("one\ntw"))
	p.Write([]byte("o\n"))
	if got, want := out.String(), "h | one\nh | two\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	out.Reset()
	p.Write(bytes.Repeat([]byte("x"), 5000))
	if out.Len() == 0 {
		t.Error("an endless line was buffered without bound")
	}
}

// TestDemoShort runs the whole demo as `make demo` does, shortened to a
// minute with the migration at 30 s, from freshly built binaries, and checks
// what a newcomer is promised: four guests with times, the migration line
// with both figures, zero reads outside max_error, nothing left behind.
func TestDemoShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a minute of the whole system")
	}
	// The help's one example is this test's run, as printed, from a
	// directory laid out as the source tree after 'make build'.
	exs := helptest.Examples(newApp())
	if len(exs) != 1 {
		t.Fatalf("the demo's help has %d examples, want 1 (this test runs it): %+v", len(exs), exs)
	}
	if bad := helptest.BrokenHeadings(newApp()); len(bad) > 0 {
		t.Fatalf("examples that would not run: %q", bad)
	}
	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	for pkg, name := range map[string]string{"dom0d": "dom0d", "domu-agent": "domu-agent", "xlclock": "xlclock", "demo": "xenradclock-demo"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), "../"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
	tmp := t.TempDir()
	words := strings.Fields(exs[0].Line)
	cmd := exec.Command(words[0], words[1:]...)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	t.Logf("running the help's example %q", exs[0].Line)
	out, err := cmd.CombinedOutput()
	text := string(out)
	t.Logf("demo output:\n%s", text)
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
		t.Fatalf("demo failed to run: %v", err)
	}
	for _, want := range []string{
		"toolstack: live-migrated g2 from host-a",
		"host-a | ", "host-b | ", // xlclock watch's tables
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(text, "migrated g2") || !strings.Contains(text, "disrupted for") || !strings.Contains(text, "step") {
		t.Errorf("no agent migration line with both figures (migrated g2 ..., disrupted for X ms, step Y µs)")
	}
	rows := summaryRows(text)
	// Every guest carries the product's promise, the independent g4 (its
	// own estimator at a 1 s poll) too: times inside max_error whenever the
	// clock does not say it is unsynchronised, never back.
	for _, g := range []string{"g1", "g2", "g3", "g4"} {
		r, ok := rows[g]
		switch {
		case !ok:
			t.Errorf("%s: no summary row", g)
		case r.withTime == 0:
			t.Errorf("%s: no read with a time", g)
		case r.outsideMax != 0 || r.backwards != 0:
			t.Errorf("%s: %d of %d reads outside max_error, %d went back", g, r.outsideMax, r.withTime, r.backwards)
		default:
			t.Logf("%s: %d reads with a time, 0 outside max_error, 0 back", g, r.withTime)
		}
	}
	if g2 := rows["g2"]; g2.ended != "host-b" {
		t.Errorf("g2 ended on %q, not host-b", g2.ended)
	}
	left, _ := os.ReadDir(tmp)
	if len(left) > 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}
	if procs := processesMentioning(tmp); len(procs) > 0 {
		t.Errorf("processes left running: %v", procs)
	}
}

// processesMentioning lists the command lines of live processes that name s.
func processesMentioning(s string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte(s)) {
			out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

type summaryRow struct {
	ended                           string
	withTime, outsideMax, backwards uint64
}

// summaryRows parses the demo's final table: GUEST, ENDED ON, READS, WITH
// TIME, UNSYNCED, DISRUPTED, NO CLOCK, MAX |ERROR| (value and unit),
// OUTSIDE ME, OUTSIDE EB, BACKWARDS.
func summaryRows(text string) map[string]summaryRow {
	rows := map[string]summaryRow{}
	_, after, ok := strings.Cut(text, "\nsummary after")
	if !ok {
		return rows
	}
	for _, line := range strings.Split(after, "\n") {
		f := strings.Fields(line)
		if len(f) != 12 || len(f[0]) != 2 || f[0][0] != 'g' {
			continue
		}
		n := func(s string) uint64 { v, _ := strconv.ParseUint(s, 10, 64); return v }
		rows[f[0]] = summaryRow{ended: f[1], withTime: n(f[3]), outsideMax: n(f[9]), backwards: n(f[11])}
	}
	return rows
}

func TestSummaryRows(t *testing.T) {
	text := `junk
summary after 60 s (the truth is the served time, known exactly)
  GUEST ENDED ON     READS WITH TIME  UNSYNCED DISRUPTED  NO CLOCK  MAX |ERROR| OUTSIDE ME OUTSIDE EB BACKWARDS
  g1    host-a      48145     48126     23012         0        19     342.7 µs          0     95.56%         0
  g2    host-b      48185     48147     47139        18        20     342.6 µs          0    100.00%         3
  g4    host-b      48182     43375      9844      4801         6    9009.3 µs        783     82.42%         0
`
	rows := summaryRows(text)
	want := map[string]summaryRow{
		"g1": {"host-a", 48126, 0, 0},
		"g2": {"host-b", 48147, 0, 3},
		"g4": {"host-b", 43375, 783, 0},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %+v", rows)
	}
	for g, w := range want {
		if rows[g] != w {
			t.Errorf("%s: %+v, want %+v", g, rows[g], w)
		}
	}
}
