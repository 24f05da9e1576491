package hostclock

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

func testRecord(t *testing.T, prev *clockdata.Record, at uint64) clockdata.Record {
	t.Helper()
	p := clocksync.Params{Period: 1e-9, RefCount: at, RefTime: bintime.Time{Sec: 1_790_000_000},
		ErrorBound: 1e-6, MaxError: 1e-5, RateErrorBound: 1e-7, MaxErrorRate: 15e-6}
	raw, err := clockdata.RawFromParams(p, [16]byte{1}, clockdata.CounterInfo{Kind: counter.KindSimulated, Hz: 1e9, Identity: 7}, 16e9)
	if err != nil {
		t.Fatal(err)
	}
	r, err := clockdata.Next(prev, raw, at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// After the Xenstore server restarts without its tree (no persistence), the
// sink writes the record and both permissions again, on its own.
func TestXenstoreSinkRepublishesAfterReconnect(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "xs.sock")
	s1, err := xsd.New(xsd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Listen(sock); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := xenstore.DialSocket(ctx, sock, xenstore.WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sink := NewXenstoreSink(c, "/xenradclock/clock", nil)
	sink.HostName = "host-1.example"
	defer sink.Close()
	failed := make(chan error, 16)
	sink.OnError = func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	sink.timeout = 300 * time.Millisecond
	rec := testRecord(t, nil, 5e9)
	if err := sink.Publish(&rec); err != nil {
		t.Fatal(err)
	}
	if err := sink.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	os.Remove(sock)
	// While Xenstore is gone, records keep coming: Publish only queues them
	// (the daemon loop and the page never wait for Xenstore), failures are
	// reported, and the newest record is the one written back.
	mid := testRecord(t, &rec, 5.5e9)
	if err := sink.Publish(&mid); err != nil {
		t.Fatal(err)
	}
	select {
	case <-failed:
	case <-time.After(7 * time.Second):
		t.Error("no error reported for a write while Xenstore was down")
	}
	want, _ := mid.MarshalText()
	s2, err := xsd.New(xsd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Listen(sock); err != nil {
		t.Fatal(err)
	}
	check, err := xenstore.DialSocket(ctx, sock, xenstore.WithoutReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := check.Read(ctx, "/xenradclock/clock")
		if err == nil && string(got) == string(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("record not re-published after the server restart: %q, %v", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := check.Read(ctx, "/xenradclock/host-name"); err != nil || string(got) != "host-1.example" {
		t.Errorf("host name after re-publication: %q, %v", got, err)
	}
	for _, p := range []string{"/xenradclock", "/xenradclock/clock", "/xenradclock/host-name"} {
		perms, err := check.GetPerms(ctx, p)
		if err != nil || perms.String() != "r0" {
			t.Errorf("%s permissions after re-publication: %v %v", p, perms, err)
		}
	}
	// Updates go on through the reconnected client.
	rec2 := testRecord(t, &mid, 6e9)
	if err := sink.Publish(&rec2); err != nil {
		t.Fatal(err)
	}
	if err := sink.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := check.Read(ctx, "/xenradclock/clock")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := clockdata.ParseText(string(got)); err != nil || r.Generation != rec2.Generation {
		t.Errorf("after reconnection: generation %d, %v", r.Generation, err)
	}
}

// With xenstore = auto and no xenstored, the daemon still starts and
// publishes to the page only.
func TestAutoXenstoreWithoutXen(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XENSTORED_PATH", filepath.Join(dir, "no-such-socket"))
	cfg := testConfig(t, dir, []string{"127.0.0.1:9"})
	cfg.Xenstore = "auto"
	d, err := New(cfg, Options{Counter: simCounter(t, dir, 0)})
	if err != nil {
		t.Fatalf("no Xenstore stopped the daemon: %v", err)
	}
	defer d.close()
	st := d.Status()
	if st.Xenstore != "none (auto: no xenstored)" || st.XenstorePath != "" || st.Page != cfg.Page {
		t.Errorf("status %+v", st)
	}
	if _, err := os.Stat(cfg.Page); err != nil {
		t.Errorf("no shared page: %v", err)
	}
}

// The clock steps once onto its first synchronised estimate; when the state
// later dips to unsynchronised and comes back (the estimator's rate bound
// hovering at its threshold) the clock is continuous, not a guess, and
// must not step again with a new marker.
func TestPublisherStepsOnlyOnFirstSync(t *testing.T) {
	dir := t.TempDir()
	ctr := simCounter(t, dir, 0)
	pub, err := NewRecordPublisher(ctr, 1e9, nil, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(status clocksync.Status) *clockdata.Record {
		t.Helper()
		rd, err := ctr.Read()
		if err != nil {
			t.Fatal(err)
		}
		p := clocksync.Params{Period: 1e-9, RefCount: rd.Count, RefTime: bintime.Time{Sec: 1_790_000_000}.Add(bintime.FromNanos(int64(rd.Count))),
			ErrorBound: 1e-6, MaxError: 1e-5, RateErrorBound: 1e-7, MaxErrorRate: 15e-6, Status: status}
		if _, err := pub.Publish(Update{Server: "s", Params: p, Poll: time.Second}); err != nil {
			t.Fatal(err)
		}
		return pub.Last()
	}
	guess := publish(clocksync.StatusUnsync)
	first := publish(0)
	if first.DisruptionMarker == guess.DisruptionMarker {
		t.Fatal("no step onto the first synchronised estimate")
	}
	dip := publish(clocksync.StatusUnsync)
	back := publish(0)
	if dip.DisruptionMarker != first.DisruptionMarker || back.DisruptionMarker != first.DisruptionMarker {
		t.Errorf("markers %x → %x → %x after the first synchronisation: a dip to unsynchronised stepped the clock",
			first.DisruptionMarker, dip.DisruptionMarker, back.DisruptionMarker)
	}
}

func TestSanitizeHostName(t *testing.T) {
	for in, want := range map[string]string{"dom0.example": "dom0.example", "evil\x1b[31m;rm": "evil31mrm",
		strings.Repeat("a", 80): strings.Repeat("a", 64), "": ""} {
		if got := SanitizeHostName(in); got != want {
			t.Errorf("SanitizeHostName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHostNameOf: the kernel's "(none)" is no host name (it was published
// as "none"); a real name is sanitised.
func TestHostNameOf(t *testing.T) {
	for in, want := range map[string]string{"(none)": "", "": "", "rack1-h07": "rack1-h07", "none": "none", "a(b)": "ab"} {
		if got := hostNameOf(in); got != want {
			t.Errorf("hostNameOf(%q) = %q, want %q", in, got, want)
		}
	}
}
