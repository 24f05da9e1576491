package main

// xlclock now: read the shared clock page with the counter it names and
// print the clock, its bounds, status, state and mode beside the system
// clock, with an exit code that says whether the time is usable. The output
// is a stable interface (docs/xlclock.md): later commands add fields, never
// rename them.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
)

func init() { commands = append(commands, nowCommand()) }

// Exit codes of xlclock now (docs/xlclock.md).
const (
	exitUsable  = 0 // the time is usable within max_error
	exitLate    = 1 // usable, but the publisher's update is overdue (bounds grown)
	exitUnsync  = 2 // not synchronised: the time shown is not trustworthy
	exitNoClock = 3 // void record, no clock, or a read across a disruption
	exitIOError = 4 // usage or I/O error
)

func nowCommand() *cli.Command {
	return &cli.Command{
		Name:  "now",
		Usage: "read the clock from the shared page and show it beside the system clock",
		Description: `now maps the clock page that dom0d (in Dom0) or domu-agent (in a guest)
publishes, reads the raw counter the page names (tsc, xen-system, simulated, ...)
inside the page's seqlock loop, between two readings of the system clock
(CLOCK_REALTIME), and prints:

  ca           Ca(T), the feed-forward absolute clock (UNIX seconds and UTC)
  earliest     ca − max_error: true UTC is not earlier, if the host's guarantee holds
  latest       ca + max_error
  error_bound  the statistical error bound
  max_error    the guaranteed error bound: true UTC is within ca ± max_error
  status       the read: fresh, late (update overdue), void (past the record's
               horizon), disrupted (a migration: the counter is not the page's timeline)
  state        the clock: synchronised, warm-up, free-running, starving,
               unsynchronised, server-fault (void when the read is void)
  mode         host (the page is dom0d's clock), dependent or independent (a guest's)
  realtime     the system clock at the read (the middle of the tightest of a few
               brackets) and realtime − ca
  bracket_ns   the width of that bracket: the realtime pairing is that good

--json prints one object on standard output and nothing else (diagnostics go
to standard error): counter, ca, realtime (decimal strings), error_bound and
max_error (seconds), status, state, mode, bracket_ns.

Exit status: 0 usable, 1 usable but late, 2 not synchronised (the time shown
is not trustworthy), 3 void, no clock or disrupted, 4 usage or I/O error.
The output is a stable interface, documented in docs/xlclock.md.

In a guest (or Dom0) on a Xen host:
  xlclock now
  xlclock now --json > now.json || echo "clock not usable (exit $?)"

Examples (with 'xenradclock-demo --dir demo' running in another terminal):
  XENRADCLOCK_SIM_COUNTER=demo/g1/counter xlclock now --page demo/g1/clock
  XENRADCLOCK_SIM_COUNTER=demo/g1/counter xlclock now --page demo/g1/clock --json > now.json || echo "clock not usable (exit $?)"`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "page", Value: clockdata.DefaultPagePath, Usage: "the clock page file to read"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of the table"},
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &codedError{code: exitIOError, err: fmt.Errorf("%w; see xlclock now --help", err)}
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return &codedError{code: exitIOError, err: fmt.Errorf("now takes no arguments (got %q); see xlclock now --help", c.Args().Slice())}
			}
			return runNow(c.App.Writer, nowOptions{page: c.String("page"), json: c.Bool("json"), realtime: time.Now})
		},
	}
}

// codedError carries a command's exit code to main.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// exitCode is the process exit status for a command's error: its own code,
// else exitIOError (usage or I/O).
func exitCode(err error) int {
	var e *codedError
	if errors.As(err, &e) {
		return e.code
	}
	if err != nil {
		return exitIOError
	}
	return exitUsable
}

type nowOptions struct {
	page     string
	json     bool
	realtime func() time.Time // the system clock: time.Now
}

// nowJSON is the --json object. The names are a stable interface
// (docs/xlclock.md); ca, error_bound and max_error are null when the read
// has no time (disrupted).
type nowJSON struct {
	Counter    string   `json:"counter"`
	Ca         *string  `json:"ca"`
	Realtime   string   `json:"realtime"`
	ErrorBound *float64 `json:"error_bound"`
	MaxError   *float64 `json:"max_error"`
	Status     string   `json:"status"`
	State      string   `json:"state"`
	Mode       string   `json:"mode"`
	BracketNs  int64    `json:"bracket_ns"`
}

// disruptedRetries: a read that lands across a migration is retried, as
// the page is rewritten for the new host within one agent update.
const disruptedRetries = 3

