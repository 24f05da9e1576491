package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/internal/helptest"
	"github.com/xenradclock/xenradclock/internal/testtool"
)

// exampleServer is the NTP server the examples name ('dom0d testserver'
// serves it when a user runs them).
const exampleServer = "127.0.0.1:11123"

// Every example of every dom0d --help runs as printed, from a directory
// laid out like the source tree's root (dist/, dom0d/testdata/,
// trace/testdata/), with a test NTP server on the port they name.
func TestHelpExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every help example: daemons, the demo")
	}
	testtool.Require(t, "xenstore-read")
	helptest.Run(t, newApp(), helptest.Config{
		Binaries: map[string]string{"dom0d": "."},
		Setup:    setupExamples,
		Expect:   expectExample,
		Timeout:  90 * time.Second,
	})
}

func setupExamples(t *testing.T, dir, command string) []string {
	for _, sub := range []string{"dist", "dom0d/testdata", "trace/testdata"} {
		copyTree(t, filepath.Join("..", sub), filepath.Join(dir, sub))
	}
	if command == "dom0d testserver" {
		return nil // its examples start their own
	}
	helptest.NTPServer(t, exampleServer, 2500*time.Millisecond, 40)
	return nil
}

func expectExample(ex helptest.Example) helptest.Expect {
	f := strings.Fields(ex.Line)
	for i, w := range f {
		if w != "dom0d" || i+1 >= len(f) {
			continue
		}
		switch f[i+1] {
		case "run":
			return helptest.Expect{Daemon: true, Settle: 3 * time.Second}
		case "testserver":
			return helptest.Expect{Daemon: true, Settle: 500 * time.Millisecond}
		case "xenstored":
			return helptest.Expect{Daemon: true, Settle: 200 * time.Millisecond, WaitFor: flagValue(f, "--socket")}
		}
	}
	return helptest.Expect{}
}

func flagValue(words []string, flag string) string {
	for i, w := range words {
		if w == flag && i+1 < len(words) {
			return words[i+1]
		}
	}
	return ""
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-r", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp -r %s %s: %v\n%s", from, to, err, out)
	}
}
