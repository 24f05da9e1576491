// Command compare runs the accuracy comparison of dom0d with chronyd on
// real sockets (docs/compare.md): `make compare`.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/bench/compare"
)

func main() {
	app := &cli.App{
		Name:  "compare",
		Usage: "dom0d against chronyd on emulated paths through network namespaces (root)",
		Description: `compare serves a known clock (25 ms ahead, 15 ppm fast, slowly wandering) from one
emulation server per scenario to dom0d and chronyd -x, each client in its own
pair of network namespaces, and prints per scenario the error statistics, the
emulation floor per client, and the ratio dom0d/chronyd with a bootstrap 95%
interval; it writes them to a Markdown file and one PNG plot per scenario.

Scenarios: ` + fmt.Sprint(compare.Names()) + `

Examples:
  compare --scenarios clean --duration 2m
  compare --scenarios all --out build/compare`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "scenarios", Value: "all", Usage: "comma-separated scenario `NAMES`, or all"},
			&cli.DurationFlag{Name: "duration", Usage: "shorten every scenario to `DURATION` (events scaled)", DefaultText: "each scenario's own"},
			&cli.StringFlag{Name: "out", Value: "build/compare", Usage: "write results.md, the plots and the clients' files under `DIR`"},
			&cli.StringFlag{Name: "dom0d", Value: "bin/dom0d", Usage: "dom0d binary `PATH`"},
			&cli.StringFlag{Name: "chronyd", Value: "/usr/sbin/chronyd", Usage: "Debian 12's chronyd `PATH`"},
			&cli.StringFlag{Name: "chronyc", Value: "/usr/bin/chronyc", Usage: "chronyc `PATH`"},
			&cli.StringFlag{Name: "chronyd2", Usage: "a second chronyd `PATH` (4.6 built from trixie's source: scripts/build-chrony46.sh)"},
			&cli.StringFlag{Name: "chronyc2", Usage: "chronyc `PATH` for --chronyd2", DefaultText: "--chronyc"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "delay streams' `SEED` (the same for every client)"},
			&cli.IntFlag{Name: "pin-cpu", Value: 1, Usage: "pin the server threads to `CPU` (-1: no pinning)"},
		},
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run(c *cli.Context) error {
	scs, err := compare.Select(c.String("scenarios"))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	o := compare.Options{Dom0d: c.String("dom0d"), Chronyd: c.String("chronyd"), Chronyc: c.String("chronyc"),
		Chronyd2: c.String("chronyd2"), Chronyc2: c.String("chronyc2"), Dir: c.String("out"), Seed: c.Uint64("seed"), PinCPU: c.Int("pin-cpu"), Progress: os.Stdout}
	return compare.Main(ctx, scs, c.Duration("duration"), o, time.Now)
}
