// Command xenradclock-demo runs the whole system on one machine, each piece
// as its own process, with no Xen and no internet: a time source on
// loopback, two simulated hosts (each a dom0d with its own embedded Xenstore
// and simulated counter), four guests (three domu-agents in dependent mode,
// one in independent mode), a reader hammering every guest's page against
// the exact truth, and one live migration from one host to the other.
// `make demo` runs it.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func newApp() *cli.App {
	return &cli.App{
		Name:  "xenradclock-demo",
		Usage: "the whole system on one machine: time source, two hosts, four guests, a live migration",
		Description: `xenradclock-demo starts, each as its own process, in a temporary directory:

  - a time source: the project's test NTP server on loopback, serving the
    system time plus --offset, running --skew-ppm fast, through two emulated
    paths of different asymmetry (one per host);
  - host-a and host-b: each a "dom0d xenstored" (embedded Xenstore with a
    socket per guest domain) and a "dom0d run" on its own simulated counter
    (an affine function of CLOCK_MONOTONIC_RAW with its own offset and rate);
  - guests g1 and g2 on host-a and g3 on host-b, each a "domu-agent run" in
    dependent mode connected to its host's Xenstore as an unprivileged
    domain, and g4 on host-b running "domu-agent run --mode independent"
    (its own NTP exchanges and its own counter);
  - a reader per guest, reading the guest's page continuously and checking
    every read against the served time, which is known exactly here.

After --migrate-at, g2 live-migrates from host-a to host-b: the toolstack
(this program) writes control/shutdown=suspend, moves g2's counter to
host-b's, swaps its Xenstore socket and releases it on host-a. The agent
stays up and logs the migration with its disruption and step. Every
--interval the demo prints each guest's clock against the truth; xlclock
watch shows each host's guests. After --duration or Ctrl-C everything is
stopped, the directory removed, and a summary printed.

'make demo' builds bin/ and runs (two minutes):
  bin/xenradclock-demo --bin bin

Examples (from the source tree's root, after 'make build'):
  bin/xenradclock-demo --bin bin --duration 60s --migrate-at 30s --interval 15s`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bin", Value: "bin", Usage: "directory holding dom0d, domu-agent and xlclock (`DIR`)"},
			&cli.DurationFlag{Name: "duration", Value: demoDefaults.Duration, Usage: "stop after `DURATION`"},
			&cli.DurationFlag{Name: "migrate-at", Value: demoDefaults.MigrateAt, Usage: "migrate g2 `DURATION` after start (0: never)"},
			&cli.DurationFlag{Name: "interval", Value: demoDefaults.Interval, Usage: "print the guests' table every `DURATION`"},
			&cli.DurationFlag{Name: "offset", Value: demoDefaults.Offset, Usage: "served time minus system time (`DURATION`)"},
			&cli.Float64Flag{Name: "skew-ppm", Value: demoDefaults.SkewPPM, Usage: "served clock's rate error, `PPM`"},
			&cli.StringFlag{Name: "dir", Usage: "work in `DIR` and keep it (logs, pages, status files) instead of a removed temporary one"},
			&cli.BoolFlag{Name: "no-watch", Usage: "do not run xlclock watch beside the demo"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q; see --help", c.Args().First())
			}
			o := demoDefaults
			o.Bin, o.Dir = c.String("bin"), c.String("dir")
			o.Duration, o.MigrateAt, o.Interval = c.Duration("duration"), c.Duration("migrate-at"), c.Duration("interval")
			o.Offset, o.SkewPPM = c.Duration("offset"), c.Float64("skew-ppm")
			o.Watch = !c.Bool("no-watch")
			if err := o.validate(); err != nil {
				return err
			}
			res, err := run(c.Context, c.App.Writer, o)
			if err != nil {
				return err
			}
			if !res.OK() {
				return cli.Exit("demo: some reads were outside their bounds or went backwards (see the summary)", 1)
			}
			return nil
		},
		Commands: []*cli.Command{timesourceCommand(), readerCommand()},
	}
}

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "xenradclock-demo:", err)
		os.Exit(1)
	}
}
