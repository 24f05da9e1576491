package xenstore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

// TestStress mixes every operation from several clients (Dom0 and a
// guest) with watches, transactions and two server restarts. Every error
// must be one the operation can legitimately give; nothing may hang; the
// watches must work at the end.
func TestStress(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	e := newEnv(t, xsd.Config{})
	ctx := ctxT(t)
	clients := []*xenstore.Client{e.dial(e.sock), e.dial(e.sock), e.dial(e.dom5), e.dial(e.dom5)}
	var watches []*xenstore.Watch
	for i, c := range clients {
		p := "/s"
		if i >= 2 {
			p = "data/s"
		}
		w, err := c.Watch(ctx, p, fmt.Sprint("w", i))
		must(t, err)
		watches = append(watches, w)
	}
	legit := func(err error) bool {
		for _, ok := range []error{xenstore.ErrConnectionLost, syscall.ENOENT, syscall.EACCES, syscall.EAGAIN, syscall.ENOSPC, syscall.E2BIG} {
			if errors.Is(err, ok) {
				return true
			}
		}
		return err == nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	restarted := make(chan struct{})
	var lostMu sync.Mutex
	lost := 0
	for i, c := range clients {
		wg.Add(1)
		go func(i int, c *xenstore.Client) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 1))
			base := "/s"
			if i >= 2 {
				base = "data/s"
			}
			for n := 0; ; n++ {
				if n >= 100 {
					select {
					case <-restarted:
						return
					default:
					}
				}
				p := fmt.Sprintf("%s/%d/%d", base, r.IntN(4), r.IntN(4))
				var err error
				switch r.IntN(8) {
				case 0, 1:
					err = c.Write(ctx, p, []byte(fmt.Sprint(n)))
				case 2:
					_, err = c.Read(ctx, p)
				case 3:
					err = c.Rm(ctx, p)
				case 4:
					_, err = c.Directory(ctx, base)
				case 5:
					err = c.Transaction(ctx, func(tx *xenstore.Tx) error {
						v, err := tx.Read(ctx, p)
						if err != nil && !errors.Is(err, syscall.ENOENT) {
							return err
						}
						return tx.Write(ctx, p, append(v, 'x'))
					})
				case 6:
					_, err = c.GetPerms(ctx, p)
				case 7:
					err = c.Mkdir(ctx, p)
				}
				if errors.Is(err, xenstore.ErrConnectionLost) {
					lostMu.Lock()
					lost++
					lostMu.Unlock()
				}
				if !legit(err) {
					errs <- fmt.Errorf("client %d op %d on %s: %w", i, n, p, err)
					return
				}
			}
		}(i, c)
	}
	// Drain watches meanwhile so that they are exercised under load.
	stopDrain := make(chan struct{})
	var dwg sync.WaitGroup
	for _, w := range watches {
		dwg.Add(1)
		go func(w *xenstore.Watch) {
			defer dwg.Done()
			for {
				select {
				case <-w.Events():
				case <-stopDrain:
					return
				}
			}
		}(w)
	}
	for k := 0; k < 2; k++ {
		time.Sleep(20 * time.Millisecond)
		must(t, e.srv.Close())
		e.start()
	}
	time.Sleep(20 * time.Millisecond)
	close(restarted)
	wg.Wait()
	t.Logf("%d calls were in flight at a restart (ErrConnectionLost)", lost)
	close(stopDrain)
	dwg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every watch still works.
	for i, w := range watches {
		c := clients[i]
		p := "/s/final"
		if i >= 2 {
			p = "data/s/final"
		}
		must(t, c.Write(ctx, p, []byte("1")))
		for {
			ev := recv(t, w)
			if ev.Path == p {
				break
			}
		}
	}
}
