package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/hostclock"
	"github.com/xenradclock/xenradclock/ntp"
	"github.com/xenradclock/xenradclock/xenstore"
)

func init() { commands = append(commands, demoCommand()) }

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run the whole pipeline locally: no Xen, no internet (what `make demo` runs)",
		Description: `demo starts, in this one process and a temporary directory:

  - two test NTP servers on loopback, "near" (plain loopback, no emulated delay) and
    "far" (about 2 ms, with jitter), both serving a deliberately wrong time:
    the system time plus --offset, running --skew-ppm fast;
  - a simulated raw counter (a simulated host whose oscillator is off its
    nominal 1 GHz by --counter-ppm);
  - an embedded Xenstore on a Unix socket;
  - dom0d's full pipeline (1 s polling after an 8-exchange burst), which
    publishes to the embedded Xenstore at /xenradclock/clock and to a shared
    page.

Every --interval it prints the published clock's error against the served
time ("vs served": the clock minus the served time, both at one counter
reading; not the estimator's offset estimate that 'dom0d status' shows), both error bounds, the clock state and
status bits, the preferred server and the record generation. It exits after
--duration or on Ctrl-C and prints a summary. While it runs, try the commands
it prints (dom0d status, xenstore-ls -p with XENSTORED_PATH).

Examples:
  dom0d demo --duration 15s --interval 3s
  dom0d demo --duration 10s --interval 2s --offset -1s --skew-ppm -30 --dir demo-run`,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "duration", Value: 60 * time.Second, Usage: "stop after `DURATION` (> 0)"},
			&cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "print a line every `DURATION` (> 0)"},
			&cli.DurationFlag{Name: "offset", Value: 2500 * time.Millisecond, Usage: "served time minus system time at start, `DURATION` (may be negative)"},
			&cli.Float64Flag{Name: "skew-ppm", Value: 40, Usage: "served clock's rate error in `PPM`, within ±500"},
			&cli.Float64Flag{Name: "counter-ppm", Value: -25, Usage: "simulated counter's true rate against its nominal 1 GHz, `PPM` within ±500"},
			&cli.DurationFlag{Name: "poll", Value: time.Second, Usage: "poll period `DURATION` of both servers, 1s..1024s"},
			&cli.StringFlag{Name: "dir", Usage: "work in `DIR` (kept) instead of a temporary directory (removed)"},
			&cli.StringFlag{Name: "metrics", Usage: "also serve Prometheus metrics on `ADDR`"},
			&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "dom0d's log `LEVEL`: debug, info, warn or error"},
		},
		Action: func(c *cli.Context) error {
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, c.App.Writer, demoOptions{
				Duration: c.Duration("duration"), Interval: c.Duration("interval"), Offset: c.Duration("offset"),
				SkewPPM: c.Float64("skew-ppm"), CounterPPM: c.Float64("counter-ppm"), Poll: c.Duration("poll"),
				Dir: c.String("dir"), Metrics: c.String("metrics"), LogLevel: c.String("log-level"),
			})
		},
	}
}

type demoOptions struct {
	Duration, Interval, Offset, Poll time.Duration
	SkewPPM, CounterPPM              float64
	Dir, Metrics, LogLevel           string
}

// demoResult is what the demo measured, for its summary and for tests.
type demoResult struct {
	Lines          int
	LastOffset     float64 // published clock − served time, s
	LastErrorBound float64 // s
	LastMaxError   float64 // s
	WithinMaxError bool    // |LastOffset| <= LastMaxError at the end
	Generation     uint64
	Preferred      string
	XenstorePerms  string
	XenstoreBytes  int
	// Samples are the printed lines' offsets and bounds, in order.
	Samples []demoSample
	// PreferredMinRTT is the final preferred server's minimum RTT, s.
	PreferredMinRTT float64
	// ServerErrors is each server's own clock minus the served time at the
	// end, s, by the demo's server name.
	ServerErrors map[string]float64
}

// demoSample is one printed line's measurement.
type demoSample struct {
	Offset, ErrorBound float64 // s
	Synchronised       bool
}

func runDemo(ctx context.Context, w io.Writer, o demoOptions) error {
	_, err := demo(ctx, w, o)
	return err
}

// maxDemoPPM bounds the demo's rate errors: real oscillators are within
// ±100 ppm, and the estimator's sanity checks assume rates within ±500.
const maxDemoPPM = 500

