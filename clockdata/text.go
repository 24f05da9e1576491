package clockdata

// The Xenstore text form: one line of space-separated key=value fields in a
// fixed order, readable with xenstore-read; the C reader
// (clockdata/c/xenradclock_clock.h, xrc_parse_text) parses it by the same
// rules as ParseText. Integers are
// decimal; identities and 2^-64 fractions are fixed-width lower-case hex;
// times are SEC:FRAC (seconds, then the 2^-64 fraction in 16 hex digits);
// periods are FRAC/SHIFT (Frac in 16 hex digits, then the shift).

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/counter"
)

// MaxTextSize is the Xenstore node size quota (2048 bytes); a valid text
// record is about 700.
const MaxTextSize = 2048

// textKeys is the fixed field order of version 1.
var textKeys = [...]string{
	"v", "gen", "marker", "host", "kind", "hz", "cid", "state", "status",
	"ref", "time", "period", "slew_end", "slew_time", "raw_period", "raw_time", "local_period",
	"err", "maxerr", "rate_err", "err_growth", "maxerr_growth",
	"next", "void", "poll", "tai", "leap", "leap_at",
}

func fmtTime(t bintime.Time) string { return fmt.Sprintf("%d:%016x", t.Sec, t.Frac) }
func fmtPeriod(p Period) string     { return fmt.Sprintf("%016x/%d", p.Frac, p.Shift) }

// MarshalText encodes r as the Xenstore line (no trailing newline). It does
// not validate r.
func (r *Record) MarshalText() ([]byte, error) {
	var b strings.Builder
	b.Grow(768)
	vals := [...]string{
		strconv.FormatUint(uint64(r.Version), 10),
		strconv.FormatUint(r.Generation, 10),
		fmt.Sprintf("%016x", r.DisruptionMarker),
		hex.EncodeToString(r.HostID[:]),
		strconv.FormatUint(uint64(r.CounterKind), 10),
		strconv.FormatUint(r.CounterHz, 10),
		fmt.Sprintf("%016x", r.CounterIdentity),
		strconv.FormatUint(uint64(r.State), 10),
		fmt.Sprintf("%08x", uint32(r.Status)),
		strconv.FormatUint(r.RefCount, 10),
		fmtTime(r.RefTime),
		fmtPeriod(r.Period),
		strconv.FormatUint(r.SlewEndCount, 10),
		fmtTime(r.SlewEndTime),
		fmtPeriod(r.RawPeriod),
		fmtTime(r.RawRefTime),
		fmtPeriod(r.LocalPeriod),
		strconv.FormatUint(r.ErrorBoundNs, 10),
		strconv.FormatUint(r.MaxErrorNs, 10),
		strconv.FormatUint(uint64(r.RateErrorPsPerS), 10),
		strconv.FormatUint(uint64(r.ErrorGrowthPsPerS), 10),
		strconv.FormatUint(uint64(r.MaxErrorGrowthPsPerS), 10),
		strconv.FormatUint(r.NextExpectedCount, 10),
		strconv.FormatUint(r.VoidAfterCount, 10),
		strconv.FormatUint(r.PollNs, 10),
		strconv.FormatInt(int64(r.TAIOffsetSec), 10),
		strconv.FormatInt(int64(r.LeapNext), 10),
		strconv.FormatUint(r.LeapAtCount, 10),
	}
	for i, k := range textKeys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(vals[i])
	}
	return []byte(b.String()), nil
}

// textParser reads one field at a time and keeps the first error.
type textParser struct {
	fields []string
	i      int
	err    error
}

func (p *textParser) fail(key, val, why string) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: field %d %s=%q: %s", ErrSyntax, p.i, key, val, why)
	}
}

// next returns the value of the next field, which must be key.
func (p *textParser) next() (string, string) {
	key := textKeys[p.i]
	f := p.fields[p.i]
	p.i++
	k, v, ok := strings.Cut(f, "=")
	if !ok || k != key {
		p.fail(key, f, "want key "+key)
		return key, ""
	}
	return key, v
}

func isDigits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (p *textParser) uint(bitSize int) uint64 {
	k, v := p.next()
	if !isDigits(v) {
		p.fail(k, v, "not a decimal number")
		return 0
	}
	n, err := strconv.ParseUint(v, 10, bitSize)
	if err != nil {
		p.fail(k, v, "out of range")
	}
	return n
}

func (p *textParser) int(bitSize int) int64 {
	k, v := p.next()
	d := strings.TrimPrefix(v, "-")
	if !isDigits(d) {
		p.fail(k, v, "not a decimal number")
		return 0
	}
	n, err := strconv.ParseInt(v, 10, bitSize)
	if err != nil {
		p.fail(k, v, "out of range")
	}
	return n
}

func parseHex(s string, digits int) (uint64, bool) {
	if len(s) != digits {
		return 0, false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 16, 64)
	return n, err == nil
}

