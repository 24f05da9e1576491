// Command domu-agent is the guest agent of xenradclock: in each DomU it
// takes the host clock record Dom0 publishes in Xenstore, checks it, and
// republishes it in the guest's shared page for every local reader, across
// live migrations and save/restore. Logic lives in package guestclock.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/internal/manpage"
	xversion "github.com/xenradclock/xenradclock/internal/version"
)

// version is the build's version (internal/version, set by make build).
var version = xversion.String()

func newApp() *cli.App {
	return &cli.App{
		Name:    "domu-agent",
		Usage:   "the guest clock agent: Dom0's feed-forward clock, served in the guest's shared page",
		Version: version,
		Description: `domu-agent runs in each Xen guest. It watches /xenradclock/clock in Xenstore
(written by dom0d, owned by Dom0, readable by guests), checks each record against
the counter this guest reads (kind, timeline, host identity, generation, sanity),
and republishes it in the shared page (default /run/xenradclock/clock), which the
Go, C and Python readers and xlclock read without the agent's help. It marks the
page "disruption imminent" when asked to suspend, "disrupted" across a migration
or restore until the new host's record is served, and never lets a reader's time
or earliest bound go back. Without dom0d it can run NTP itself (independent mode).

Exit codes of status and waitsync: 0 usable, 1 usable but late, 2 not
synchronised, 3 void / disrupted / no clock, 4 usage or I/O error, 5 (waitsync)
not usable within --max-error before --timeout.`,
		Commands:             []*cli.Command{runCommand(), statusCommand(), waitsyncCommand(), manpage.Command()},
		EnableBashCompletion: true,
	}
}

// exitError carries an exit code through urfave/cli.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	if err := newApp().Run(os.Args); err != nil {
		code := 4
		if ee, ok := err.(*exitError); ok {
			code = ee.code
			if ee.msg == "" {
				os.Exit(code)
			}
		}
		fmt.Fprintln(os.Stderr, "domu-agent:", err)
		os.Exit(code)
	}
}
