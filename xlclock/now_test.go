package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
)

// simPage publishes a record on a simulated counter whose reference pair
// is (a counter read, the system clock at that read) and returns the page
// path and the record.
func simPage(t *testing.T, kind counter.Kind) (string, clockdata.Record) {
	t.Helper()
	dir := t.TempDir()
	host := filepath.Join(dir, "simhost")
	if err := counter.CreateSimHost(host, counter.SimHostConfig{HostID: 77, NominalHz: 1e9, PPM: 20}); err != nil {
		t.Fatal(err)
	}
	t.Setenv(counter.SimulatedEnv, host)
	ctr, err := counter.Open("simulated")
	if err != nil {
		t.Fatal(err)
	}
	rd, err := ctr.Read()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	per, _ := clockdata.PeriodFromFloat(1e-9 / (1 + 20e-6))
	raw := clockdata.Raw{
		HostID: [16]byte{7}, CounterKind: kind, CounterHz: 1_000_000_000, CounterIdentity: rd.Identity,
		State: clockdata.StateSynchronised, RefCount: rd.Count, RefTime: bintime.FromUnix(now.Unix(), int64(now.Nanosecond())),
		Period: per, ErrorBoundNs: 1500, MaxErrorNs: 40_000, MaxErrorGrowthPsPerS: 15_000_000, PollNs: 16e9,
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

func run(args ...string) (string, error) {
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	app.ErrWriter = &out
	err := app.Run(append([]string{"xlclock"}, args...))
	return out.String(), err
}

var nineDecimals = regexp.MustCompile(`^[0-9]+\.[0-9]{9}$`)

func TestNowJSON(t *testing.T) {
	path, rec := simPage(t, counter.KindSimulated)
	out, err := run("now", "--page", path, "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Exactly the keys issue 5 lists, with the specified JSON types.
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := map[string]string{"counter": "string", "ca": "string", "realtime": "string", "error_bound": "number", "max_error": "number", "status": "string"}
	if len(raw) != len(want) {
		t.Errorf("keys %v, want %v", raw, want)
	}
	for k, typ := range want {
		switch raw[k].(type) {
		case string:
			if typ != "string" {
				t.Errorf("%s is a string, want %s", k, typ)
			}
		case float64:
			if typ != "number" {
				t.Errorf("%s is a number, want %s", k, typ)
			}
		default:
			t.Errorf("%s: %T", k, raw[k])
		}
	}
	var j nowJSON
	json.Unmarshal([]byte(out), &j)
	if !nineDecimals.MatchString(j.Ca) || !nineDecimals.MatchString(j.Realtime) {
		t.Errorf("ca %q / realtime %q not decimal seconds with 9 decimals", j.Ca, j.Realtime)
	}
	if !regexp.MustCompile(`^[0-9]+$`).MatchString(j.Counter) {
		t.Errorf("counter %q not a decimal integer string", j.Counter)
	}
	if j.Status != "fresh" || j.MaxError < 40e-6 || j.MaxError > 41e-6 || j.ErrorBound != 1.5e-6 {
		t.Errorf("status %s, max_error %g, error_bound %g", j.Status, j.MaxError, j.ErrorBound)
	}
	// The clock was referenced to the system clock a moment ago on a
	// counter running at the rate the record says, so the two agree far
	// better than a second (a loose sanity check, not a timing assertion).
	ca, _ := bintime.Parse(j.Ca)
	rt, _ := bintime.Parse(j.Realtime)
	if d := rt.Sub(ca).Float(); d < -1 || d > 1 || ca.Cmp(rec.RefTime) < 0 {
		t.Errorf("ca %s vs realtime %s (ref %s)", j.Ca, j.Realtime, rec.RefTime)
	}
}

func TestNowTable(t *testing.T) {
	path, _ := simPage(t, counter.KindSimulated)
	out, err := run("now", "--page", path)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Log("\n" + out)
	for _, want := range []string{"clock ", "earliest ", "latest ", "status     fresh; host clock synchronised", "counter    simulated ", "system "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestNowErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := run("now", "--page", filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "no clock page at") {
		t.Errorf("missing page: %v", err)
	}
	blank := filepath.Join(dir, "blank")
	w, err := clockdata.CreatePage(blank)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := run("now", "--page", blank); err == nil || !strings.Contains(err.Error(), "not yet published") {
		t.Errorf("uninitialised page: %v", err)
	}
	// A page on the simulated counter, read where the simulated counter
	// is not configured: a clear "cannot read" error.
	path, _ := simPage(t, counter.KindSimulated)
	t.Setenv(counter.SimulatedEnv, "")
	if _, err := run("now", "--page", path); err == nil || !strings.Contains(err.Error(), "defined on the simulated counter") {
		t.Errorf("unavailable counter: %v", err)
	}
	if _, err := run("now", "--page", path, "extra"); err == nil {
		t.Error("accepted an argument")
	}
}
