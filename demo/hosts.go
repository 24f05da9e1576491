package main

// Starting the pieces: time source (run.go), hosts, guests, readers, watch.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/xenstore"
)

// guestPlan: which guest starts where, with which domid.
var guestPlan = []struct {
	name  string
	host  int
	domid uint32
	mode  string
}{
	{"g1", 0, 11, "dependent"},
	{"g2", 0, 12, "dependent"},
	{"g3", 1, 21, "dependent"},
	{"g4", 1, 23, "independent"},
}

// migration: g2 moves from host-a (domid 12) to host-b, where it becomes
// domid 22, as a migrated Xen domain gets a new domid.
const (
	migrant      = "g2"
	migrantDomid = 22
)

func (d *demo) domidsOn(hi int) []uint32 {
	var ids []uint32
	for _, g := range guestPlan {
		if g.host == hi {
			ids = append(ids, g.domid)
		}
	}
	if hi == 1 {
		ids = append(ids, migrantDomid)
	}
	return ids
}

func (d *demo) startHosts(ctx context.Context) error {
	for i, h := range d.hosts {
		h.dir = filepath.Join(d.dir, h.name)
		if err := os.MkdirAll(h.dir, 0o755); err != nil {
			return err
		}
		h.counter = filepath.Join(h.dir, "counter")
		cfg := counter.SimHostConfig{HostID: h.hostID, NominalHz: 1e9, PPM: h.ppm, Offset: uint64(i+1) << 40}
		if err := counter.CreateSimHost(h.counter, cfg); err != nil {
			return fmt.Errorf("%s: simulated counter: %w", h.name, err)
		}
		h.xs = filepath.Join(h.dir, "xenstored.socket")
		args := []string{"xenstored", "--socket", h.xs}
		for _, id := range d.domidsOn(i) {
			args = append(args, "--domain-socket", fmt.Sprintf("%d=%s", id, h.domSocket(id)))
		}
		p, err := d.spawn(h.name+" xenstored", h.name+"/xenstored.log", nil, d.bin("dom0d"), args...)
		if err != nil {
			return err
		}
		ready := func() bool {
			for _, id := range d.domidsOn(i) {
				if !exists(h.domSocket(id)) {
					return false
				}
			}
			return exists(h.xs)
		}
		if err := waitFor(h.name+" xenstored", 10*time.Second, p, ready); err != nil {
			return err
		}
		if err := d.nameDomains(ctx, h, i); err != nil {
			return err
		}
		conf := filepath.Join(h.dir, "dom0d.conf")
		if err := os.WriteFile(conf, []byte(d.dom0dConfig(h)), 0o644); err != nil {
			return err
		}
		if _, err := d.spawn(h.name+" dom0d", h.name+"/dom0d.log", simEnv(h.counter), d.bin("dom0d"), "run", "--config", conf); err != nil {
			return err
		}
		fmt.Fprintf(d.w, "%-13s dom0d on a simulated counter 1 GHz nominal, %+g ppm; Xenstore %s\n", h.name, h.ppm, h.xs)
	}
	return nil
}

func (d *demo) dom0dConfig(h *host) string {
	return strings.Join([]string{
		"# written by xenradclock-demo for " + h.name,
		"server = " + h.server,
		"poll = 1s",
		"counter = simulated",
		"xenstore = " + h.xs,
		"page = " + filepath.Join(h.dir, "clock"),
		"status = " + filepath.Join(h.dir, "status.json"),
		"state = " + filepath.Join(h.dir, "state.json"),
		"host_name = " + h.name,
		"log_level = info",
	}, "\n") + "\n"
}

// dom0 opens a privileged (toolstack) connection to a host's Xenstore.
func dom0(ctx context.Context, h *host) (*xenstore.Client, error) {
	c, err := xenstore.DialSocket(ctx, h.xs)
	if err != nil {
		return nil, fmt.Errorf("%s Xenstore: %w", h.name, err)
	}
	return c, nil
}

// nameDomains does what xl does at domain creation: the name node and a
// control directory the guest may write. The migrant's future domid on
// host-b is released until the migration creates it.
func (d *demo) nameDomains(ctx context.Context, h *host, hi int) error {
	c, err := dom0(ctx, h)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, g := range guestPlan {
		if g.host == hi {
			if err := createDomain(ctx, c, g.domid, g.name); err != nil {
				return fmt.Errorf("%s: %w", h.name, err)
			}
		}
	}
	if hi == 1 {
		if err := c.Release(ctx, migrantDomid); err != nil {
			return fmt.Errorf("%s: releasing domid %d until the migration: %w", h.name, migrantDomid, err)
		}
	}
	return nil
}

