// Package helptest runs the examples of a urfave/cli application's help as
// printed, so that no example in any --help can rot.
//
// An example is an indented line under a line "Examples:" in a command's
// Description (or the App's), up to the first line that is neither
// indented nor blank. Lines starting with "#" are comments; a trailing
// "# prints TEXT" asks that the example's standard output contain TEXT.
// A blank line separates groups: the examples of one command run in
// order in one fresh directory (their working directory), so an example
// may use what an earlier one made, and a daemon an earlier example
// started keeps running until the next blank line.
package helptest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/ntp"
)

// NTPServer serves, on addr until the test ends, CLOCK_MONOTONIC_RAW's
// time offset by offset and running skewPPM fast: the test server that
// examples name.
func NTPServer(t *testing.T, addr string, offset time.Duration, skewPPM float64) {
	t.Helper()
	mono, err := counter.Open("monotonic-raw")
	if err != nil {
		t.Fatal(err)
	}
	served, err := ntp.NewSkewedClock(mono, offset, skewPPM)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ntp.NewServer(ntp.ServerConfig{Addr: addr, Time: served.Reading})
	if err != nil {
		t.Fatalf("the examples' NTP server on %s: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); srv.Close() })
}

// Example is one example line of one command's help.
type Example struct {
	Command string // the command path, e.g. "dom0d simhost create"
	Line    string // the line as printed, without its indentation
	Block   int    // blank lines separate blocks: 0, 1, ...
}

// Examples collects every example of app and its commands, recursively,
// in help order.
func Examples(app *cli.App) []Example {
	out := parse(app.Name, app.Description)
	for _, c := range app.Commands {
		out = append(out, commandExamples(app.Name, c)...)
	}
	return out
}

func commandExamples(parent string, c *cli.Command) []Example {
	name := parent + " " + c.Name
	out := parse(name, c.Description)
	for _, s := range c.Subcommands {
		out = append(out, commandExamples(name, s)...)
	}
	return out
}

// BrokenHeadings lists the lines of app's helps that start with
// "Examples" but are no heading (one wrapped over two lines, say): their
// examples would not run, silently.
func BrokenHeadings(app *cli.App) []string {
	var out []string
	var walk func(name, text string, cs []*cli.Command)
	walk = func(name, text string, cs []*cli.Command) {
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "Examples") && !isHeading(l) {
				out = append(out, name+": "+l)
			}
		}
		for _, c := range cs {
			walk(name+" "+c.Name, c.Description, c.Subcommands)
		}
	}
	walk(app.Name, app.Description, app.Commands)
	return out
}

func parse(command, text string) []Example {
	var out []Example
	in, block, blank := false, 0, false
	for _, l := range strings.Split(text, "\n") {
		switch {
		case isHeading(l):
			in, blank = true, len(out) > 0
		case !in:
		case strings.TrimSpace(l) == "":
			blank = true
		case l[0] != ' ' && l[0] != '\t':
			in = false
		case strings.HasPrefix(strings.TrimSpace(l), "#"):
		default:
			if blank && len(out) > 0 {
				block++
			}
			blank = false
			out = append(out, Example{Command: command, Line: strings.TrimSpace(l), Block: block})
		}
	}
	return out
}

// isHeading: "Examples:" or "Examples (a note):" at the start of a line.
func isHeading(l string) bool {
	return strings.HasPrefix(l, "Examples") && strings.HasSuffix(strings.TrimSpace(l), ":") &&
		(len(l) == len("Examples:") || l[len("Examples")] == ' ' || l[len("Examples")] == ':')
}

// Expect is how an example must behave.
type Expect struct {
	// Exit is the exit status of an example that ends by itself.
	Exit int
	// Daemon: the example runs until stopped. It must still run after
	// Settle (default 2 s) and after WaitFor exists (a path relative to
	// the working directory), then the next example runs; at the end of
	// its command's examples it gets SIGTERM and must exit with status 0.
	Daemon  bool
	Settle  time.Duration
	WaitFor string
}

// Config is what a test provides.
type Config struct {
	// Binaries maps each program name the examples call to its package
	// (a directory, as `go build` takes it); they are built once and put
	// first in PATH.
	Binaries map[string]string
	// Setup prepares the working directory of one command's examples (copy
	// input files, start servers on the ports they name; register their
	// cleanup with t.Cleanup) and returns extra environment entries.
	Setup func(t *testing.T, dir, command string) []string
	// Expect says how ex must behave; nil means: exit 0.
	Expect func(ex Example) Expect
	// Timeout bounds one non-daemon example (default 30 s).
	Timeout time.Duration
}

// Run builds the binaries and runs every example of app, one subtest per
// command. It fails when app has no example at all.
func Run(t *testing.T, app *cli.App, cfg Config) {
	t.Helper()
	exs := Examples(app)
	for _, l := range BrokenHeadings(app) {
		t.Errorf("%s: a line starting with Examples that is no heading (one line ending in ':'); its examples would not run", l)
	}
	if len(exs) == 0 {
		t.Fatalf("%s: no examples in any help", app.Name)
	}
	bin := t.TempDir()
	// exec resolves a program in this process's PATH: put the binaries first.
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for name, pkg := range cfg.Binaries {
		out, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	var groups [][]Example
	for i, ex := range exs {
		if i == 0 || ex.Command != exs[i-1].Command {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], ex)
	}
	for _, g := range groups {
		t.Run(strings.ReplaceAll(g[0].Command, " ", "_"), func(t *testing.T) {
			runGroup(t, bin, cfg, g)
		})
	}
}

