package main

// The time source: the project's test NTP server, serving a deliberately
// wrong time (the system time at start plus an offset, running skewed) on
// CLOCK_MONOTONIC_RAW, through one emulated path per listener. It writes the
// served clock's definition to the truth file, so every reader can evaluate
// the exact served time at the instant of its own counter reading.

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/ntp"
)

// truth is the served clock, as the time source writes it: at
// CLOCK_MONOTONIC_RAW count c (ns) the served time is
// Base + Offset + (c − Count0)·(1 + SkewPPM·1e-6) ns.
type truth struct {
	BaseSec  int64   `json:"base_sec"`
	BaseFrac uint64  `json:"base_frac"`
	Count0   uint64  `json:"count0"`
	OffsetNs int64   `json:"offset_ns"`
	SkewPPM  float64 `json:"skew_ppm"`
}

func (t truth) clock(mono counter.Counter) *ntp.SkewedClock {
	return &ntp.SkewedClock{Counter: mono, Base: bintime.Time{Sec: t.BaseSec, Frac: t.BaseFrac},
		Count0: t.Count0, Offset: time.Duration(t.OffsetNs), SkewPPM: t.SkewPPM}
}

func readTruth(path string) (truth, error) {
	var t truth
	b, err := os.ReadFile(path)
	if err != nil {
		return t, fmt.Errorf("truth file: %w", err)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("truth file %s: %w", path, err)
	}
	return t, nil
}

// pathSpec is one emulated path: NAME:FORWARD:BACKWARD:JITTER, the one-way
// delays and the uniform jitter added to each.
type pathSpec struct {
	name           string
	fwd, back, jit time.Duration
}

func (p pathSpec) String() string {
	return fmt.Sprintf("%s:%v:%v:%v", p.name, p.fwd, p.back, p.jit)
}

func parsePath(s string) (pathSpec, error) {
	f := strings.Split(s, ":")
	if len(f) != 4 || f[0] == "" {
		return pathSpec{}, fmt.Errorf("path %q: want NAME:FORWARD:BACKWARD:JITTER, e.g. a:300us:250us:30us", s)
	}
	p := pathSpec{name: f[0]}
	for i, d := range []*time.Duration{&p.fwd, &p.back, &p.jit} {
		v, err := time.ParseDuration(f[i+1])
		if err != nil || v < 0 || v > time.Second {
			return pathSpec{}, fmt.Errorf("path %q: %q is not a delay in 0..1s", s, f[i+1])
		}
		*d = v
	}
	return p, nil
}

func timesourceCommand() *cli.Command {
	return &cli.Command{
		Name:      "timesource",
		Usage:     "(internal) the demo's time source: test NTP servers on loopback",
		Hidden:    true,
		UsageText: "xenradclock-demo timesource --truth FILE --addrs FILE --path NAME:FWD:BACK:JITTER ...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "truth", Required: true, Usage: "write the served clock's definition to `FILE`"},
			&cli.StringFlag{Name: "addrs", Required: true, Usage: "write NAME ADDR lines to `FILE` once listening"},
			&cli.DurationFlag{Name: "offset", Value: demoDefaults.Offset},
			&cli.Float64Flag{Name: "skew-ppm", Value: demoDefaults.SkewPPM},
			&cli.StringSliceFlag{Name: "path", Required: true, Usage: "`NAME:FWD:BACK:JITTER`, one listener each"},
		},
		Action: func(c *cli.Context) error {
			var paths []pathSpec
			for _, s := range c.StringSlice("path") {
				p, err := parsePath(s)
				if err != nil {
					return err
				}
				paths = append(paths, p)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return serveTime(ctx, c.String("truth"), c.String("addrs"), c.Duration("offset"), c.Float64("skew-ppm"), paths)
		},
	}
}

func serveTime(ctx context.Context, truthPath, addrsPath string, offset time.Duration, skewPPM float64, paths []pathSpec) error {
	mono, err := counter.Open("monotonic-raw")
	if err != nil {
		return err
	}
	served, err := ntp.NewSkewedClock(mono, offset, skewPPM)
	if err != nil {
		return err
	}
	t := truth{BaseSec: served.Base.Sec, BaseFrac: served.Base.Frac, Count0: served.Count0,
		OffsetNs: int64(offset), SkewPPM: skewPPM}
	if err := writeJSONAtomic(truthPath, t); err != nil {
		return err
	}
	var addrs strings.Builder
	var mu sync.Mutex // the emulated paths draw from one generator
	rng := mrand.New(mrand.NewPCG(1, 2))
	jitter := func(j time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(j) + 1)) }
	for _, p := range paths {
		p := p
		cfg := ntp.ServerConfig{Addr: "127.0.0.1:0", Time: served.Reading}
		if p.fwd+p.back+p.jit > 0 {
			cfg.Delay = func() (time.Duration, time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				return p.fwd + jitter(p.jit), p.back + jitter(p.jit)
			}
		}
		srv, err := ntp.NewServer(cfg)
		if err != nil {
			return fmt.Errorf("time source %s: %w", p.name, err)
		}
		defer srv.Close()
		go func() { _ = srv.Serve(ctx) }()
		fmt.Fprintf(&addrs, "%s %s\n", p.name, srv.Addr())
	}
	if err := writeFileAtomic(addrsPath, []byte(addrs.String())); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
