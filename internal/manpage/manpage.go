// Package manpage gives every binary a hidden `man` command that prints its
// manual page, generated from the same command definitions as --help, so the
// packages' man pages can never drift from the binaries they document.
package manpage

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// Command is the hidden `man` subcommand: roff on standard output.
func Command() *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print this program's manual page (roff), generated from its --help",
		Hidden: true,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("man takes no arguments")
			}
			page, err := c.App.ToMan()
			if err != nil {
				return fmt.Errorf("generating the manual page: %w", err)
			}
			_, err = fmt.Fprint(c.App.Writer, page)
			return err
		},
	}
}
