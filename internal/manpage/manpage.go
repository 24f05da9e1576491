// Package manpage gives every binary a hidden `man` command that prints its
// manual page, generated from the same command definitions as --help, so the
// packages' man pages can never drift from the binaries they document.
//
// A binary built with the urfave/cli build tag urfave_cli_no_docs (the
// packaged domu-agent: it leaves out the roff and Markdown generators and
// their dependencies) has the command but cannot generate the page; its page
// comes from a build without the tag (dist/deb/build.sh).
package manpage

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"
)

// ErrNoDocs: the binary was built with urfave_cli_no_docs.
var ErrNoDocs = errors.New("built with urfave_cli_no_docs: no manual page generator; read the installed manual page, or build without the tag")

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
			page, err := toMan(c.App)
			if err != nil {
				return fmt.Errorf("generating the manual page: %w", err)
			}
			_, err = fmt.Fprint(c.App.Writer, page)
			return err
		},
	}
}
