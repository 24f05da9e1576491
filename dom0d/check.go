package main

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/beevik/ntp"
	"github.com/urfave/cli/v2"
)

func init() { commands = append(commands, checkCommand()) }

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "one-shot sanity check of an NTP server (no raw counter, no estimator)",
		ArgsUsage: "SERVER[:PORT]",
		Description: `check sends one NTP query with the beevik/ntp library and prints what the
server says: stratum, reference ID, leap indicator, root delay and dispersion,
RTT and the offset of the system clock from the server. It validates the reply
as dom0d would before trusting a server (stratum 1..15, LI not 3, sane root
distance) and exits non-zero when the server is unusable.

It is a quick test that a server is reachable and sane before adding it to the
config; dom0d run itself uses its own raw-counter exchange.`,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "give up after `DURATION` (at most 1m)"},
		},
		Action: func(c *cli.Context) error {
			args, err := positional(c)
			if errors.Is(err, errHelpShown) {
				return err
			}
			if err != nil {
				return cli.Exit("check: "+err.Error(), 2)
			}
			if len(args) != 1 {
				return cli.Exit(fmt.Sprintf("check: give exactly one SERVER[:PORT] (got %d arguments)", len(args)), 2)
			}
			if d := c.Duration("timeout"); d <= 0 || d > time.Minute {
				return cli.Exit(fmt.Sprintf("check: --timeout %v: want a duration in (0, 1m], e.g. 2s", d), 2)
			}
			return runCheck(args[0], c.Duration("timeout"), c.App.Writer)
		},
	}
}

func runCheck(server string, timeout time.Duration, w interface {
	Write([]byte) (int, error)
}) error {
	host, port := server, 123
	if h, p, err := net.SplitHostPort(server); err == nil {
		host = h
		if _, err := fmt.Sscanf(p, "%d", &port); err != nil || port < 1 || port > 65535 {
			return fmt.Errorf("check: bad port %q", p)
		}
	}
	resp, err := ntp.QueryWithOptions(host, ntp.QueryOptions{Port: port, Timeout: timeout})
	if err != nil {
		return fmt.Errorf("check %s: %w", server, err)
	}
	fmt.Fprintf(w, "server:          %s\n", server)
	fmt.Fprintf(w, "stratum:         %d\n", resp.Stratum)
	fmt.Fprintf(w, "reference id:    %#08x (%s)\n", resp.ReferenceID, resp.ReferenceString())
	fmt.Fprintf(w, "leap:            %d\n", resp.Leap)
	fmt.Fprintf(w, "root delay:      %v\n", resp.RootDelay)
	fmt.Fprintf(w, "root dispersion: %v\n", resp.RootDispersion)
	fmt.Fprintf(w, "root distance:   %v\n", resp.RootDistance)
	fmt.Fprintf(w, "rtt:             %v\n", resp.RTT)
	fmt.Fprintf(w, "clock offset:    %v (system clock vs server)\n", resp.ClockOffset)
	if err := resp.Validate(); err != nil {
		fmt.Fprintf(w, "verdict:         UNUSABLE: %v\n", err)
		return cli.Exit("check: server unusable", 1)
	}
	fmt.Fprintf(w, "verdict:         usable\n")
	return nil
}
