package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	bin := t.TempDir()
	for _, pkg := range []string{"dom0d", "domu-agent", "xlclock", "demo"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(bin, filepath.Base(pkg)), "../"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
	tmp := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "demo"), "--bin", bin, "--duration", "60s", "--migrate-at", "30s", "--interval", "15s")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	text := string(out)
	t.Logf("demo output:\n%s", text)
	if err != nil {
		t.Fatalf("demo failed: %v", err)
	}
	for _, want := range []string{
		"toolstack: live-migrated g2 from host-a",
		"every read that carried a time was inside its max_error",
		"host-a | ", "host-b | ", // xlclock watch's tables
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(text, "migrated g2") || !strings.Contains(text, "disrupted for") || !strings.Contains(text, "step") {
		t.Errorf("no agent migration line with both figures (migrated g2 ..., disrupted for X ms, step Y µs)")
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
