// Package hypercall reaches Xen from user space: the xenradclock
// platform-timer hypercall through /dev/xen/privcmd (root daemons only), and
// the Go mirror of the kernel ABI in kernel-patches/include/xenradclock_abi.h
// (the hypercall's structure and the xenradclock_systime device's sample).
// docs/kernel-abi.md documents both byte for byte; a test compiles the C
// header and checks every size, offset and constant against this file.
package hypercall

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The platform-timer hypercall: a sub-op of __HYPERVISOR_xen_version.
const (
	HypervisorXenVersion = 17     // __HYPERVISOR_xen_version
	XenverPlatformTime   = 0x7872 // XENVER_platform_time
	PTABIVersion         = 1      // XENVER_PT_ABI_VERSION

	PTKindUnknown = 0 // XENVER_PT_KIND_*
	PTKindHPET    = 1
	PTKindACPIPM  = 2
	PTKindPIT     = 3
	PTKindTSC     = 4
	PTKindOther   = 5

	PTPlatformValid = 1 << 0 // XENVER_PT_PLATFORM_VALID: platform_count, platform_hz meaningful
	PTGuestTSCValid = 1 << 1 // XENVER_PT_GUEST_TSC_VALID: guest_tsc meaningful

	PlatformTimeSize = 64 // sizeof(struct xenver_platform_time)
)

// PlatformTime mirrors struct xenver_platform_time: 64 bytes, little-endian,
// natural alignment, no padding. Every field was sampled at one instant.
type PlatformTime struct {
	Version       uint32   // IN: PTABIVersion; OUT: version written
	Kind          uint32   // PTKind*
	PlatformCount uint64   // 64-bit cumulative platform timer count
	PlatformHz    uint64   // platform timer frequency
	SystemTimeNs  uint64   // Xen system time, ns since host boot
	GuestTSC      uint64   // the caller's TSC, its offset and scaling applied
	Incarnation   uint32   // the calling domain's incarnation
	Flags         uint32   // PT*Valid
	HostID        [16]byte // per-boot random host identity
}

// The xenradclock_systime device.
const (
	SystimeDevicePath = "/dev/xen/systime" // XRST_DEVICE_PATH
	SystimeMiscName   = "xen/systime"      // XRST_MISC_NAME
	SystimeMagic      = 0x54535258         // XRST_MAGIC: bytes "XRST"
	SystimeVersion    = 1                  // XRST_VERSION
	SystimeTSCStable  = 1 << 0             // XRST_FLAG_TSC_STABLE
	SystimeSampleSize = 32                 // sizeof(struct xrst_sample)
	// SystimeIocRead is XRST_IOC_READ = _IOR('X', 0x01, struct xrst_sample).
	SystimeIocRead uint32 = 2<<30 | SystimeSampleSize<<16 | 'X'<<8 | 0x01
	// SystimeIocPlatform is XRST_IOC_PLATFORM = _IOR('X', 0x02, struct
	// xrst_platform): XENVER_platform_time made by the kernel, its 64 bytes
	// laid out as struct xenver_platform_time.
	SystimeIocPlatform uint32 = 2<<30 | PlatformTimeSize<<16 | 'X'<<8 | 0x02
)

// SystimeSample mirrors struct xrst_sample: 32 bytes, little-endian.
type SystimeSample struct {
	Magic        uint32 // SystimeMagic
	Version      uint32 // SystimeVersion
	SystemTimeNs uint64 // Xen system time from this vCPU's pvclock
	ResumeGen    uint64 // 1 at module load, bumped before user space resumes
	Flags        uint32 // SystimeTSCStable
	Reserved     uint32 // 0
}

// privcmd, from Linux's include/uapi/xen/privcmd.h.
const (
	PrivcmdPath = "/dev/xen/privcmd"
	// privcmdHypercallSize is sizeof(struct privcmd_hypercall): op + 5 args.
	privcmdHypercallSize = 48
	// IoctlPrivcmdHypercall is _IOC(_IOC_NONE, 'P', 0, sizeof(struct privcmd_hypercall)).
	IoctlPrivcmdHypercall uint32 = privcmdHypercallSize<<16 | 'P'<<8 // dir _IOC_NONE (0), nr 0
)

// privcmdHypercall mirrors struct privcmd_hypercall.
type privcmdHypercall struct {
	Op  uint64
	Arg [5]uint64
}

// Decoding errors. Every decoder error wraps ErrMalformed.
var ErrMalformed = errors.New("malformed kernel ABI data")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// KindName names a PTKind value.
func KindName(kind uint32) string {
	switch kind {
	case PTKindUnknown:
		return "unknown"
	case PTKindHPET:
		return "HPET"
	case PTKindACPIPM:
		return "ACPI PM timer"
	case PTKindPIT:
		return "PIT"
	case PTKindTSC:
		return "TSC"
	case PTKindOther:
		return "other"
	}
	return fmt.Sprintf("kind %d", kind)
}

