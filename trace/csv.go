package trace

import (
	"bufio"
	"fmt"
	"io"
	"strconv"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
)

// CSVHeader is the first line of replay output.
const CSVHeader = "tf,ca,period,error_bound,max_error,status"

// StatusGrid marks a row that `dom0d replay --grid` added between stamps:
// the clock read at a counter value where no stamp arrived. It is a
// replay-only bit; the estimator never sets it (its bits are documented in
// docs/estimator.md), and it is never set together with
// clocksync.StatusRejected.
const StatusGrid clocksync.Status = 1 << 30

// Row is one line of replay output.
type Row struct {
	// Tf is the counter value the clock was read at.
	Tf uint64
	// TfText, when not empty, is written instead of Tf: replay echoes the
	// input's Tf column verbatim.
	TfText     string
	Ca         bintime.Time // the absolute clock at Tf
	Period     float64      // s/tick
	ErrorBound float64      // s
	MaxError   float64      // s
	Status     clocksync.Status
}

// CSVWriter writes replay rows, buffered; call Flush at the end.
type CSVWriter struct {
	w   *bufio.Writer
	buf []byte
	err error
}

// NewCSVWriter returns a CSVWriter over w. It writes CSVHeader first.
func NewCSVWriter(w io.Writer) *CSVWriter {
	c := &CSVWriter{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 128)}
	c.setErr(c.w.WriteString(CSVHeader + "\n"))
	return c
}

func (c *CSVWriter) setErr(_ int, err error) {
	if err != nil && c.err == nil {
		c.err = fmt.Errorf("writing replay output: %w", err)
	}
}

// Write appends one row: tf verbatim, ca with exactly nine decimals, period
// as %.15e, the bounds as %.6e seconds and status as 0x-prefixed lower-case
// hex.
func (c *CSVWriter) Write(r Row) error {
	if c.err != nil {
		return c.err
	}
	c.buf = AppendRow(c.buf[:0], r)
	c.setErr(c.w.Write(c.buf))
	return c.err
}

// AppendRow appends r as one CSV line, newline included.
func AppendRow(b []byte, r Row) []byte {
	if r.TfText != "" {
		b = append(b, r.TfText...)
	} else {
		b = strconv.AppendUint(b, r.Tf, 10)
	}
	b = append(b, ',')
	b = AppendSeconds9(b, r.Ca)
	b = append(b, ',')
	b = strconv.AppendFloat(b, r.Period, 'e', 15, 64)
	b = append(b, ',')
	b = strconv.AppendFloat(b, r.ErrorBound, 'e', 6, 64)
	b = append(b, ',')
	b = strconv.AppendFloat(b, r.MaxError, 'e', 6, 64)
	b = append(b, ",0x"...)
	b = strconv.AppendUint(b, uint64(r.Status), 16)
	return append(b, '\n')
}

// Flush writes any buffered rows and returns the first error seen.
func (c *CSVWriter) Flush() error {
	if c.err != nil {
		return c.err
	}
	c.setErr(0, c.w.Flush())
	return c.err
}
