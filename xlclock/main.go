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
)

var commands []*cli.Command

func newApp() *cli.App {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	return &cli.App{
		Name:  "xlclock",
		Usage: "show the xenradclock clock of this host and its guests",
		Description: `xlclock reads the clock record that dom0d publishes (a shared page, or
Xenstore) and prints the clock it defines, with its error bounds and status.`,
		Commands: commands,
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
