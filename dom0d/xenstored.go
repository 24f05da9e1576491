package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

func init() { commands = append(commands, xenstoredCommand()) }

func xenstoredCommand() *cli.Command {
	return &cli.Command{
		Name:      "xenstored",
		Usage:     "run the embedded Xenstore server in the foreground (for machines without Xen)",
		UsageText: "dom0d xenstored --socket PATH [--domain-socket DOMID=PATH ...] [--persist FILE] [--quota NAME=N ...] [--debug]",
		Description: `Serves the Xenstore wire protocol on Unix sockets, so that dom0d, the demo,
the tests and Debian's xenstore-utils work on a machine without Xen.

Connections on --socket are domain 0: privileged, like xenstored's own socket.
Each --domain-socket DOMID=PATH adds a socket whose connections are domain
DOMID: unprivileged, subject to permissions and quotas, with relative paths
resolved below /local/domain/DOMID. The domain is introduced at start
(/local/domain/DOMID, owner dom0, readable by the domain; ~/domid; ~/data
owned by the domain) and @introduceDomain fires.

Unprivileged domains are held to quotas (nodes, memory, watches,
transactions, connections, ...; docs/xenstore.md lists each with its
default). --quota NAME=N changes one; unknown names are refused with the
list of known ones.

Without --persist the tree lives in memory and is lost when the server stops.
With --persist FILE it is loaded from FILE at start (if present) and written
back atomically shortly after every change.

Examples (xenstore-write, -ls and -read are Debian's xenstore-utils):
  dom0d xenstored --socket xs.socket
  XENSTORED_PATH=xs.socket xenstore-write /foo bar
  XENSTORED_PATH=xs.socket xenstore-ls -p /

  dom0d xenstored --socket xs.socket --domain-socket 5=dom5.socket --persist tree.json
  XENSTORED_PATH=dom5.socket xenstore-read domid      # prints 5

  dom0d xenstored --socket xs-quota.socket --domain-socket 5=dom5-quota.socket --quota nodes=2000 --quota connections=4

Stop it with SIGINT or SIGTERM.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "socket", Usage: "Unix socket `PATH` for domain 0 (privileged) connections", Required: true},
			&cli.StringSliceFlag{Name: "domain-socket", Usage: "`DOMID=PATH`: an extra socket whose connections are domain DOMID (repeatable)"},
			&cli.StringFlag{Name: "persist", Usage: "keep the tree in `FILE` across restarts (JSON, written atomically)"},
			&cli.StringSliceFlag{Name: "quota", Usage: "`NAME=N`: set one quota for unprivileged domains, e.g. nodes=2000 (repeatable)"},
			&cli.BoolFlag{Name: "debug", Usage: "log every message in and out"},
		},
		Action: runXenstored,
	}
}

func runXenstored(cx *cli.Context) error {
	level := "info"
	if cx.Bool("debug") {
		level = "debug"
	}
	// The same logger as every other command: ISO times, not epoch seconds.
	log, _, err := newLogger(level)
	if err != nil {
		return err
	}
	defer log.Sync()

	type domSock struct {
		domid uint32
		path  string
	}
	var doms []domSock
	for _, spec := range cx.StringSlice("domain-socket") {
		id, path, ok := strings.Cut(spec, "=")
		d, err := strconv.ParseUint(id, 10, 16)
		if !ok || err != nil || d == 0 || path == "" {
			return fmt.Errorf("--domain-socket %q: want DOMID=PATH with DOMID in 1..65535, e.g. 5=/tmp/xs/dom5", spec)
		}
		doms = append(doms, domSock{uint32(d), path})
	}

	var quota xsd.Quota
	for _, spec := range cx.StringSlice("quota") {
		name, value, _ := strings.Cut(spec, "=")
		if err := quota.Set(name, value); err != nil {
			return fmt.Errorf("--quota %q: %w", spec, err)
		}
	}
	srv, err := xsd.New(xsd.Config{Logger: log, PersistFile: cx.String("persist"), Trace: cx.Bool("debug"), Quota: quota})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Listen(cx.String("socket")); err != nil {
		return err
	}
	for _, d := range doms {
		if err := srv.ListenDomain(d.path, d.domid); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(cx.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Info("stopping")
	if err := srv.Close(); err != nil {
		return fmt.Errorf("closing the server: %w", err)
	}
	return nil
}