func runNow(w io.Writer, o nowOptions) error {
	page, ctr, err := openNow(o.page)
	if err != nil {
		return err
	}
	defer page.Close()
	var b bracketed
	for range disruptedRetries {
		if b, err = bracketRead(func(n *clockdata.Now) error { return page.ReadInto(ctr, n) }, o.realtime, bracketTries); err != nil {
			return readError(err)
		}
		if b.n.Status != clockdata.ReadDisrupted {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	v := judge(&b.n, ctr.Name())
	if o.json {
		err = writeNowJSON(w, &b, v)
	} else {
		err = writeNowText(w, &b, v, ctr.Name())
	}
	if err != nil {
		return &codedError{code: exitIOError, err: fmt.Errorf("write the result: %w", err)}
	}
	if v.code != exitUsable {
		return &codedError{code: v.code, err: errors.New(v.why)}
	}
	return nil
}

// openNow maps the page and opens the counter its record names.
func openNow(path string) (*clockdata.Page, counter.Counter, error) {
	page, err := clockdata.OpenPage(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, &codedError{code: exitNoClock, err: fmt.Errorf("no clock page at %s: is dom0d (or domu-agent) running and publishing there? (--page chooses another file)", path)}
	}
	if err != nil {
		return nil, nil, &codedError{code: exitIOError, err: err}
	}
	rec, _, err := page.Record()
	if err != nil {
		page.Close()
		return nil, nil, readError(err)
	}
	name := rec.CounterKind.String()
	ctr, err := counter.Open(name)
	if err != nil {
		page.Close()
		return nil, nil, &codedError{code: exitIOError, err: fmt.Errorf("the page's clock is defined on the %s counter, which this machine cannot read: %w", name, err)}
	}
	return page, ctr, nil
}

// readError classifies a page read error: a page that holds no usable
// clock (unpublished, a dead writer, invalid contents) is "no clock"; a
// failing counter is an I/O error.
func readError(err error) error {
	switch {
	case errors.Is(err, clockdata.ErrUninitialised):
		return &codedError{code: exitNoClock, err: fmt.Errorf("%w: the publisher has created the page but not yet published a clock; try again in a few seconds", err)}
	case errors.Is(err, clockdata.ErrBusy):
		return &codedError{code: exitNoClock, err: fmt.Errorf("%w: the publisher stopped in the middle of an update; restart it", err)}
	case errors.Is(err, clockdata.ErrInvalid), errors.Is(err, clockdata.ErrMagic), errors.Is(err, clockdata.ErrVersion),
		errors.Is(err, clockdata.ErrTruncated), errors.Is(err, clockdata.ErrOversized):
		return &codedError{code: exitNoClock, err: fmt.Errorf("the page holds no valid clock: %w", err)}
	}
	return &codedError{code: exitIOError, err: err}
}

// verdict is what a read means for the caller: the state name reported,
// the exit code and, when not usable, why.
type verdict struct {
	state string
	code  int
	why   string
}

// judge decides whether the time of a read is usable. States a reader may
// use within max_error are those dom0d serves over NTP: synchronised,
// warm-up, starving and free-running (their bounds carry the doubt);
// unsynchronised, server-fault and unknown are not trustworthy; a void or
// timeless read is no clock.
func judge(n *clockdata.Now, ctrName string) verdict {
	v := verdict{state: n.State.String()}
	switch {
	case n.Status == clockdata.ReadDisrupted:
		v.code, v.why = exitNoClock, "no time: read status disrupted: the counter's timeline identity differs from the page's (a migration or restore the publisher has not caught up with)"
	case !n.Status.HasTime():
		v.code, v.why = exitNoClock, fmt.Sprintf("no time: read status %s: the %s counter is not the page's counter", n.Status, ctrName)
	case n.Status == clockdata.ReadVoid:
		v.state = "void"
		v.code, v.why = exitNoClock, "void: the record is past its validity horizon (the publisher stopped updating it); do not use the time"
	case !usableState(n.State):
		v.code, v.why = exitUnsync, fmt.Sprintf("not synchronised: the host clock is %s; the time shown is not trustworthy", n.State)
	case n.Status == clockdata.ReadLate:
		v.code, v.why = exitLate, "late: the publisher's update is overdue; the time is usable within the grown max_error"
	}
	return v
}

func usableState(s clockdata.ClockState) bool {
	switch s {
	case clockdata.StateSynchronised, clockdata.StateWarmUp, clockdata.StateFreeRunning, clockdata.StateStarving:
		return true
	}
	return false
}

// clockMode names whose clock the page carries: the page publisher's mode
// (host for dom0d's page, dependent or independent for the guest agent's).
func clockMode(n *clockdata.Now) string { return n.Flags.Mode.String() }

// bracketTries: reads bracketed between two system-clock readings; the
// tightest pair is kept.
const bracketTries = 5

// bracketed is a read of the page with the system clock around it.
type bracketed struct {
	n        clockdata.Now
	realtime bintime.Time // the middle of the bracket
	widthNs  int64        // the second system-clock reading minus the first
}

// bracketRead reads the page tries times, each between two readings of the
// system clock, and keeps the read with the narrowest bracket, so the
// system clock is paired with the counter reading to within widthNs/2. A
// try whose bracket is negative (the system clock stepped back) is not
// used; a disrupted read ends the tries at once.
func bracketRead(read func(*clockdata.Now) error, realtime func() time.Time, tries int) (bracketed, error) {
	best := bracketed{widthNs: -1}
	for range tries {
		var n clockdata.Now
		t1 := realtime()
		err := read(&n)
		t2 := realtime()
		if err != nil {
			return bracketed{}, err
		}
		w := t2.UnixNano() - t1.UnixNano()
		if n.Status == clockdata.ReadDisrupted {
			return bracketed{n: n, realtime: bintime.FromUnix(t1.Unix(), int64(t1.Nanosecond())), widthNs: max(w, 0)}, nil
		}
		if w < 0 || (best.widthNs >= 0 && w >= best.widthNs) {
			continue
		}
		mid := t1.Add(time.Duration(w / 2))
		best = bracketed{n: n, realtime: bintime.FromUnix(mid.Unix(), int64(mid.Nanosecond())), widthNs: w}
	}
	if best.widthNs < 0 {
		return bracketed{}, fmt.Errorf("the system clock stepped back across each of %d reads", tries)
	}
	return best, nil
}

func writeNowJSON(w io.Writer, b *bracketed, v verdict) error {
	j := nowJSON{
		Counter:   fmt.Sprint(b.n.Count),
		Realtime:  b.realtime.Format9(),
		Status:    b.n.Status.String(),
		State:     v.state,
		Mode:      clockMode(&b.n),
		BracketNs: b.widthNs,
	}
	if b.n.Status.HasTime() {
		ca := b.n.Time.Format9()
		eb, me := float64(b.n.ErrorBoundNs)/1e9, float64(b.n.MaxErrorNs)/1e9
		j.Ca, j.ErrorBound, j.MaxError = &ca, &eb, &me
	}
	out, err := json.Marshal(j)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", out)
	return err
}

func writeNowText(w io.Writer, b *bracketed, v verdict, ctrName string) error {
	n := &b.n
	utc := func(t bintime.Time) string {
		s, ns := t.Split()
		return time.Unix(s, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
	}
	verdictLine := "yes (exit 0)"
	if v.code != exitUsable {
		verdictLine = fmt.Sprintf("%s (exit %d)", v.why, v.code)
	}
	var err error
	pr := func(name, format string, a ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, "%-12s "+format+"\n", append([]any{name}, a...)...)
		}
	}
	if n.Status.HasTime() {
		pr("ca", "%s  %s", n.Time.Format9(), utc(n.Time))
		pr("earliest", "%s", n.Earliest.Format9())
		pr("latest", "%s", n.Latest.Format9())
		pr("error_bound", "%s (statistical)", fmtNs(int64(n.ErrorBoundNs)))
		pr("max_error", "%s (guaranteed)", fmtNs(int64(n.MaxErrorNs)))
	} else {
		pr("ca", "none (no time: %s)", n.Status)
	}
	pr("status", "%s", n.Status)
	pr("state", "%s", v.state)
	pr("mode", "%s", clockMode(n))
	if n.Status.HasTime() {
		pr("realtime", "%s  %s  (realtime − ca: %s)", b.realtime.Format9(), utc(b.realtime), fmtNs(b.realtime.Sub(n.Time).Nanos()))
	} else {
		pr("realtime", "%s  %s", b.realtime.Format9(), utc(b.realtime))
	}
	pr("bracket_ns", "%d", b.widthNs)
	pr("counter", "%s %d", ctrName, n.Count)
	pr("generation", "%d, marker %016x", n.Generation, n.Marker)
	pr("usable", "%s", verdictLine)
	return err
}

// fmtNs prints a duration in ns with a unit people read at a glance.
func fmtNs(ns int64) string {
	return time.Duration(ns).String()
}
