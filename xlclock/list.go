package main

// xlclock list and show: every domain's clock, or one domain's in full.

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/xlclock/internal/view"
)

func init() { commands = append(commands, listCommand(), showCommand()) }

func listCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "one row per domain: the clock it serves, its state, bounds and last migration",
		UsageText: "xlclock list [--xenstore auto|SOCKET] [--json]",
		Description: `list reads Xenstore, like xl list: every domain under /local/domain, its
name (/local/domain/ID/name) and what its domu-agent reports
(/local/domain/ID/data/xenradclock/report). Domain-0's row is this host's clock
as dom0d publishes it (/xenradclock/clock). Columns:

  NAME, ID     the domain
  MODE         dependent (this or another host's clock through Xenstore),
               independent (the guest's own NTP), none (agent serves no clock),
               host (Domain-0: dom0d)
  COUNTER      the raw counter the clock is read on
  STATE        the clock state the agent serves (synchronised, warm-up, ...)
  GEN          the generation of the host record the agent last took
  AGE          how old the report is (this host's clock minus the time it was written)
  ERR-BOUND    statistical error bound, when reported
  MAX-ERR      guaranteed error bound, when reported
  DISR         disruptions (migrations, restores) the agent has seen
  LAST-STEP    the clock step of the last migration (new host minus old)
  PAUSE        how long that migration paused the guest
  AGENT        the agent's version, or (no agent), (invalid report)
  NOTES        stale, future, undated, other-host, behind (see xlclock show)

Everything a guest writes is shown sanitised: control characters, escape
sequences and invalid UTF-8 become '?', long values are cut with '…'.

In Dom0 on a Xen host:
  xlclock list
  xlclock list --json

Examples (with 'xenradclock-demo --dir demo' running in another terminal):
  xlclock list --xenstore demo/host-a/xenstored.socket
  XENSTORED_PATH=demo/host-a/xenstored.socket xlclock list --json`,
		Flags: xenstoreFlags(),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			s, err := snapshot(c)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return view.WriteJSON(c.App.Writer, s)
			}
			return s.WriteList(c.App.Writer)
		},
	}
}

func showCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "everything known about one domain's clock",
		UsageText: "xlclock show [--xenstore auto|SOCKET] [--json] DOMAIN",
		Description: `show prints one domain's report in full: agent version, mode, whose clock
it serves (this host or another), counter, state, generation against this
host's record, both error bounds, when the clock was last updated and the
report written, disruptions, and the last migration (hosts, step, pause, how
long readers were told "disrupted"), with the notes explained.

DOMAIN is a domain id or name (as xlclock list prints it).

In Dom0 on a Xen host:
  xlclock show 3
  xlclock show --json web1

Examples (with 'xenradclock-demo --dir demo' running in another terminal):
  xlclock show --xenstore demo/host-a/xenstored.socket g1
  xlclock show --xenstore demo/host-a/xenstored.socket --json 11`,
		Flags: xenstoreFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				for _, a := range c.Args().Slice() {
					if strings.HasPrefix(a, "-") {
						return fmt.Errorf("flags go before DOMAIN (xlclock show --json %s); see xlclock show --help", c.Args().First())
					}
				}
				return fmt.Errorf("show takes one DOMAIN (an id or a name); see xlclock show --help")
			}
			s, err := snapshot(c)
			if err != nil {
				return err
			}
			d, err := s.Find(c.Args().First())
			if err != nil {
				return err
			}
			doc := s.Show(d)
			if c.Bool("json") {
				return view.WriteJSON(c.App.Writer, doc)
			}
			return doc.WriteShow(c.App.Writer)
		},
	}
}
