package ntp

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
)

// HeaderLen is the size of the NTPv4 header (RFC 5905 §7.3) without
// extension fields or a MAC.
const HeaderLen = 48

// MaxPacketLen bounds what the decoder accepts: the header plus extension
// fields and a MAC. Anything longer is malformed for our purposes.
const MaxPacketLen = 1024

// Mode is the association mode of a packet (RFC 5905 Figure 10).
type Mode uint8

// Modes used here.
const (
	ModeReserved  Mode = 0
	ModeSymActive Mode = 1
	ModeSymPasv   Mode = 2
	ModeClient    Mode = 3
	ModeServer    Mode = 4
	ModeBroadcast Mode = 5
	ModeControl   Mode = 6
	ModePrivate   Mode = 7
)

// Leap indicator values.
const (
	LeapNone   uint8 = 0
	LeapAdd    uint8 = 1 // last minute of the day has 61 s
	LeapDel    uint8 = 2 // last minute of the day has 59 s
	LeapUnsync uint8 = 3 // clock not synchronised
)

// Timestamp is an NTP 64-bit timestamp: seconds since 1900 (modulo the
// 2^32 s era) in the high 32 bits and a 2^-32 s fraction in the low 32.
type Timestamp uint64

// Short is the NTP 16.16 unsigned fixed-point "short format" used for root
// delay and root dispersion.
type Short uint32

// ntpUnixOffset is the number of seconds from 1900-01-01 to 1970-01-01.
const ntpUnixOffset = 2208988800

// EraPivot is the UNIX second around which NTP timestamps are placed: a
// timestamp is read as the instant within ±2^31 s (±68 years) of it, so
// the window 1958..2094 covers the 2036 era rollover. It is a fixed
// constant on purpose: stamps must not depend on the system clock.
const EraPivot int64 = 1767225600 // 2026-01-01T00:00:00Z

// Time converts t exactly to a bintime.Time (UNIX epoch), choosing the NTP
// era that puts the result nearest EraPivot.
func (t Timestamp) Time() bintime.Time { return t.TimeNear(EraPivot) }

// TimeNear converts t exactly to a bintime.Time (UNIX epoch), choosing the
// NTP era that puts the result within ±2^31 s of pivot (UNIX seconds).
func (t Timestamp) TimeNear(pivot int64) bintime.Time {
	sec := int64(uint32(t >> 32))
	// Seconds since 1900 of the pivot, and the era-0 candidate; shift by
	// whole eras until the candidate is within half an era of the pivot.
	p := pivot + ntpUnixOffset
	era := (p - sec + 1<<31) >> 32 // floor((p - sec + 2^31) / 2^32)
	sec += era << 32
	return bintime.Time{Sec: sec - ntpUnixOffset, Frac: uint64(uint32(t)) << 32}
}

// TimestampOf converts a UNIX bintime.Time to an NTP timestamp, rounding
// the fraction to the nearest 2^-32 s. The era is dropped, as on the wire.
func TimestampOf(b bintime.Time) Timestamp {
	hi := uint64(b.Sec+ntpUnixOffset) << 32
	frac := b.Frac >> 32
	v, _ := bits.Add64(hi|frac, (b.Frac>>31)&1, 0)
	return Timestamp(v)
}

// IsZero reports whether t is the all-zero timestamp, which NTP uses to
// mean "unknown".
func (t Timestamp) IsZero() bool { return t == 0 }

// Duration converts a short-format value to a duration, rounded to the
// nearest nanosecond.
func (s Short) Duration() time.Duration {
	return time.Duration((uint64(s)*1e9 + 1<<15) >> 16)
}

// Nanos is Duration as int64 nanoseconds (clocksync.SideInfo's unit).
func (s Short) Nanos() int64 { return int64(s.Duration()) }

// ShortOf converts a non-negative duration to the short format, rounding
// to the nearest 2^-16 s and saturating at 65535.99998 s.
func ShortOf(d time.Duration) Short {
	if d <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(d), 1<<16)
	if hi != 0 {
		return Short(^uint32(0))
	}
	q := (lo + 5e8) / 1e9
	if q > uint64(^uint32(0)) {
		return Short(^uint32(0))
	}
	return Short(q)
}

// Packet is the NTPv4 header. Extension fields and MACs are not
// interpreted (this client uses neither) but their framing is checked.
type Packet struct {
	Leap           uint8 // 0..3
	Version        uint8 // 0..7
	Mode           Mode  // 0..7
	Stratum        uint8
	Poll           int8 // log2 s
	Precision      int8 // log2 s
	RootDelay      Short
	RootDispersion Short
	RefID          uint32
	RefTime        Timestamp
	Origin         Timestamp
	Receive        Timestamp
	Transmit       Timestamp
}

