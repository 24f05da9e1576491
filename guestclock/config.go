// Package guestclock is the logic of domu-agent, the guest half of
// xenradclock: it takes Dom0's clock record from Xenstore, checks it
// (permissions, counter and host identity, generation, sanity), keeps
// readers' time from going backwards across migrations and restarts, and
// republishes it in the guest's shared page for every local reader, with the
// agent's mode and disruption flags. It also reports its state to Xenstore,
// feeds sinks (guestclock/sink) and can run the host's estimator itself
// (independent mode). domu-agent only wires it to flags and signals.
package guestclock

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/hostclock"
)

// Defaults; docs/domu-agent.md and dist/domu-agent.conf repeat them.
const (
	DefaultMode      = "auto"
	DefaultXenstore  = "auto"
	DefaultCounter   = "auto"
	DefaultClockNode = "/xenradclock/clock"
	DefaultHostName  = "/xenradclock/host-name"
	DefaultLogLevel  = "info"
	DefaultTick      = time.Second
	DefaultMaxHold   = 10 * time.Second
	DefaultPoll      = 16 * time.Second
	DefaultAutoWait  = 5 * time.Second
	// DefaultIndepPageName is independent mode's private page, beside the
	// guest's page unless independent_page names one: two agents serving
	// different pages never share it.
	DefaultIndepPageName = "independent-host.page"
	minTick, maxTick     = 10 * time.Millisecond, 10 * time.Second
	maxDisruptedLimit    = time.Hour
)

// Config is the agent's configuration. Start from Default.
type Config struct {
	Mode      string // auto, dependent, independent
	Xenstore  string // auto, none or a socket path
	Page      string
	Counter   string // auto or a counter name
	Name      string // the guest's name in logs ("" : ~/name from Xenstore)
	ClockNode string
	Servers   []string      // independent mode's NTP servers
	Poll      time.Duration // independent mode's poll period
	IndepPage string        // independent mode's private host page ("": beside Page)
	Metrics   string        // Prometheus listen address, "" off
	LogLevel  string
	Tick      time.Duration // sample/report cadence while nothing changes
	// MaxDisruptedHold bounds how long the page says "disrupted" rather
	// than serve a clock that went back (beyond what the old clock
	// promised, a broken promise); then the new clock is served.
	MaxDisruptedHold time.Duration
	// AutoWait is how long mode auto waits for Dom0's record before it
	// falls back to independent mode (if servers are configured).
	AutoWait time.Duration
	// Sinks holds the sink keys set (see RegisterSink) and their values.
	Sinks map[string]string
}

// Default returns the built-in configuration.
func Default() Config {
	return Config{Mode: DefaultMode, Xenstore: DefaultXenstore, Page: clockdata.DefaultPagePath,
		Counter: DefaultCounter, ClockNode: DefaultClockNode, Poll: DefaultPoll,
		LogLevel: DefaultLogLevel, Tick: DefaultTick, MaxDisruptedHold: DefaultMaxHold, AutoWait: DefaultAutoWait,
		Sinks: map[string]string{}}
}

// ConfigError names the file, line and key of a bad setting (dom0d's
// type: the two daemons share the format).
type ConfigError = hostclock.ConfigError

// ErrUnknownKey is wrapped by the error of a key the agent does not know.
var ErrUnknownKey = errors.New("unknown key")

// setters is the key table: one entry per configuration key.
var setters = map[string]func(c *Config, v string) error{
	"mode": func(c *Config, v string) error {
		return oneOf(&c.Mode, v, "auto", "dependent", "independent")
	},
	"xenstore":   func(c *Config, v string) error { return nonEmpty(&c.Xenstore, v) },
	"page":       func(c *Config, v string) error { return nonEmpty(&c.Page, v) },
	"counter":    func(c *Config, v string) error { return nonEmpty(&c.Counter, v) },
	"name":       func(c *Config, v string) error { c.Name = v; return nil },
	"clock_node": func(c *Config, v string) error { return absPath(&c.ClockNode, v) },
	"server": func(c *Config, v string) error {
		if v == "" {
			return errors.New("empty server")
		}
		c.Servers = append(c.Servers, v)
		return nil
	},
	"poll":             func(c *Config, v string) error { return duration(&c.Poll, v, time.Second, 1024*time.Second) },
	"independent_page": func(c *Config, v string) error { return nonEmpty(&c.IndepPage, v) },
	"metrics":          func(c *Config, v string) error { c.Metrics = v; return nil },
	"log_level":        func(c *Config, v string) error { return oneOf(&c.LogLevel, v, "debug", "info", "warn", "error") },
	"tick":             func(c *Config, v string) error { return duration(&c.Tick, v, minTick, maxTick) },
	"max_disrupted_hold": func(c *Config, v string) error {
		return duration(&c.MaxDisruptedHold, v, 0, maxDisruptedLimit)
	},
	"auto_wait": func(c *Config, v string) error { return duration(&c.AutoWait, v, 0, time.Hour) },
}

func oneOf(dst *string, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			*dst = v
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
}

func nonEmpty(dst *string, v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	*dst = v
	return nil
}

func absPath(dst *string, v string) error {
	if !strings.HasPrefix(v, "/") {
		return fmt.Errorf("%q is not an absolute Xenstore path", v)
	}
	*dst = v
	return nil
}

func duration(dst *time.Duration, v string, lo, hi time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	if d < lo || d > hi {
		return fmt.Errorf("%v outside %v..%v", d, lo, hi)
	}
	*dst = d
	return nil
}

// Set applies one key; flags and the file both go through it.
func (c *Config) Set(key, value string) error {
	if f, ok := setters[key]; ok {
		return f(c, value)
	}
	if _, ok := sinkTable[key]; ok {
		if c.Sinks == nil {
			c.Sinks = map[string]string{}
		}
		c.Sinks[key] = value
		return nil
	}
	return fmt.Errorf("%w %q (known: %s)", ErrUnknownKey, key, strings.Join(Keys(), ", "))
}

// Keys lists every configuration key, sinks included, sorted.
func Keys() []string {
	var ks []string
	for k := range setters {
		ks = append(ks, k)
	}
	for k := range sinkTable {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// LoadFile reads a configuration file on top of c.
func (c *Config) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return c.Parse(f, path)
}

// Parse reads `key = value` lines on top of c; `#` starts a comment;
// `server` may repeat (the file's first server line replaces earlier ones).
func (c *Config) Parse(r io.Reader, name string) error {
	return hostclock.ParseKeyValues(r, name, "server", func() { c.Servers = nil }, c.Set)
}

// IndepPagePath is independent mode's private page: IndepPage, or
// DefaultIndepPageName in the directory of Page.
func (c Config) IndepPagePath() string {
	if c.IndepPage != "" {
		return c.IndepPage
	}
	return filepath.Join(filepath.Dir(c.Page), DefaultIndepPageName)
}
