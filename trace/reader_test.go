package trace

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
)

func mustTime(t testing.TB, s string) bintime.Time {
	t.Helper()
	v, err := bintime.Parse(s)
	if err != nil {
		t.Fatalf("bintime.Parse(%q): %v", s, err)
	}
	return v
}

// readAll reads every record, failing the test on any error.
func readAll(t testing.TB, r *Reader) []Record {
	t.Helper()
	var out []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, rec)
	}
}

func openReader(t *testing.T, name string) *Reader {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return NewReader(f)
}

// The three stamps that every testdata file holds (up to format details).
func sampleStamps(t *testing.T, server1, server2, server3 string) []clocksync.Stamp {
	return []clocksync.Stamp{
		{Ta: 1000000000, Tb: mustTime(t, "1700000000.000050000"), Te: mustTime(t, "1700000000.000060000"), Tf: 1000110000, Side: clocksync.SideInfo{Server: server1}},
		{Ta: 17000000000, Tb: mustTime(t, "1700000016.000051234"), Te: mustTime(t, "1700000016.000061234"), Tf: 17000110500, Side: clocksync.SideInfo{Server: server2}},
		{Ta: 33000000000, Tb: mustTime(t, "1700000032.5"), Te: mustTime(t, "1700000032.500010001"), Tf: 33000120000, Side: clocksync.SideInfo{Server: server3}},
	}
}

func TestReadProjectFormat(t *testing.T) {
	r := openReader(t, "xenradclock.trace")
	h, err := r.Header()
	if err != nil {
		t.Fatal(err)
	}
	want := Header{Format: FormatXenradclock, CounterHz: 1e9, Counter: "tsc", Server: "192.0.2.1", PollPeriod: 16}
	if h != want {
		t.Errorf("header = %+v, want %+v", h, want)
	}
	recs := readAll(t, r)
	stamps := sampleStamps(t, "192.0.2.1", "192.0.2.1", "192.0.2.1")
	lines := []int{10, 11, 13}
	tfs := []string{"1000110000", "17000110500", "33000120000"}
	if len(recs) != len(stamps) {
		t.Fatalf("got %d records, want %d", len(recs), len(stamps))
	}
	for i, rec := range recs {
		if rec.Stamp != stamps[i] || rec.Line != lines[i] || rec.TfColumn() != tfs[i] || rec.TfText != "" {
			t.Errorf("record %d = %+v, want line %d, Tf %q, %+v", i, rec, lines[i], tfs[i], stamps[i])
		}
	}
}

func TestReadRADclock(t *testing.T) {
	for _, tc := range []struct {
		file    string
		format  Format
		stamps  []clocksync.Stamp
		nstamps int
	}{
		{"radclock-v4.txt", FormatRADclockV4, sampleStamps(t, "", "10.0.0.3", "10.0.0.0"), 3},
		{"radclock-v3.txt", FormatRADclockV3, sampleStamps(t, "", "", ""), 1},
		// Legacy: the first line is in NTP-era seconds, the second has 10 decimals.
		{"radclock-legacy.txt", FormatRADclockLegacy, []clocksync.Stamp{
			{Ta: 1000000000, Tb: mustTime(t, "1700000000.00005"), Te: mustTime(t, "1700000000.0000600001"), Tf: 1000110000},
			{Ta: 17000000000, Tb: mustTime(t, "1700000016.000051234"), Te: mustTime(t, "1700000016.000061234"), Tf: 17000110500},
		}, 2},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r := openReader(t, tc.file)
			h, err := r.Header()
			if err != nil {
				t.Fatal(err)
			}
			if h.Format != tc.format || h.CounterHz != 0 {
				t.Errorf("header = %+v, want format %v without counter_hz", h, tc.format)
			}
			recs := readAll(t, r)
			if len(recs) != tc.nstamps {
				t.Fatalf("got %d records, want %d", len(recs), tc.nstamps)
			}
			for i, rec := range recs {
				if rec.Stamp != tc.stamps[i] {
					t.Errorf("record %d (line %d) = %+v, want %+v", i, rec.Line, rec.Stamp, tc.stamps[i])
				}
			}
		})
	}
}

func TestDetectFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
	}{
		{"", FormatXenradclock},
		{"\n\n  \n1 2.0 3.0 4\n", FormatXenradclock},
		{"# counter_hz: 1\n", FormatXenradclock},
		{"\n% anything\n", FormatRADclockLegacy},
		{"%version: 4\n", FormatRADclockV4},
		{"% VERSION: 3\n1 2 3 4 5\n", FormatRADclockV3},
		{"% type: RAD_merged\n% version: 4\n% fields: Ta Tb Te Tf nonce RefIn RefOut\n", FormatRADclockV4},
		// A `version` key means nothing in the project's format.
		{"# version: 4\n", FormatXenradclock},
		{"\ufeff# counter_hz: 1\n", FormatXenradclock},
		{"\ufeff% version: 3\n", FormatRADclockV3},
		// Only the first non-empty line decides.
		{"1 2 3 4\n% version: 4\n", FormatXenradclock},
	} {
		h, err := NewReader(strings.NewReader(tc.in)).Header()
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
		}
		if h.Format != tc.want {
			t.Errorf("%q: format %v, want %v", tc.in, h.Format, tc.want)
		}
	}
}

func TestCRLFAndNoFinalNewline(t *testing.T) {
	in := "# counter_hz: 14318180\r\n1 2.5 3.25 4\r\n5 6 7 8"
	r := NewReader(strings.NewReader(in))
	h, err := r.Header()
	if err != nil || h.CounterHz != 14318180 {
		t.Fatalf("header %+v, %v", h, err)
	}
	recs := readAll(t, r)
	if len(recs) != 2 || recs[0].Stamp.Te != mustTime(t, "3.25") || recs[1].Stamp.Tf != 8 || recs[1].Line != 3 {
		t.Fatalf("records %+v", recs)
	}
}

// Malformed lines: a LineError naming the line, wrapping ErrMalformed, and
// reading goes on with the next line.
func TestMalformedLines(t *testing.T) {
	for _, tc := range []struct {
		line string
		want string // in the error text
	}{
		{"1 2 3", "want at least 4 fields"},
		{"x 2 3 4", `Ta "x"`},
		{"-1 2 3 4", `Ta "-1"`},
		{"1 2 3 18446744073709551616", `Tf "18446744073709551616"`},
		{"1 +2 3 4", `Tb "+2"`},
		{"1 2 -3 4", `Te "-3"`},
		{"1 2.1234567891 3 4", "has 10 decimals, at most 9"},
		{"1 2. 3 4", `Tb "2."`},
		{"1 1e9 3 4", `Tb "1e9"`},
		{"1 2 0x10 4", `Te "0x10"`},
		{"1 99999999999999999999.5 3 4", `Tb "99999999999999999999.5"`},
		{"1 2 3 4.0", `Tf "4.0"`},
		{"1 2 3 1_000", `Tf "1_000"`},
		{"1\v2 3 4 5", `Ta "1\v2"`},
		{"# counter_hz: 2000", "counter_hz changes from 1000 to 2000"},
		{"# counter: hpet", `counter changes from "tsc" to "hpet"`},
		{"# counter_hz: fast", `counter_hz "fast" is not a positive number`},
	} {
		in := "# counter_hz: 1000\n# counter: tsc\n1 2 3 4\n" + tc.line + "\n5 6 7 8\n"
		r := NewReader(strings.NewReader(in))
		if rec, err := r.Next(); err != nil || rec.Line != 3 {
			t.Fatalf("%q: first record %+v, %v", tc.line, rec, err)
		}
		rec, err := r.Next()
		var le *LineError
		if !errors.As(err, &le) || le.Line != 4 || rec.Line != 4 || !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %+v, %v; want a LineError for line 4", tc.line, rec, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "line 4: ") {
			t.Errorf("%q: error %q does not say %q", tc.line, err, tc.want)
		}
		if rec, err := r.Next(); err != nil || rec.Stamp.Tf != 8 || rec.Line != 5 {
			t.Errorf("%q: after the error got %+v, %v; want line 5", tc.line, rec, err)
		}
		if _, err := r.Next(); err != io.EOF {
			t.Errorf("%q: want EOF, got %v", tc.line, err)
		}
	}
}

