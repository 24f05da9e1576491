package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/guestclock"
	"github.com/xenradclock/xenradclock/hostclock"
)

const defaultConfigFile = "/etc/xenradclock/domu-agent.conf"

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the agent (foreground; systemd unit in dist/systemd/domu-agent.service)",
		Description: `run serves the guest's clock page until SIGTERM or SIGINT.

Modes: dependent (Dom0's record from Xenstore, the default when Dom0 publishes),
independent (NTP and the estimator run in the guest, needs --server), auto
(dependent if Dom0's record appears within auto_wait, else independent when
servers are configured).

Configuration: built-in defaults, then the config file (--config, default
` + defaultConfigFile + ` when it exists; format in docs/domu-agent.md and
dist/domu-agent.conf), then the flags. Outputs besides the page are enabled by
config keys (--set KEY=VALUE does the same from the command line).

In a guest on a Xen host (as root; the defaults find Xenstore and publish
/run/xenradclock/clock):
  domu-agent run
  domu-agent run --xenstore /run/xenstored/socket --page /run/xenradclock/clock

Examples (no Xen, no root; start 'dom0d testserver --listen 127.0.0.1:11127' first):
  domu-agent run --mode independent --server 127.0.0.1:11127 --xenstore none --counter monotonic-raw --page clock --set poll=1s

It writes the page clock and its estimator's independent-host.page below the
current directory.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "configuration `FILE` (default " + defaultConfigFile + " when it exists)"},
			&cli.StringFlag{Name: "xenstore", Usage: "auto (XENSTORED_PATH, the sockets, /dev/xen/xenbus), none, or a socket `PATH` (config key xenstore)"},
			&cli.StringFlag{Name: "page", Usage: "shared page `PATH` (config key page; default /run/xenradclock/clock)"},
			&cli.StringFlag{Name: "counter", Usage: "counter `NAME`: auto, xen-system, xen-platform, tsc, simulated, ... (config key counter)"},
			&cli.StringFlag{Name: "mode", Usage: "auto, dependent or independent (config key mode)"},
			&cli.StringFlag{Name: "name", Usage: "the guest's `NAME` in logs (config key name; default ~/name from Xenstore)"},
			&cli.StringSliceFlag{Name: "server", Aliases: []string{"s"}, Usage: "independent mode's NTP server `HOST[:PORT]` (repeatable; config key server)"},
			&cli.StringFlag{Name: "metrics", Usage: "serve Prometheus metrics on `ADDR` (config key metrics; default off)"},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error (config key log_level)"},
			&cli.StringFlag{Name: "tick", Usage: "sample cadence `DURATION` while nothing changes (config key tick; default 1s)"},
			&cli.StringSliceFlag{Name: "set", Usage: "any config key as `KEY=VALUE` (repeatable), e.g. --set max_disrupted_hold=30s"},
		},
		Action: runAction,
	}
}

var flagKeys = []struct{ flag, key string }{
	{"xenstore", "xenstore"}, {"page", "page"}, {"counter", "counter"}, {"mode", "mode"}, {"name", "name"},
	{"metrics", "metrics"}, {"log-level", "log_level"}, {"tick", "tick"},
}

func loadConfig(c *cli.Context) (guestclock.Config, error) {
	cfg := guestclock.Default()
	path := c.String("config")
	if path == "" {
		if _, err := os.Stat(defaultConfigFile); err == nil {
			path = defaultConfigFile
		}
	}
	if path != "" {
		if err := cfg.LoadFile(path); err != nil {
			return cfg, err
		}
	}
	for _, fk := range flagKeys {
		if c.IsSet(fk.flag) {
			if err := cfg.Set(fk.key, c.String(fk.flag)); err != nil {
				return cfg, &guestclock.ConfigError{File: "--" + fk.flag, Key: fk.key, Err: err}
			}
		}
	}
	if c.IsSet("server") {
		cfg.Servers = nil
		for _, s := range c.StringSlice("server") {
			if err := cfg.Set("server", s); err != nil {
				return cfg, &guestclock.ConfigError{File: "--server", Key: "server", Err: err}
			}
		}
	}
	for _, kv := range c.StringSlice("set") {
		k, v, ok := cutKV(kv)
		if !ok {
			return cfg, fmt.Errorf("--set %q: want KEY=VALUE", kv)
		}
		if err := cfg.Set(k, v); err != nil {
			return cfg, &guestclock.ConfigError{File: "--set", Key: k, Err: err}
		}
	}
	return cfg, nil
}

func cutKV(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			return s[:i], s[i+1:], i > 0
		}
	}
	return "", "", false
}

func runAction(c *cli.Context) error {
	oneProc()
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.LogLevel)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // stderr sync errors are meaningless
	sinks, err := guestclock.OpenSinks(cfg, log)
	if err != nil {
		return err
	}
	a, err := guestclock.New(cfg, guestclock.Options{Log: log, Sinks: sinks, Version: version})
	if err != nil {
		log.Error("not serving", zap.Error(err))
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Info("domu-agent running", zap.String("mode", a.Mode().String()), zap.String("counter", a.Counter().Name()),
		zap.String("page", cfg.Page), zap.String("xenstore", cfg.Xenstore), zap.Int("sinks", len(sinks)))
	err = a.Run(ctx)
	log.Info("domu-agent stopped")
	return err
}

// newLogger is dom0d's logger (hostclock.NewLogger).
func newLogger(level string) (*zap.Logger, error) {
	l, _, err := hostclock.NewLogger(level)
	return l, err
}

// oneProc runs the daemon on one P unless GOMAXPROCS says otherwise: its
// work is a few µs a record, and with a second P every wake-up also wakes
// an idle thread to look for work, and the runtime re-reads the CPU limit
// each second (issue 11: 0.27 % of a core on two Ps, 0.19 % on one).
// Setting it also ends the runtime's periodic GOMAXPROCS update.
func oneProc() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}