// validate checks every option before the demo starts anything.
func (o demoOptions) validate() error {
	switch {
	case o.Duration <= 0:
		return fmt.Errorf("demo: --duration %v: want a positive duration, e.g. 60s", o.Duration)
	case o.Interval <= 0:
		return fmt.Errorf("demo: --interval %v: want a positive duration, e.g. 5s", o.Interval)
	case o.Poll < ntp.MinPoll || o.Poll > ntp.MaxPoll:
		return fmt.Errorf("demo: --poll %v outside %v..%v", o.Poll, ntp.MinPoll, ntp.MaxPoll)
	case !(math.Abs(o.SkewPPM) <= maxDemoPPM):
		return fmt.Errorf("demo: --skew-ppm %g outside ±%d", o.SkewPPM, maxDemoPPM)
	case !(math.Abs(o.CounterPPM) <= maxDemoPPM):
		return fmt.Errorf("demo: --counter-ppm %g outside ±%d", o.CounterPPM, maxDemoPPM)
	}
	lvl := zap.NewAtomicLevel()
	if err := lvl.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return fmt.Errorf("demo: --log-level %q: want debug, info, warn or error", o.LogLevel)
	}
	return nil
}

func demo(ctx context.Context, w io.Writer, o demoOptions) (res demoResult, err error) {
	if err := o.validate(); err != nil {
		return res, err
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "xenradclock-demo-"); err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
	} else if err = os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	log, _, err := newLogger(o.LogLevel)
	if err != nil {
		return res, err
	}
	defer log.Sync() //nolint:errcheck

	// The simulated host's counter: 1 GHz nominal, CounterPPM off.
	simPath := filepath.Join(dir, "simhost")
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	hostID := binary.LittleEndian.Uint64(idb[:]) | 1
	// A kept --dir keeps its simulated host, so a second run restarts on
	// the same counter timeline and shows the state file at work.
	ctr, err := counter.OpenSimulated(simPath)
	if err != nil {
		if err := counter.CreateSimHost(simPath, counter.SimHostConfig{HostID: hostID, NominalHz: 1e9, PPM: o.CounterPPM, Offset: 1 << 40}); err != nil {
			return res, fmt.Errorf("simulated counter: %w", err)
		}
		if ctr, err = counter.OpenSimulated(simPath); err != nil {
			return res, err
		}
	} else {
		fmt.Fprintf(w, "reusing the simulated host in %s (restart on the same counter)\n", dir)
	}
	// The served (reference) time runs on MONOTONIC_RAW, another oscillator.
	mono, err := counter.Open("monotonic-raw")
	if err != nil {
		return res, err
	}
	served, err := ntp.NewSkewedClock(mono, o.Offset, o.SkewPPM)
	if err != nil {
		return res, err
	}
	rng := mrand.New(mrand.NewPCG(hostID, 7))
	var rngMu sync.Mutex
	type srvDef struct {
		name        string
		base, jit   time.Duration
		asymmetry   time.Duration
		description string
	}
	defs := []srvDef{
		// The near server answers straight off the loopback path: emulating a
		// 0.1 ms delay with a sleep adds up to milliseconds of random delay
		// on a busy machine, on every packet and in both directions, which is
		// no near path at all.
		{"near", 0, 0, 0, "plain loopback, tens of µs RTT"},
		{"far", 1000 * time.Microsecond, 400 * time.Microsecond, 100 * time.Microsecond, "~2 ms RTT, jittery"},
	}
	srvCtx, stopSrv := context.WithCancel(context.Background())
	defer stopSrv()
	var servers []string
	names := map[string]string{}
	for _, d := range defs {
		d := d
		scfg := ntp.ServerConfig{Addr: "127.0.0.1:0", Time: served.Reading}
		if d.base > 0 {
			scfg.Delay = func() (time.Duration, time.Duration) {
				rngMu.Lock() // the emulated servers draw from one generator
				defer rngMu.Unlock()
				j1 := time.Duration(rng.Int64N(int64(d.jit) + 1))
				j2 := time.Duration(rng.Int64N(int64(d.jit) + 1))
				return d.base + d.asymmetry + j1, d.base + j2
			}
		}
		srv, err := ntp.NewServer(scfg)
		if err != nil {
			return res, err
		}
		defer srv.Close()
		go func() { _ = srv.Serve(srvCtx) }()
		addr := srv.Addr().String()
		servers = append(servers, addr)
		names[addr] = d.name
		fmt.Fprintf(w, "test NTP server %-4s on %s (%s)\n", d.name, addr, d.description)
	}

	cfg := hostclock.Default()
	for _, s := range servers {
		if err := cfg.Set("server", s); err != nil {
			return res, err
		}
	}
	cfg.Poll = o.Poll
	cfg.Page = filepath.Join(dir, "clock")
	cfg.Status = filepath.Join(dir, "status.json")
	cfg.State = filepath.Join(dir, "state.json")
	cfg.Xenstore = "embedded"
	cfg.Metrics = o.Metrics
	cfg.LogLevel = o.LogLevel
	sock := filepath.Join(dir, "xenstored.socket")
	// The served time is deliberately off the system time: the system
	// clock is no prior for the first step here.
	d, err := hostclock.New(cfg, hostclock.Options{Log: log, Counter: ctr, EmbeddedSocket: sock, SystemClock: hostclock.NoSystemClock})
	if err != nil {
		return res, err
	}
	fmt.Fprintf(w, "served time = system time %s, running %+g ppm fast; counter: simulated 1 GHz nominal, %+g ppm\n", signedDur(o.Offset), o.SkewPPM, o.CounterPPM)
	fmt.Fprintf(w, "shared page %s, embedded Xenstore %s\n", cfg.Page, sock)
	self, xlclock := "dom0d", "xlclock"
	if len(os.Args) > 0 && strings.ContainsRune(os.Args[0], '/') {
		self = os.Args[0]
		if p := filepath.Join(filepath.Dir(self), "xlclock"); fileExists(p) {
			xlclock = p
		}
	}
	fmt.Fprintf(w, "while it runs, try:\n")
	// dom0d status also reads the page, over the daemon's counter.
	fmt.Fprintf(w, "      %s=%s %s status --status-file %s\n", counter.SimulatedEnv, simPath, self, cfg.Status)
	fmt.Fprintf(w, "      XENSTORED_PATH=%s xenstore-ls -p /xenradclock\n", sock)
	fmt.Fprintf(w, "      %s=%s %s now --page %s\n", counter.SimulatedEnv, simPath, xlclock, cfg.Page)
	if addr := d.MetricsAddr(); addr != "" {
		fmt.Fprintf(w, "      curl http://%s/metrics\n", addr)
	}
	fmt.Fprintf(w, "running for %v (Ctrl-C stops)\n\n", o.Duration)
	fmt.Fprintf(w, "%6s  %12s  %11s  %11s  %-14s  %-5s  %5s  %s\n", "time", "vs served", "error bnd", "max error", "state", "pref", "gen", "status")

	runCtx, stopRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer func() {
		stopRun()
		if derr := <-done; derr != nil && err == nil {
			err = derr
		}
	}()

	var page *clockdata.Page
	start := time.Now()
	deadline := time.NewTimer(o.Duration)
	defer deadline.Stop()
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	sample := func() {
		if page == nil {
			p, err := clockdata.OpenPage(cfg.Page)
			if err != nil {
				fmt.Fprintf(w, "%5.0fs  (no page yet: %v)\n", time.Since(start).Seconds(), err)
				return
			}
			page = p
		}
		n, err := page.Now(ctr)
		if err != nil {
			fmt.Fprintf(w, "%5.0fs  (no clock yet: %v)\n", time.Since(start).Seconds(), err)
			return
		}
		if !n.Status.HasTime() {
			fmt.Fprintf(w, "%5.0fs  (read status %s)\n", time.Since(start).Seconds(), n.Status)
			return
		}
		// The served time at the very counter reading the page used. A
		// MONOTONIC_RAW read after page.Now is taken after whatever the read
		// did beyond its counter reading (once, decoding a fresh record made
		// it 12-60 µs late), and that delay shows up as clock error.
		raw, err := ctr.MonoRawAt(n.Count)
		if err != nil {
			fmt.Fprintf(w, "%5.0fs  (no reference: %v)\n", time.Since(start).Seconds(), err)
			return
		}
		off := n.Time.Sub(served.At(uint64(raw))).Float()
		st := d.Status()
		pref := names[st.Preferred]
		if st.Provisional {
			pref += "?"
		}
		res.Lines++
		res.LastOffset, res.LastErrorBound, res.LastMaxError = off, float64(n.ErrorBoundNs)*1e-9, float64(n.MaxErrorNs)*1e-9
		res.Generation, res.Preferred = n.Generation, st.Preferred
		res.Samples = append(res.Samples, demoSample{Offset: off, ErrorBound: res.LastErrorBound, Synchronised: n.State == clockdata.StateSynchronised})
		fmt.Fprintf(w, "%5.0fs  %12s  %11s  %11s  %-14s  %-5s  %5d  %s\n", time.Since(start).Seconds(), fmtDur(off),
			fmtDur(res.LastErrorBound), fmtDur(res.LastMaxError), n.State, pref, n.Generation, strings.Join(st.Clock.StatusNames, "|"))
	}
