package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/xenstore"
)

var guestAgentCmd = &cli.Command{
	Name:  "guest-agent",
	Usage: "in a DomU: watch the clock record and the relative path domid, report under data/xrc for Dom0 to check",
	Description: `Runs until killed. Over the guest's Xenstore connection (/dev/xen/xenbus)
it watches --path (the record dom0d publishes) and the relative path "domid".
It reports, in its own guest-writable subtree data/xrc (relative, so after a
migration or restore the reports land under the new domid):

  first      generation of the first record read (after the registration event)
  later      "A->B" once a watch event brings a generation B above A
  gen        the newest generation read on a watch event
  events     how many watch events brought a new generation
  domid      the domid read after each event on the watch of "domid"
  denied     the result of trying to overwrite the record and to create a
             node beside it: "EACCES" when both were refused with EACCES,
             redone after every domid event (a new domain, the same rules)

and prints XRC-GUEST lines on its console.`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "path", Value: "/xenradclock/clock"},
	},
	Action: func(cx *cli.Context) error { return guestAgent(cx.String("path")) },
}

func guestAgent(path string) error {
	ctx := context.Background()
	c, err := xenstore.Dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	op := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 30*time.Second) }
	put := func(key, val string) {
		octx, cancel := op()
		defer cancel()
		if err := c.Write(octx, "data/xrc/"+key, []byte(val)); err != nil {
			fmt.Printf("XRC-GUEST error writing %s: %v\n", key, err)
		}
	}
	tryForge := func() {
		octx, cancel := op()
		defer cancel()
		e1 := c.Write(octx, path, []byte("forged by the guest"))
		e2 := c.Write(octx, path+"-forged", []byte("x"))
		res := "EACCES"
		if !errors.Is(e1, syscall.EACCES) || !errors.Is(e2, syscall.EACCES) {
			res = fmt.Sprintf("overwrite: %v; create beside: %v", e1, e2)
		}
		fmt.Printf("XRC-GUEST forged writes: %s\n", res)
		put("denied", res)
	}

	wctx, cancel := op()
	wc, err := c.Watch(ctx, path, "xrc-clock")
	if err == nil {
		defer wc.Unwatch(wctx) //nolint:errcheck
	}
	cancel()
	if err != nil {
		return fmt.Errorf("watch %s: %w", path, err)
	}
	wd, err := c.Watch(ctx, "domid", "xrc-domid")
	if err != nil {
		return fmt.Errorf("watch domid: %w", err)
	}
	fmt.Printf("XRC-GUEST watching %s and domid over %s (device %v)\n", path, c.Target(), c.IsDevice())

	var first, last, events uint64
	laterDone := false
	for {
		select {
		case ev, ok := <-wc.Events():
			if !ok {
				return fmt.Errorf("watch %s ended: %v", path, wc.Err())
			}
			octx, cancel := op()
			rec, err := readRecord(octx, c, path)
			cancel()
			if err != nil {
				fmt.Printf("XRC-GUEST event %s %s: read: %v\n", ev.Kind, ev.Path, err)
				continue
			}
			if rec.Generation == last {
				continue
			}
			last = rec.Generation
			if first == 0 {
				first = last
				put("first", strconv.FormatUint(first, 10))
				fmt.Printf("XRC-GUEST first record generation=%d state=%s\n", first, rec.State)
			} else {
				events++
			}
			put("gen", strconv.FormatUint(last, 10))
			put("events", strconv.FormatUint(events, 10))
			if !laterDone && last > first {
				laterDone = true
				put("later", fmt.Sprintf("%d->%d", first, last))
				fmt.Printf("XRC-GUEST later update seen through the watch: generation %d -> %d\n", first, last)
			}
		case _, ok := <-wd.Events():
			if !ok {
				return fmt.Errorf("watch domid ended: %v", wd.Err())
			}
			octx, cancel := op()
			me, err := c.OwnDomid(octx)
			cancel()
			if err != nil {
				fmt.Printf("XRC-GUEST domid event: read: %v\n", err)
				continue
			}
			fmt.Printf("XRC-GUEST domid event: domid=%d (clock generation %d, %d updates seen)\n", me, last, events)
			put("domid", strconv.FormatUint(uint64(me), 10))
			tryForge()
		}
	}
}
