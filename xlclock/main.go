// Command xlclock is the xl-style command-line view of xenradclock: it reads
// the published clock and shows every domain's clock state.
//
// Each subcommand lives in its own file and registers itself in init.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/internal/manpage"

	"github.com/xenradclock/xenradclock/internal/version"
)

var commands []*cli.Command

func newApp() *cli.App {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	return &cli.App{
		Name:  "xlclock",
		Usage: "show the xenradclock clock of this host and its guests",
		Description: `xlclock reads the clock record that dom0d publishes (a shared page, or
Xenstore) and prints the clock it defines, with its error bounds and status.

In Dom0, list, show and watch show every domain's clock as its domu-agent
reports it in Xenstore, like xl list; host shows dom0d's servers and estimate
and, with --peers, the step a guest would see migrating to another host.

In Dom0 on a Xen host (the defaults find xenstored and dom0d's files):
  xlclock list
  xlclock show web1
  xlclock host --peers 192.0.2.7
  xlclock watch

Examples (with 'xenradclock-demo --dir demo' running in another terminal):
  xlclock list --xenstore demo/host-a/xenstored.socket
  xlclock show --xenstore demo/host-a/xenstored.socket g1
  xlclock host --xenstore demo/host-a/xenstored.socket --status demo/host-a/status.json
  xlclock watch --xenstore demo/host-a/xenstored.socket --count 2 --interval 500ms`,
		Version:  version.String(),
		Commands: append(commands, manpage.Command()),
	}
}

func main() { os.Exit(runMain(os.Args, os.Stdout, os.Stderr)) }

// runMain runs xlclock with args, the results on stdout and diagnostics on
// stderr, and returns the exit status.
func runMain(args []string, stdout, stderr io.Writer) int {
	app := newApp()
	app.Writer, app.ErrWriter = stdout, stderr
	if err := app.Run(args); err != nil {
		fmt.Fprintln(stderr, "xlclock:", err)
		return exitCode(err)
	}
	return 0
}