func TestMalformedRADclock(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"% version: 4\n1 2 3 4 5 256\n", `line 2: malformed trace line: sID "256"`},
		{"% version: 4\n1 2 3 4 5 x\n", `line 2: malformed trace line: sID "x"`},
		{"% version: 5\n1 2 3 4\n", `line 1: malformed trace line: RADclock ASCII version "5"`},
		{"% BEGIN_HEADER\n% type: NTP_spy\n% END_HEADER\n", `line 2: malformed trace line: RADclock stamp type "NTP_spy"`},
		{"% version: 4\n% fields: Tb Ta Te Tf nonce\n", `line 2: malformed trace line: RADclock fields "Tb Ta Te Tf nonce" do not begin with Ta Tb Te Tf`},
		{"% version: 4\n1 2.1234567890123456789 3 4\n", "has 19 decimals, at most 18"},
	} {
		r := NewReader(strings.NewReader(tc.in))
		var err error
		for err == nil {
			_, err = r.Next()
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestHeaderErrors(t *testing.T) {
	in := "# counter_hz: -5\n# poll_period: NaN\n# counter_hz: inf\n1 2 3 4\n"
	// Header reports every bad line at once.
	r := NewReader(strings.NewReader(in))
	h, err := r.Header()
	for _, want := range []string{"line 1: ", "line 2: ", "line 3: "} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Header error %v does not name %q", err, want)
		}
	}
	if h.CounterHz != 0 || h.PollPeriod != 0 {
		t.Errorf("bad values kept: %+v", h)
	}
	if rec, err := r.Next(); err != nil || rec.Line != 4 {
		t.Errorf("after Header: %+v, %v", rec, err)
	}
	// A caller that only calls Next sees them one by one, then the data.
	r = NewReader(strings.NewReader(in))
	for _, line := range []int{1, 2, 3} {
		rec, err := r.Next()
		var le *LineError
		if !errors.As(err, &le) || le.Line != line || rec.Line != line {
			t.Errorf("want the error of line %d, got %+v, %v", line, rec, err)
		}
	}
	if rec, err := r.Next(); err != nil || rec.Line != 4 {
		t.Errorf("after the header errors: %+v, %v", rec, err)
	}
}

func TestLongLine(t *testing.T) {
	long := "1 2 3 4 " + strings.Repeat("x", 3*MaxLineBytes)
	for _, in := range []string{
		"# counter_hz: 1\n" + long + "\n5 6 7 8\n",
		"# counter_hz: 1\n" + long, // the long line is also the last one
		long + "\n# counter_hz: 1\n5 6 7 8\n",
	} {
		r := NewReader(strings.NewReader(in))
		var errs []error
		var recs []Record
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			recs = append(recs, rec)
		}
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "longer than 4096 bytes") {
			t.Errorf("errors %v, want one about a long line", errs)
		}
		if strings.HasSuffix(in, "\n") && (len(recs) != 1 || recs[0].Line != 3) {
			t.Errorf("records %+v, want line 3", recs)
		}
	}
}

func TestTruncatedLastLine(t *testing.T) {
	r := NewReader(strings.NewReader("# counter_hz: 1\n1 2 3 4\n5 6.00"))
	readOne := func() error { _, err := r.Next(); return err }
	if err := readOne(); err != nil {
		t.Fatal(err)
	}
	err := readOne()
	if err == nil || !strings.Contains(err.Error(), "line 3: ") || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("error %v does not point at a truncated last line", err)
	}
	if err := readOne(); err != io.EOF {
		t.Errorf("want EOF, got %v", err)
	}
}

type failingReader struct{ after int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, "1 2 3 4\n")
	f.after--
	return n, nil
}

