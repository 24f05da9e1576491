package trace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unsafe"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
)

// MaxLineBytes bounds the length of one line (newline included). Real stamp
// lines are under 100 bytes; a longer line is reported as malformed and
// skipped, so memory stays bounded whatever the input.
const MaxLineBytes = 4096

// ntpToUnix is the NTP-era offset RADclock v0.3 subtracted from legacy
// files whose server times were NTP seconds.
const ntpToUnix = 2208988800

// Record is one data line of a trace.
type Record struct {
	Line  int // 1-based line number in the file
	Stamp clocksync.Stamp
	// TfText is the Tf column exactly as written when that differs from
	// Tf's decimal form (leading zeros); empty otherwise. TfColumn gives
	// the column in every case.
	TfText string
}

// TfColumn is the Tf column exactly as written in the input.
func (r Record) TfColumn() string {
	if r.TfText != "" {
		return r.TfText
	}
	return strconv.FormatUint(r.Stamp.Tf, 10)
}

// canonicalUint reports whether s is a decimal number as FormatUint writes
// it: no leading zero unless it is "0".
func canonicalUint(s string) bool { return len(s) > 0 && (s[0] != '0' || len(s) == 1) }

// bufString views b as a string without copying. The string must not be
// kept beyond the next read from the bufio.Reader that owns b.
func bufString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// Reader streams the records of a trace. It detects the format from the
// first non-empty line, reads the header block before the first data line,
// and then yields one Record per data line. Memory is bounded by
// MaxLineBytes whatever the file's length.
//
// A malformed line gives a *LineError; calling Next again continues with
// the following line. I/O errors are final.
type Reader struct {
	br   *bufio.Reader
	line int // number of the last line read

	hdr     Header
	hdrRead bool
	// Format detection: set when the first non-empty line was seen.
	detected bool
	version  int // RADclock `version:` key, 0 when absent
	// side[i] is the column of SideFields[i], or 0 when absent (columns
	// 0..3 are always Ta Tb Te Tf).
	side    [numSide]int
	maxSide int // highest column in side, 0 when none

	pending     *rawLine     // first data line, read while scanning the header
	lastServer  string       // the last server column, shared by the stamps that repeat it
	hdrErrs     []*LineError // header errors not yet returned by Next
	hdrReported bool
	err         error // sticky I/O error
}

// rawLine is one line of input. Its text aliases the bufio buffer and is
// valid only until the next read: whatever outlives it is cloned.
type rawLine struct {
	text      string
	n         int
	noNewline bool
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, MaxLineBytes)}
}

// Header reads the header block if it has not been read yet and returns it.
// The error, when not nil, joins every malformed header line (each a
// *LineError); the Header then holds the keys that did parse.
func (r *Reader) Header() (Header, error) {
	if err := r.readHeader(); err != nil {
		return r.hdr, err
	}
	r.hdrReported = true
	errs := make([]error, len(r.hdrErrs))
	for i, e := range r.hdrErrs {
		errs[i] = e
	}
	return r.hdr, errors.Join(errs...)
}

// Next returns the next data line. It returns io.EOF at the end of the
// input, a *LineError (wrapping ErrMalformed) for a malformed line, after
// which Next may be called again, and any other error for a failed read.
// Header errors not already returned by Header come first, one per call.
func (r *Reader) Next() (Record, error) {
	if err := r.readHeader(); err != nil {
		return Record{}, err
	}
	if !r.hdrReported && len(r.hdrErrs) > 0 {
		e := r.hdrErrs[0]
		r.hdrErrs = r.hdrErrs[1:]
		return Record{Line: e.Line}, e
	}
	for {
		var l rawLine
		if r.pending != nil {
			l, r.pending = *r.pending, nil
		} else {
			var err error
			l, err = r.readLine()
			if err != nil {
				var le *LineError
				if errors.As(err, &le) {
					return Record{Line: le.Line}, err
				}
				return Record{}, err
			}
		}
		text := strings.TrimSpace(l.text)
		if text == "" {
			continue
		}
		if text[0] == '#' || text[0] == '%' {
			if err := r.lateComment(text, l.n); err != nil {
				return Record{Line: l.n}, err
			}
			continue
		}
		rec, err := r.parseData(text, l.n)
		if err != nil && l.noNewline {
			err.Err = fmt.Errorf("%w (the last line has no newline: a recording cut short?)", err.Err)
		}
		if err != nil {
			return Record{Line: l.n}, err
		}
		return rec, nil
	}
}

