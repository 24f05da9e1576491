package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
)

// simPage publishes a record on a simulated counter whose reference pair
// is (a counter read, the system clock at that read), after edit has
// changed the raw estimate, and returns the page path and the record.
func simPage(t testing.TB, edit func(raw *clockdata.Raw)) (string, clockdata.Record) {
	t.Helper()
	host := filepath.Join(t.TempDir(), "simhost")
	if err := counter.CreateSimHost(host, counter.SimHostConfig{HostID: 77, NominalHz: 1e9, PPM: 20}); err != nil {
		t.Fatal(err)
	}
	t.Setenv(counter.SimulatedEnv, host)
	return pageOn(t, "simulated", edit)
}

// pageOn publishes a record on the named counter, referenced to the
// system clock at a reading of it.
func pageOn(t testing.TB, name string, edit func(raw *clockdata.Raw)) (string, clockdata.Record) {
	t.Helper()
	dir := t.TempDir()
	ctr, err := counter.Open(name)
	if err != nil {
		t.Skipf("counter %s: %v", name, err)
	}
	rd, err := ctr.Read()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	hz := uint64(ctr.NominalHz())
	per, _ := clockdata.PeriodFromFloat(1 / float64(hz) / (1 + 20e-6))
	raw := clockdata.Raw{
		HostID: [16]byte{7}, CounterKind: ctr.Kind(), CounterHz: hz, CounterIdentity: rd.Identity,
		State: clockdata.StateSynchronised, RefCount: rd.Count, RefTime: bintime.FromUnix(now.Unix(), int64(now.Nanosecond())),
		Period: per, ErrorBoundNs: 1500, MaxErrorNs: 40_000, MaxErrorGrowthPsPerS: 15_000_000, PollNs: 16e9,
	}
	if edit != nil {
		edit(&raw)
	}
	rec, err := clockdata.Next(nil, raw, rd.Count)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "clock")
	w, err := clockdata.CreatePage(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Publish(&rec); err != nil {
		t.Fatal(err)
	}
	return path, rec
}

// run runs xlclock as main does: stdout, stderr and the exit status.
func run(args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	code := runMain(append([]string{"xlclock"}, args...), &out, &errOut)
	return out.String(), errOut.String(), code
}

var nineDecimals = regexp.MustCompile(`^[0-9]+\.[0-9]{9}$`)

// jsonKeys are the --json object's keys and JSON types (docs/xlclock.md).
var jsonKeys = map[string]string{
	"counter": "string", "ca": "string", "realtime": "string", "error_bound": "number", "max_error": "number",
	"status": "string", "state": "string", "mode": "string", "bracket_ns": "number",
}

