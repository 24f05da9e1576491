package clockdata

// The binary shared page: one 4096-byte page, little-endian, fixed offsets,
// modelled on the Linux VMClock ABI and ClockBound's segment. The page is
// accessed as 64-bit words so that the live page can be read and written with
// atomic word operations (a race-free seqlock in the Go memory model); the
// codec below is the one definition of which field lives in which word, and
// docs/clockdata.md and clockdata/c/xenradclock_clock.h mirror it.

import (
	"encoding/binary"
	"fmt"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/counter"
)

const (
	// PageSize is the size of the page file and of the mapping.
	PageSize = 4096
	// Magic is the first word of the page: bytes "XRCK" in memory order.
	Magic uint32 = 0x4B435258
	// RecordSize is the number of bytes version 1 defines and this package
	// writes (the page's size field): the record and the publisher's flags
	// word at offset 240. The rest of the page is zero.
	RecordSize = recordWords * 8
	// MinRecordSize is the smallest size field a reader accepts: the first
	// version 1 pages ended before the flags word (size 240); their flags
	// read as zero (mode host, no disruption flag).
	MinRecordSize = flagsWord * 8
	// DefaultPagePath is where dom0d and domu-agent publish the page.
	DefaultPagePath = "/run/xenradclock/clock"

	recordWords = 31
	flagsWord   = 30 // the publisher's flags, byte offset 240 (size >= 248)
	seqWord     = 2  // the seqlock word, byte offset 16
	bodyWord    = 3  // first seq-protected word, byte offset 24
)

// Byte offsets of every field, as documented in docs/clockdata.md. The
// layout test asserts them against PageLayout and against the codec.
const (
	OffMagic             = 0
	OffSize              = 4
	OffVersion           = 8
	OffReserved0         = 10
	OffReserved1         = 12
	OffSeq               = 16
	OffGeneration        = 24
	OffDisruptionMarker  = 32
	OffHostID            = 40
	OffCounterKind       = 56
	OffPeriodShift       = 58
	OffRawPeriodShift    = 59
	OffLocalPeriodShift  = 60
	OffClockState        = 61
	OffLeapNext          = 62
	OffReserved2         = 63
	OffTAIOffset         = 64
	OffReserved3         = 66
	OffStatus            = 68
	OffCounterHz         = 72
	OffCounterIdentity   = 80
	OffRefCount          = 88
	OffRefTimeSec        = 96
	OffRefTimeFrac       = 104
	OffPeriodFrac        = 112
	OffSlewEndCount      = 120
	OffSlewEndTimeSec    = 128
	OffSlewEndTimeFrac   = 136
	OffRawPeriodFrac     = 144
	OffRawRefTimeSec     = 152
	OffRawRefTimeFrac    = 160
	OffLocalPeriodFrac   = 168
	OffErrorBoundNs      = 176
	OffMaxErrorNs        = 184
	OffRateErrorPs       = 192
	OffErrorGrowthPs     = 196
	OffMaxErrorGrowthPs  = 200
	OffReserved4         = 204
	OffNextExpectedCount = 208
	OffVoidAfterCount    = 216
	OffPollNs            = 224
	OffLeapAtCount       = 232
	OffMode              = 240
	OffPageFlags         = 241
	OffReserved5         = 242
)

