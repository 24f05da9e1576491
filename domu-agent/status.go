package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/guestclock"
)

var pageFlag = &cli.StringFlag{Name: "page", Value: clockdata.DefaultPagePath, Usage: "shared page `PATH`"}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "what the guest's page says: mode, flags, state, time, bounds (exit code as xlclock now)",
		Description: `status reads the page once, with the counter its record names, as any
application would, and prints the publisher's mode and flags, the read status,
the clock state, the time and both bounds.

Exit: 0 usable, 1 usable but late, 2 not synchronised, 3 void, disrupted or no
clock, 4 usage or I/O error.

In a guest on a Xen host:
  domu-agent status
  domu-agent status --json --page /run/xenradclock/clock

Examples (with 'xenradclock-demo --dir demo' running in another terminal):
  XENRADCLOCK_SIM_COUNTER=demo/g1/counter domu-agent status --page demo/g1/clock
  XENRADCLOCK_SIM_COUNTER=demo/g1/counter domu-agent status --json --page demo/g1/clock`,
		Flags: []cli.Flag{pageFlag, &cli.BoolFlag{Name: "json", Usage: "one JSON object on stdout"}},
		Action: func(c *cli.Context) error {
			st := guestclock.ReadPageStatus(c.String("page"), nil)
			printStatus(st, c.Bool("json"))
			return exitCode(st.Exit)
		},
	}
}

func waitsyncCommand() *cli.Command {
	return &cli.Command{
		Name:  "waitsync",
		Usage: "wait until the clock is usable within a bound (for boot scripts and databases)",
		Description: `waitsync reads the page every 100 ms until the clock is usable (fresh or
late, synchronised or free-running, not disrupted) with max_error at most
--max-error, then exits 0. If that does not happen within --timeout it prints
the last status and exits 5 (it waits through warm-up, disruption and a missing
page alike). Usage errors exit 4.

In a guest on a Xen host:
  domu-agent waitsync --max-error 10ms --timeout 2m
  domu-agent waitsync --timeout 30s && systemctl start postgresql

Examples (with 'xenradclock-demo --dir demo' running in another terminal):
  XENRADCLOCK_SIM_COUNTER=demo/g1/counter domu-agent waitsync --page demo/g1/clock --max-error 10ms --timeout 2m
  XENRADCLOCK_SIM_COUNTER=demo/g1/counter domu-agent waitsync --page demo/g1/clock --timeout 30s && echo clock usable  # prints clock usable`,
		Flags: []cli.Flag{pageFlag,
			&cli.DurationFlag{Name: "max-error", Usage: "the largest acceptable max_error `D` (0: any)"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "give up after `T`"},
			&cli.BoolFlag{Name: "json", Usage: "print the final status as JSON"},
		},
		Action: func(c *cli.Context) error {
			if c.Duration("max-error") < 0 || c.Duration("timeout") <= 0 {
				return &exitError{code: guestclock.ExitUsage, msg: "--max-error must be >= 0 and --timeout > 0"}
			}
			ctx, cancel := context.WithTimeout(context.Background(), c.Duration("timeout"))
			defer cancel()
			st, err := guestclock.WaitSync(ctx, c.String("page"), nil, uint64(c.Duration("max-error")), 100*time.Millisecond)
			printStatus(st, c.Bool("json"))
			if errors.Is(err, guestclock.ErrTimedOut) {
				return &exitError{code: guestclock.ExitTimedOut, msg: fmt.Sprintf("%v (%v)", err, c.Duration("timeout"))}
			}
			return nil
		},
	}
}

func exitCode(code int) error {
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

func printStatus(st guestclock.PageStatus, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(st)
		fmt.Println(string(b))
		return
	}
	fmt.Printf("page      %s\nmode      %s\nstatus    %s\nstate     %s\n", st.Page, st.Mode, st.Status, st.State)
	if st.Imminent || st.Disrupted {
		fmt.Printf("flags     disruption_imminent=%v disrupted=%v\n", st.Imminent, st.Disrupted)
	}
	if st.Time != "" {
		fmt.Printf("time      %s\nmax_error %.3f µs\nerror     %.3f µs\n", st.Time, float64(st.MaxErrorNs)/1e3, float64(st.ErrorBoundNs)/1e3)
	}
	fmt.Printf("gen       %d\ncounter   %s\n", st.Generation, st.Counter)
	if st.Reason != "" {
		fmt.Fprintln(os.Stderr, "domu-agent:", st.Reason)
	}
}