// readLine returns the next line without its line terminator. It returns
// io.EOF only when no bytes are left, and a *LineError for a line longer
// than MaxLineBytes, which it skips.
func (r *Reader) readLine() (rawLine, error) {
	if r.err != nil {
		return rawLine{}, r.err
	}
	b, err := r.br.ReadSlice('\n')
	switch {
	case err == nil:
		r.line++
		if r.line == 1 {
			b = bytes.TrimPrefix(b, utf8BOM)
		}
		return rawLine{text: bufString(trimEOL(b)), n: r.line}, nil
	case errors.Is(err, bufio.ErrBufferFull):
		r.line++
		n := r.line
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = r.br.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			r.err = fmt.Errorf("reading line %d: %w", n, err)
			return rawLine{}, r.err
		}
		return rawLine{}, malformed(n, "longer than %d bytes", MaxLineBytes)
	case err == io.EOF:
		if len(b) == 0 {
			r.err = io.EOF
			return rawLine{}, io.EOF
		}
		r.line++
		if r.line == 1 {
			b = bytes.TrimPrefix(b, utf8BOM)
		}
		return rawLine{text: bufString(trimEOL(b)), n: r.line, noNewline: true}, nil
	default:
		r.err = fmt.Errorf("reading line %d: %w", r.line+1, err)
		return rawLine{}, r.err
	}
}

// utf8BOM starts files saved by some Windows editors; it is dropped from the
// first line so the format is still detected.
var utf8BOM = []byte{0xef, 0xbb, 0xbf}

func trimEOL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

// readHeader consumes comment and blank lines up to the first data line,
// detecting the format on the way.
func (r *Reader) readHeader() error {
	if r.hdrRead {
		return nil
	}
	for {
		l, err := r.readLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			var le *LineError
			if errors.As(err, &le) {
				r.hdrErrs = append(r.hdrErrs, le)
				continue
			}
			return err
		}
		text := strings.TrimSpace(l.text)
		if text == "" {
			continue
		}
		if !r.detected {
			r.detected = true
			if text[0] == '%' {
				r.hdr.Format = FormatRADclockLegacy
			}
		}
		if text[0] != '#' && text[0] != '%' {
			l.text = strings.Clone(l.text) // outlives the next read
			r.pending = &l
			break
		}
		if err := r.headerLine(text, l.n); err != nil {
			r.hdrErrs = append(r.hdrErrs, err)
		}
	}
	r.hdrRead = true
	if r.hdr.Format.IsRADclock() {
		switch r.version {
		case 3:
			r.hdr.Format = FormatRADclockV3
		case 4:
			r.hdr.Format = FormatRADclockV4
		}
	}
	return nil
}

// commentChar is the character that starts header lines in the detected
// format.
func (r *Reader) commentChar() byte {
	if r.hdr.Format.IsRADclock() {
		return '%'
	}
	return '#'
}

// splitKey splits a comment line "# key: value" into key and value. Lines
// that are not of that form (free text, RADclock's BEGIN_HEADER) give
// ok=false: they are plain comments.
func splitKey(text string) (key, value string, ok bool) {
	body := strings.TrimSpace(text[1:])
	k, v, found := strings.Cut(body, ":")
	if !found || k == "" {
		return "", "", false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return "", "", false
		}
	}
	return strings.ToLower(k), strings.TrimSpace(v), true
}

// headerLine applies one comment line of the header block.
func (r *Reader) headerLine(text string, n int) *LineError {
	if text[0] != r.commentChar() {
		return nil // the other format's comment: ignore
	}
	key, value, ok := splitKey(text)
	if !ok {
		return nil
	}
	switch key {
	case "counter_hz":
		hz, err := parsePositive(value)
		if err != nil {
			return malformed(n, "counter_hz %s", err)
		}
		r.hdr.CounterHz = hz
	case "poll_period":
		p, err := parsePositive(value)
		if err != nil {
			return malformed(n, "poll_period %s", err)
		}
		r.hdr.PollPeriod = p
	case "counter":
		r.hdr.Counter = strings.Clone(value)
	case "server":
		r.hdr.Server = strings.Clone(value)
	case "fields":
		if r.hdr.Format.IsRADclock() {
			// The version decides the columns; the names only have to agree.
			if !beginsWithStamp(value) {
				return malformed(n, "RADclock fields %q do not begin with Ta Tb Te Tf", clip(value))
			}
			return nil
		}
		return r.fieldsHeader(value, n)
	case "version":
		if !r.hdr.Format.IsRADclock() {
			return nil
		}
		v, err := strconv.Atoi(value)
		if err != nil || (v != 3 && v != 4) {
			return malformed(n, "RADclock ASCII version %q is not supported (3 and 4 are)", clip(value))
		}
		r.version = v
	case "type":
		// NTP_rad is radclock's own; RAD_merged (radclock-plots) appends
		// reference columns after the stamp's.
		if r.hdr.Format.IsRADclock() && value != "NTP_rad" && value != "RAD_merged" {
			return malformed(n, "RADclock stamp type %q is not supported (NTP_rad and RAD_merged are)", clip(value))
		}
	}
	return nil
}

