package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/counter"
)

// runApp runs dom0d in-process with args and returns its output and error;
// a panic fails the test.
func runApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &out
	app.ExitErrHandler = func(*cli.Context, error) {}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("dom0d %s panicked: %v", strings.Join(args, " "), r)
		}
	}()
	err := app.Run(append([]string{"dom0d"}, args...))
	return out.String(), err
}

// Every demo flag is checked before anything starts: a bad value is an
// error naming the flag, never a panic or a run with a misleading summary.
func TestDemoRejectsBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"--interval", "0"}, "--interval"},
		{[]string{"--interval", "-1s"}, "--interval"},
		{[]string{"--duration", "-5s"}, "--duration"},
		{[]string{"--duration", "0"}, "--duration"},
		{[]string{"--poll", "100ms"}, "--poll"},
		{[]string{"--poll", "2000s"}, "--poll"},
		{[]string{"--counter-ppm", "1e6"}, "--counter-ppm"},
		{[]string{"--skew-ppm", "NaN"}, "--skew-ppm"},
		{[]string{"--skew-ppm", "600"}, "--skew-ppm"},
		{[]string{"--log-level", "loud"}, "--log-level"},
	} {
		out, err := runApp(t, append([]string{"demo"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("demo %v: error %v, want one naming %s", c.args, err, c.flag)
		}
		if strings.Contains(out, "summary") || strings.Contains(out, "test NTP server") {
			t.Errorf("demo %v started before failing:\n%s", c.args, out)
		}
	}
}

// A file that is no trace at all says so; it is not asked for the
// counter frequency, which is not what is wrong with it.
func TestReplayGarbageIsNotAskedForCounterHz(t *testing.T) {
	for _, in := range []string{"hello world\n1 2 3\n", "\x00\xff\xfe garbage"} {
		_, _, _, err := runReplay(t, in, replayOptions{name: "garbage"})
		if err == nil || !strings.Contains(err.Error(), "not a stamp trace") || strings.Contains(err.Error(), "--counter-hz") {
			t.Errorf("replay of %q: %v; want 'not a stamp trace' without --counter-hz", in, err)
		}
	}
}

// The trace may be the argument (dom0d replay FILE) or --in, not both.
func TestReplayFileArgument(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"replay", "testdata/sample.trace", "--out", dir + "/a.csv"},
		{"replay", "--out", dir + "/b.csv", "testdata/sample.trace"},
		{"replay", "--in", "testdata/sample.trace", "--out", dir + "/c.csv"},
	} {
		if out, err := runApp(t, args...); err != nil {
			t.Errorf("dom0d %v: %v\n%s", args, err, out)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"replay"}, "give the trace FILE"},
		{[]string{"replay", "--in", "testdata/sample.trace", "testdata/sample.trace"}, "give one"},
		{[]string{"replay", "a", "b"}, "one trace FILE"},
	} {
		out, err := runApp(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("dom0d %v: %v, want %q", c.args, err, c.want)
		}
		if strings.Contains(out, "USAGE") {
			t.Errorf("dom0d %v printed the whole help:\n%s", c.args, out)
		}
	}
}

// Flags after the server are flags; a closed loopback port is "refused".
func TestCheckFlagsAfterArgument(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	_, err = runApp(t, "check", addr, "--timeout", "2s")
	if err == nil || strings.Contains(err.Error(), "exactly one") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("dom0d check %s --timeout 2s: %v; want connection refused", addr, err)
	}
	if _, err := runApp(t, "check", addr, "--timeout"); err == nil || !strings.Contains(err.Error(), "needs an argument") {
		t.Errorf("dom0d check %s --timeout: %v", addr, err)
	}
	for _, d := range []string{"0", "-1s", "2m"} {
		if _, err := runApp(t, "check", addr, "--timeout", d); err == nil || !strings.Contains(err.Error(), "--timeout") {
			t.Errorf("dom0d check %s --timeout %s: %v", addr, d, err)
		}
	}
}

// An argument dom0d run does not take is an error, not ignored.
func TestRunRejectsArguments(t *testing.T) {
	_, err := runApp(t, "run", "--server", "127.0.0.1:1", "extra")
	if err == nil || !strings.Contains(err.Error(), "no arguments") {
		t.Errorf("dom0d run ... extra: %v", err)
	}
}

// --help after an argument shows the help, as before one.
func TestHelpAfterArgument(t *testing.T) {
	out, err := runApp(t, "check", "127.0.0.1:9", "--help")
	if !errors.Is(err, errHelpShown) || !strings.Contains(out, "SERVER[:PORT]") {
		t.Errorf("dom0d check 127.0.0.1:9 --help: %v\n%s", err, out)
	}
}

func TestVersionFlag(t *testing.T) {
	out, err := runApp(t, "--version")
	if err != nil || !strings.HasPrefix(out, "dom0d version ") {
		t.Errorf("dom0d --version: %q, %v", out, err)
	}
}

