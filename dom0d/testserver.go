package main

import (
	"fmt"
	"math"
	mrand "math/rand/v2"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/ntp"
)

func init() { commands = append(commands, testserverCommand()) }

func testserverCommand() *cli.Command {
	return &cli.Command{
		Name:      "testserver",
		Usage:     "serve a deliberately wrong time over NTP on loopback: something to synchronise to without internet",
		ArgsUsage: " ",
		Description: `testserver is the project's test NTP server (the one the tests and the demo
use) as a process: a stratum-1 server whose clock is the system time plus
--offset at start, running --skew-ppm fast (on CLOCK_MONOTONIC_RAW, so it
never follows the system clock's adjustments). --delay and --jitter
emulate a network path: each request is held --delay plus up to --jitter
before it is stamped, each reply likewise after; --asymmetry adds to the
way in only, which no NTP client can see and which therefore shows as
clock error. Its replies are real NTP packets: chronyd, ntpdate and
'dom0d check' can query it.

Examples:
  dom0d testserver --listen 127.0.0.1:11123
  dom0d testserver --listen 127.0.0.1:11124 --offset -1.5s --skew-ppm -20 --delay 1ms --jitter 200us
  dom0d check 127.0.0.1:11123`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:11123", Usage: "serve on UDP `ADDR` (HOST:PORT)"},
			&cli.DurationFlag{Name: "offset", Value: 2500 * time.Millisecond, Usage: "served time minus system time at start, `DURATION` (may be negative)"},
			&cli.Float64Flag{Name: "skew-ppm", Value: 40, Usage: "served clock's rate error in `PPM`, within ±500"},
			&cli.DurationFlag{Name: "delay", Usage: "emulated one-way delay `DURATION`, each way", DefaultText: "none"},
			&cli.DurationFlag{Name: "jitter", Usage: "up to `DURATION` more, uniform, drawn per packet and way", DefaultText: "none"},
			&cli.DurationFlag{Name: "asymmetry", Usage: "extra `DURATION` on the way to the server only", DefaultText: "none"},
		},
		Action: runTestServer,
	}
}

func runTestServer(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	delay, jitter, asym := c.Duration("delay"), c.Duration("jitter"), c.Duration("asymmetry")
	switch skew := c.Float64("skew-ppm"); {
	case !(math.Abs(skew) <= maxDemoPPM):
		return fmt.Errorf("testserver: --skew-ppm %g outside ±%d", skew, maxDemoPPM)
	case delay < 0 || jitter < 0 || asym < 0:
		return fmt.Errorf("testserver: --delay %v, --jitter %v, --asymmetry %v: none may be negative", delay, jitter, asym)
	case delay+jitter+asym > 10*time.Second:
		return fmt.Errorf("testserver: an emulated path of %v is longer than any timeout", delay+jitter+asym)
	}
	mono, err := counter.Open("monotonic-raw")
	if err != nil {
		return fmt.Errorf("testserver: %w", err)
	}
	served, err := ntp.NewSkewedClock(mono, c.Duration("offset"), c.Float64("skew-ppm"))
	if err != nil {
		return fmt.Errorf("testserver: %w", err)
	}
	cfg := ntp.ServerConfig{Addr: c.String("listen"), Time: served.Reading}
	if delay+jitter+asym > 0 {
		var mu sync.Mutex
		rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 11))
		draw := func() time.Duration {
			mu.Lock()
			defer mu.Unlock()
			return time.Duration(rng.Int64N(int64(jitter) + 1))
		}
		cfg.Delay = func() (time.Duration, time.Duration) { return delay + asym + draw(), delay + draw() }
	}
	srv, err := ntp.NewServer(cfg)
	if err != nil {
		return fmt.Errorf("testserver: %w", err)
	}
	defer srv.Close()
	fmt.Fprintf(c.App.Writer, "test NTP server on %s: served time = system time %s, running %+g ppm fast; path %v ± %v (+%v in)\n",
		srv.Addr(), signedDur(c.Duration("offset")), c.Float64("skew-ppm"), delay, jitter, asym)
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := srv.Serve(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("testserver: %w", err)
	}
	return nil
}
