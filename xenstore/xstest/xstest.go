// Package xstest is a conformance battery for a Xenstore server, run
// through the xenstore client: the same checks run against the embedded
// server (xsd, in this repository's tests) and against Xen's real
// xenstored inside the test VMs, so that the client is proven on both.
//
// Only behaviour that xenstored and the embedded server share is checked.
// Dom0 runs on a privileged connection (xenstored's socket); Guest runs
// in a guest (over /dev/xen/xenbus) after Dom0Prepare has made the nodes it
// expects.
package xstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/xenradclock/xenradclock/xenstore"
)

// Result is one check.
type Result struct {
	Name string
	Err  error // nil: passed
}

// Failed returns the failed results.
func Failed(rs []Result) []Result {
	var out []Result
	for _, r := range rs {
		if r.Err != nil {
			out = append(out, r)
		}
	}
	return out
}

type runner struct {
	ctx context.Context
	out []Result
}

func (r *runner) check(name string, f func() error) {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	old := r.ctx
	r.ctx = ctx
	err := f()
	r.ctx = old
	r.out = append(r.out, Result{Name: name, Err: err})
}

func expectErrno(err error, want syscall.Errno) error {
	if !errors.Is(err, want) {
		return fmt.Errorf("got %v, want %s", err, want)
	}
	return nil
}

func nextEvent(ctx context.Context, w *xenstore.Watch) (xenstore.Event, error) {
	select {
	case ev, ok := <-w.Events():
		if !ok {
			return ev, fmt.Errorf("watch %s ended: %v", w.Path, w.Err())
		}
		return ev, nil
	case <-ctx.Done():
		return xenstore.Event{}, fmt.Errorf("no event on %s: %w", w.Path, ctx.Err())
	}
}

// eventFor waits for an event with path p, skipping others (watches may
// fire spuriously).
func eventFor(ctx context.Context, w *xenstore.Watch, p string) error {
	for {
		ev, err := nextEvent(ctx, w)
		if err != nil {
			return err
		}
		if ev.Path == p {
			return nil
		}
	}
}