// PageLayout is the page's first RecordSize bytes as a Go struct, for
// documentation and for the layout test; on a little-endian machine its
// memory image is the page. The codec does not use it, so the page format
// does not depend on the host's byte order.
type PageLayout struct {
	Magic                uint32
	Size                 uint32
	Version              uint16
	Reserved0            uint16
	Reserved1            uint32
	Seq                  uint64
	Generation           uint64
	DisruptionMarker     uint64
	HostID               [16]byte
	CounterKind          uint16
	PeriodShift          uint8
	RawPeriodShift       uint8
	LocalPeriodShift     uint8
	ClockState           uint8
	LeapNext             int8
	Reserved2            uint8
	TAIOffsetSec         int16
	Reserved3            uint16
	Status               uint32
	CounterHz            uint64
	CounterIdentity      uint64
	RefCount             uint64
	RefTimeSec           int64
	RefTimeFrac          uint64
	PeriodFrac           uint64
	SlewEndCount         uint64
	SlewEndTimeSec       int64
	SlewEndTimeFrac      uint64
	RawPeriodFrac        uint64
	RawRefTimeSec        int64
	RawRefTimeFrac       uint64
	LocalPeriodFrac      uint64
	ErrorBoundNs         uint64
	MaxErrorNs           uint64
	RateErrorPsPerS      uint32
	ErrorGrowthPsPerS    uint32
	MaxErrorGrowthPsPerS uint32
	Reserved4            uint32
	NextExpectedCount    uint64
	VoidAfterCount       uint64
	PollNs               uint64
	LeapAtCount          uint64
	Mode                 uint8
	PageFlags            uint8
	Reserved5            [6]byte
}

// words holds the page's first RecordSize bytes as little-endian 64-bit
// words: word i is bytes 8i..8i+7.
type words [recordWords]uint64

func headerWords(w *words) {
	w[0] = uint64(Magic) | uint64(RecordSize)<<32
	w[1] = Version
}

// toWords encodes r's seq-protected fields (words 3..29) and the constant
// header; the seq word is left zero.
func (r *Record) toWords() words {
	var w words
	headerWords(&w)
	w[1] = uint64(r.Version)
	w[3] = r.Generation
	w[4] = r.DisruptionMarker
	w[5] = binary.LittleEndian.Uint64(r.HostID[0:8])
	w[6] = binary.LittleEndian.Uint64(r.HostID[8:16])
	w[7] = uint64(r.CounterKind) | uint64(r.Period.Shift)<<16 | uint64(r.RawPeriod.Shift)<<24 |
		uint64(r.LocalPeriod.Shift)<<32 | uint64(r.State)<<40 | uint64(uint8(r.LeapNext))<<48
	w[8] = uint64(uint16(r.TAIOffsetSec)) | uint64(r.Status)<<32
	w[9] = r.CounterHz
	w[10] = r.CounterIdentity
	w[11] = r.RefCount
	w[12] = uint64(r.RefTime.Sec)
	w[13] = r.RefTime.Frac
	w[14] = r.Period.Frac
	w[15] = r.SlewEndCount
	w[16] = uint64(r.SlewEndTime.Sec)
	w[17] = r.SlewEndTime.Frac
	w[18] = r.RawPeriod.Frac
	w[19] = uint64(r.RawRefTime.Sec)
	w[20] = r.RawRefTime.Frac
	w[21] = r.LocalPeriod.Frac
	w[22] = r.ErrorBoundNs
	w[23] = r.MaxErrorNs
	w[24] = uint64(r.RateErrorPsPerS) | uint64(r.ErrorGrowthPsPerS)<<32
	w[25] = uint64(r.MaxErrorGrowthPsPerS)
	w[26] = r.NextExpectedCount
	w[27] = r.VoidAfterCount
	w[28] = r.PollNs
	w[29] = r.LeapAtCount
	return w
}