// lateComment handles a comment line after the first data line. Those are
// ignored, except that a change of counter is an error: the ticks after it
// are not comparable with those before.
func (r *Reader) lateComment(text string, n int) *LineError {
	if text[0] != r.commentChar() {
		return nil
	}
	key, value, ok := splitKey(text)
	if !ok {
		return nil
	}
	switch key {
	case "counter_hz":
		hz, err := parsePositive(value)
		if err != nil {
			return malformed(n, "counter_hz %s", err)
		}
		if r.hdr.CounterHz != 0 && hz != r.hdr.CounterHz {
			return malformed(n, "counter_hz changes from %v to %v in mid-trace: split the file there", r.hdr.CounterHz, hz)
		}
	case "counter":
		if r.hdr.Counter != "" && value != r.hdr.Counter {
			return malformed(n, "counter changes from %q to %q in mid-trace: split the file there", r.hdr.Counter, clip(value))
		}
	}
	return nil
}

func parsePositive(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a positive number", clip(s))
	}
	return v, nil
}

// clip shortens user text quoted in errors.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// fields splits s on spaces and tabs into at most len(dst) fields and
// returns how many fields the line has in total.
func fields(s string, dst []string) int {
	n := 0
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			break
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '\t' {
			j++
		}
		if n < len(dst) {
			dst[n] = s[i:j]
		}
		n++
		i = j
	}
	return n
}

func (r *Reader) parseData(text string, n int) (Record, *LineError) {
	var f [maxColumns]string
	nf := fields(text, f[:])
	if nf < 4 {
		return Record{}, malformed(n, "want at least 4 fields Ta Tb Te Tf, got %d in %q", nf, clip(text))
	}
	maxDec := 9
	if r.hdr.Format.IsRADclock() {
		maxDec = 18 // RADclock v0.3 printed 10 decimals; bintime keeps up to 18
	}
	var rec Record
	var err *LineError
	s := &rec.Stamp
	if s.Ta, err = parseTicks("Ta", f[0], n); err != nil {
		return Record{}, err
	}
	if s.Tb, err = parseSeconds("Tb", f[1], maxDec, n); err != nil {
		return Record{}, err
	}
	if s.Te, err = parseSeconds("Te", f[2], maxDec, n); err != nil {
		return Record{}, err
	}
	if s.Tf, err = parseTicks("Tf", f[3], n); err != nil {
		return Record{}, err
	}
	s.Side.Server = r.hdr.Server
	switch r.hdr.Format {
	case FormatRADclockLegacy:
		if s.Te.Sec > ntpToUnix || s.Te.Sec == ntpToUnix && s.Te.Frac != 0 {
			if s.Tb.Sec < ntpToUnix {
				return Record{}, malformed(n, "Te %q is NTP-era seconds but Tb %q is not", clip(f[2]), clip(f[1]))
			}
			s.Tb.Sec -= ntpToUnix
			s.Te.Sec -= ntpToUnix
		}
	case FormatRADclockV4:
		if nf >= 6 {
			id, perr := strconv.ParseUint(f[5], 10, 8)
			if perr != nil {
				return Record{}, malformed(n, "sID %q is not a server number 0..255", clip(f[5]))
			}
			s.Side.Server = "10.0.0." + strconv.FormatUint(id, 10)
		}
	}
	if r.maxSide != 0 {
		if nf <= r.maxSide {
			return Record{}, malformed(n, "the fields header names %d columns, the line has %d", r.maxSide+1, nf)
		}
		if err := r.parseSide(&s.Side, f[:], n); err != nil {
			return Record{}, err
		}
	}
	rec.Line = n
	if !canonicalUint(f[3]) {
		rec.TfText = strings.Clone(f[3])
	}
	return rec, nil
}

// beginsWithStamp reports whether a list of column names starts with
// Ta Tb Te Tf.
func beginsWithStamp(value string) bool {
	var f [4]string
	nf := fields(value, f[:])
	for i, w := range [4]string{"Ta", "Tb", "Te", "Tf"} {
		if i >= nf || !strings.EqualFold(f[i], w) {
			return false
		}
	}
	return true
}