// Dom0 runs the privileged checks below base (e.g. "/xenradclock-test"),
// which it creates and removes.
func Dom0(ctx context.Context, c *xenstore.Client, base string) []Result {
	r := &runner{ctx: ctx}
	p := func(s string) string { return base + "/" + s }
	r.check("rm stale base", func() error { return c.Rm(r.ctx, base) })
	r.check("write creates parents", func() error {
		if err := c.Write(r.ctx, p("a/b"), []byte("v1")); err != nil {
			return err
		}
		v, err := c.Read(r.ctx, p("a"))
		if err != nil || len(v) != 0 {
			return fmt.Errorf("parent %q, %v", v, err)
		}
		return nil
	})
	r.check("read back", func() error {
		v, err := c.Read(r.ctx, p("a/b"))
		if err != nil || string(v) != "v1" {
			return fmt.Errorf("read %q, %v", v, err)
		}
		return nil
	})
	r.check("read absent is ENOENT", func() error {
		_, err := c.Read(r.ctx, p("absent"))
		return expectErrno(err, syscall.ENOENT)
	})
	r.check("mkdir and directory", func() error {
		if err := c.Mkdir(r.ctx, p("a/c")); err != nil {
			return err
		}
		names, err := c.Directory(r.ctx, p("a"))
		if err != nil {
			return err
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"b", "c"}) {
			return fmt.Errorf("directory %v", names)
		}
		return nil
	})
	r.check("permissions set, get, inherit", func() error {
		want := xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}}
		if err := c.SetPerms(r.ctx, p("a"), want); err != nil {
			return err
		}
		got, err := c.GetPerms(r.ctx, p("a"))
		if err != nil || got.String() != "r0" {
			return fmt.Errorf("perms %v, %v", got, err)
		}
		if err := c.Write(r.ctx, p("a/new"), nil); err != nil {
			return err
		}
		got, err = c.GetPerms(r.ctx, p("a/new"))
		if err != nil || got.String() != "r0" {
			return fmt.Errorf("inherited %v, %v", got, err)
		}
		return nil
	})
	r.check("rm is recursive; rm of absent child is fine", func() error {
		if err := c.Rm(r.ctx, p("a")); err != nil {
			return err
		}
		if _, err := c.Read(r.ctx, p("a/b")); !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("after rm: %v", err)
		}
		return c.Rm(r.ctx, p("a"))
	})
	r.check("long directory through DIRECTORY_PART", func() error {
		var want []string
		err := c.Transaction(r.ctx, func(tx *xenstore.Tx) error {
			want = want[:0]
			for i := 0; i < 200; i++ {
				n := fmt.Sprintf("child-with-a-long-name-%04d", i)
				want = append(want, n)
				if err := tx.Write(r.ctx, p("long/"+n), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		got, err := c.Directory(r.ctx, p("long"))
		if err != nil {
			return err
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("got %d names, want %d", len(got), len(want))
		}
		return c.Rm(r.ctx, p("long"))
	})
	r.check("watch: registration event, change event, unwatch", func() error {
		w, err := c.Watch(r.ctx, p("w"), "xstest")
		if err != nil {
			return err
		}
		defer w.Unwatch(r.ctx)
		if err := eventFor(r.ctx, w, p("w")); err != nil {
			return fmt.Errorf("registration: %w", err)
		}
		if err := c.Write(r.ctx, p("w/x"), []byte("1")); err != nil {
			return err
		}
		if err := eventFor(r.ctx, w, p("w/x")); err != nil {
			return fmt.Errorf("change: %w", err)
		}
		return w.Unwatch(r.ctx)
	})
	r.check("transaction commit is atomic", func() error {
		tx, err := c.StartTransaction(r.ctx)
		if err != nil {
			return err
		}
		if err := tx.Write(r.ctx, p("t/a"), []byte("1")); err != nil {
			return err
		}
		if ok, _ := c.Exists(r.ctx, p("t/a")); ok {
			tx.Abort(r.ctx)
			return errors.New("uncommitted write visible")
		}
		return tx.Commit(r.ctx)
	})
	r.check("transaction conflict is EAGAIN", func() error {
		tx, err := c.StartTransaction(r.ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Read(r.ctx, p("t/a")); err != nil {
			tx.Abort(r.ctx)
			return err
		}
		if err := tx.Write(r.ctx, p("t/b"), []byte("x")); err != nil {
			tx.Abort(r.ctx)
			return err
		}
		if err := c.Write(r.ctx, p("t/a"), []byte("2")); err != nil {
			tx.Abort(r.ctx)
			return err
		}
		if err := expectErrno(tx.Commit(r.ctx), syscall.EAGAIN); err != nil {
			return err
		}
		if ok, _ := c.Exists(r.ctx, p("t/b")); ok {
			return errors.New("failed transaction applied a write")
		}
		return nil
	})
	r.check("transaction helper retries", func() error {
		n := 0
		return c.Transaction(r.ctx, func(tx *xenstore.Tx) error {
			n++
			v, err := tx.Read(r.ctx, p("t/a"))
			if err != nil {
				return err
			}
			if n == 1 { // force one conflict
				if err := c.Write(r.ctx, p("t/a"), append(v, '+')); err != nil {
					return err
				}
			}
			return tx.Write(r.ctx, p("t/c"), []byte(strconv.Itoa(n)))
		})
	})
	r.check("special watch registers", func() error {
		w, err := c.Watch(r.ctx, "@introduceDomain", "xstest-intro")
		if err != nil {
			return err
		}
		defer w.Unwatch(r.ctx)
		return eventFor(r.ctx, w, "@introduceDomain")
	})
	r.check("domain path and introduction of Dom0", func() error {
		home, err := c.GetDomainPath(r.ctx, 0)
		if err != nil || home != "/local/domain/0" {
			return fmt.Errorf("path %q, %v", home, err)
		}
		ok, err := c.IsDomainIntroduced(r.ctx, 0)
		if err != nil || !ok {
			return fmt.Errorf("introduced %v, %v", ok, err)
		}
		return nil
	})
	r.check("own domid is 0", func() error {
		d, err := c.OwnDomid(r.ctx)
		if err != nil || d != 0 {
			return fmt.Errorf("domid %d, %v", d, err)
		}
		return nil
	})
	r.check("oversize payload refused locally, connection intact", func() error {
		err := c.Write(r.ctx, p("big"), make([]byte, xenstore.PayloadMax))
		if err := expectErrno(err, syscall.E2BIG); err != nil {
			return err
		}
		_, err = c.Read(r.ctx, p("t/a"))
		return err
	})
	r.check("cleanup", func() error { return c.Rm(r.ctx, base) })
	return r.out
}

// GuestNodes are the nodes Dom0Prepare makes for Guest.
type GuestNodes struct {
	Public string // owner Dom0, r0: readable, not writable by guests
	Secret string // owner Dom0, n0: invisible to guests
}

// Dom0Prepare makes the nodes Guest checks, below base.
func Dom0Prepare(ctx context.Context, c *xenstore.Client, base string) (GuestNodes, error) {
	g := GuestNodes{Public: base + "/public", Secret: base + "/secret"}
	for _, n := range []struct {
		path  string
		perms xenstore.Perms
	}{
		{base, xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}}},
		{g.Public, xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}}},
		{g.Secret, xenstore.Perms{{Domid: 0, Access: xenstore.AccessNone}}},
	} {
		if err := c.Write(ctx, n.path, []byte("xstest")); err != nil {
			return g, err
		}
		if err := c.SetPerms(ctx, n.path, n.perms); err != nil {
			return g, err
		}
	}
	return g, nil
}