// fromWords decodes the seq-protected words without validating values; it
// rejects non-zero reserved bits, which v1 writers never set.
func fromWords(w *words) (Record, error) {
	if w[7]>>56 != 0 || (w[8]>>16)&0xffff != 0 || w[25]>>32 != 0 {
		return Record{}, invalid("reserved bytes not zero")
	}
	var r Record
	r.Version = uint16(w[1])
	r.Generation = w[3]
	r.DisruptionMarker = w[4]
	binary.LittleEndian.PutUint64(r.HostID[0:8], w[5])
	binary.LittleEndian.PutUint64(r.HostID[8:16], w[6])
	r.CounterKind = counter.Kind(w[7])
	r.Period.Shift = uint8(w[7] >> 16)
	r.RawPeriod.Shift = uint8(w[7] >> 24)
	r.LocalPeriod.Shift = uint8(w[7] >> 32)
	r.State = ClockState(w[7] >> 40)
	r.LeapNext = int8(uint8(w[7] >> 48))
	r.TAIOffsetSec = int16(uint16(w[8]))
	r.Status = clocksync.Status(w[8] >> 32)
	r.CounterHz = w[9]
	r.CounterIdentity = w[10]
	r.RefCount = w[11]
	r.RefTime = bintime.Time{Sec: int64(w[12]), Frac: w[13]}
	r.Period.Frac = w[14]
	r.SlewEndCount = w[15]
	r.SlewEndTime = bintime.Time{Sec: int64(w[16]), Frac: w[17]}
	r.RawPeriod.Frac = w[18]
	r.RawRefTime = bintime.Time{Sec: int64(w[19]), Frac: w[20]}
	r.LocalPeriod.Frac = w[21]
	r.ErrorBoundNs = w[22]
	r.MaxErrorNs = w[23]
	r.RateErrorPsPerS = uint32(w[24])
	r.ErrorGrowthPsPerS = uint32(w[24] >> 32)
	r.MaxErrorGrowthPsPerS = uint32(w[25])
	r.NextExpectedCount = w[26]
	r.VoidAfterCount = w[27]
	r.PollNs = w[28]
	r.LeapAtCount = w[29]
	return r, nil
}

// EncodePage returns the PageSize-byte page image of r with seqlock value
// seq (even and non-zero for a complete page) and zero flags (mode host).
// It does not validate r.
func EncodePage(r *Record, seq uint64) []byte { return EncodePageFlags(r, PageFlags{}, seq) }

