package main

// Flags and the Xenstore connection shared by list, show, host and watch.

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xlclock/internal/view"
)

// defaultTimeout bounds one command's Xenstore reads, so that a stuck or
// hostile Xenstore cannot hang the CLI.
const defaultTimeout = 5 * time.Second

func xenstoreFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "xenstore", Value: "auto", Usage: "auto (XENSTORED_PATH if set, else xenstored's socket, else the xenbus device) or a socket `PATH`"},
		&cli.DurationFlag{Name: "timeout", Value: defaultTimeout, Usage: "give up on Xenstore after `DURATION`"},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON document instead of the table"},
		&cli.DurationFlag{Name: "stale-after", Usage: "a report older than `DURATION` is stale", DefaultText: "3 host polls, at least 10s"},
	}
}

// dialXenstore connects as --xenstore says, failing within --timeout.
func dialXenstore(ctx context.Context, where string) (*xenstore.Client, error) {
	var (
		c   *xenstore.Client
		err error
	)
	if where == "auto" {
		c, err = xenstore.Dial(ctx, xenstore.WithoutReconnect())
	} else {
		c, err = xenstore.DialSocket(ctx, where, xenstore.WithoutReconnect())
	}
	if err != nil {
		return nil, fmt.Errorf("cannot reach Xenstore: %w (run in Dom0 as root, or give --xenstore SOCKET or XENSTORED_PATH)", err)
	}
	return c, nil
}

// snapshot takes one view of the host and its domains.
func snapshot(c *cli.Context) (*view.Snapshot, error) {
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	xs, err := dialXenstore(ctx, c.String("xenstore"))
	if err != nil {
		return nil, err
	}
	defer xs.Close()
	s, err := view.Gather(ctx, xs, view.Options{Now: nowFunc, StaleAfter: c.Duration("stale-after"), ReadCounter: readCounter, XLDomains: xlDomains})
	if err != nil {
		return nil, fmt.Errorf("reading Xenstore at %s: %w", xs.Target(), err)
	}
	return s, nil
}

// nowFunc is the clock the views are dated by (golden tests fix it).
var nowFunc = time.Now

func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments (got %q); see xlclock %s --help", c.Command.Name, c.Args().Slice(), c.Command.Name)
	}
	return nil
}

// readCounter reads a counter of the kind given, for the host record's age.
func readCounter(k counter.Kind) (counter.Reading, error) {
	c, err := counter.Open(k.String())
	if err != nil {
		return counter.Reading{}, err
	}
	if cl, ok := c.(interface{ Close() error }); ok {
		defer cl.Close()
	}
	return c.Read()
}
