package main

import (
	"os"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/hostclock"
)

// defaultConfigFile is read by `dom0d run` when --config is not given and
// the file exists (the Debian-style location of dist/dom0d.conf).
const defaultConfigFile = "/etc/xenradclock/dom0d.conf"

// daemonFlags are the flags of `dom0d run` (and, partly, of `dom0d demo`);
// each overrides the config file key of the same meaning.
func daemonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "read the configuration from `FILE` (default " + defaultConfigFile + " when it exists); flags override it"},
		&cli.StringSliceFlag{Name: "server", Aliases: []string{"s"}, Usage: "an NTP server `HOST[:PORT]` (repeatable); replaces the servers of the config file"},
		&cli.DurationFlag{Name: "poll", Usage: "poll period `DURATION` of every server, 1s..1024s (config key poll)", DefaultText: "16s"},
		&cli.StringFlag{Name: "counter", Usage: "raw counter `NAME`: auto, tsc, xen-system, xen-platform, hpet, monotonic-raw, simulated (config key counter)"},
		&cli.StringFlag{Name: "page", Usage: "shared page `PATH`, \"\" to disable (config key page; default " + hostclock.DefaultPage + ")"},
		&cli.StringFlag{Name: "xenstore", Usage: "where to publish: auto (xenstored if present), none, embedded (an in-process Xenstore) or a socket `PATH` (config key xenstore)"},
		&cli.StringFlag{Name: "metrics", Usage: "serve Prometheus metrics on `ADDR` (HOST:PORT; config key metrics; default off)"},
		&cli.StringFlag{Name: "state", Usage: "state file `PATH`, \"\" to disable (config key state; default " + hostclock.DefaultState + ")"},
		&cli.StringFlag{Name: "status-file", Usage: "status file `PATH` read by `dom0d status` (config key status; default " + hostclock.DefaultStatus + ")"},
		&cli.StringFlag{Name: "record", Usage: "append every stamp to trace `FILE` (docs/trace-format.md), replayable with `dom0d replay` (config key record)"},
		&cli.StringFlag{Name: "serve-ntp", Usage: "serve the host clock over NTP on `ADDR` (HOST:PORT) to guests that cannot run the agent (config key serve_ntp; default off)"},
		&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error (config key log_level)"},
		&cli.BoolFlag{Name: "allow-initial-step", Usage: "accept a first step onto the servers' time further than max_initial_step from the state file's clock or the synchronised system clock (config key allow_initial_step; default: refuse it and say so)"},
	}
}

// flagKeys maps flags to config keys; flags go through Config.Set so they
// accept and reject exactly what the file does.
var flagKeys = []struct{ flag, key string }{
	{"counter", "counter"}, {"page", "page"}, {"xenstore", "xenstore"}, {"metrics", "metrics"},
	{"state", "state"}, {"status-file", "status"}, {"record", "record"}, {"serve-ntp", "serve_ntp"},
	{"log-level", "log_level"},
}

// loadConfig builds the configuration: built-in defaults, then the config
// file, then the flags.
func loadConfig(c *cli.Context) (hostclock.Config, error) {
	cfg := hostclock.Default()
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
	if err := applyFlags(c, &cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func applyFlags(c *cli.Context, cfg *hostclock.Config) error {
	if c.IsSet("server") {
		cfg.Servers = nil
		for _, s := range c.StringSlice("server") {
			if err := cfg.Set("server", s); err != nil {
				return &hostclock.ConfigError{File: "--server", Key: "server", Err: err}
			}
		}
	}
	if c.IsSet("poll") {
		if err := cfg.Set("poll", c.Duration("poll").String()); err != nil {
			return &hostclock.ConfigError{File: "--poll", Key: "poll", Err: err}
		}
	}
	if c.IsSet("allow-initial-step") {
		cfg.AllowInitialStep = c.Bool("allow-initial-step")
	}
	for _, fk := range flagKeys {
		if c.IsSet(fk.flag) {
			if err := cfg.Set(fk.key, c.String(fk.flag)); err != nil {
				return &hostclock.ConfigError{File: "--" + fk.flag, Key: fk.key, Err: err}
			}
		}
	}
	return nil
}

// newLogger is hostclock.NewLogger (shared with domu-agent).
func newLogger(level string) (*zap.Logger, zap.AtomicLevel, error) { return hostclock.NewLogger(level) }
