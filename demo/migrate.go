package main

// The live migration, done as Xen's toolstack does it, on simulated hosts:
// ask the guest to suspend, create the domain on the destination, move its
// counter and its Xenstore connection there, release it on the source.

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/xenradclock/xenradclock/counter"
)

func (d *demo) findGuest(name string) *guest {
	for _, g := range d.guests {
		if g.name == name {
			return g
		}
	}
	return nil
}

func (d *demo) migrate(ctx context.Context) error {
	g := d.findGuest(migrant)
	from, to := g.host, d.hosts[1]
	t0 := time.Now()
	src, err := dom0(ctx, from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := dom0(ctx, to)
	if err != nil {
		return err
	}
	defer dst.Close()
	shutdown := fmt.Sprintf("/local/domain/%d/control/shutdown", g.domid)
	steps := []struct {
		what string
		do   func() error
	}{
		{"suspend request", func() error { return src.Write(ctx, shutdown, []byte("suspend")) }},
		{"guest suspends", func() error { time.Sleep(100 * time.Millisecond); return nil }},
		{"destination domain", func() error { return dst.Introduce(ctx, migrantDomid, 0, 0) }},
		{"destination name", func() error { return createDomain(ctx, dst, migrantDomid, g.name) }},
		{"counter moves", func() error { return counter.MigrateSim(g.counter, to.counter) }},
		{"Xenstore moves", func() error { return swapLink(g.xenbus, to.domSocket(migrantDomid)) }},
		{"source releases", func() error { return src.Release(ctx, g.domid) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			err = fmt.Errorf("migrating %s: %s: %w", g.name, s.what, err)
			fmt.Fprintf(d.w, "toolstack: %v\n", err)
			return err
		}
	}
	line := fmt.Sprintf("toolstack: live-migrated %s from %s (domid %d) to %s (domid %d) in %.0f ms",
		g.name, from.name, g.domid, to.name, migrantDomid, float64(time.Since(t0).Microseconds())/1000)
	fmt.Fprintf(d.w, "\n%s\n", line)
	d.moves = append(d.moves, line)
	g.host, g.domid = to, migrantDomid
	return nil
}

// swapLink points link at target atomically (rename over the old link).
func swapLink(link, target string) error {
	tmp := link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}
