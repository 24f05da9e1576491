package main

import (
	"errors"
	"fmt"
	"math"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/counter"
)

func init() { commands = append(commands, simhostCommand()) }

func simhostCommand() *cli.Command {
	return &cli.Command{
		Name:  "simhost",
		Usage: "create a simulated host counter, or move a simulated guest to one (machines without Xen)",
		Description: `A simulated host counter is a 64-byte state file (docs/counters.md) that
defines a raw counter as an affine function of CLOCK_MONOTONIC_RAW:

    count = OFFSET + HZ·(1 + PPM·10^-6)·MONOTONIC_RAW(s)

Every process that opens the file reads the same counter, so a dom0d, its
guests' agents and the readers share one timeline, as they share the
platform counter on a real Xen host. Processes open it as the counter
"simulated" and find the file through the environment variable
` + counter.SimulatedEnv + `.

A guest has its own file: 'simhost migrate' copies a host's counter
function and identity into it (creating it when missing) and counts one
migration; every reader of the guest's file sees the new host at its next
read, as a migrated guest sees its new host's counter.`,
		Subcommands: []*cli.Command{simhostCreateCommand(), simhostMigrateCommand()},
	}
}

func simhostCreateCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "write (or rewrite) a simulated host's counter state file",
		ArgsUsage: " ",
		Description: `create writes the state file of a simulated host: its identity (--host-id,
published in every record as the counter identity), its nominal frequency
and its true rate error. Rewriting a file in use changes the counter of every
process reading it at their next read.

Examples:
  dom0d simhost create --file sim-a --host-id 1 --ppm -25
  dom0d simhost create --file sim-b --host-id 2 --hz 14318180 --ppm 12.5 --offset 1000000
  XENRADCLOCK_SIM_COUNTER=sim-a dom0d run --server 127.0.0.1:11123 --poll 1s --counter simulated --xenstore none --page clock --state "" --status-file status.json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "file", Usage: "the state `FILE` to write (required)"},
			&cli.Uint64Flag{Name: "host-id", Usage: "the host's identity `ID` (required, not 0)"},
			&cli.Float64Flag{Name: "hz", Value: 1e9, Usage: "nominal frequency in `HZ`, 1e3..1e10"},
			&cli.Float64Flag{Name: "ppm", Usage: "the true rate's error against nominal, `PPM` (|PPM| < 1e5)"},
			&cli.Uint64Flag{Name: "offset", Value: 1 << 40, Usage: "the count `TICKS` when CLOCK_MONOTONIC_RAW reads 0"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			if c.String("file") == "" {
				return errors.New("simhost create: give the state file with --file FILE")
			}
			cfg := counter.SimHostConfig{HostID: c.Uint64("host-id"), NominalHz: c.Float64("hz"), PPM: c.Float64("ppm"), Offset: c.Uint64("offset")}
			if err := checkSimHost(cfg); err != nil {
				return err
			}
			if err := counter.CreateSimHost(c.String("file"), cfg); err != nil {
				return fmt.Errorf("simhost create: %w", err)
			}
			fmt.Fprintf(c.App.Writer, "simulated host %d in %s: %g Hz nominal, %+g ppm; use it with %s=%s\n",
				cfg.HostID, c.String("file"), cfg.NominalHz, cfg.PPM, counter.SimulatedEnv, c.String("file"))
			return nil
		},
	}
}

// checkSimHost names the flag at fault; counter.CreateSimHost checks the
// same ranges but speaks of struct fields.
func checkSimHost(cfg counter.SimHostConfig) error {
	switch {
	case cfg.HostID == 0:
		return errors.New("simhost create: --host-id must not be 0")
	case !(cfg.NominalHz >= 1e3 && cfg.NominalHz <= 1e10):
		return fmt.Errorf("simhost create: --hz %g outside 1e3..1e10", cfg.NominalHz)
	case !(math.Abs(cfg.PPM) < 1e5):
		return fmt.Errorf("simhost create: --ppm %g outside ±1e5", cfg.PPM)
	}
	return nil
}

func simhostMigrateCommand() *cli.Command {
	return &cli.Command{
		Name:      "migrate",
		Usage:     "move a simulated guest's counter to another simulated host",
		ArgsUsage: " ",
		Description: `migrate gives the guest's counter file (--guest, created when missing) the
counter function and identity of the host whose file is --to, and counts one
migration in it. A guest's agent and readers open the guest's file, never the
host's, so this is what a live migration does to their counter.

Examples:
  dom0d simhost create --file sim-a --host-id 1 --ppm -25
  dom0d simhost create --file sim-b --host-id 2 --ppm 30
  dom0d simhost migrate --guest guest1 --to sim-a
  dom0d simhost migrate --guest guest1 --to sim-b     # prints migration 2`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "guest", Usage: "the guest's counter `FILE` (required; created when missing)"},
			&cli.StringFlag{Name: "to", Usage: "the destination host's counter `FILE` (required)"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			if c.String("guest") == "" || c.String("to") == "" {
				return errors.New("simhost migrate: give the guest's file with --guest FILE and the host's with --to FILE")
			}
			if err := counter.MigrateSim(c.String("guest"), c.String("to")); err != nil {
				return fmt.Errorf("simhost migrate: %w", err)
			}
			s, err := counter.OpenSimulated(c.String("guest"))
			if err != nil {
				return fmt.Errorf("simhost migrate: %w", err)
			}
			defer s.Close()
			fmt.Fprintf(c.App.Writer, "guest %s now on the host of %s (migration %d)\n", c.String("guest"), c.String("to"), s.Migrations())
			return nil
		},
	}
}