func (p *textParser) hex(digits int) uint64 {
	k, v := p.next()
	n, ok := parseHex(v, digits)
	if !ok {
		p.fail(k, v, fmt.Sprintf("want %d lower-case hex digits", digits))
	}
	return n
}

func (p *textParser) host() (h [16]byte) {
	k, v := p.next()
	a, ok1 := parseHex(v[:min(16, len(v))], 16)
	b, ok2 := parseHex(v[min(16, len(v)):], 16)
	if !ok1 || !ok2 {
		p.fail(k, v, "want 32 lower-case hex digits")
		return h
	}
	for i := range 8 {
		h[i] = byte(a >> (56 - 8*i))
		h[8+i] = byte(b >> (56 - 8*i))
	}
	return h
}

func (p *textParser) time() bintime.Time {
	k, v := p.next()
	sec, frac, ok := strings.Cut(v, ":")
	f, okf := parseHex(frac, 16)
	d := strings.TrimPrefix(sec, "-")
	if !ok || !okf || !isDigits(d) {
		p.fail(k, v, "want SEC:FRAC with FRAC 16 hex digits")
		return bintime.Time{}
	}
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		p.fail(k, v, "seconds out of range")
	}
	return bintime.Time{Sec: s, Frac: f}
}

func (p *textParser) period() Period {
	k, v := p.next()
	frac, shift, ok := strings.Cut(v, "/")
	f, okf := parseHex(frac, 16)
	if !ok || !okf || !isDigits(shift) {
		p.fail(k, v, "want FRAC/SHIFT with FRAC 16 hex digits")
		return Period{}
	}
	s, err := strconv.ParseUint(shift, 10, 8)
	if err != nil {
		p.fail(k, v, "shift out of range")
	}
	return Period{Frac: f, Shift: uint8(s)}
}

// UnmarshalText decodes and validates a Xenstore line. One trailing newline
// (as xenstore-read prints) is accepted; anything else out of place is an
// error that names the field.
func (r *Record) UnmarshalText(b []byte) error {
	rec, err := ParseText(string(b))
	if err != nil {
		return err
	}
	*r = rec
	return nil
}

// ParseText decodes and validates a Xenstore line.
func ParseText(s string) (Record, error) {
	if len(s) > MaxTextSize {
		return Record{}, fmt.Errorf("%w: %d bytes, the Xenstore quota is %d", ErrOversized, len(s), MaxTextSize)
	}
	s = strings.TrimSuffix(s, "\n")
	fields := strings.Split(s, " ")
	if v, ok := strings.CutPrefix(fields[0], "v="); !ok {
		return Record{}, fmt.Errorf("%w: does not start with v=", ErrSyntax)
	} else if v != strconv.Itoa(Version) {
		return Record{}, fmt.Errorf("%w: text version %q (want %d)", ErrVersion, v, Version)
	}
	if len(fields) < len(textKeys) {
		return Record{}, fmt.Errorf("%w: %d fields, version %d has %d", ErrTruncated, len(fields), Version, len(textKeys))
	}
	if len(fields) > len(textKeys) {
		return Record{}, fmt.Errorf("%w: %d fields, version %d has %d", ErrOversized, len(fields), Version, len(textKeys))
	}
	p := &textParser{fields: fields}
	var r Record
	r.Version = uint16(p.uint(16))
	r.Generation = p.uint(64)
	r.DisruptionMarker = p.hex(16)
	r.HostID = p.host()
	r.CounterKind = counter.Kind(p.uint(16))
	r.CounterHz = p.uint(64)
	r.CounterIdentity = p.hex(16)
	r.State = ClockState(p.uint(8))
	r.Status = clocksync.Status(p.hex(8))
	r.RefCount = p.uint(64)
	r.RefTime = p.time()
	r.Period = p.period()
	r.SlewEndCount = p.uint(64)
	r.SlewEndTime = p.time()
	r.RawPeriod = p.period()
	r.RawRefTime = p.time()
	r.LocalPeriod = p.period()
	r.ErrorBoundNs = p.uint(64)
	r.MaxErrorNs = p.uint(64)
	r.RateErrorPsPerS = uint32(p.uint(32))
	r.ErrorGrowthPsPerS = uint32(p.uint(32))
	r.MaxErrorGrowthPsPerS = uint32(p.uint(32))
	r.NextExpectedCount = p.uint(64)
	r.VoidAfterCount = p.uint(64)
	r.PollNs = p.uint(64)
	r.TAIOffsetSec = int16(p.int(16))
	r.LeapNext = int8(p.int(8))
	r.LeapAtCount = p.uint(64)
	if p.err != nil {
		return Record{}, p.err
	}
	if err := r.Validate(); err != nil {
		return Record{}, err
	}
	return r, nil
}