func TestReadError(t *testing.T) {
	r := NewReader(&failingReader{after: 2})
	recs := 0
	var err error
	for err == nil {
		_, err = r.Next()
		recs++
	}
	if !strings.Contains(err.Error(), "disk on fire") || errors.Is(err, ErrMalformed) {
		t.Errorf("error %v", err)
	}
	if _, err2 := r.Next(); err2 != err {
		t.Errorf("read error not sticky: %v", err2)
	}
}

func TestSideColumns(t *testing.T) {
	in := "# counter_hz: 1e9\n# server: default.example\n" +
		"# fields: Ta Tb Te Tf server stratum leap refid ttl root_delay root_dispersion\n" +
		"1 2 3 4 192.0.2.7 1 2 47505300 64 0.000015000 0.000000001 ignored\n" +
		"1 2 3 4 - 16 0 ffffffff 255 0 4294967295.999999999\n"
	r := NewReader(strings.NewReader(in))
	h, err := r.Header()
	if err != nil || !h.SideColumns {
		t.Fatalf("header %+v, %v", h, err)
	}
	recs := readAll(t, r)
	want := []clocksync.SideInfo{
		{Server: "192.0.2.7", Stratum: 1, Leap: 2, RefID: 0x47505300, TTL: 64, RootDelay: 15000, RootDispersion: 1},
		{Server: "default.example", Stratum: 16, RefID: 0xffffffff, TTL: 255, RootDispersion: 4294967295999999999},
	}
	for i, rec := range recs {
		if rec.Stamp.Side != want[i] {
			t.Errorf("line %d: side %+v, want %+v", rec.Line, rec.Stamp.Side, want[i])
		}
	}
	// Only the named columns count; others are ignored; order is free.
	r = NewReader(strings.NewReader("# fields: ta tb te tf comment LEAP\n1 2 3 4 hello 1\n"))
	if recs := readAll(t, r); len(recs) != 1 || recs[0].Stamp.Side.Leap != 1 {
		t.Errorf("records %+v", recs)
	}
	// Without a fields header, extra columns are ignored.
	r = NewReader(strings.NewReader("1 2 3 4 192.0.2.7 1 2\n"))
	if recs := readAll(t, r); len(recs) != 1 || recs[0].Stamp.Side != (clocksync.SideInfo{}) {
		t.Errorf("records %+v", recs)
	}
}

func TestSideColumnErrors(t *testing.T) {
	const hdr = "# fields: Ta Tb Te Tf server stratum leap refid ttl root_delay root_dispersion\n"
	for _, tc := range []struct{ in, want string }{
		{hdr + "1 2 3 4 s 1 0 47505300 64 0\n", "the fields header names 11 columns, the line has 10"},
		{hdr + "1 2 3 4 s 256 0 47505300 64 0 0\n", `stratum "256" is not a number 0..255`},
		{hdr + "1 2 3 4 s 1 4 47505300 64 0 0\n", `leap "4" is not a number 0..3`},
		{hdr + "1 2 3 4 s 1 0 4750530 64 0 0\n", `refid "4750530" is not 8 hex digits`},
		{hdr + "1 2 3 4 s 1 0 0x475053 64 0 0\n", `refid "0x475053"`},
		{hdr + "1 2 3 4 s 1 0 47505300 -1 0 0\n", `ttl "-1"`},
		{hdr + "1 2 3 4 s 1 0 47505300 64 0.0000000001 0\n", "root_delay \"0.0000000001\" has 10 decimals"},
		{hdr + "1 2 3 4 s 1 0 47505300 64 0 4294967296\n", `root_dispersion "4294967296" is out of range`},
		{"# fields: Tb Ta Te Tf\n", "must begin with Ta Tb Te Tf"},
		{"# fields: Ta Tb Te Tf leap leap\n", `column "leap" named twice`},
		{"# fields: Ta Tb Te Tf 5 6 7 8 9 10 11 12 13 14 15 16 leap\n", "beyond column 16"},
	} {
		r := NewReader(strings.NewReader(tc.in))
		var err error
		for err == nil {
			_, err = r.Next()
		}
		if !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

// BenchmarkReader parses a trace of 1,000,000 stamps with side columns, as
// `dom0d run --record` writes them, and reports the rate.
func BenchmarkReader(b *testing.B) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{CounterHz: 1e9, SideColumns: true})
	if err != nil {
		b.Fatal(err)
	}
	const n = 1_000_000
	for _, s := range synthStamps(n, 5) {
		s.Side = clocksync.SideInfo{Server: "192.0.2.1", Stratum: 1, RefID: 0x47505300, TTL: 64, RootDispersion: 10000}
		if err := w.Write(s); err != nil {
			b.Fatal(err)
		}
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for range b.N {
		r := NewReader(bytes.NewReader(data))
		got := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != n {
			b.Fatalf("%d stamps", got)
		}
	}
	perRun := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(n/perRun, "stamps/s")
	b.ReportMetric(perRun/n*1e9, "ns/stamp")
	// CPU time is less sensitive than wall time to a busy machine.
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N)/n*1e9, "cpu-ns/stamp")
}

