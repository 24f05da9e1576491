package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xenradclock/xenradclock/counter"
)

type options struct {
	Bin, Dir                              string
	Duration, MigrateAt, Interval, Offset time.Duration
	SkewPPM                               float64
	Watch                                 bool
}

var demoDefaults = options{
	Duration: 2 * time.Minute, MigrateAt: 40 * time.Second, Interval: 10 * time.Second,
	Offset: 2500 * time.Millisecond, SkewPPM: 30, Watch: true,
}

var binaries = []string{"dom0d", "domu-agent", "xlclock"}

func (o options) validate() error {
	switch {
	case o.Duration < 10*time.Second:
		return fmt.Errorf("--duration %v: at least 10s (the hosts need a few exchanges)", o.Duration)
	case o.MigrateAt < 0 || o.MigrateAt >= o.Duration:
		return fmt.Errorf("--migrate-at %v: want 0 (never) or less than --duration %v", o.MigrateAt, o.Duration)
	case o.Interval < time.Second:
		return fmt.Errorf("--interval %v: at least 1s", o.Interval)
	case o.SkewPPM < -500 || o.SkewPPM > 500:
		return fmt.Errorf("--skew-ppm %g: want -500..500", o.SkewPPM)
	case o.Offset < -time.Hour || o.Offset > time.Hour:
		return fmt.Errorf("--offset %v: want within an hour", o.Offset)
	}
	for _, b := range binaries {
		if fi, err := os.Stat(filepath.Join(o.Bin, b)); err != nil || fi.IsDir() {
			return fmt.Errorf("--bin %s: no %s there (run make build)", o.Bin, b)
		}
	}
	return nil
}

// host is one simulated physical host: its counter, Xenstore and dom0d.
type host struct {
	name    string
	dir     string
	counter string // simulated counter state file
	hostID  uint64
	ppm     float64
	path    pathSpec // its path to the time source
	xs      string   // Dom0's Xenstore socket
	server  string   // the time source's address for this host
}

func (h *host) domSocket(domid uint32) string {
	return filepath.Join(h.dir, fmt.Sprintf("dom%d", domid))
}

// guest is one DomU: an agent, a page, a reader.
type guest struct {
	name    string
	dir     string
	host    *host
	domid   uint32
	mode    string
	own     string // independent guests: their own simulated counter
	counter string // the guest's view of its host's counter
	xenbus  string // symlink to its host's domain socket
	agent   *proc
	reader  *proc
}

func (g *guest) page() string { return filepath.Join(g.dir, "clock") }
func (g *guest) live() string { return filepath.Join(g.dir, "reader.json") }

type demo struct {
	o      options
	w      *lockedWriter
	dir    string
	self   string
	hosts  []*host
	guests []*guest
	procs  []*proc // in start order; stopped in reverse
	truth  string
	start  time.Time
	moves  []string // the toolstack's lines about migrations
}

func (d *demo) bin(name string) string {
	p, _ := filepath.Abs(filepath.Join(d.o.Bin, name))
	return p
}

func run(parent context.Context, w io.Writer, o options) (res result, err error) {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{o: o, w: &lockedWriter{w: w}}
	if d.self, err = os.Executable(); err != nil {
		return res, err
	}
	if err := d.makeDir(); err != nil {
		return res, err
	}
	defer d.cleanup()
	if err := d.setUp(ctx); err != nil {
		return res, err
	}
	d.loop(ctx)
	d.stopAll()
	return d.summary(), nil
}

func (d *demo) makeDir() error {
	if d.o.Dir != "" {
		d.dir = d.o.Dir
		return os.MkdirAll(d.dir, 0o755)
	}
	dir, err := os.MkdirTemp("", "xenradclock-demo-")
	d.dir = dir
	return err
}

func (d *demo) cleanup() {
	d.stopAll()
	if d.o.Dir == "" {
		os.RemoveAll(d.dir)
	}
}

func (d *demo) stopAll() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		if d.procs[i].stop(5 * time.Second) {
			fmt.Fprintf(d.w, "%s did not stop on SIGTERM; killed\n", d.procs[i].name)
		}
	}
	d.procs = nil
}

func (d *demo) spawn(name, log string, env []string, bin string, args ...string) (*proc, error) {
	return d.spawnTo(name, log, env, nil, bin, args...)
}

func (d *demo) spawnTo(name, log string, env []string, stdout io.Writer, bin string, args ...string) (*proc, error) {
	p, err := spawn(name, filepath.Join(d.dir, log), env, stdout, bin, args...)
	if err == nil {
		d.procs = append(d.procs, p)
	}
	return p, err
}

func (d *demo) setUp(ctx context.Context) error {
	fmt.Fprintf(d.w, "xenradclock demo: everything below runs on this machine, each piece as its own process\n")
	fmt.Fprintf(d.w, "work directory %s (logs, pages, status files; %s at exit)\n\n", d.dir, map[bool]string{true: "kept", false: "removed"}[d.o.Dir != ""])
	d.hosts = []*host{
		{name: "host-a", hostID: 0xa11ce, ppm: 12, path: pathSpec{"host-a", 300 * time.Microsecond, 200 * time.Microsecond, 40 * time.Microsecond}},
		{name: "host-b", hostID: 0xb0b, ppm: -20, path: pathSpec{"host-b", 400 * time.Microsecond, 700 * time.Microsecond, 40 * time.Microsecond}},
	}
	steps := []func(context.Context) error{d.startTimeSource, d.startHosts, d.startGuests, d.startReaders, d.startWatch}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return errors.New("interrupted during start-up")
		}
		if err := step(ctx); err != nil {
			return err
		}
	}
	d.tryThese()
	return nil
}

func (d *demo) startTimeSource(ctx context.Context) error {
	dir := filepath.Join(d.dir, "timesource")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	d.truth = filepath.Join(dir, "truth.json")
	addrs := filepath.Join(dir, "addrs")
	args := []string{"timesource", "--truth", d.truth, "--addrs", addrs,
		"--offset", d.o.Offset.String(), "--skew-ppm", fmt.Sprint(d.o.SkewPPM)}
	for _, h := range d.hosts {
		args = append(args, "--path", h.path.String())
	}
	p, err := d.spawn("time source", "timesource/log", nil, d.self, args...)
	if err != nil {
		return err
	}
	if err := waitFor("time source", 10*time.Second, p, func() bool { return exists(addrs) }); err != nil {
		return err
	}
	b, err := os.ReadFile(addrs)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		name, addr, _ := strings.Cut(line, " ")
		for _, h := range d.hosts {
			if h.name == name {
				h.server = addr
			}
		}
	}
	fmt.Fprintf(d.w, "time source   serves system time %+v, %+g ppm fast (the truth every reader checks against)\n", d.o.Offset, d.o.SkewPPM)
	for _, h := range d.hosts {
		fmt.Fprintf(d.w, "              %s's path: %s, %v out, %v back, up to %v jitter (asymmetry %+v)\n",
			h.name, h.server, h.path.fwd, h.path.back, h.path.jit, h.path.fwd-h.path.back)
	}
	return nil
}

func simEnv(file string) []string { return []string{counter.SimulatedEnv + "=" + file} }

// tail returns the lines of a log file that contain substr.
func grepFile(path, substr string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			out = append(out, sc.Text())
		}
	}
	return out
}
