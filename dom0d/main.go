// Command dom0d is the host clock daemon of xenradclock: it runs in Dom0,
// exchanges NTP packets stamped with a raw counter, runs the feed-forward
// estimator and publishes the host clock to Xenstore and a shared page.
//
// Each subcommand lives in its own file and registers itself in init.
package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/internal/manpage"

	"github.com/xenradclock/xenradclock/internal/version"
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
		Version:              version.String(),
		Commands:             append(commands, manpage.Command()),
		EnableBashCompletion: true,
	}
}

// errHelpShown ends a command whose arguments asked for its help: the
// help was printed, and dom0d exits 0.
var errHelpShown = errors.New("help shown")

// positional returns the command's positional arguments, applying the
// flags given after them (`dom0d check HOST --timeout 2s`): urfave/cli
// stops parsing flags at the first argument. A "--" ends the flags.
func positional(c *cli.Context) ([]string, error) {
	var args []string
	in := c.Args().Slice()
	for i := 0; i < len(in); i++ {
		a := in[i]
		if a == "--" {
			return append(args, in[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			args = append(args, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "help" || name == "h" {
			parent := c
			if l := c.Lineage(); len(l) > 1 {
				parent = l[1]
			}
			if err := cli.ShowCommandHelp(parent, c.Command.Name); err != nil {
				return nil, err
			}
			return nil, errHelpShown
		}
		f := lookupFlag(c.Command.Flags, name)
		if f == nil {
			return nil, fmt.Errorf("flag provided but not defined: %s", a)
		}
		if _, ok := f.(*cli.BoolFlag); ok && !hasValue {
			value, hasValue = "true", true
		}
		if !hasValue {
			if i+1 >= len(in) {
				return nil, fmt.Errorf("flag needs an argument: %s", a)
			}
			i++
			value = in[i]
		}
		if err := c.Set(f.Names()[0], value); err != nil {
			return nil, fmt.Errorf("%s %s: %w", a, value, err)
		}
	}
	return args, nil
}

func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// noArgs is the check of a command that takes no positional argument.
func noArgs(c *cli.Context) error {
	args, err := positional(c)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return fmt.Errorf("%s takes no arguments (got %q); see 'dom0d %s --help'", c.Command.Name, args[0], c.Command.Name)
	}
	return nil
}

func main() {
	if err := newApp().Run(os.Args); err != nil && !errors.Is(err, errHelpShown) {
		fmt.Fprintln(os.Stderr, "dom0d:", err)
		os.Exit(1)
	}
}
