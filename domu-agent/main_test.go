package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/guestclock"
	"github.com/xenradclock/xenradclock/guestclock/guesttest"
)

// The test binary doubles as the agent and as reader processes.
const roleEnv = "XRC_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "agent":
		os.Args = append([]string{"domu-agent"}, os.Args[1:]...)
		main()
		os.Exit(0)
	case "reader":
		os.Exit(readerMain())
	}
	os.Exit(m.Run())
}

// selfCmd runs this test binary as role with args.
func selfCmd(t *testing.T, role string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(os.Environ(), roleEnv+"="+role), env...)
	return cmd
}

// readerSummary is what a reader process found.
type readerSummary struct {
	Reads, Fresh, Late, Void, Disrupted, Errors int
	Outside, Backwards                          int
	FirstBad                                    string
	MaxDisruptedRunNs                           int64
}

func monoRaw() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &ts) //nolint:errcheck // always available on Linux
	return ts.Nano()
}

// readerMain hammers the page until the stop file exists: every read with
// a time must have the truth (EpochNs + CLOCK_MONOTONIC_RAW, bracketing
// the read) inside its bounds, and neither the time nor the earliest bound
// may go back from one read to the next.
func readerMain() int {
	page, stop, out := os.Getenv("XRC_READER_PAGE"), os.Getenv("XRC_READER_STOP"), os.Getenv("XRC_READER_OUT")
	sim, err := counter.Open("simulated")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	p, err := clockdata.OpenPage(page)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var s readerSummary
	var n clockdata.Now
	var lastTime, lastEarliest bintime.Time
	var disruptedSince int64
	bad := func(format string, a ...any) {
		if s.FirstBad == "" {
			s.FirstBad = fmt.Sprintf(format, a...)
		}
	}
	for i := 0; ; i++ {
		if i%256 == 0 {
			if _, err := os.Stat(stop); err == nil {
				break
			}
			time.Sleep(20 * time.Microsecond)
		}
		raw0 := monoRaw()
		err := p.ReadInto(sim, &n)
		raw1 := monoRaw()
		s.Reads++
		if err != nil {
			s.Errors++
			continue
		}
		if n.Status == clockdata.ReadDisrupted {
			s.Disrupted++
			if disruptedSince == 0 {
				disruptedSince = raw0
			}
			continue
		}
		if disruptedSince != 0 {
			s.MaxDisruptedRunNs = max(s.MaxDisruptedRunNs, raw0-disruptedSince)
			disruptedSince = 0
		}
		switch n.Status {
		case clockdata.ReadFresh:
			s.Fresh++
		case clockdata.ReadLate:
			s.Late++
		case clockdata.ReadVoid:
			s.Void++
			continue
		default:
			s.Errors++
			continue
		}
		lo, hi := bintime.FromNanos(guesttest.EpochNs+raw0), bintime.FromNanos(guesttest.EpochNs+raw1)
		if n.Earliest.Cmp(hi) > 0 || n.Latest.Cmp(lo) < 0 {
			s.Outside++
			bad("truth [%s, %s] outside [%s, %s] (gen %d)", lo, hi, n.Earliest, n.Latest, n.Generation)
		}
		if n.Time.Cmp(lastTime) < 0 || n.Earliest.Cmp(lastEarliest) < 0 {
			s.Backwards++
			bad("went back: time %s after %s, earliest %s after %s", n.Time, lastTime, n.Earliest, lastEarliest)
		}
		lastTime, lastEarliest = n.Time, n.Earliest
	}
	b, _ := json.Marshal(s)
	if err := os.WriteFile(out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startReaders starts n reader processes on page; the returned function
// stops them and returns their summaries.
func startReaders(t *testing.T, n int, page, guestCounter string) func() []readerSummary {
	t.Helper()
	dir := t.TempDir()
	stop := filepath.Join(dir, "stop")
	var cmds []*exec.Cmd
	for i := range n {
		out := filepath.Join(dir, fmt.Sprintf("reader%d.json", i))
		cmd := selfCmd(t, "reader", []string{"XRC_READER_PAGE=" + page, "XRC_READER_STOP=" + stop, "XRC_READER_OUT=" + out,
			counter.SimulatedEnv + "=" + guestCounter})
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	return func() []readerSummary {
		if err := os.WriteFile(stop, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		var out []readerSummary
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Errorf("reader %d: %v", i, err)
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("reader%d.json", i)))
			if err != nil {
				t.Fatal(err)
			}
			var s readerSummary
			if err := json.Unmarshal(b, &s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
}

// exitCodeOf is a finished command's exit code.
func exitCodeOf(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func readStatus(page string, c counter.Counter) struct{ Exit int } {
	st := guestclock.ReadPageStatus(page, c)
	return struct{ Exit int }{st.Exit}
}
