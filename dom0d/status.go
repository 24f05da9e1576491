package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/hostclock"
)

func init() { commands = append(commands, statusCommand()) }

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the running daemon's servers, preferred server and published clock",
		Description: `status reads the status file that dom0d run rewrites after every update
(default ` + hostclock.DefaultStatus + `) and prints: each server with its
stamps, warm-up progress, offset, error bound, minimum RTT, path penalty and
rejections by reason; which server is preferred and why; the published clock's
period, offset, both error bounds (statistical and guaranteed), status bits
spelled out, and the record's generation and disruption marker.

With --json it prints the status document itself (docs/dom0d.md).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "status-file", Value: hostclock.DefaultStatus, Usage: "read the status from `PATH`"},
			&cli.BoolFlag{Name: "json", Usage: "print the status document as JSON"},
		},
		Action: func(c *cli.Context) error {
			doc, err := hostclock.ReadStatus(c.String("status-file"))
			if err != nil {
				return fmt.Errorf("%w (is dom0d running? see --status-file)", err)
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(doc)
			}
			return hostclock.FormatStatus(c.App.Writer, doc)
		},
	}
}
