package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/ntp"
	"github.com/xenradclock/xenradclock/xenstore"
)

var ntpServerCmd = &cli.Command{
	Name:  "ntp-server",
	Usage: "serve NTP on a loopback address from CLOCK_MONOTONIC_RAW (a reference for dom0d inside the VM)",
	Description: `The VM has no network: dom0d needs a server it can reach, and the
served time only has to be self-consistent. The served clock runs on
MONOTONIC_RAW with --offset and --skew-ppm, as in dom0d demo.`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "addr", Value: "127.0.0.1:123", Usage: "UDP address to serve on"},
		&cli.DurationFlag{Name: "offset", Value: 0, Usage: "served time minus system time"},
		&cli.Float64Flag{Name: "skew-ppm", Value: 0, Usage: "served clock's rate error, ppm"},
	},
	Action: func(cx *cli.Context) error {
		mono, err := counter.Open("monotonic-raw")
		if err != nil {
			return err
		}
		served, err := ntp.NewSkewedClock(mono, cx.Duration("offset"), cx.Float64("skew-ppm"))
		if err != nil {
			return err
		}
		srv, err := ntp.NewServer(ntp.ServerConfig{Addr: cx.String("addr"), Time: served.Reading})
		if err != nil {
			return fmt.Errorf("ntp server on %s: %w", cx.String("addr"), err)
		}
		defer srv.Close()
		fmt.Printf("XRC-NTP serving on %s\n", srv.Addr())
		return srv.Serve(context.Background())
	},
}

var simHostCmd = &cli.Command{
	Name:      "simhost",
	Usage:     "create the state file of a simulated host counter (for dom0d --counter simulated)",
	ArgsUsage: "PATH",
	Action: func(cx *cli.Context) error {
		if cx.NArg() != 1 {
			return errors.New("simhost: want one PATH")
		}
		var id [8]byte
		binary.LittleEndian.PutUint64(id[:], uint64(time.Now().UnixNano())|1)
		return counter.CreateSimHost(cx.Args().First(), counter.SimHostConfig{
			HostID: binary.LittleEndian.Uint64(id[:]), NominalHz: 1e9, PPM: 10, Offset: 1 << 40,
		})
	},
}

var dom0RecordCmd = &cli.Command{
	Name:  "dom0-record",
	Usage: "in Dom0: wait for the published clock record, check it decodes and is r0 (node and parent), print its generation",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "path", Value: "/xenradclock/clock"},
		&cli.DurationFlag{Name: "wait", Value: 0, Usage: "wait up to this long for the node to appear"},
		&cli.Uint64Flag{Name: "after", Usage: "wait until the generation is above this"},
	},
	Action: func(cx *cli.Context) error {
		ctx, cancel := context.WithTimeout(context.Background(), cx.Duration("wait")+30*time.Second)
		defer cancel()
		c, err := xenstore.Dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		path := cx.String("path")
		deadline := time.Now().Add(cx.Duration("wait"))
		var rec clockdata.Record
		for {
			rec, err = readRecord(ctx, c, path)
			if err == nil && rec.Generation > cx.Uint64("after") {
				break
			}
			if err == nil {
				err = fmt.Errorf("generation %d, waiting for more than %d", rec.Generation, cx.Uint64("after"))
			}
			if time.Now().After(deadline) {
				return err
			}
			time.Sleep(200 * time.Millisecond)
		}
		parent := path[:len(path)-len("/clock")]
		for _, p := range []string{path, parent} {
			ps, err := c.GetPerms(ctx, p)
			if err != nil {
				return err
			}
			if ps.String() != "r0" {
				return fmt.Errorf("%s: permissions %s, want r0", p, ps)
			}
		}
		fmt.Printf("XRC-RECORD generation=%d perms=r0 state=%s counter_kind=%d\n", rec.Generation, rec.State, rec.CounterKind)
		return nil
	},
}

func readRecord(ctx context.Context, c *xenstore.Client, path string) (clockdata.Record, error) {
	v, err := c.Read(ctx, path)
	if err != nil {
		return clockdata.Record{}, err
	}
	rec, err := clockdata.ParseText(string(v))
	if err != nil {
		return rec, fmt.Errorf("%s: %w", path, err)
	}
	return rec, nil
}
