package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/clocksync/sim"
	"github.com/xenradclock/xenradclock/ntp"
	"github.com/xenradclock/xenradclock/ntp/ntptest"
)

// TestLiveSchedule: the presets' schedule is ntp.Source's default one,
// slot for slot: an ntp.Source with its defaults polls a fake peer on the
// virtual clock, and its exchange times must be the simulator's send times.
func TestLiveSchedule(t *testing.T) {
	peer, err := ntptest.NewFakePeer(false, func(r ntp.Packet) []ntptest.Reply {
		return []ntptest.Reply{{Bytes: ntptest.Bytes(ntptest.GoodReply(r))}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, poll := range []float64{16, 64, 1024} {
		const n = 70 // past the end of the fast start at every poll
		src, err := ntp.NewSource(ntp.SourceConfig{Server: peer.Addr().String(),
			Poll:   time.Duration(poll) * time.Second,
			Client: ntp.ClientConfig{Counter: ntptest.MonoRaw{}}, Clock: ntptest.NewVirtualClock(t0)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out := make(chan ntp.Event)
		done := make(chan error, 1)
		go func() { done <- src.Run(ctx, out) }()
		var live []float64
		for len(live) < n {
			select {
			case ev := <-out:
				if !ev.Dropped {
					live = append(live, ev.Time.Sub(t0).Seconds())
				}
			case err := <-done:
				t.Fatalf("poll %v: Run ended after %d events: %v", poll, len(live), err)
			}
		}
		cancel()
		<-done

		sc := sim.LAN(1, 1e6)
		sc.Poll.Period = poll
		s, err := sim.New(sc)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range live {
			ex, ok := s.Next()
			if !ok || ex.T != want {
				t.Fatalf("poll %v s: exchange %d at %v s in the simulator, %v s live", poll, i, ex.T, want)
			}
		}
		if last := live[n-1]; last < 900 {
			t.Fatalf("poll %v s: %d exchanges end at %v s, inside the fast start", poll, n, last)
		}
	}
}
