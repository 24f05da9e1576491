// Command vmcheck is the helper the Xen test VMs run next to the project's
// own binaries (test-vms/run-xenstore-check.sh): a loopback NTP server and
// a simulated host counter so that the real dom0d can run inside Dom0, a
// checker of the record dom0d publishes to the real xenstored, and the
// guest agent that watches that record from a DomU over /dev/xen/xenbus.
//
// Its output lines are parsed from the serial log: keep their shape.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:  "vmcheck",
		Usage: "helpers for the Xen test VMs (test-vms/run-xenstore-check.sh)",
		Commands: []*cli.Command{
			ntpServerCmd, simHostCmd, dom0RecordCmd, guestAgentCmd, pageReaderCmd,
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "vmcheck:", err)
		os.Exit(1)
	}
}
