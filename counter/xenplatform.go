package counter

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/xenradclock/xenradclock/hypercall"
)

func init() {
	Register("xen-platform", func() (Counter, error) { return OpenXenPlatform() })
}

// platformTimer is the hypercall, an interface so tests can inject one.
type platformTimer interface {
	PlatformTime() (hypercall.PlatformTime, error)
	Close() error
}

// XenPlatform is Xen's platform timer (HPET or ACPI PM timer as Xen drives
// it, extended by Xen to 64 bits) read through the XENVER_platform_time
// hypercall from kernel-patches/. It needs /dev/xen/privcmd, so root.
//
// Identity: a hash of the per-boot host id and this domain's incarnation,
// both returned by the same hypercall as the count.
type XenPlatform struct {
	pt    platformTimer
	hz    float64
	kind  uint32
	first hypercall.PlatformTime
}

// OpenXenPlatform opens privcmd and makes one hypercall, so an unpatched
// hypervisor, a missing device, a denial or an unusable platform timer is
// reported here rather than at the first Read.
func OpenXenPlatform() (*XenPlatform, error) {
	pc, err := hypercall.Open()
	if err != nil {
		return nil, platformError(err)
	}
	x, err := newXenPlatform(pc)
	if err != nil {
		pc.Close()
		return nil, err
	}
	return x, nil
}

func newXenPlatform(pt platformTimer) (*XenPlatform, error) {
	s, err := pt.PlatformTime()
	if err != nil {
		return nil, platformError(err)
	}
	if !s.PlatformValid() {
		return nil, unavailablef("xen-platform", []error{ErrUnavailable}, nil,
			"Xen reports no readable platform timer (kind %s, flags %#x); use xen-system", hypercall.KindName(s.Kind), s.Flags)
	}
	return &XenPlatform{pt: pt, hz: float64(s.PlatformHz), kind: s.Kind, first: s}, nil
}

func platformError(err error) error {
	var reasons []error
	for _, m := range []struct{ from, to error }{
		{hypercall.ErrNotXen, ErrNotXen},
		{hypercall.ErrNoDevice, ErrNoDevice},
		{hypercall.ErrPermission, ErrPermission},
		{hypercall.ErrNotPatched, ErrNotPatched},
		{hypercall.ErrMalformed, ErrBadData},
	} {
		if errors.Is(err, m.from) {
			reasons = append(reasons, m.to)
		}
	}
	return unavailable("xen-platform", err, "the platform-timer hypercall is not usable", reasons...)
}

func (x *XenPlatform) Name() string       { return "xen-platform" }
func (x *XenPlatform) Kind() Kind         { return KindXenPlatform }
func (x *XenPlatform) NominalHz() float64 { return x.hz }

// TimerKind names the hardware behind the count ("HPET", "ACPI PM timer").
func (x *XenPlatform) TimerKind() string { return hypercall.KindName(x.kind) }

// Sample makes the hypercall and returns everything it returned: the
// platform count, Xen system time, the guest's TSC and the host id, all
// sampled at one instant (useful to relate the counters to each other).
func (x *XenPlatform) Sample() (hypercall.PlatformTime, error) { return x.pt.PlatformTime() }

// Read returns the platform count with the host-and-incarnation identity.
func (x *XenPlatform) Read() (Reading, error) {
	s, err := x.pt.PlatformTime()
	if err != nil {
		return Reading{}, fmt.Errorf("xen-platform: %w", err)
	}
	if !s.PlatformValid() {
		return Reading{}, fmt.Errorf("xen-platform: Xen stopped reporting a platform timer (flags %#x)", s.Flags)
	}
	return Reading{Count: s.PlatformCount, Identity: PlatformIdentity(s.HostID, s.Incarnation)}, nil
}

// PlatformIdentity is the xen-platform counter's identity: FNV-1a 64 of the
// tag "xen-platform", then each of host_id (16 bytes) and the incarnation
// (u32 little-endian), each preceded by its length as u32 little-endian
// (docs/counters.md). Never 0.
func PlatformIdentity(hostID [16]byte, incarnation uint32) uint64 {
	var inc [4]byte
	binary.LittleEndian.PutUint32(inc[:], incarnation)
	return foldIdentity("xen-platform", hostID[:], inc[:])
}

// Close releases privcmd.
func (x *XenPlatform) Close() error { return x.pt.Close() }