// EncodePageFlags is EncodePage with the publisher's flags.
func EncodePageFlags(r *Record, f PageFlags, seq uint64) []byte {
	w := r.toWords()
	w[flagsWord] = f.word()
	w[seqWord] = seq
	b := make([]byte, PageSize)
	for i, v := range w {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

// checkHeader validates the constant header words: magic, size and version.
// pageLen is the number of bytes available to the reader.
func checkHeader(w0, w1 uint64, pageLen int) error {
	magic, size := uint32(w0), uint32(w0>>32)
	if magic != Magic {
		if w0 == 0 && w1 == 0 {
			return fmt.Errorf("%w (all-zero header)", ErrUninitialised)
		}
		return fmt.Errorf("%w: %#08x at offset 0 (want %#08x)", ErrMagic, magic, Magic)
	}
	if v := uint16(w1); v != Version {
		return fmt.Errorf("%w: page version %d at offset %d (want %d)", ErrVersion, v, OffVersion, Version)
	}
	if w1>>16 != 0 {
		return invalid("reserved header bytes at offset %d not zero", OffReserved0)
	}
	if size < MinRecordSize {
		return fmt.Errorf("%w: size field %d below the %d bytes of version %d", ErrTruncated, size, MinRecordSize, Version)
	}
	if size > PageSize {
		return fmt.Errorf("%w: size field %d above the page size %d", ErrOversized, size, PageSize)
	}
	if int(size) > pageLen {
		return fmt.Errorf("%w: size field %d but only %d bytes", ErrTruncated, size, pageLen)
	}
	return nil
}

func checkSeq(seq uint64) error {
	if seq == 0 {
		return fmt.Errorf("%w (seq 0)", ErrUninitialised)
	}
	if seq&1 != 0 {
		return fmt.Errorf("%w (seq %d odd)", ErrBusy, seq)
	}
	return nil
}

// DecodePage decodes and validates a page image (a copy, not the live
// page): header, seqlock word (0: uninitialised, odd: writer busy) and
// record. It returns the record and the seqlock value.
func DecodePage(b []byte) (Record, uint64, error) {
	r, _, seq, err := DecodePageFlags(b)
	return r, seq, err
}

// DecodePageFlags is DecodePage that also returns the publisher's flags
// (zero on a page whose size field ends before them).
func DecodePageFlags(b []byte) (Record, PageFlags, uint64, error) {
	if len(b) < 24 {
		return Record{}, PageFlags{}, 0, fmt.Errorf("%w: %d bytes, the header alone is 24", ErrTruncated, len(b))
	}
	if len(b) > PageSize {
		return Record{}, PageFlags{}, 0, fmt.Errorf("%w: %d bytes, a page is %d", ErrOversized, len(b), PageSize)
	}
	w0, w1 := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	if err := checkHeader(w0, w1, len(b)); err != nil {
		return Record{}, PageFlags{}, 0, err
	}
	seq := binary.LittleEndian.Uint64(b[OffSeq:])
	if err := checkSeq(seq); err != nil {
		return Record{}, PageFlags{}, seq, err
	}
	var w words
	n := min(int(uint32(w0>>32))/8, recordWords) // the size field, checked against len(b)
	for i := range n {
		w[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	r, err := fromWords(&w)
	if err != nil {
		return Record{}, PageFlags{}, seq, err
	}
	if err := r.Validate(); err != nil {
		return Record{}, PageFlags{}, seq, err
	}
	f, err := flagsFromWord(w[flagsWord])
	if err != nil {
		return Record{}, PageFlags{}, seq, err
	}
	return r, f, seq, nil
}

// Mode says how the clock on a page is made (byte 240). The numbers are ABI.
type Mode uint8

const (
	// ModeHost: the host's own clock, published by dom0d (and every page
	// written before the flags word existed).
	ModeHost Mode = 0
	// ModeDependent: a guest agent republishing Dom0's record on the
	// counter it shares with the host.
	ModeDependent Mode = 1
	// ModeIndependent: a guest agent running NTP and the estimator itself.
	ModeIndependent Mode = 2
)

var modeNames = [...]string{"host", "dependent", "independent"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ModeByName is the inverse of Mode.String.
func ModeByName(name string) (Mode, bool) {
	for i, n := range modeNames {
		if n == name {
			return Mode(i), true
		}
	}
	return 0, false
}

// Page flag bits, byte 241. Other bits are reserved and zero.
const (
	// FlagDisruptionImminent: the publisher was told the guest is about
	// to be suspended, saved or migrated. Time is still served; readers
	// that cache may want to re-read soon.
	FlagDisruptionImminent uint8 = 1 << 0
	// FlagDisrupted: the publisher knows the record does not apply (a
	// migration or restore is being handled, the counter failed, or a new
	// clock would have gone backwards). Readers get ReadDisrupted, no time.
	FlagDisrupted uint8 = 1 << 1

	knownFlags = FlagDisruptionImminent | FlagDisrupted
)

// PageFlags is what a page's publisher says about the record beside it:
// the flags word at offset 240 (mode byte, flag byte, six reserved bytes).
// The zero value is a host page with no flag set.
type PageFlags struct {
	Mode               Mode
	DisruptionImminent bool
	Disrupted          bool
}

func (f PageFlags) word() uint64 {
	v := uint64(f.Mode)
	if f.DisruptionImminent {
		v |= uint64(FlagDisruptionImminent) << 8
	}
	if f.Disrupted {
		v |= uint64(FlagDisrupted) << 8
	}
	return v
}

func flagsFromWord(v uint64) (PageFlags, error) {
	if v>>16 != 0 || uint8(v>>8)&^knownFlags != 0 {
		return PageFlags{}, invalid("reserved flag bits at offset %d not zero (%#x)", OffMode, v)
	}
	if m := Mode(v); int(m) >= len(modeNames) {
		return PageFlags{}, invalid("mode %d at offset %d", m, OffMode)
	}
	fl := uint8(v >> 8)
	return PageFlags{Mode: Mode(v), DisruptionImminent: fl&FlagDisruptionImminent != 0, Disrupted: fl&FlagDisrupted != 0}, nil
}

// Apply makes a read of a record honour the publisher's flags, as the page
// reader does: a disrupted page gives ReadDisrupted and no time, as a
// counter of another timeline does.
func (f PageFlags) Apply(n *Now) { applyFlags(n, f) }

func applyFlags(n *Now, f PageFlags) {
	n.Flags = f
	if f.Disrupted {
		*n = Now{Status: ReadDisrupted, State: n.State, Count: n.Count, Generation: n.Generation, Marker: n.Marker, Flags: f}
	}
}