// positional applies flags of every kind after the arguments.
func TestPositionalTrailingFlags(t *testing.T) {
	var got []string
	var n int
	var b bool
	app := &cli.App{Name: "x", Commands: []*cli.Command{{
		Name:  "c",
		Flags: []cli.Flag{&cli.IntFlag{Name: "num", Aliases: []string{"n"}}, &cli.BoolFlag{Name: "yes"}},
		Action: func(c *cli.Context) error {
			var err error
			got, err = positional(c)
			n, b = c.Int("num"), c.Bool("yes")
			return err
		},
	}}}
	if err := app.Run([]string{"x", "c", "a", "-n", "3", "b", "--yes", "--", "--num"}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a,b,--num" || n != 3 || !b {
		t.Errorf("args %q, num %d, yes %v", got, n, b)
	}
	if err := app.Run([]string{"x", "c", "a", "--nope"}); err == nil || !strings.Contains(err.Error(), "not defined") {
		t.Errorf("unknown trailing flag: %v", err)
	}
	if err := app.Run([]string{"x", "c", "a", "--num=x"}); err == nil {
		t.Error("--num=x accepted")
	}
}

// A demo that ends before any clock is published says so: no preferred
// server, no offset "OUTSIDE the guaranteed bound", and no clock for a
// server without stamps.
func TestDemoSummaryWithoutClock(t *testing.T) {
	// A 1 ns demo ends before the daemon's first exchange has returned;
	// on a machine stalled long enough for one, try again.
	var s string
	var err error
	for range 3 {
		var out bytes.Buffer
		_, err = demo(context.Background(), &out, demoOptions{
			Duration: time.Nanosecond, Interval: time.Hour, Offset: time.Second,
			SkewPPM: 10, CounterPPM: -5, Poll: time.Second, LogLevel: "error",
		})
		if s = out.String(); err != nil {
			break
		}
	}
	t.Logf("demo output:\n%s", s)
	if err == nil || !strings.Contains(err.Error(), "no clock was published") {
		t.Fatalf("demo error %v, want 'no clock was published'", err)
	}
	summary := s[strings.Index(s, "summary after"):]
	for _, bad := range []string{"preferred server:", "OUTSIDE", "error against served time", "bytes, permissions"} {
		if strings.Contains(summary, bad) {
			t.Errorf("summary without a clock contains %q", bad)
		}
	}
	if !strings.Contains(summary, "published clock:    none") {
		t.Error("summary does not say no clock was published")
	}
	for _, l := range strings.Split(summary, "\n") {
		if strings.Contains(l, "accepted   0") && !strings.Contains(l, "no stamps") {
			t.Errorf("a server without stamps is given a clock: %q", l)
		}
	}
}

// Whatever follows the arguments, positional returns an error or the
// arguments, never panics.
func FuzzPositional(f *testing.F) {
	for _, s := range []string{"a -n 3 b", "a --num=3", "-- --num", "a --num", "a -", "a --yes=false", "--=x", "a ---num 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		app := &cli.App{Name: "x", Commands: []*cli.Command{{
			Name:   "c",
			Flags:  []cli.Flag{&cli.IntFlag{Name: "num", Aliases: []string{"n"}}, &cli.BoolFlag{Name: "yes"}},
			Action: func(c *cli.Context) error { _, err := positional(c); return err },
		}}}
		app.Writer, app.ErrWriter = io.Discard, io.Discard
		app.ExitErrHandler = func(*cli.Context, error) {}
		_ = app.Run(append([]string{"x", "c", "arg"}, strings.Fields(line)...))
	})
}

// simhost create writes a counter any process opens; migrate moves a
// guest's file to a host: identity and migration count follow.
func TestSimhostCommands(t *testing.T) {
	dir := t.TempDir()
	a, b, g := dir+"/a", dir+"/b", dir+"/g"
	for _, args := range [][]string{
		{"simhost", "create", "--file", a, "--host-id", "11", "--ppm", "-25"},
		{"simhost", "create", "--file", b, "--host-id", "12", "--hz", "14318180"},
		{"simhost", "migrate", "--guest", g, "--to", a},
		{"simhost", "migrate", "--guest", g, "--to", b},
	} {
		if out, err := runApp(t, args...); err != nil {
			t.Fatalf("dom0d %v: %v\n%s", args, err, out)
		}
	}
	gc, err := counter.OpenSimulated(g)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	bc, err := counter.OpenSimulated(b)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	rg, _ := gc.Read()
	rb, _ := bc.Read()
	if rg.Identity != rb.Identity || gc.Migrations() != 2 || gc.NominalHz() != 14318180 {
		t.Errorf("guest after two migrations: identity %#x (host b %#x), migrations %d, %g Hz", rg.Identity, rb.Identity, gc.Migrations(), gc.NominalHz())
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"simhost", "create", "--host-id", "1"}, "--file"},
		{[]string{"simhost", "create", "--file", a}, "--host-id"},
		{[]string{"simhost", "create", "--file", a, "--host-id", "1", "--hz", "10"}, "--hz"},
		{[]string{"simhost", "create", "--file", a, "--host-id", "1", "--ppm", "2e5"}, "--ppm"},
		{[]string{"simhost", "create", "--file", a, "--host-id", "1", "stray"}, "no arguments"},
		{[]string{"simhost", "migrate", "--guest", g}, "--to"},
		{[]string{"simhost", "migrate", "--guest", g, "--to", dir + "/missing"}, "missing"},
	} {
		if _, err := runApp(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("dom0d %v: %v, want an error naming %s", c.args, err, c.want)
		}
	}
}
