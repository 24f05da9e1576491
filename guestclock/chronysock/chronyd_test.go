//go:build linux

package chronysock

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/guestclock/sink"
	"github.com/xenradclock/xenradclock/internal/testtool"
)

func liveSample(t testing.TB, offsetNs int64) sink.Sample {
	t.Helper()
	var rt, mono unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &rt); err != nil {
		t.Fatal(err)
	}
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		t.Fatal(err)
	}
	return sink.Sample{Usable: true, State: clockdata.StateSynchronised, ClockNs: rt.Nano() + offsetNs,
		RealtimeNs: rt.Nano(), MonotonicNs: mono.Nano(), MonotonicCoarseNs: mono.Nano(),
		ErrorBoundNs: 20_000, MaxErrorNs: 100_000}
}

// chronyd is Debian's chronyd started for one test: -x (it never touches the
// system clock), -u root (no privilege drop, so it can use the test's
// directory), its own config, command socket, pid file, no NTP port.
type chronyd struct {
	dir, sock, cmd string
	t              *testing.T
}

func startChronyd(t *testing.T, extra string, env ...string) *chronyd {
	t.Helper()
	bin := testtool.Require(t, "chronyd")
	testtool.Require(t, "chronyc")
	dir := t.TempDir()
	// chronyd refuses a command socket in a directory others may enter.
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := &chronyd{dir: dir, sock: filepath.Join(dir, "agent.sock"), cmd: filepath.Join(dir, "chronyd.sock"), t: t}
	conf := fmt.Sprintf("refclock SOCK %s refid XRC poll 0 precision 1e-7\nbindcmdaddress %s\ncmdport 0\nport 0\npidfile %s\n%s",
		c.sock, c.cmd, filepath.Join(dir, "chronyd.pid"), extra)
	confPath := filepath.Join(dir, "chrony.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, bin, "-x", "-d", "-u", "root", "-f", confPath)
	cmd.Env = append(os.Environ(), env...)
	logf, _ := os.Create(filepath.Join(dir, "chronyd.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("chronyd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(unix.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		cancel()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("chronyd log:\n%s", b)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(c.sock); err == nil {
			if _, err := os.Stat(c.cmd); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("chronyd did not create its sockets:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

func (c *chronyd) chronyc(args ...string) string {
	out, err := exec.Command("chronyc", append([]string{"-h", c.cmd, "-n"}, args...)...).CombinedOutput()
	if err != nil {
		c.t.Logf("chronyc %v: %v: %s", args, err, out)
	}
	return string(out)
}

var selectedXRC = regexp.MustCompile(`(?m)^#\* XRC\s`)

// feedUntil sends a sample every 250 ms until cond holds on chronyc's
// answer to args, or the timeout; it returns the last answer.
func feedUntil(t *testing.T, c *chronyd, f *Feed, mk func() sink.Sample, timeout time.Duration, cond func(string) bool, args ...string) (string, bool) {
	t.Helper()
	var last string
	deadline := time.Now().Add(timeout)
	for i := 0; time.Now().Before(deadline); i++ {
		s := mk()
		if err := f.Update(&s); err != nil {
			t.Fatalf("update: %v", err)
		}
		if i%4 == 3 {
			if last = c.chronyc(args...); cond(last) {
				return last, true
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return last, false
}

// chronyd fed through SOCK selects the agent as its source (#*) and tracks
// it with the offset the samples carry.
func TestChronydSelectsAgent(t *testing.T) {
	c := startChronyd(t, "")
	f, err := New(Config{Path: c.sock}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const offsetNs = 1_500_000 // the clock is 1.5 ms ahead of CLOCK_REALTIME
	start := time.Now()
	out, ok := feedUntil(t, c, f, func() sink.Sample { return liveSample(t, offsetNs) }, 60*time.Second,
		selectedXRC.MatchString, "sources")
	if !ok {
		t.Fatalf("chronyd did not select the agent within 60 s; sources:\n%s", out)
	}
	t.Logf("selected after %.1f s, %d samples:\n%s", time.Since(start).Seconds(), f.Sent(), out)
	tr := c.chronyc("tracking")
	t.Logf("tracking:\n%s", tr)
	if !regexp.MustCompile(`Reference ID\s*:\s*58524300 \(XRC\)`).MatchString(tr) {
		t.Errorf("tracking does not name the agent as reference")
	}
	// With -x chronyd corrects its own view of the clock only, so what it
	// would still have to correct is the samples' offset: the system clock
	// is 1.5 ms behind the agent.
	m := regexp.MustCompile(`System time\s*:\s*([0-9.]+) seconds (slow|fast) of NTP time`).FindStringSubmatch(tr)
	if m == nil {
		t.Fatal("no system time in tracking")
	}
	var sys float64
	fmt.Sscanf(m[1], "%g", &sys)
	if m[2] != "slow" || sys < 0.0012 || sys > 0.0018 {
		t.Errorf("system time %s s %s of the agent, want about 0.0015 slow", m[1], m[2])
	}

	// An unusable clock sends nothing: chronyd loses the source.
	n := f.Sent()
	out, ok = feedUntil(t, c, f, func() sink.Sample {
		s := liveSample(t, offsetNs)
		s.Usable = false
		return s
	}, 30*time.Second, func(s string) bool { return !selectedXRC.MatchString(s) }, "sources")
	if !ok {
		t.Fatalf("chronyd still selects the agent 30 s after it stopped serving:\n%s", out)
	}
	if f.Sent() != n {
		t.Fatal("unusable samples were sent")
	}
	t.Logf("after the clock became unusable:\n%s", out)
}

// libfaketime lets chronyd live on a leap day: chronyd accepts a leap only
// on the last day of June or December (its own check when it has no
// leap-second table).
const libfaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

// leapDayShift is the whole number of days from today (UTC) to the next 30
// June or 31 December.
func leapDayShift(now time.Time) int {
	for d := 0; d < 200; d++ {
		day := now.AddDate(0, 0, d)
		if day.Month() == time.June && day.Day() == 30 || day.Month() == time.December && day.Day() == 31 {
			return d
		}
	}
	return -1
}

// A pending leap in the samples reaches chronyd as its leap status. chronyd
// runs under libfaketime shifted by whole days onto the next leap day
// (CLOCK_MONOTONIC left alone), and the samples carry the same shift.
func TestChronydLeap(t *testing.T) {
	now := time.Now().UTC()
	days := leapDayShift(now)
	var env []string
	if days > 0 {
		if _, err := os.Stat(libfaketime); err != nil {
			t.Skipf("chronyd takes a leap only on 30 June or 31 December and libfaketime (package faketime) is not installed to move it there: %v", err)
		}
		env = []string{"LD_PRELOAD=" + libfaketime, fmt.Sprintf("FAKETIME=+%dd", days), "FAKETIME_DONT_FAKE_MONOTONIC=1", "FAKETIME_NO_CACHE=1"}
	}
	shiftNs := int64(days) * 86400e9
	fakeNow := now.AddDate(0, 0, days)
	midnight := time.Date(fakeNow.Year(), fakeNow.Month(), fakeNow.Day()+1, 0, 0, 0, 0, time.UTC).Unix()
	if midnight-fakeNow.Unix() < 120 {
		t.Skip("too close to UTC midnight for a leap test")
	}
	c := startChronyd(t, "", env...)
	f, err := New(Config{Path: c.sock}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mk := func() sink.Sample {
		s := liveSample(t, 200_000)
		s.ClockNs += shiftNs
		s.RealtimeNs += shiftNs
		s.LeapNext, s.LeapAtUnixSec = 1, midnight
		return s
	}
	out, ok := feedUntil(t, c, f, mk, 45*time.Second, func(s string) bool {
		return strings.Contains(s, "Leap status     : Insert second")
	}, "tracking")
	if !ok {
		t.Fatalf("chronyd's leap status is not 'Insert second' within 45 s:\n%s", out)
	}
	t.Logf("chronyd on %s (shifted %d days):\n%s", fakeNow.Format("2 January 2006"), days, out)
}
