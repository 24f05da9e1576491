package main

// xlclock host: this host's clock as dom0d runs it, and the step to peers.

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/hostclock"
	"github.com/xenradclock/xenradclock/xlclock/internal/view"
)

func init() { commands = append(commands, hostCommand()) }

func hostCommand() *cli.Command {
	return &cli.Command{
		Name:      "host",
		Usage:     "this host's clock: servers, estimate, bounds, status; --peers: the migration step to other hosts",
		UsageText: "xlclock host [--xenstore auto|SOCKET] [--status PATH] [--peers HOST[:PORT],...] [--json]",
		Description: `host combines dom0d's status file (default ` + hostclock.DefaultStatus + `)
with the record it publishes in Xenstore (/xenradclock/clock) and prints: the
host's name and id; the record's generation, disruption marker, state and age;
dom0d's last update and its age; the counter; the clock state and every status
bit by name; period, offset estimate (the estimator's θ̂), the statistical
error bound and the guaranteed max error; the fast-start progress (running or
done, with each server still in warm-up); the preferred server, selection and
agreement; then every server with its minimum RTT, path penalty (quality),
error bound, offset estimate, stamps of the warm-up, accepted and rejected
exchanges by reason, and whether it is preferred or a falseticker.

--peers HOST... exchanges NTP packets with each other host (dom0d's
serve_ntp, or any NTP server), stamped with this host's counter and read with
this host's published clock, and prints the step a guest would see migrating
there: the peer's clock minus this host's, from the exchange with the smallest
round trip, ± half that round trip. Check it before xl migrate.

In Dom0 on a Xen host:
  xlclock host
  xlclock host --peers 192.0.2.7,192.0.2.8:11123
  xlclock host --json

Examples (with 'xenradclock-demo --dir demo' running in another terminal):
  xlclock host --status demo/host-a/status.json --xenstore demo/host-a/xenstored.socket
  xlclock host --status demo/host-a/status.json --xenstore demo/host-a/xenstored.socket --json`,
		Flags: append(xenstoreFlags(),
			&cli.StringFlag{Name: "status", Value: hostclock.DefaultStatus, Usage: "dom0d's status file `PATH`"},
			&cli.StringSliceFlag{Name: "peers", Usage: "other hosts `HOST[:PORT]` to measure the migration step to (repeatable, or comma-separated)"},
			&cli.IntFlag{Name: "exchanges", Value: 8, Usage: "NTP exchanges per peer (the smallest round trip is kept)"},
		),
		Action: runHost,
	}
}

func runHost(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	s, err := snapshot(c)
	if err != nil {
		return err
	}
	st, stErr := hostclock.ReadStatus(c.String("status"))
	doc := view.NewHostDoc(st, stErr, s.Host, nowFunc())
	if peers := c.StringSlice("peers"); len(peers) > 0 {
		if doc.Peers, err = measurePeers(c, s, peers); err != nil {
			return err
		}
	}
	if c.Bool("json") {
		return view.WriteJSON(c.App.Writer, doc)
	}
	return doc.WriteHost(c.App.Writer)
}

func measurePeers(c *cli.Context, s *view.Snapshot, peers []string) ([]view.Peer, error) {
	rec := s.Host.Record
	if rec == nil {
		return nil, fmt.Errorf("--peers needs this host's clock: %s", s.Host.Error)
	}
	ctr, err := counter.Open(rec.CounterKind.String())
	if err != nil {
		return nil, fmt.Errorf("--peers: this host's clock is on the %s counter, which cannot be read here: %w", rec.CounterKind, err)
	}
	n := c.Int("exchanges")
	ctx, cancel := context.WithTimeout(c.Context, time.Duration(n*len(peers))*time.Second+c.Duration("timeout"))
	defer cancel()
	return view.MeasurePeers(ctx, view.PeerConfig{Record: rec, Counter: ctr, Exchanges: n}, peers), nil
}