func TestLegacyNTPEra(t *testing.T) {
	r := NewReader(strings.NewReader("% legacy\n1 2208988800.25 2208988800.5 2\n1 2208988800 2208988800 2\n"))
	recs := readAll(t, r)
	if recs[0].Stamp.Tb != mustTime(t, "0.25") || recs[0].Stamp.Te != mustTime(t, "0.5") {
		t.Errorf("just past the NTP-era offset: %+v", recs[0].Stamp)
	}
	if recs[1].Stamp.Te != mustTime(t, "2208988800") {
		t.Errorf("at the offset: %+v", recs[1].Stamp)
	}
	_, err := NewReader(strings.NewReader("%\n1 5 2208988801 2\n")).Next()
	if err == nil || !strings.Contains(err.Error(), "NTP-era seconds but Tb") {
		t.Errorf("mixed eras: %v", err)
	}
}

func TestTfVerbatim(t *testing.T) {
	recs := readAll(t, NewReader(strings.NewReader("1 2 3 0004\n1 2 3 0\n1 2 3 40\n")))
	for i, want := range []struct{ text, col string }{{"0004", "0004"}, {"", "0"}, {"", "40"}} {
		if recs[i].TfText != want.text || recs[i].TfColumn() != want.col {
			t.Errorf("line %d: TfText %q, TfColumn %q; want %q, %q", recs[i].Line, recs[i].TfText, recs[i].TfColumn(), want.text, want.col)
		}
	}
}

// Records stay intact after later reads: nothing aliases the read buffer.
func TestRecordsOutliveReads(t *testing.T) {
	var b strings.Builder
	b.WriteString("# server: header.example\n# counter: tsc\n# fields: Ta Tb Te Tf server\n")
	for i := range 20000 { // far more than the read buffer
		fmt.Fprintf(&b, "%d 1.5 2.5 %08d srv%d\n", i, i, i%3)
	}
	r := NewReader(strings.NewReader(b.String()))
	recs := readAll(t, r)
	h, _ := r.Header()
	if h.Server != "header.example" || h.Counter != "tsc" {
		t.Errorf("header %+v", h)
	}
	for i, rec := range recs {
		if want := fmt.Sprintf("srv%d", i%3); rec.Stamp.Side.Server != want || rec.TfColumn() != fmt.Sprintf("%08d", i) {
			t.Fatalf("record %d: server %q, Tf %q", i, rec.Stamp.Side.Server, rec.TfColumn())
		}
	}
}

// endless repeats one trace line forever.
type endless struct {
	line string
	off  int
}

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], e.line[e.off:])
		n += c
		e.off = (e.off + c) % len(e.line)
	}
	return n, nil
}

func TestReaderNoAllocs(t *testing.T) {
	r := NewReader(io.MultiReader(strings.NewReader("# counter_hz: 1e9\n# fields: Ta Tb Te Tf server stratum leap refid ttl root_delay root_dispersion\n"),
		&endless{line: "123456789012345 1800000000.000050798 1800000000.000071259 123456789157616 192.0.2.1 1 0 47505300 64 0.000000000 0.000010000\n"}))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(1000, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("%v allocations per record", a)
	}
}
