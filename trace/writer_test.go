package trace

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
)

// synthStamps is a deterministic stamp sequence: a 1 GHz counter with a
// skew, 16 s polling, jittered delays and server times with nanosecond
// resolution (what the format carries).
func synthStamps(n int, seed uint64) []clocksync.Stamp {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]clocksync.Stamp, n)
	t0 := bintime.Time{Sec: 1_700_000_000}
	for i := range out {
		ns := int64(i)*16_000_000_000 + rng.Int64N(1_000_000)
		ta := uint64(5_000_000_000) + uint64(float64(ns)*(1+35e-6))
		fwd := 50_000 + rng.Int64N(40_000)
		proc := 10_000 + rng.Int64N(2_000)
		back := 50_000 + rng.Int64N(40_000)
		out[i] = clocksync.Stamp{
			Ta: ta,
			Tb: t0.Add(bintime.FromNanos(ns + fwd)),
			Te: t0.Add(bintime.FromNanos(ns + fwd + proc)),
			Tf: ta + uint64(float64(fwd+proc+back)*(1+35e-6)),
		}
	}
	return out
}

func TestWriterRoundTrip(t *testing.T) {
	stamps := synthStamps(500, 7)
	// Edge values: the largest counter, zero times.
	stamps = append(stamps, clocksync.Stamp{Ta: math.MaxUint64, Tf: math.MaxUint64}, clocksync.Stamp{Tb: bintime.Time{Sec: math.MaxInt64, Frac: 0}})
	for _, format := range []Format{FormatXenradclock, FormatRADclockV4} {
		var buf bytes.Buffer
		h := Header{Format: format, CounterHz: 14318180, Counter: "hpet", Server: "ntp.example", PollPeriod: 64}
		w, err := NewWriter(&buf, h)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stamps {
			if err := w.Write(s); err != nil {
				t.Fatal(err)
			}
		}
		r := NewReader(&buf)
		got, err := r.Header()
		if err != nil {
			t.Fatal(err)
		}
		if got != h {
			t.Errorf("%v: header %+v, want %+v", format, got, h)
		}
		recs := readAll(t, r)
		if len(recs) != len(stamps) {
			t.Fatalf("%v: %d records, want %d", format, len(recs), len(stamps))
		}
		for i, rec := range recs {
			want := stamps[i]
			want.Side.Server = "ntp.example"
			if rec.Stamp != want {
				t.Fatalf("%v: record %d = %+v, want %+v", format, i, rec.Stamp, want)
			}
		}
	}
}