func runGroup(t *testing.T, bin string, cfg Config, exs []Example) {
	dir := t.TempDir()
	env := os.Environ()
	if cfg.Setup != nil {
		env = append(env, cfg.Setup(t, dir, exs[0].Command)...)
	}
	var daemons []*daemon
	defer func() {
		for _, d := range daemons {
			d.stop(t)
		}
	}()
	for i, ex := range exs {
		if i > 0 && ex.Block != exs[i-1].Block {
			for _, d := range daemons {
				d.stop(t)
			}
			daemons = nil
		}
		exp := Expect{}
		if cfg.Expect != nil {
			exp = cfg.Expect(ex)
		}
		cmd, err := command(ex.Line)
		if err != nil {
			t.Errorf("example %q: %v", ex.Line, err)
			continue
		}
		cmd.Dir, cmd.Env = dir, append(env, cmd.Env...)
		if exp.Daemon {
			d, err := startDaemon(cmd, dir, exp)
			if err != nil {
				t.Errorf("example %q: %v", ex.Line, err)
				continue
			}
			t.Logf("example %q: running as a daemon", ex.Line)
			daemons = append(daemons, d)
			continue
		}
		runOnce(t, cmd, ex, exp, cfg.Timeout)
	}
}

func runOnce(t *testing.T, cmd *exec.Cmd, ex Example, exp Expect, timeout time.Duration) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Errorf("example %q: %v", ex.Line, err)
		return
	}
	timer := time.AfterFunc(timeout, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Errorf("example %q: %v", ex.Line, err)
		return
	}
	if code != exp.Exit {
		t.Errorf("example %q: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", ex.Line, code, exp.Exit, stdout.String(), stderr.String())
		return
	}
	if want := prints(ex.Line); want != "" && !strings.Contains(stdout.String(), want) {
		t.Errorf("example %q: stdout %q does not contain %q", ex.Line, stdout.String(), want)
	}
	t.Logf("example %q: exit %d, %d bytes of output", ex.Line, code, stdout.Len())
}

// prints returns TEXT of a trailing "# prints TEXT".
func prints(line string) string {
	_, c, ok := strings.Cut(line, "# prints ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(c)
}

type daemon struct {
	line   string
	cmd    *exec.Cmd
	out    *bytes.Buffer
	exited chan struct{}
	err    error
}

func startDaemon(cmd *exec.Cmd, dir string, exp Expect) (*daemon, error) {
	d := &daemon{line: strings.Join(cmd.Args, " "), cmd: cmd, out: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	settle := exp.Settle
	if settle <= 0 {
		settle = 2 * time.Second
	}
	deadline := time.Now().Add(settle + 10*time.Second)
	for start := time.Now(); ; {
		select {
		case <-d.exited:
			return nil, errors.New("exited before it was stopped: " + errString(d.err) + "\n" + d.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		ready := exp.WaitFor == ""
		if !ready {
			_, err := os.Stat(filepath.Join(dir, exp.WaitFor))
			ready = err == nil
		}
		if ready && time.Since(start) >= settle {
			return d, nil
		}
		if time.Now().After(deadline) {
			d.cmd.Process.Kill() //nolint:errcheck
			<-d.exited
			return nil, errors.New(exp.WaitFor + " never appeared\n" + d.out.String())
		}
	}
}

func (d *daemon) stop(t *testing.T) {
	select {
	case <-d.exited:
		t.Errorf("daemon %q exited on its own: %s\n%s", d.line, errString(d.err), d.out.String())
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
		t.Errorf("daemon %q did not stop within 15 s of SIGTERM\n%s", d.line, d.out.String())
		return
	}
	if d.err != nil {
		t.Errorf("daemon %q: after SIGTERM: %v\n%s", d.line, d.err, d.out.String())
	}
}

func errString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// command turns an example line into a command: a line with shell syntax
// (pipes, redirections, ...) runs under sh -c; a plain one is split into
// leading NAME=value assignments and argv and run directly, so a daemon
// gets SIGTERM itself and its exit status is its own.
func command(line string) (*exec.Cmd, error) {
	words, shell, err := split(line)
	if err != nil {
		return nil, err
	}
	if shell {
		return exec.CommandContext(context.Background(), "sh", "-c", line), nil
	}
	var env []string
	for len(words) > 0 && isAssignment(words[0]) {
		env, words = append(env, words[0]), words[1:]
	}
	if len(words) == 0 {
		return nil, errors.New("no command")
	}
	cmd := exec.Command(words[0], words[1:]...)
	cmd.Env = env
	return cmd, nil
}

func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	if !ok || name == "" {
		return false
	}
	for i, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// split splits a line as sh would for the plain case (quotes, backslash,
// a trailing comment) and reports whether it holds shell syntax that
// needs a real shell.
func split(line string) (words []string, shell bool, err error) {
	var cur strings.Builder
	inWord := false
	var quote rune
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else if r == '\\' && quote == '"' && i+1 < len(rs) {
				i++
				cur.WriteRune(rs[i])
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			inWord = true
		case r == ' ' || r == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case r == '#' && !inWord:
			i = len(rs)
		case strings.ContainsRune("|&;<>()$`*?[]{}~", r):
			shell = true
			cur.WriteRune(r)
			inWord = true
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, false, errors.New("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, shell, nil
}