// maxPlatformHz bounds a believable platform timer frequency: 10 GHz is
// above every TSC Xen could use as its platform source.
const maxPlatformHz = 10_000_000_000

// DecodePlatformTime decodes the 64 bytes the hypervisor wrote. It rejects
// a wrong length, a version other than 1, an unknown kind, and a platform
// timer marked valid with a zero or absurd frequency.
func DecodePlatformTime(b []byte) (PlatformTime, error) {
	var p PlatformTime
	if len(b) != PlatformTimeSize {
		return p, malformed("xenver_platform_time: %d bytes, want %d", len(b), PlatformTimeSize)
	}
	le := binary.LittleEndian
	p.Version = le.Uint32(b[0:])
	p.Kind = le.Uint32(b[4:])
	p.PlatformCount = le.Uint64(b[8:])
	p.PlatformHz = le.Uint64(b[16:])
	p.SystemTimeNs = le.Uint64(b[24:])
	p.GuestTSC = le.Uint64(b[32:])
	p.Incarnation = le.Uint32(b[40:])
	p.Flags = le.Uint32(b[44:])
	copy(p.HostID[:], b[48:64])
	if p.Version != PTABIVersion {
		return p, malformed("xenver_platform_time: version %d, want %d", p.Version, PTABIVersion)
	}
	if p.Kind > PTKindOther {
		return p, malformed("xenver_platform_time: unknown kind %d", p.Kind)
	}
	if p.Flags&PTPlatformValid != 0 && (p.PlatformHz == 0 || p.PlatformHz > maxPlatformHz) {
		return p, malformed("xenver_platform_time: platform timer valid with frequency %d Hz", p.PlatformHz)
	}
	return p, nil
}

// MarshalBinary encodes p as the hypervisor lays it out.
func (p PlatformTime) MarshalBinary() ([]byte, error) {
	b := make([]byte, PlatformTimeSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], p.Version)
	le.PutUint32(b[4:], p.Kind)
	le.PutUint64(b[8:], p.PlatformCount)
	le.PutUint64(b[16:], p.PlatformHz)
	le.PutUint64(b[24:], p.SystemTimeNs)
	le.PutUint64(b[32:], p.GuestTSC)
	le.PutUint32(b[40:], p.Incarnation)
	le.PutUint32(b[44:], p.Flags)
	copy(b[48:], p.HostID[:])
	return b, nil
}

// PlatformValid reports the PLATFORM_VALID flag.
func (p PlatformTime) PlatformValid() bool { return p.Flags&PTPlatformValid != 0 }

// GuestTSCValid reports the GUEST_TSC_VALID flag.
func (p PlatformTime) GuestTSCValid() bool { return p.Flags&PTGuestTSCValid != 0 }

// DecodeSystimeSample decodes one read of /dev/xen/systime. It rejects a
// wrong length, magic or version, a non-zero reserved word and a resume
// generation of 0 (the module starts it at 1).
func DecodeSystimeSample(b []byte) (SystimeSample, error) {
	var s SystimeSample
	if len(b) != SystimeSampleSize {
		return s, malformed("xrst_sample: %d bytes, want %d", len(b), SystimeSampleSize)
	}
	le := binary.LittleEndian
	s.Magic = le.Uint32(b[0:])
	s.Version = le.Uint32(b[4:])
	s.SystemTimeNs = le.Uint64(b[8:])
	s.ResumeGen = le.Uint64(b[16:])
	s.Flags = le.Uint32(b[24:])
	s.Reserved = le.Uint32(b[28:])
	if s.Magic != SystimeMagic {
		return s, malformed("xrst_sample: magic %#08x, want %#08x (\"XRST\")", s.Magic, SystimeMagic)
	}
	if s.Version != SystimeVersion {
		return s, malformed("xrst_sample: version %d, want %d", s.Version, SystimeVersion)
	}
	if s.Reserved != 0 {
		return s, malformed("xrst_sample: reserved word %#x, want 0", s.Reserved)
	}
	if s.ResumeGen == 0 {
		return s, malformed("xrst_sample: resume generation 0 (the module starts at 1)")
	}
	return s, nil
}

// MarshalBinary encodes s as the module lays it out.
func (s SystimeSample) MarshalBinary() ([]byte, error) {
	b := make([]byte, SystimeSampleSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], s.Magic)
	le.PutUint32(b[4:], s.Version)
	le.PutUint64(b[8:], s.SystemTimeNs)
	le.PutUint64(b[16:], s.ResumeGen)
	le.PutUint32(b[24:], s.Flags)
	le.PutUint32(b[28:], s.Reserved)
	return b, nil
}