// checkShape requires out to be exactly one JSON object with jsonKeys and
// their types (null allowed where nullable), and returns it decoded.
func checkShape(t *testing.T, out string, nullable ...string) nowJSON {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if dec.More() || !strings.HasSuffix(out, "}\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("stdout is not exactly one object and a newline: %q", out)
	}
	if len(raw) != len(jsonKeys) {
		t.Errorf("keys %v, want %v", raw, jsonKeys)
	}
	for k, typ := range jsonKeys {
		got := "missing"
		switch raw[k].(type) {
		case string:
			got = "string"
		case float64:
			got = "number"
		case nil:
			if _, ok := raw[k]; ok {
				got = "null"
			}
		}
		if got != typ && !(got == "null" && contains(nullable, k)) {
			t.Errorf("%s is %s, want %s", k, got, typ)
		}
	}
	var j nowJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatal(err)
	}
	return j
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func TestNowJSON(t *testing.T) {
	path, rec := simPage(t, nil)
	out, errOut, code := run("now", "--page", path, "--json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	j := checkShape(t, out)
	if !nineDecimals.MatchString(*j.Ca) || !nineDecimals.MatchString(j.Realtime) {
		t.Errorf("ca %q / realtime %q not decimal seconds with 9 decimals", *j.Ca, j.Realtime)
	}
	if !regexp.MustCompile(`^[0-9]+$`).MatchString(j.Counter) {
		t.Errorf("counter %q not a decimal integer string", j.Counter)
	}
	if j.Status != "fresh" || j.State != "synchronised" || j.Mode != "host" || *j.MaxError < 40e-6 || *j.MaxError > 41e-6 || *j.ErrorBound != 1.5e-6 {
		t.Errorf("status %s, state %s, mode %s, max_error %g, error_bound %g", j.Status, j.State, j.Mode, *j.MaxError, *j.ErrorBound)
	}
	if j.BracketNs < 0 {
		t.Errorf("bracket_ns %d", j.BracketNs)
	}
	t.Logf("bracket_ns %d", j.BracketNs)
	// The clock was referenced to the system clock a moment ago on a
	// counter running at the rate the record says, so the two agree far
	// better than a second (a loose sanity check, not a timing assertion).
	ca, _ := bintime.Parse(*j.Ca)
	rt, _ := bintime.Parse(j.Realtime)
	if d := rt.Sub(ca).Float(); d < -1 || d > 1 || ca.Cmp(rec.RefTime) < 0 {
		t.Errorf("ca %s vs realtime %s (ref %s)", *j.Ca, j.Realtime, rec.RefTime)
	}
}

// TestNowExitCodes: each record state and read status gives its exit code,
// the same state and status names in --json and in the table, the JSON
// object alone on stdout and a diagnostic on stderr whenever the time is
// not plainly usable.
func TestNowExitCodes(t *testing.T) {
	state := func(s clockdata.ClockState) func(*clockdata.Raw) {
		return func(r *clockdata.Raw) { r.State = s }
	}
	late := func(s clockdata.ClockState) func(*clockdata.Raw) {
		return func(r *clockdata.Raw) { r.State, r.NextExpectedCount = s, r.RefCount+1 }
	}
	for _, c := range []struct {
		name          string
		edit          func(*clockdata.Raw)
		code          int
		status, state string
	}{
		{"synchronised", nil, 0, "fresh", "synchronised"},
		{"warm-up", state(clockdata.StateWarmUp), 0, "fresh", "warm-up"},
		{"free-running", state(clockdata.StateFreeRunning), 0, "fresh", "free-running"},
		{"starving", state(clockdata.StateStarving), 0, "fresh", "starving"},
		{"late", late(clockdata.StateSynchronised), 1, "late", "synchronised"},
		{"late starving", late(clockdata.StateStarving), 1, "late", "starving"},
		{"unsynchronised", state(clockdata.StateUnsynchronised), 2, "fresh", "unsynchronised"},
		{"server-fault", state(clockdata.StateServerFault), 2, "fresh", "server-fault"},
		{"unknown", state(clockdata.StateUnknown), 2, "fresh", "unknown"},
		{"late unsynchronised", late(clockdata.StateUnsynchronised), 2, "late", "unsynchronised"},
		{"void", func(r *clockdata.Raw) { r.VoidAfterCount = r.RefCount + 1 }, 3, "void", "void"},
		{"void server-fault", func(r *clockdata.Raw) { r.State, r.VoidAfterCount = clockdata.StateServerFault, r.RefCount+1 }, 3, "void", "void"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, _ := simPage(t, c.edit)
			out, errOut, code := run("now", "--page", path, "--json")
			j := checkShape(t, out)
			if code != c.code || j.Status != c.status || j.State != c.state || j.Mode != "host" {
				t.Errorf("exit %d status %s state %s mode %s, want exit %d status %s state %s",
					code, j.Status, j.State, j.Mode, c.code, c.status, c.state)
			}
			if (code != 0) != (errOut != "") {
				t.Errorf("exit %d with stderr %q", code, errOut)
			}
			text, _, tcode := run("now", "--page", path)
			for _, want := range []string{"status       " + c.status + "\n", "state        " + c.state + "\n", "mode         host\n"} {
				if !strings.Contains(text, want) {
					t.Errorf("table lacks %q:\n%s", want, text)
				}
			}
			if tcode != c.code {
				t.Errorf("table exit %d, --json exit %d", tcode, code)
			}
		})
	}
}

// TestNowDisrupted: a page whose counter identity is not this counter's
// timeline (a migration the publisher has not caught up with) gives no
// time, exit 3, and null ca and bounds in --json.
func TestNowDisrupted(t *testing.T) {
	path, _ := simPage(t, func(r *clockdata.Raw) { r.CounterIdentity ^= 1 })
	out, errOut, code := run("now", "--page", path, "--json")
	j := checkShape(t, out, "ca", "error_bound", "max_error")
	if code != 3 || j.Status != "disrupted" || j.Ca != nil || j.MaxError != nil || !strings.Contains(errOut, "disrupted") {
		t.Errorf("exit %d, %+v, stderr %q", code, j, errOut)
	}
	text, _, _ := run("now", "--page", path)
	if !strings.Contains(text, "ca           none (no time: disrupted)") {
		t.Errorf("table:\n%s", text)
	}
}

