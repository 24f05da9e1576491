package helptest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

func TestExamplesRecursive(t *testing.T) {
	app := &cli.App{Name: "x", Commands: []*cli.Command{{
		Name: "a",
		Description: `text
Examples:
  x a --one
  # a comment

  x a --two   # prints 2
Afterwards: not an example
  x a --not`,
		Subcommands: []*cli.Command{{Name: "b", Description: "Examples:\n  x a b"}},
	}}}
	got := Examples(app)
	want := []Example{{"x a", "x a --one", 0}, {"x a", "x a --two   # prints 2", 1}, {"x a b", "x a b", 0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Examples = %+v, want %+v", got, want)
	}
	if p := prints(got[1].Line); p != "2" {
		t.Errorf("prints = %q", p)
	}
}

func TestBrokenHeadings(t *testing.T) {
	app := &cli.App{Name: "x", Description: "Examples:\n  x", Commands: []*cli.Command{{
		Name: "a", Description: "Examples (a note wrapped over\ntwo lines):\n  x a",
	}}}
	got := BrokenHeadings(app)
	if want := []string{"x a: Examples (a note wrapped over"}; !reflect.DeepEqual(got, want) {
		t.Errorf("BrokenHeadings = %q, want %q", got, want)
	}
}

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		line  string
		words []string
		shell bool
	}{
		{`A=1 prog --x "a b" 'c d' # note`, []string{"A=1", "prog", "--x", "a b", "c d"}, false},
		{`prog --state ""`, []string{"prog", "--state", ""}, false},
		{`prog | grep -E ',0x[4-7]$'`, []string{"prog", "|", "grep", "-E", ",0x[4-7]$"}, true},
		{`prog 2>&1 >/dev/null`, []string{"prog", "2>&1", ">/dev/null"}, true},
	} {
		w, sh, err := split(c.line)
		if err != nil || sh != c.shell || !reflect.DeepEqual(w, c.words) {
			t.Errorf("split(%q) = %q, %v, %v; want %q, %v", c.line, w, sh, err, c.words, c.shell)
		}
	}
	if _, _, err := split(`prog "open`); err == nil {
		t.Error("unterminated quote accepted")
	}
}

func TestCommandEnv(t *testing.T) {
	cmd, err := command(`FOO=bar BAZ=1 echo hi`)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cmd.Env, []string{"FOO=bar", "BAZ=1"}) || !reflect.DeepEqual(cmd.Args, []string{"echo", "hi"}) {
		t.Errorf("env %q args %q", cmd.Env, cmd.Args)
	}
}

// Run runs each example as printed: exit statuses as expected, a daemon
// alive until its block ends and stopped by SIGTERM, a shell line in sh.
func TestRunExamples(t *testing.T) {
	app := &cli.App{Name: "x", Commands: []*cli.Command{{Name: "a", Description: `Examples:
  sh -c 'exit 3'
  printf 'a b\n' | grep b     # prints a b
  sh -c 'trap "exit 0" TERM; while :; do sleep 0.05; done'

  X=1 sh -c 'test "$X" = 1'`}}}
	Run(t, app, Config{Expect: func(ex Example) Expect {
		switch {
		case strings.HasPrefix(ex.Line, "sh -c 'exit"):
			return Expect{Exit: 3}
		case strings.Contains(ex.Line, "trap"):
			return Expect{Daemon: true, Settle: 100 * time.Millisecond}
		}
		return Expect{}
	}})
}