// fieldsHeader reads `# fields: Ta Tb Te Tf [name...]`: the side-information
// columns it names are parsed, any other name is a column to ignore.
func (r *Reader) fieldsHeader(value string, n int) *LineError {
	if !beginsWithStamp(value) {
		return malformed(n, "fields %q must begin with Ta Tb Te Tf", clip(value))
	}
	var f [maxColumns + 1]string
	nf := fields(value, f[:])
	var side [numSide]int
	maxSide := 0
	for i := 4; i < min(nf, len(f)); i++ {
		for j, name := range SideFields {
			if !strings.EqualFold(f[i], name) {
				continue
			}
			if i >= maxColumns {
				return malformed(n, "fields: column %q is beyond column %d", name, maxColumns)
			}
			if side[j] != 0 {
				return malformed(n, "fields: column %q named twice", name)
			}
			side[j] = i
			maxSide = max(maxSide, i)
		}
	}
	r.side, r.maxSide = side, maxSide
	r.hdr.SideColumns = maxSide != 0
	return nil
}

func (r *Reader) parseSide(si *clocksync.SideInfo, f []string, n int) *LineError {
	small := func(col int, max uint64) (uint64, *LineError) {
		v, err := strconv.ParseUint(f[r.side[col]], 10, 8)
		if err != nil || v > max {
			return 0, malformed(n, "%s %q is not a number 0..%d", SideFields[col], clip(f[r.side[col]]), max)
		}
		return v, nil
	}
	seconds := func(col int) (int64, *LineError) {
		t, err := parseSeconds(SideFields[col], f[r.side[col]], 9, n)
		if err != nil {
			return 0, err
		}
		if t.Sec >= 1<<32 {
			return 0, malformed(n, "%s %q is out of range", SideFields[col], clip(f[r.side[col]]))
		}
		return t.Nanos(), nil
	}
	var err *LineError
	var v uint64
	if c := r.side[colServer]; c != 0 && f[c] != "-" {
		if f[c] != r.lastServer {
			r.lastServer = strings.Clone(f[c])
		}
		si.Server = r.lastServer
	}
	if r.side[colStratum] != 0 {
		if v, err = small(colStratum, 255); err != nil {
			return err
		}
		si.Stratum = uint8(v)
	}
	if r.side[colLeap] != 0 {
		if v, err = small(colLeap, 3); err != nil {
			return err
		}
		si.Leap = uint8(v)
	}
	if r.side[colTTL] != 0 {
		if v, err = small(colTTL, 255); err != nil {
			return err
		}
		si.TTL = uint8(v)
	}
	if c := r.side[colRefID]; c != 0 {
		id, perr := strconv.ParseUint(f[c], 16, 32)
		if perr != nil || len(f[c]) != 8 {
			return malformed(n, "refid %q is not 8 hex digits", clip(f[c]))
		}
		si.RefID = uint32(id)
	}
	if r.side[colRootDelay] != 0 {
		if si.RootDelay, err = seconds(colRootDelay); err != nil {
			return err
		}
	}
	if r.side[colRootDisp] != 0 {
		if si.RootDispersion, err = seconds(colRootDisp); err != nil {
			return err
		}
	}
	return nil
}

func parseTicks(name, s string, n int) (uint64, *LineError) {
	// ParseUint with base 10 takes neither signs nor underscores.
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, malformed(n, "%s %q is not a decimal counter value (0..%d)", name, clip(s), uint64(math.MaxUint64))
	}
	return v, nil
}

func parseSeconds(name, s string, maxDec, n int) (bintime.Time, *LineError) {
	if t, ok := fastSeconds(s); ok {
		return t, nil
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return bintime.Time{}, malformed(n, "%s %q is not decimal UNIX seconds", name, clip(s))
	}
	if _, frac, ok := strings.Cut(s, "."); ok && len(frac) > maxDec {
		return bintime.Time{}, malformed(n, "%s %q has %d decimals, at most %d allowed", name, clip(s), len(frac), maxDec)
	}
	t, err := bintime.Parse(s)
	if err != nil {
		return bintime.Time{}, malformed(n, "%s %q is not decimal UNIX seconds", name, clip(s))
	}
	return t, nil
}

// fastSeconds parses the common form of server times, up to 18 integer
// digits and up to 9 decimals, as whole seconds and nanoseconds converted by
// bintime's exact rounding: the same value bintime.Parse gives
// (FuzzFastSeconds checks). Anything else returns ok=false for the general
// path, which also produces the errors.
func fastSeconds(s string) (bintime.Time, bool) {
	i := 0
	var sec int64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		sec = sec*10 + int64(s[i]-'0')
		i++
	}
	if i == 0 || i > 18 {
		return bintime.Time{}, false
	}
	if i == len(s) {
		return bintime.Time{Sec: sec}, true
	}
	if s[i] != '.' || len(s)-i-1 > 9 || len(s)-i-1 == 0 {
		return bintime.Time{}, false
	}
	var ns int64
	digits := 0
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		if c < '0' || c > '9' {
			return bintime.Time{}, false
		}
		ns = ns*10 + int64(c-'0')
		digits++
	}
	for ; digits < 9; digits++ {
		ns *= 10
	}
	return bintime.FromUnix(sec, ns), true
}