loop:
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(w, "interrupted")
			break loop
		case <-deadline.C:
			break loop
		case <-tick.C:
			sample()
		}
	}
	sample()
	if page != nil {
		page.Close()
	}
	res.WithinMaxError = res.Lines > 0 && math.Abs(res.LastOffset) <= res.LastMaxError

	// Read the record back from the embedded Xenstore, as a guest would.
	xctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if xc, err := xenstore.DialSocket(xctx, sock, xenstore.WithoutReconnect()); err == nil {
		if b, err := xc.Read(xctx, cfg.XenstorePath); err == nil {
			res.XenstoreBytes = len(b)
		}
		if p, err := xc.GetPerms(xctx, cfg.XenstorePath); err == nil {
			res.XenstorePerms = p.String()
		}
		xc.Close()
	}
	st := d.Status()
	fmt.Fprintf(w, "\nsummary after %v:\n", time.Since(start).Round(time.Second))
	if res.Lines == 0 {
		fmt.Fprintf(w, "  published clock:    none: no clock was published in %v\n", o.Duration)
	} else {
		fmt.Fprintf(w, "  preferred server:   %s (%s); %s\n", res.Preferred, names[res.Preferred], plural(int(st.Switches), "switch", "switches"))
	}
	// Each server's own clock against the served time, at one counter
	// reading: the published clock is only the preferred one's. (The
	// estimator's offset, thetahat, is the correction of its uncorrected
	// clock, not an error: it is not shown here.)
	params := d.ServerParams()
	ownErr := map[string]float64{}
	if rd, err := ctr.Read(); err == nil {
		if raw, err := ctr.MonoRawAt(rd.Count); err == nil {
			for a, p := range params {
				ownErr[a] = p.Absolute(rd.Count).Sub(served.At(uint64(raw))).Float()
			}
		}
	}
	res.ServerErrors = map[string]float64{}
	for _, s := range st.Servers {
		own := "unknown"
		if e, ok := ownErr[s.Address]; ok {
			own = fmtDur(e)
			res.ServerErrors[names[s.Address]] = e
		}
		rej := 0
		for _, v := range s.Rejected {
			rej += int(v)
		}
		if s.Address == res.Preferred {
			res.PreferredMinRTT = s.MinRTT
		}
		if s.Accepted == 0 {
			fmt.Fprintf(w, "  server %-4s %-16s accepted %3d, rejected %d: no stamps, no clock yet\n", names[s.Address], s.Address, s.Accepted, rej)
			continue
		}
		fmt.Fprintf(w, "  server %-4s %-16s accepted %3d, rejected %d, min RTT %s, its clock %s from served time (error bound %s)\n", names[s.Address], s.Address,
			s.Accepted, rej, fmtDur(s.MinRTT), own, fmtDur(s.ErrorBound))
	}
	if res.Lines > 0 {
		fmt.Fprintf(w, "  published clock:    error against served time %s; error bound %s, max error %s -> %s\n",
			fmtDur(res.LastOffset), fmtDur(res.LastErrorBound), fmtDur(res.LastMaxError), map[bool]string{true: "within the guaranteed bound", false: "OUTSIDE the guaranteed bound"}[res.WithinMaxError])
		fmt.Fprintf(w, "  record:             generation %d, disruption marker %016x\n", res.Generation, st.Clock.Disruption)
	}
	if res.XenstoreBytes == 0 {
		fmt.Fprintf(w, "  xenstore:           %s: not published\n", cfg.XenstorePath)
	} else {
		fmt.Fprintf(w, "  xenstore:           %s: %d bytes, permissions %q\n", cfg.XenstorePath, res.XenstoreBytes, res.XenstorePerms)
	}
	if res.Lines == 0 {
		return res, fmt.Errorf("demo: no clock was published in %v", o.Duration)
	}
	log.Debug("demo done", zap.Any("result", res))
	return res, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// signedDur prints d with its sign always shown ("+2.5s", "-100ms").
func signedDur(d time.Duration) string {
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}

// plural gives "1 switch", "2 switches".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// fmtDur prints seconds with a unit keeping a few digits.
func fmtDur(s float64) string {
	a := math.Abs(s)
	switch {
	case math.IsInf(s, 0) || math.IsNaN(s):
		return fmt.Sprint(s)
	case a >= 1:
		return fmt.Sprintf("%.6f s", s)
	case a >= 1e-3:
		return fmt.Sprintf("%.3f ms", s*1e3)
	default:
		return fmt.Sprintf("%.1f µs", s*1e6)
	}
}
