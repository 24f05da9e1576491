package ntp

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/counter"
	"golang.org/x/sys/unix"
)

// fakeCounter is MONOTONIC_RAW with knobs: a delay inside Read (to widen
// the triple), an identity that changes after some reads, a failure.
type fakeCounter struct {
	kind      counter.Kind
	delay     time.Duration
	reads     atomic.Int64
	changeAt  int64 // identity becomes 2 from this read on (0: never)
	failAfter int64 // reads beyond this fail (0: never)
}

func (f *fakeCounter) Name() string       { return "fake" }
func (f *fakeCounter) Kind() counter.Kind { return f.kind }
func (f *fakeCounter) NominalHz() float64 { return 1e9 }
func (f *fakeCounter) Read() (counter.Reading, error) {
	n := f.reads.Add(1)
	if f.failAfter > 0 && n > f.failAfter {
		return counter.Reading{}, errors.New("counter gone")
	}
	if f.delay > 0 {
		for t0 := time.Now(); time.Since(t0) < f.delay; {
		}
	}
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &ts)
	id := uint64(1)
	if f.changeAt > 0 && n >= f.changeAt {
		id = 2
	}
	return counter.Reading{Count: uint64(ts.Nano()), Identity: id}, nil
}

func TestMapStamp(t *testing.T) {
	c := &fakeCounter{kind: counter.KindMonotonicRaw}
	m := newMapper(c, DefaultMaxTripleWidth, DefaultMaxSlewPPM)
	if !m.isRaw {
		t.Fatal("a 1 GHz MONOTONIC_RAW counter is not recognised as the raw clock")
	}
	// The triple's width depends on scheduling, not on the logic under
	// test: on a loaded machine (or under -race) a read can be wider than
	// the limit and report TripleWide before the check in question runs.
	// Retry only that outcome.
	mapNarrow := func(stamp func() int64, id uint64) (uint64, time.Duration, TripleFail) {
		for range 200 {
			got, w, fail := m.mapStamp(stamp(), id)
			if fail != TripleWide {
				return got, w, fail
			}
		}
		t.Fatal("every triple was wider than the limit in 200 tries")
		return 0, 0, TripleWide
	}
	var r counter.Reading
	got, w, fail := mapNarrow(func() int64 {
		now := time.Now().UnixNano()
		r, _ = c.Read()
		return now - 100_000 // a packet 100 µs ago
	}, 1)
	if fail != TripleOK || w <= 0 {
		t.Fatalf("fresh stamp: %v width %v", fail, w)
	}
	// It maps to about 100 µs before the counter read above, give or take
	// the reads' own cost.
	if d := int64(r.Count) - int64(got); d < 50_000 || d > 5_000_000 {
		t.Fatalf("mapped %d ns before the read, want about 100 µs", d)
	}
	if _, _, fail := mapNarrow(func() int64 { return time.Now().UnixNano() + int64(time.Second) }, 1); fail != TripleAge {
		t.Errorf("future stamp: %v", fail)
	}
	if _, _, fail := mapNarrow(func() int64 { return time.Now().UnixNano() - int64(time.Second) }, 1); fail != TripleAge {
		t.Errorf("old stamp: %v", fail)
	}
	if _, _, fail := m.mapStamp(0, 1); fail != TripleNone {
		t.Errorf("no stamp: %v", fail)
	}
	if _, _, fail := mapNarrow(func() int64 { return time.Now().UnixNano() }, 7); fail != TripleCounter {
		t.Errorf("identity changed: %v", fail)
	}
	c.delay = 40 * time.Microsecond
	if _, w, fail := m.mapStamp(time.Now().UnixNano(), 1); fail != TripleWide || w < 40*time.Microsecond {
		t.Errorf("slow counter read: %v width %v", fail, w)
	}
}

func TestCheckStep(t *testing.T) {
	m := newMapper(&fakeCounter{kind: counter.KindTSC}, DefaultMaxTripleWidth, 500)
	const s = int64(time.Second)
	rt, raw := 1_800_000_000*s, 1000*s
	steps := []struct {
		dRaw, dRt int64
		ok        bool
	}{
		{0, 0, true},                    // first: the reference
		{s, s + 400_000, true},          // slewing at 400 ppm
		{s, s - 400_000, true},          // either way
		{s, s + 600_000, false},         // 600 ppm is no slew
		{s, s, true},                    // and the step is the new reference
		{1000, 1000 + 15_000, true},     // jitter within the slack
		{1000, 1000 + 1_000_000, false}, // a 1 ms step between TX and RX
		{16 * s, 16*s - 5_000_000, true},
		{16 * s, 16*s - 9_000_000, false},
	}
	for i, st := range steps {
		raw += st.dRaw
		rt += st.dRt
		if ok := m.checkStep(rt, raw); ok != st.ok {
			t.Errorf("step %d (+%d raw, +%d rt): %v, want %v", i, st.dRaw, st.dRt, ok, st.ok)
		}
	}
	if m.checkStep(rt, 0) {
		t.Error("a failed MONOTONIC_RAW read passed")
	}
}

// TestExchangeCounterTimeline: a counter whose timeline changes between Ta
// and Tf (a migration) yields no stamp; a failing counter neither.
func TestExchangeCounterTimeline(t *testing.T) {
	srv, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", Time: (&SkewedClock{Counter: &fakeCounter{}}).Reading})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(context.Background())
	defer srv.Close()
	for _, fc := range []*fakeCounter{{changeAt: 2}, {failAfter: 1}} {
		c, err := Dial(srv.Addr(), ClientConfig{Counter: fc})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.Exchange(context.Background())
		c.Close()
		var rej *Rejection
		if !errors.As(err, &rej) || rej.Reason != ReasonCounter {
			t.Errorf("%+v: %v, want a counter rejection", fc, err)
		}
	}
}

// TestExchangeCancel: cancelling the context ends a wait for a reply that
// never comes, well before the timeout.
func TestExchangeCancel(t *testing.T) {
	// A bound socket that never answers.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	sa, _ := unix.Getsockname(fd)
	c, err := Dial(addrPortOf(sa), ClientConfig{Counter: &fakeCounter{}, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, _, err := c.Exchange(ctx); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Exchange ignored the cancellation")
	}
}

// TestTxKeyResync: when the client's count of sends and the kernel's
// SOF_TIMESTAMPING_OPT_ID key disagree (a send that failed before or after
// the kernel numbered it), the client follows the kernel: a key ahead is
// this send's, a key behind costs one kernel stamp. (TaFail is "none" only
// when no stamp was matched; a matched one may still fail its triple.)
func TestTxKeyResync(t *testing.T) {
	fc := &fakeCounter{kind: counter.KindMonotonicRaw}
	srv, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", Time: (&SkewedClock{Counter: fc}).Reading})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(context.Background())
	defer srv.Close()
	c, err := Dial(srv.Addr(), ClientConfig{Counter: fc})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.KernelTimestamps() {
		t.Skip("no SO_TIMESTAMPING here")
	}
	matched := func() bool {
		t.Helper()
		s, _, err := c.Exchange(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s.TaFail != TripleNone
	}
	if !matched() {
		t.Fatal("the first send's TX stamp was not matched")
	}
	c.sends-- // ours behind the kernel's
	if !matched() {
		t.Fatal("key ahead of ours: stamp not taken")
	}
	c.sends += 3 // ours ahead of the kernel's
	if matched() {
		t.Fatal("key behind ours: stamp taken, but it cannot be told from a stale one")
	}
	if !matched() {
		t.Fatal("after resynchronising: stamp not matched")
	}
}
