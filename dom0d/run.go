package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/xenradclock/xenradclock/hostclock"
)

func init() { commands = append(commands, runCommand()) }

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the host clock daemon (foreground; systemd unit in dist/systemd/dom0d.service)",
		Description: `run polls every configured NTP server with packets stamped by the raw
counter, runs one feed-forward estimator per server, chooses a preferred server
by path quality (with anti-churn: a switch needs a >20% better path and not
within the hold time of the last one), and publishes the preferred clock:

  - to Xenstore at /xenradclock/clock (config key xenstore_path), one node
    holding the whole text-encoded record, owned by Dom0 and readable by every
    domain (permission r0, also on /xenradclock), re-published after a
    Xenstore reconnection;
  - to the shared page (default /run/xenradclock/clock) for local readers.

Configuration: built-in defaults, then the config file (--config, default
/etc/xenradclock/dom0d.conf when it exists; format in docs/dom0d.md and
dist/dom0d.conf), then the flags. SIGHUP reloads the file (servers, poll,
selection); SIGTERM or SIGINT stops cleanly and saves the state file, so a
restarted daemon has a good clock within a few exchanges.

On a Xen host (as root; the defaults publish to xenstored, the page in
/run/xenradclock and the state in /var/lib/xenradclock):
  dom0d run --server ntp1.example.org --server ntp2.example.org
  dom0d run --config /etc/xenradclock/dom0d.conf --metrics 127.0.0.1:9477

Examples (any Linux machine, no root; start 'dom0d testserver' first):
  dom0d run --config dist/dom0d.example.conf

  dom0d run --config dist/dom0d.example.conf --metrics 127.0.0.1:9477 --log-level warn

  dom0d simhost create --file simhost --host-id 7
  XENRADCLOCK_SIM_COUNTER=simhost dom0d run --server 127.0.0.1:11123 --poll 1s --counter simulated --xenstore none --page clock --state state.json --status-file status.json

They poll 127.0.0.1:11123 and write below the current directory. The
simulated counter is the state file named by XENRADCLOCK_SIM_COUNTER
('dom0d simhost --help'); dist/dom0d.example.conf uses monotonic-raw, which
serves a page to this machine's own processes only.`,
		Flags: daemonFlags(),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			log, lvl, err := newLogger(cfg.LogLevel)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck // stderr sync errors are meaningless
			d, err := hostclock.New(cfg, hostclock.Options{Log: log})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
					}
					ncfg, err := loadConfig(c)
					if err != nil {
						log.Error("SIGHUP: configuration not reloaded", zap.Error(err))
						continue
					}
					if err := lvl.UnmarshalText([]byte(ncfg.LogLevel)); err != nil {
						log.Warn("SIGHUP: bad log level", zap.Error(err))
					}
					if err := d.Reload(ncfg); err != nil {
						log.Error("SIGHUP: configuration not reloaded", zap.Error(err))
					}
				}
			}()
			log.Info("dom0d running", zap.Int("servers", len(cfg.Servers)), zap.String("counter", d.Counter().Name()),
				zap.String("page", cfg.Page), zap.String("xenstore", cfg.Xenstore), zap.String("metrics", d.MetricsAddr()),
				zap.String("serve_ntp", d.NTPAddr()))
			err = d.Run(ctx)
			log.Info("dom0d stopped")
			return err
		},
	}
}
