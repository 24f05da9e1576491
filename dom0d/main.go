// Command dom0d is the host clock daemon of xenradclock: it runs in Dom0,
// exchanges NTP packets stamped with a raw counter, runs the feed-forward
// estimator and publishes the host clock to Xenstore and a shared page.
//
// Each subcommand lives in its own file and registers itself in init.
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/urfave/cli/v2"
)

// commands is filled by the init functions of the subcommand files.
var commands []*cli.Command

func newApp() *cli.App {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	return &cli.App{
		Name:  "dom0d",
		Usage: "the host clock daemon: one feed-forward clock per physical host, published to every guest",
		Description: `dom0d runs in Xen's Dom0. It exchanges NTP packets with reference servers,
stamps them with a raw counter (never the system clock), estimates the counter's
period and offset with the RADclock algorithm, and publishes the clock record to
Xenstore (/xenradclock/clock) and to a local shared page. Guests compose their
clock from that record and the same counter; nothing in a guest migrates but
a stateless read function.

On a machine without Xen, dom0d still runs: it publishes to the shared page and,
when asked, to an embedded Xenstore.`,
		Commands:             commands,
		EnableBashCompletion: true,
	}
}

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "dom0d:", err)
		os.Exit(1)
	}
}