func TestNowTable(t *testing.T) {
	path, _ := simPage(t, nil)
	out, errOut, code := run("now", "--page", path)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	t.Log("\n" + out)
	for _, name := range []string{"ca", "earliest", "latest", "error_bound", "max_error", "status", "state", "mode",
		"realtime", "bracket_ns", "counter", "generation", "usable"} {
		if !regexp.MustCompile(`(?m)^` + name + ` +\S`).MatchString(out) {
			t.Errorf("no %s line:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "usable       yes (exit 0)") || !strings.Contains(out, "counter      simulated ") {
		t.Errorf("table:\n%s", out)
	}
}

// TestNowErrors: no clock is exit 3, usage and I/O errors exit 4, each
// with a message on stderr and nothing on stdout.
func TestNowErrors(t *testing.T) {
	dir := t.TempDir()
	blank := filepath.Join(dir, "blank")
	w, err := clockdata.CreatePage(blank)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign")
	os.WriteFile(foreign, bytes.Repeat([]byte("not a clock page"), clockdata.PageSize/16), 0o644)
	path, _ := simPage(t, nil)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--page", filepath.Join(dir, "none")}, 3, "no clock page at"},
		{[]string{"--page", blank}, 3, "not yet published"},
		{[]string{"--page", foreign}, 3, "no valid clock"},
		{[]string{"--page", fifo}, 4, fifo + ": not a regular file (a FIFO)"},
		{[]string{"--page", dir}, 4, dir + ": not a regular file (a directory)"},
		{[]string{"--page", "/dev/null"}, 4, "/dev/null: not a regular file (a character device)"},
		{[]string{"--page", path, "extra"}, 4, "takes no arguments"},
		{[]string{"--no-such-flag"}, 4, "see xlclock now --help"},
	} {
		args := append([]string{"now", "--json"}, c.args...)
		out, errOut, code := run(args...)
		if code != c.code || out != "" || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d (want %d), stdout %q, stderr %q (want %q)", c.args, code, c.code, out, errOut, c.msg)
		}
	}
	// A page on the simulated counter, read where the simulated counter
	// is not configured: a clear "cannot read" error.
	t.Setenv(counter.SimulatedEnv, "")
	if out, errOut, code := run("now", "--page", path); code != 4 || out != "" || !strings.Contains(errOut, "defined on the simulated counter") {
		t.Errorf("unavailable counter: exit %d, %q, %q", code, out, errOut)
	}
}

// TestBracketRead: of a few reads, the one with the narrowest system-clock
// bracket is kept and the realtime reported is its middle; a try across a
// backward step of the system clock is not used. The system clock is a
// scripted one.
func TestBracketRead(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	// (first, second) readings per try, ns after base: widths 900, 40, -500 (a step back), 41, 300.
	script := []int64{0, 900, 10_000, 10_040, 20_000, 19_500, 30_000, 30_041, 40_000, 40_300}
	i := 0
	realtime := func() time.Time { v := script[i]; i++; return base.Add(time.Duration(v)) }
	reads := 0
	read := func(n *clockdata.Now) error {
		reads++
		*n = clockdata.Now{Status: clockdata.ReadFresh, Count: uint64(reads)}
		return nil
	}
	b, err := bracketRead(read, realtime, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := bintime.FromUnix(1_800_000_000, 10_020)
	if b.widthNs != 40 || b.n.Count != 2 || b.realtime != want {
		t.Errorf("kept read %d, width %d, realtime %s; want read 2, width 40, realtime %s", b.n.Count, b.widthNs, b.realtime, want)
	}
	// Every try across a step back: no pairing, an error.
	i = 0
	script = []int64{100, 0, 100, 0}
	if _, err := bracketRead(read, realtime, 2); err == nil {
		t.Error("a bracket of negative width was used")
	}
}

// BenchmarkNowBracket reports the bracket width xlclock now achieves on
// this machine's monotonic-raw and tsc counters (bracket_ns, the median
// over b.N runs of the command; each run keeps its tightest of 5 tries).
func BenchmarkNowBracket(b *testing.B) {
	for _, name := range []string{"monotonic-raw", "tsc"} {
		b.Run(name, func(b *testing.B) {
			path, _ := pageOn(b, name, nil)
			var widths []int64
			for range b.N {
				out, errOut, code := run("now", "--page", path, "--json")
				var j nowJSON
				if err := json.Unmarshal([]byte(out), &j); err != nil || code != 0 {
					b.Fatalf("exit %d: %v %q", code, err, errOut)
				}
				widths = append(widths, j.BracketNs)
			}
			slices.Sort(widths)
			b.ReportMetric(float64(widths[len(widths)/2]), "bracket_ns")
			b.ReportMetric(float64(widths[len(widths)-1]), "max_bracket_ns")
		})
	}
}
