package trace

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
)

// Writer writes stamps as a trace, in the project's format or as a RADclock
// ASCII v4 file.
//
// Every call hands the underlying writer whole lines in a single Write, so a
// recording that is killed leaves a file that ends on a complete line (or,
// at worst, one cut-off line that Reader names). Writer itself does not
// buffer and does not allocate per stamp; for bulk output wrap the
// destination in a bufio.Writer and flush it at the end.
//
// Server times are written with 9 decimals, rounded to the nearest
// nanosecond: a stamp read from a trace is written back unchanged, but a
// finer stamp (NTP carries 2^-32 s) loses up to half a nanosecond.
type Writer struct {
	w      io.Writer
	format Format
	side   bool
	buf    []byte
	nonce  uint64
	err    error
}

// NewWriter writes h's header to w and returns a Writer for the stamps.
// h.Format must be FormatXenradclock, which needs h.CounterHz, or
// FormatRADclockV4, where CounterHz is optional (written as an extra `%`
// line that RADclock skips).
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	var b []byte
	switch h.Format {
	case FormatXenradclock:
		if !(h.CounterHz > 0) || math.IsInf(h.CounterHz, 0) {
			return nil, fmt.Errorf("trace header: counter_hz must be a positive frequency, not %v", h.CounterHz)
		}
		b = append(b, "# xenradclock stamp trace, see docs/trace-format.md\n# fields: Ta Tb Te Tf"...)
		if h.SideColumns {
			for _, f := range SideFields {
				b = append(b, ' ')
				b = append(b, f...)
			}
		}
		b = append(b, '\n')
	case FormatRADclockV4:
		b = append(b, "% BEGIN_HEADER\n"+
			"% description: radclock local vcounter and NTP server stamps\n"+
			"% type: NTP_rad\n% version: 4\n% fields: Ta Tb Te Tf nonce [sID]\n"...)
	default:
		return nil, fmt.Errorf("trace header: cannot write format %v", h.Format)
	}
	if h.SideColumns && h.Format != FormatXenradclock {
		return nil, fmt.Errorf("trace header: only the xenradclock format has side-information columns")
	}
	c := "#"
	if h.Format == FormatRADclockV4 {
		c = "%"
	}
	kv := func(k, v string) error {
		if v == "" {
			return nil
		}
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("trace header: %s %q contains a line break", k, v)
		}
		b = append(b, c+" "+k+": "+v+"\n"...)
		return nil
	}
	var hz, poll string
	if h.CounterHz > 0 && !math.IsInf(h.CounterHz, 0) {
		hz = strconv.FormatFloat(h.CounterHz, 'f', -1, 64)
	}
	if h.PollPeriod > 0 && !math.IsInf(h.PollPeriod, 0) {
		poll = strconv.FormatFloat(h.PollPeriod, 'f', -1, 64)
	}
	if err := errors.Join(kv("counter_hz", hz), kv("counter", h.Counter), kv("server", h.Server), kv("poll_period", poll)); err != nil {
		return nil, err
	}
	if h.Format == FormatRADclockV4 {
		b = append(b, "% END_HEADER\n"...)
	}
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("writing trace header: %w", err)
	}
	return &Writer{w: w, format: h.Format, side: h.SideColumns, buf: b[:0]}, nil
}

// Write appends one stamp. Server times before the UNIX epoch cannot be
// written (the format has no sign) and give an error; the first write error
// is returned by every later call.
func (w *Writer) Write(s clocksync.Stamp) error {
	if w.err != nil {
		return w.err
	}
	if s.Tb.Sec < 0 || s.Te.Sec < 0 {
		return fmt.Errorf("trace: stamp with Tf %d has a server time before 1970 (Tb %s, Te %s)", s.Tf, s.Tb, s.Te)
	}
	b := w.buf[:0]
	b = strconv.AppendUint(b, s.Ta, 10)
	b = append(b, ' ')
	b = AppendSeconds9(b, s.Tb)
	b = append(b, ' ')
	b = AppendSeconds9(b, s.Te)
	b = append(b, ' ')
	b = strconv.AppendUint(b, s.Tf, 10)
	if w.side {
		si := &s.Side
		if si.Server == "-" || strings.ContainsAny(si.Server, " \t\r\n") || si.Leap > 3 || si.RootDelay < 0 || si.RootDispersion < 0 ||
			si.RootDelay >= maxRootNs || si.RootDispersion >= maxRootNs {
			return fmt.Errorf("trace: stamp with Tf %d has side information the format cannot hold: %+v", s.Tf, *si)
		}
		b = append(b, ' ')
		if si.Server == "" {
			b = append(b, '-')
		} else {
			b = append(b, si.Server...)
		}
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(si.Stratum), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(si.Leap), 10)
		b = append(b, ' ')
		b = appendHex8(b, si.RefID)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(si.TTL), 10)
		b = append(b, ' ')
		b = AppendSeconds9(b, bintime.FromNanos(si.RootDelay))
		b = append(b, ' ')
		b = AppendSeconds9(b, bintime.FromNanos(si.RootDispersion))
	}
	if w.format == FormatRADclockV4 {
		w.nonce++
		b = append(b, ' ')
		b = strconv.AppendUint(b, w.nonce, 10)
	}
	b = append(b, '\n')
	w.buf = b
	if _, err := w.w.Write(b); err != nil {
		w.err = fmt.Errorf("writing trace: %w", err)
		return w.err
	}
	return nil
}

// maxRootNs bounds root delay and dispersion to what Reader accepts (2^32 s).
const maxRootNs = 1 << 32 * 1_000_000_000

func appendHex8(b []byte, v uint32) []byte {
	const hex = "0123456789abcdef"
	for i := 28; i >= 0; i -= 4 {
		b = append(b, hex[v>>uint(i)&0xf])
	}
	return b
}

// AppendSeconds9 appends t as decimal seconds with exactly nine decimals,
// rounded to the nearest nanosecond: the text of bintime.Time.Format9,
// without allocating.
func AppendSeconds9(b []byte, t bintime.Time) []byte {
	if t.Sec < 0 {
		return append(b, t.Format9()...)
	}
	sec, ns := t.Split()
	b = strconv.AppendInt(b, sec, 10)
	b = append(b, '.')
	var d [9]byte
	for i := 8; i >= 0; i-- {
		d[i] = byte('0' + ns%10)
		ns /= 10
	}
	return append(b, d[:]...)
}