func createDomain(ctx context.Context, c *xenstore.Client, domid uint32, name string) error {
	home := fmt.Sprintf("/local/domain/%d", domid)
	guestOwned := xenstore.Perms{{Domid: domid, Access: xenstore.AccessNone}}
	steps := []func() error{
		func() error { return c.Write(ctx, home+"/name", []byte(name)) },
		func() error { return c.Mkdir(ctx, home+"/control") },
		func() error { return c.SetPerms(ctx, home+"/control", guestOwned) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return fmt.Errorf("creating domain %d (%s): %w", domid, name, err)
		}
	}
	return nil
}

func (d *demo) startGuests(ctx context.Context) error {
	for _, gp := range guestPlan {
		h := d.hosts[gp.host]
		g := &guest{name: gp.name, dir: filepath.Join(d.dir, gp.name), host: h, domid: gp.domid, mode: gp.mode}
		if err := os.MkdirAll(g.dir, 0o755); err != nil {
			return err
		}
		g.counter = filepath.Join(g.dir, "counter")
		if err := counter.MigrateSim(g.counter, h.counter); err != nil {
			return err
		}
		g.xenbus = filepath.Join(g.dir, "xenbus")
		if err := os.Symlink(h.domSocket(g.domid), g.xenbus); err != nil {
			return err
		}
		args := []string{"run", "--xenstore", g.xenbus, "--page", g.page(), "--counter", "simulated", "--name", g.name}
		env := simEnv(g.counter)
		if g.mode == "independent" {
			// Its own timeline: a counter of its own, not its host's.
			g.own = filepath.Join(g.dir, "own-counter")
			cfg := counter.SimHostConfig{HostID: 0x94 + uint64(gp.domid), NominalHz: 1e9, PPM: 7, Offset: 5 << 40}
			if err := counter.CreateSimHost(g.own, cfg); err != nil {
				return err
			}
			env = simEnv(g.own)
			args = append(args, "--mode", "independent", "--server", h.server, "--set", "poll=1s")
		}
		p, err := d.spawn(g.name+" domu-agent", g.name+"/agent.log", env, d.bin("domu-agent"), args...)
		if err != nil {
			return err
		}
		g.agent = p
		d.guests = append(d.guests, g)
		fmt.Fprintf(d.w, "%-13s domu-agent %-11s on %s, domid %d, page %s\n", g.name, g.mode, h.name, g.domid, g.page())
	}
	return nil
}

func (d *demo) startReaders(ctx context.Context) error {
	for _, g := range d.guests {
		args := []string{"reader", "--page", g.page(), "--truth", d.truth, "--live", g.live()}
		if g.own != "" {
			args = append(args, "--counter", g.own, "--host", g.name+"-own="+g.own)
		} else {
			args = append(args, "--counter", g.counter)
			for _, h := range d.hosts {
				args = append(args, "--host", h.name+"="+h.counter)
			}
		}
		p, err := d.spawn(g.name+" reader", g.name+"/reader.log", nil, d.self, args...)
		if err != nil {
			return err
		}
		g.reader = p
	}
	fmt.Fprintf(d.w, "readers       one per guest, reading its page every millisecond against the truth\n")
	return nil
}

func (d *demo) startWatch(ctx context.Context) error {
	if !d.o.Watch {
		return nil
	}
	for _, h := range d.hosts {
		log := h.name + "/xlclock-watch.log"
		out := &prefixWriter{out: d.w, prefix: h.name + " | "}
		if _, err := d.spawnTo(h.name+" xlclock watch", log, simEnv(h.counter), out, d.bin("xlclock"), "watch", "--xenstore", h.xs, "--interval", d.o.Interval.String()); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) tryThese() {
	h, g := d.hosts[0], d.guests[0]
	fmt.Fprintf(d.w, "\nwhile it runs, try (in another terminal):\n")
	fmt.Fprintf(d.w, "  %s list --xenstore %s\n", d.bin("xlclock"), h.xs)
	fmt.Fprintf(d.w, "  %s status --status %s\n", d.bin("dom0d"), filepath.Join(h.dir, "status.json"))
	fmt.Fprintf(d.w, "  XENSTORED_PATH=%s xenstore-ls -p /local/domain\n", h.xs)
	fmt.Fprintf(d.w, "  %s=%s %s now --page %s\n", counter.SimulatedEnv, g.counter, d.bin("xlclock"), g.page())
	fmt.Fprintf(d.w, "  %s=%s %s status --page %s\n", counter.SimulatedEnv, g.counter, d.bin("domu-agent"), g.page())
	fmt.Fprintf(d.w, "running for %v; Ctrl-C stops everything\n\n", d.o.Duration)
}
