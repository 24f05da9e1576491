package main

// xlclock now: read the shared clock page with the counter it names and
// print the clock, its bounds and status beside the system clock.

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

func nowCommand() *cli.Command {
	return &cli.Command{
		Name:  "now",
		Usage: "read the clock from the shared page and show it beside the system clock",
		Description: `now maps the clock page that dom0d (in Dom0) or domu-agent (in a guest)
publishes, reads the raw counter the page names (tsc, xen-system, simulated, ...)
inside the page's seqlock loop, and prints:

  clock      Ca(T), the feed-forward absolute clock, UTC
  earliest   Ca(T) − max_error: true UTC is not earlier, if the host's guarantee holds
  latest     Ca(T) + max_error
  status     fresh / late (update overdue) / void (do not trust) /
             disrupted (the counter is not the page's timeline: a migration) /
             counter-mismatch, and the host clock's state (synchronised, warm-up, ...)
  system     the system clock (CLOCK_REALTIME) read right after, and its offset

--json prints one object: counter (raw ticks, decimal string), ca and realtime
(UNIX seconds, decimal strings with exactly 9 decimals), error_bound and
max_error (seconds, numbers), status.

Examples:
  xlclock now
  xlclock now --page /tmp/demo/clock --json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "page", Value: clockdata.DefaultPagePath, Usage: "the clock page file to read"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of the table"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("now takes no arguments (got %q); see xlclock now --help", c.Args().Slice())
			}
			return runNow(c.App.Writer, c.String("page"), c.Bool("json"))
		},
	}
}

// nowJSON is the --json object, as issue 5 fixes it.
type nowJSON struct {
	Counter    string  `json:"counter"`
	Ca         string  `json:"ca"`
	Realtime   string  `json:"realtime"`
	ErrorBound float64 `json:"error_bound"`
	MaxError   float64 `json:"max_error"`
	Status     string  `json:"status"`
}

// disruptedRetries: a read that lands across a migration is retried, as
// the page is rewritten for the new host within one agent update.
const disruptedRetries = 3

func runNow(w io.Writer, path string, asJSON bool) error {
	page, err := clockdata.OpenPage(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no clock page at %s: is dom0d (or domu-agent) running and publishing there? (--page chooses another file)", path)
	}
	if err != nil {
		return err
	}
	defer page.Close()
	rec, _, err := page.Record()
	if errors.Is(err, clockdata.ErrUninitialised) {
		return fmt.Errorf("%w: the publisher has created the page but not yet published a clock; try again in a few seconds", err)
	}
	if err != nil {
		return err
	}
	name := rec.CounterKind.String()
	ctr, err := counter.Open(name)
	if err != nil {
		return fmt.Errorf("the page's clock is defined on the %s counter, which this machine cannot read: %w", name, err)
	}
	var n clockdata.Now
	for range disruptedRetries {
		if n, err = page.Now(ctr); err != nil {
			return err
		}
		if n.Status != clockdata.ReadDisrupted {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	sys := time.Now()
	sysT := bintime.FromUnix(sys.Unix(), int64(sys.Nanosecond()))
	if !n.Status.HasTime() {
		why := "the counter's timeline identity differs from the page's (a migration or restore the publisher has not caught up with)"
		if n.Status == clockdata.ReadCounterMismatch {
			why = fmt.Sprintf("the %s counter is not the page's counter", name)
		}
		return fmt.Errorf("no time: read status %s: %s", n.Status, why)
	}
	if asJSON {
		b, err := json.Marshal(nowJSON{
			Counter:    fmt.Sprint(n.Count),
			Ca:         n.Time.Format9(),
			Realtime:   sysT.Format9(),
			ErrorBound: float64(n.ErrorBoundNs) / 1e9,
			MaxError:   float64(n.MaxErrorNs) / 1e9,
			Status:     n.Status.String(),
		})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	utc := func(t bintime.Time) string {
		s, ns := t.Split()
		return time.Unix(s, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
	}
	diff := sysT.Sub(n.Time)
	_, err = fmt.Fprintf(w, `clock      %s  %s
earliest   %s
latest     %s
error      %s statistical, %s guaranteed
status     %s; host clock %s; generation %d, marker %016x
counter    %s %d
system     %s  %s  (system − clock: %s)
`,
		n.Time.Format9(), utc(n.Time),
		n.Earliest.Format9(),
		n.Latest.Format9(),
		fmtNs(int64(n.ErrorBoundNs)), fmtNs(int64(n.MaxErrorNs)),
		n.Status, n.State, n.Generation, n.Marker,
		name, n.Count,
		sysT.Format9(), utc(sysT), fmtNs(diff.Nanos()))
	return err
}

// fmtNs prints a duration in ns with a unit people read at a glance.
func fmtNs(ns int64) string {
	return time.Duration(ns).String()
}