// Guest runs the unprivileged checks on a guest's connection.
func Guest(ctx context.Context, c *xenstore.Client, nodes GuestNodes) []Result {
	r := &runner{ctx: ctx}
	var me uint32
	r.check("own domid from relative domid", func() error {
		d, err := c.OwnDomid(r.ctx)
		if err != nil {
			return err
		}
		if d == 0 {
			return errors.New("guest reports domid 0")
		}
		me = d
		return nil
	})
	r.check("home path", func() error {
		home, err := c.GetDomainPath(r.ctx, me)
		if err != nil || home != "/local/domain/"+strconv.FormatUint(uint64(me), 10) {
			return fmt.Errorf("home %q, %v", home, err)
		}
		return nil
	})
	r.check("reads r0 node", func() error {
		_, err := c.Read(r.ctx, nodes.Public)
		return err
	})
	// The guest agent's read of the clock record: READ and GET_PERMS in one
	// flight (on the xenbus device, one write each: the kernel handles one
	// message per write and drops the rest of it).
	r.check("reads r0 node with its perms in one flight", func() error {
		v, ps, err := c.ReadWithPerms(r.ctx, nodes.Public)
		if err != nil {
			return err
		}
		if string(v) != "xstest" || ps.Owner() != 0 {
			return fmt.Errorf("value %q perms %s", v, ps)
		}
		return nil
	})
	r.check("cannot write r0 node", func() error {
		return expectErrno(c.Write(r.ctx, nodes.Public, []byte("forged")), syscall.EACCES)
	})
	r.check("cannot remove r0 node", func() error {
		return expectErrno(c.Rm(r.ctx, nodes.Public), syscall.EACCES)
	})
	r.check("cannot change r0 node's permissions", func() error {
		return expectErrno(c.SetPerms(r.ctx, nodes.Public, xenstore.Perms{{Domid: me}}), syscall.EACCES)
	})
	r.check("cannot read n0 node", func() error {
		_, err := c.Read(r.ctx, nodes.Secret)
		return expectErrno(err, syscall.EACCES)
	})
	r.check("writes own data subtree, owns it", func() error {
		if err := c.Write(r.ctx, "data/xenradclock-xstest/x", []byte("1")); err != nil {
			return err
		}
		ps, err := c.GetPerms(r.ctx, "data/xenradclock-xstest/x")
		if err != nil {
			return err
		}
		if ps.Owner() != me {
			return fmt.Errorf("owner %d, want %d", ps.Owner(), me)
		}
		return c.Rm(r.ctx, "data/xenradclock-xstest")
	})
	r.check("watch on r0 node fires", func() error {
		w, err := c.Watch(r.ctx, nodes.Public, "xstest-guest")
		if err != nil {
			return err
		}
		defer w.Unwatch(r.ctx)
		return eventFor(r.ctx, w, nodes.Public)
	})
	return r.out
}
