package trace

import (
	"errors"
	"fmt"
)

// Format identifies the layout of a trace file.
type Format int

// The formats Reader understands. Writer produces FormatXenradclock and
// FormatRADclockV4.
const (
	// FormatXenradclock is the project's format: `# key: value` headers,
	// data lines `Ta Tb Te Tf` with at most 9 decimals on Tb and Te. A file
	// whose first non-empty line is data (no header at all) is read as this
	// format too.
	FormatXenradclock Format = iota
	// FormatRADclockLegacy is a RADclock ASCII stamp file whose `%` header
	// carries no version: `Ta Tb Te Tf [RefIn [RefOut]]`. As RADclock v0.3
	// did, server times beyond the NTP-to-UNIX epoch offset are taken to be
	// NTP-era seconds and moved to the UNIX epoch.
	FormatRADclockLegacy
	// FormatRADclockV3 is `% version: 3`: `Ta Tb Te Tf key`.
	FormatRADclockV3
	// FormatRADclockV4 is `% version: 4`: `Ta Tb Te Tf nonce [sID]`; each
	// sID becomes the fake server address 10.0.0.<sID>, as RADclock's own
	// replay names it.
	FormatRADclockV4
)

func (f Format) String() string {
	switch f {
	case FormatXenradclock:
		return "xenradclock"
	case FormatRADclockLegacy:
		return "radclock-legacy"
	case FormatRADclockV3:
		return "radclock-v3"
	case FormatRADclockV4:
		return "radclock-v4"
	}
	return fmt.Sprintf("format(%d)", int(f))
}

// IsRADclock reports whether f is one of RADclock's ASCII layouts.
func (f Format) IsRADclock() bool {
	return f == FormatRADclockLegacy || f == FormatRADclockV3 || f == FormatRADclockV4
}

// Header is what a trace says about itself before its first data line.
type Header struct {
	Format Format
	// CounterHz is the counter's nominal frequency in ticks per second (key
	// counter_hz); 0 when the file does not say, as RADclock files never do.
	CounterHz float64
	// Counter names the counter the ticks come from (key counter: "tsc",
	// "xen-platform", ...); informational.
	Counter string
	// Server identifies the reference server (key server); every stamp's
	// Side.Server gets it unless the line names its own (RADclock v4 sID).
	Server string
	// PollPeriod is the poll period the recorder used, in seconds (key
	// poll_period); 0 when the file does not say.
	PollPeriod float64
	// SideColumns says that data lines carry side information after Tf
	// (project format only). Writer then writes the columns SideFields
	// names, and a `# fields:` header naming them; Reader sets it when the
	// `fields` header names at least one of them, and fills each stamp's
	// SideInfo from the columns named.
	SideColumns bool
}

// SideFields are the side-information columns of the project format, in the
// order Writer writes them after `Ta Tb Te Tf`: server name (`-` for none),
// stratum, leap indicator (0..3), reference ID (8 hex digits), TTL, root
// delay and root dispersion (decimal seconds, at most 9 decimals).
var SideFields = [...]string{"server", "stratum", "leap", "refid", "ttl", "root_delay", "root_dispersion"}

// Column indexes into SideFields.
const (
	colServer = iota
	colStratum
	colLeap
	colRefID
	colTTL
	colRootDelay
	colRootDisp
	numSide
)

// maxColumns bounds the column a `fields` header may give meaning to.
const maxColumns = 16

// LineError is a malformed line. Reader returns it and can go on with the
// next line.
type LineError struct {
	Line int   // 1-based line number
	Err  error // what is wrong with it
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// ErrMalformed is wrapped by every LineError about the content of a line, so
// callers can tell bad input (errors.Is(err, ErrMalformed)) from I/O errors.
var ErrMalformed = errors.New("malformed trace line")

func malformed(line int, format string, args ...any) *LineError {
	return &LineError{Line: line, Err: fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)}
}
