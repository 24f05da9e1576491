package main

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/ntp"
	"github.com/xenradclock/xenradclock/xlclock/internal/view"
)

// skewedServer serves the clock base + offset on the monotonic-raw counter
// from loopback.
func skewedServer(t *testing.T, mono counter.Counter, base bintime.Time, count0 uint64, offset time.Duration) *ntp.Server {
	t.Helper()
	clk := &ntp.SkewedClock{Counter: mono, Base: base, Count0: count0, Offset: offset, RefID: 0x58524144}
	srv, err := ntp.NewServer(ntp.ServerConfig{Addr: "127.0.0.1:0", Time: clk.Reading})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Serve(ctx)
	t.Cleanup(func() { cancel(); srv.Close() })
	return srv
}

// --peers against two loopback NTP servers serving this host's clock
// shifted by different offsets: each step is the peer's offset minus this
// host's, within 50 µs.
func TestHostPeers(t *testing.T) {
	mono, err := counter.Open("monotonic-raw")
	if err != nil {
		t.Fatal(err)
	}
	rd, err := mono.Read()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	base := bintime.FromUnix(now.Unix(), int64(now.Nanosecond()))

	// This host's clock: the same line as the servers' (offset hostOffset),
	// exactly, published on the monotonic-raw counter.
	const hostOffset = 1500 * time.Millisecond
	per, _ := clockdata.PeriodFromFloat(1e-9)
	raw := clockdata.Raw{
		HostID: goldenHostID, CounterKind: counter.KindMonotonicRaw, CounterHz: 1_000_000_000, CounterIdentity: rd.Identity,
		State: clockdata.StateSynchronised, RefCount: rd.Count, RefTime: base.Add(bintime.FromNanos(int64(hostOffset))),
		Period: per, ErrorBoundNs: 1000, MaxErrorNs: 20_000, MaxErrorGrowthPsPerS: 15_000_000, PollNs: 16e9,
	}
	rec, err := clockdata.Next(nil, raw, rd.Count)
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHost(t)
	h.publish(&rec, "here")

	offsets := []time.Duration{1500*time.Millisecond + 250*time.Millisecond, 1500*time.Millisecond - 40*time.Millisecond - 123*time.Microsecond}
	var peers []string
	for _, off := range offsets {
		peers = append(peers, skewedServer(t, mono, base, rd.Count, off).Addr().String())
	}
	var doc view.HostDoc
	h.xlJSON(&doc, "host", "--status", "/nonexistent/status.json", "--peers", peers[0], "--peers", peers[1], "--exchanges", "8")
	if len(doc.Peers) != 2 {
		t.Fatalf("peers %+v", doc.Peers)
	}
	for i, p := range doc.Peers {
		want := (offsets[i] - hostOffset).Nanoseconds()
		t.Logf("peer %s: step %d ns (want %d), rtt %d ns, %d/%d exchanges", p.Address, p.StepNs, want, p.RTTNs, p.Exchanges, p.Tried)
		if p.Exchanges == 0 || p.Error != "" {
			t.Errorf("peer %s: %s", p.Address, p.Error)
		}
		if d := p.StepNs - want; d < -50_000 || d > 50_000 {
			t.Errorf("peer %s: step %d ns, want %d ns ± 50 µs", p.Address, p.StepNs, want)
		}
	}
	out, err := h.xl("host", "--status", "/nonexistent/status.json", "--peers", peers[0]+","+peers[1])
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Log("\n" + out)
	// The printed steps, to the microsecond, are within 50 µs as well.
	for i, p := range peers {
		m := regexp.MustCompile(regexp.QuoteMeta(p) + `\s+\S+\s+([-+][0-9.]+)(ms|µs|s)\s`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no step printed for %s", p)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		ns := v * map[string]float64{"s": 1e9, "ms": 1e6, "µs": 1e3}[m[2]]
		if d := ns - float64((offsets[i] - hostOffset).Nanoseconds()); d < -50e3 || d > 50e3 {
			t.Errorf("printed step %s%s for %s, want %v ± 50 µs", m[1], m[2], p, offsets[i]-hostOffset)
		}
	}
}