func TestWriterBytes(t *testing.T) {
	s := clocksync.Stamp{Ta: 12, Tb: bintime.Time{Sec: 1700000000, Frac: 1 << 63}, Te: bintime.FromUnix(1700000000, 500000001), Tf: 34}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{CounterHz: 1e9, Counter: "tsc"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(s); err != nil {
		t.Fatal(err)
	}
	want := "# xenradclock stamp trace, see docs/trace-format.md\n# fields: Ta Tb Te Tf\n# counter_hz: 1000000000\n# counter: tsc\n" +
		"12 1700000000.500000000 1700000000.500000001 34\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	buf.Reset()
	w, err = NewWriter(&buf, Header{Format: FormatRADclockV4})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Write(s)
	_ = w.Write(s)
	want = "% BEGIN_HEADER\n% description: radclock local vcounter and NTP server stamps\n% type: NTP_rad\n% version: 4\n" +
		"% fields: Ta Tb Te Tf nonce [sID]\n% END_HEADER\n" +
		"12 1700000000.500000000 1700000000.500000001 34 1\n12 1700000000.500000000 1700000000.500000001 34 2\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// countingWriter counts Write calls, to check that each stamp is one write.
type countingWriter struct {
	bytes.Buffer
	calls int
	fail  bool
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.calls++
	if c.fail {
		return 0, errors.New("disk full")
	}
	return c.Buffer.Write(p)
}

func TestWriterOneWritePerLine(t *testing.T) {
	cw := &countingWriter{}
	w, err := NewWriter(cw, Header{CounterHz: 1e9, Server: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range synthStamps(10, 1) {
		if err := w.Write(s); err != nil {
			t.Fatal(err)
		}
		if cw.calls != i+2 || !strings.HasSuffix(cw.String(), "\n") {
			t.Fatalf("after %d stamps: %d writes", i+1, cw.calls)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	for _, h := range []Header{
		{},                             // no counter_hz
		{CounterHz: math.Inf(1)},       // not a frequency
		{CounterHz: 1, Server: "a\nb"}, // would break the header
		{Format: FormatRADclockV3},     // not writable
	} {
		if _, err := NewWriter(&bytes.Buffer{}, h); err == nil {
			t.Errorf("NewWriter(%+v) accepted", h)
		}
	}
	w, _ := NewWriter(&bytes.Buffer{}, Header{CounterHz: 1})
	if err := w.Write(clocksync.Stamp{Tb: bintime.FromNanos(-1)}); err == nil {
		t.Error("wrote a server time before 1970")
	}
	cw := &countingWriter{}
	w, _ = NewWriter(cw, Header{CounterHz: 1})
	cw.fail = true
	if err := w.Write(clocksync.Stamp{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("write error %v", err)
	}
	cw.fail = false
	if err := w.Write(clocksync.Stamp{}); err == nil {
		t.Error("write error not sticky")
	}
}

func TestWriterNoAllocs(t *testing.T) {
	w, _ := NewWriter(&countingWriter{}, Header{CounterHz: 1e9})
	s := synthStamps(1, 3)[0]
	if a := testing.AllocsPerRun(1000, func() { _ = w.Write(s) }); a != 0 {
		t.Errorf("%v allocations per stamp", a)
	}
}

func TestAppendSeconds9MatchesFormat9(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := []bintime.Time{{}, {Sec: -1, Frac: 1 << 63}, {Frac: math.MaxUint64}, {Sec: 1, Frac: math.MaxUint64}, {Sec: math.MaxInt64 - 1, Frac: math.MaxUint64}}
	for range 10000 {
		vals = append(vals, bintime.Time{Sec: rng.Int64N(1<<40) - 1<<20, Frac: rng.Uint64()})
	}
	for _, v := range vals {
		if got, want := string(AppendSeconds9(nil, v)), v.Format9(); got != want {
			t.Fatalf("AppendSeconds9(%+v) = %s, Format9 = %s", v, got, want)
		}
	}
}

func TestCSVBytes(t *testing.T) {
	var buf bytes.Buffer
	c := NewCSVWriter(&buf)
	rows := []Row{
		{Tf: 7, TfText: "0007", Ca: bintime.Time{Sec: 1700000000, Frac: 1 << 62}, Period: 1.000035e-9, ErrorBound: 2.5e-6, MaxError: 1.25e-4, Status: clocksync.StatusRejected | clocksync.StatusWarmup},
		{Tf: 18446744073709551615, Ca: bintime.FromNanos(-1), Period: 6.984e-8, ErrorBound: math.Inf(1), MaxError: 0, Status: StatusGrid},
	}
	for _, r := range rows {
		if err := c.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "tf,ca,period,error_bound,max_error,status\n" +
		"0007,1700000000.250000000,1.000035000000000e-09,2.500000e-06,1.250000e-04,0x80000002\n" +
		"18446744073709551615,-0.000000001,6.984000000000000e-08,+Inf,0.000000e+00,0x40000000\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	cw := &countingWriter{fail: true}
	c = NewCSVWriter(cw)
	_ = c.Write(rows[0])
	if err := c.Flush(); err == nil {
		t.Error("CSV write error lost")
	}
}

func TestWriterSideColumnsRoundTrip(t *testing.T) {
	stamps := synthStamps(50, 9)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range stamps {
		stamps[i].Side = clocksync.SideInfo{
			Server:  []string{"", "192.0.2.1", "[2001:db8::1]:123", "ntp.example"}[i%4],
			Stratum: uint8(rng.UintN(256)), Leap: uint8(rng.UintN(4)), RefID: rng.Uint32(), TTL: uint8(rng.UintN(256)),
			RootDelay: rng.Int64N(1 << 40), RootDispersion: rng.Int64N(maxRootNs),
		}
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{CounterHz: 1e9, SideColumns: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stamps {
		if err := w.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	recs := readAll(t, NewReader(&buf))
	for i, rec := range recs {
		if rec.Stamp != stamps[i] {
			t.Fatalf("record %d = %+v, want %+v", i, rec.Stamp, stamps[i])
		}
	}
	if len(recs) != len(stamps) {
		t.Fatalf("%d records", len(recs))
	}
	for _, si := range []clocksync.SideInfo{{Server: "a b"}, {Server: "-"}, {Leap: 4}, {RootDelay: -1}, {RootDispersion: maxRootNs}} {
		if err := w.Write(clocksync.Stamp{Side: si}); err == nil {
			t.Errorf("wrote side information %+v", si)
		}
	}
	if _, err := NewWriter(&buf, Header{Format: FormatRADclockV4, SideColumns: true}); err == nil {
		t.Error("RADclock writer with side columns")
	}
}

func TestWriterSideBytes(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, Header{CounterHz: 1e9, SideColumns: true})
	_ = w.Write(clocksync.Stamp{Ta: 1, Tb: bintime.Time{Sec: 2}, Te: bintime.Time{Sec: 3}, Tf: 4,
		Side: clocksync.SideInfo{Server: "192.0.2.1", Stratum: 1, RefID: 0x47505300, TTL: 64, RootDelay: 15000, RootDispersion: 1}})
	want := "# xenradclock stamp trace, see docs/trace-format.md\n" +
		"# fields: Ta Tb Te Tf server stratum leap refid ttl root_delay root_dispersion\n# counter_hz: 1000000000\n" +
		"1 2.000000000 3.000000000 4 192.0.2.1 1 0 47505300 64 0.000015000 0.000000001\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}