// AppendBinary appends the 48-byte wire form of p to b.
func (p *Packet) AppendBinary(b []byte) ([]byte, error) {
	if p.Leap > 3 || p.Version > 7 || p.Mode > 7 {
		return b, fmt.Errorf("ntp: cannot encode leap %d version %d mode %d: out of range", p.Leap, p.Version, p.Mode)
	}
	b = append(b, p.Leap<<6|p.Version<<3|uint8(p.Mode), p.Stratum, uint8(p.Poll), uint8(p.Precision))
	b = binary.BigEndian.AppendUint32(b, uint32(p.RootDelay))
	b = binary.BigEndian.AppendUint32(b, uint32(p.RootDispersion))
	b = binary.BigEndian.AppendUint32(b, p.RefID)
	b = binary.BigEndian.AppendUint64(b, uint64(p.RefTime))
	b = binary.BigEndian.AppendUint64(b, uint64(p.Origin))
	b = binary.BigEndian.AppendUint64(b, uint64(p.Receive))
	b = binary.BigEndian.AppendUint64(b, uint64(p.Transmit))
	return b, nil
}

// MarshalBinary returns the 48-byte wire form of p.
func (p *Packet) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, HeaderLen))
}

// DecodeError says why bytes are not an NTP packet.
type DecodeError struct {
	Reason Reason // ReasonTruncated or ReasonMalformed
	Len    int
	Detail string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("ntp: %s packet of %d bytes: %s", e.Reason, e.Len, e.Detail)
}

// Decode parses the wire form of an NTP packet. It never panics: input
// shorter than the header is ReasonTruncated; trailing data that cannot be
// extension fields or a MAC (RFC 7822: 32-bit aligned, each field at least
// 16 bytes and within the packet) or an oversize packet is
// ReasonMalformed.
func Decode(b []byte) (Packet, error) {
	var p Packet
	if len(b) < HeaderLen {
		return p, &DecodeError{Reason: ReasonTruncated, Len: len(b), Detail: fmt.Sprintf("shorter than the %d-byte header", HeaderLen)}
	}
	if len(b) > MaxPacketLen {
		return p, &DecodeError{Reason: ReasonMalformed, Len: len(b), Detail: fmt.Sprintf("longer than %d bytes", MaxPacketLen)}
	}
	if err := checkTrailer(b[HeaderLen:]); err != "" {
		return p, &DecodeError{Reason: ReasonMalformed, Len: len(b), Detail: err}
	}
	p.Leap = b[0] >> 6
	p.Version = (b[0] >> 3) & 7
	p.Mode = Mode(b[0] & 7)
	p.Stratum = b[1]
	p.Poll = int8(b[2])
	p.Precision = int8(b[3])
	p.RootDelay = Short(binary.BigEndian.Uint32(b[4:]))
	p.RootDispersion = Short(binary.BigEndian.Uint32(b[8:]))
	p.RefID = binary.BigEndian.Uint32(b[12:])
	p.RefTime = Timestamp(binary.BigEndian.Uint64(b[16:]))
	p.Origin = Timestamp(binary.BigEndian.Uint64(b[24:]))
	p.Receive = Timestamp(binary.BigEndian.Uint64(b[32:]))
	p.Transmit = Timestamp(binary.BigEndian.Uint64(b[40:]))
	return p, nil
}

// checkTrailer validates what follows the header: zero or more extension
// fields (type, length, value; length a multiple of 4 and at least 16)
// optionally followed by a MAC of 4 + 16 or 4 + 20 bytes, or a bare
// NTPv3-style MAC. It returns "" when the framing is plausible.
func checkTrailer(t []byte) string {
	if len(t)%4 != 0 {
		return fmt.Sprintf("%d bytes after the header, not a multiple of 4", len(t))
	}
	for len(t) > 0 {
		if len(t) == 20 || len(t) == 24 {
			return "" // a MAC
		}
		if len(t) < 16 {
			return fmt.Sprintf("%d trailing bytes: neither an extension field nor a MAC", len(t))
		}
		n := int(binary.BigEndian.Uint16(t[2:]))
		if n < 16 || n%4 != 0 || n > len(t) {
			return fmt.Sprintf("extension field of length %d with %d bytes left", n, len(t))
		}
		t = t[n:]
	}
	return ""
}

// KissCode returns the four ASCII characters of a kiss-o'-death packet's
// reference ID ("RATE", "DENY", ...) and whether the packet is a KoD: stratum
// 0 and a printable ASCII code (RFC 5905 §7.4).
func (p *Packet) KissCode() (string, bool) {
	if p.Stratum != 0 {
		return "", false
	}
	var c [4]byte
	binary.BigEndian.PutUint32(c[:], p.RefID)
	n := 4
	for n > 0 && c[n-1] == 0 {
		n--
	}
	if n == 0 {
		return "", false
	}
	for _, ch := range c[:n] {
		if ch < 0x20 || ch > 0x7e {
			return "", false
		}
	}
	return string(c[:n]), true
}
