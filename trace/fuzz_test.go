package trace

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/xenradclock/xenradclock/bintime"
)

// fuzzCheck reads everything from data and checks the reader's contract:
// no panic, line numbers strictly increasing, every error either a
// LineError wrapping ErrMalformed or io.EOF, a bounded number of calls,
// and every record written back by Writer reads back identical.
func fuzzCheck(t *testing.T, data []byte) {
	r := NewReader(bytes.NewReader(data))
	h, _ := r.Header()
	var recs []Record
	last := 0
	lines := bytes.Count(data, []byte("\n")) + 1
	for calls := 0; ; calls++ {
		if calls > lines+1 {
			t.Fatalf("%d calls to Next for %d lines", calls, lines)
		}
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if rec.Line <= last || rec.Line > lines {
			t.Fatalf("line %d after line %d (input has %d)", rec.Line, last, lines)
		}
		last = rec.Line
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || !errors.Is(err, ErrMalformed) || le.Line != rec.Line {
				t.Fatalf("error %v is not a LineError for line %d", err, rec.Line)
			}
			continue
		}
		recs = append(recs, rec)
	}
	// Round trip through the project's format. RADclock v4 lines may name
	// their own server, which the project's format does not carry.
	out := Header{Format: FormatXenradclock, CounterHz: 1e9, SideColumns: true}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, out)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		rec := &recs[i]
		if sv := rec.Stamp.Side.Server; sv == "-" || strings.ContainsAny(sv, " \t\r\n") {
			rec.Stamp.Side.Server = "" // from a header; not a column value
		}
		if err := w.Write(rec.Stamp); err != nil {
			// Only sub-nanosecond server times lose precision; none is negative.
			t.Fatalf("writing line %d: %v", rec.Line, err)
		}
	}
	r2 := NewReader(&buf)
	for i := 0; ; i++ {
		rec, err := r2.Next()
		if err == io.EOF {
			if i != len(recs) {
				t.Fatalf("read back %d of %d records", i, len(recs))
			}
			break
		}
		if err != nil {
			t.Fatalf("reading back record %d: %v\n%s", i, err, buf.String())
		}
		want := recs[i].Stamp
		if h.Format.IsRADclock() {
			// RADclock allows up to 18 decimals; the project's format keeps 9.
			want.Tb, _ = roundNs(want.Tb)
			want.Te, _ = roundNs(want.Te)
		}
		if rec.Stamp != want {
			t.Fatalf("record %d (line %d) read back as %+v, want %+v", i, recs[i].Line, rec.Stamp, want)
		}
	}
}

func FuzzReader(f *testing.F) {
	for _, name := range []string{"xenradclock.trace", "radclock-v4.txt", "radclock-v3.txt", "radclock-legacy.txt"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "\n", "#", "%", "# counter_hz:", "# counter_hz: 1e9\n1 2 3 4", "1 2 3\n", "1 2.9999999999 3 4\n",
		"# counter_hz: 1\n1 2 3 4\n# counter_hz: 2\n5 6 7 8\n", "\r\n\r\n1\t2\t3\t4\r\n",
		"18446744073709551615 9223372036854775807.999999999 0 18446744073709551615\n",
		"# fields: Ta Tb Te Tf server stratum leap refid ttl root_delay root_dispersion\n1 2 3 4 a 1 0 47505300 64 0.000010000 0.5\n",
		"# fields: Ta Tb Te Tf x root_dispersion\n1 2 3 4 x 0.1\n1 2 3 4 x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(fuzzCheck)
}

func FuzzRADclockV4(f *testing.F) {
	const hdr = "% BEGIN_HEADER\n% version: 4\n% END_HEADER\n"
	for _, s := range []string{
		"1 2.000000000 3.000000000 4 5\n",
		"1 2.000000000 3.000000000 4 5 7\n",
		"1 2.0000000001234567 3.999999999999999999 4 5 255\n",
		"1 2 3 4 5 256\n", "1 2 3\n", "% version: 3\n1 2 3 4 5\n", "1 2 3 4 5 -1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzCheck(t, append([]byte(hdr), body...))
	})
}

// roundNs rounds t to the nearest nanosecond, as the project's format keeps it.
func roundNs(t bintime.Time) (bintime.Time, bool) {
	sec, ns := t.Split()
	return bintime.FromUnix(sec, ns), true
}

// FuzzFastSeconds checks the reader's fast path for server times against
// bintime.Parse, the reference.
func FuzzFastSeconds(f *testing.F) {
	for _, s := range []string{"0", "1700000000.123456789", "1.5", "999999999999999999.999999999", "12.", ".5", "1.1234567890", "007.000000001", "1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := fastSeconds(s)
		if !ok {
			return
		}
		want, err := bintime.Parse(s)
		if err != nil || got != want {
			t.Fatalf("fastSeconds(%q) = %+v, bintime.Parse = %+v, %v", s, got, want, err)
		}
	})
}
