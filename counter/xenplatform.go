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
// hypercall from kernel-patches/: through /dev/xen/privcmd where that works
// (root in Dom0), else through the systime device's XRST_IOC_PLATFORM
// ioctl, with which the kernel makes the call for any process (a DomU's
// unprivileged readers, where Linux restricts privcmd).
//
// Identity: a hash of the per-boot host id and this domain's incarnation,
// both returned by the same hypercall as the count.
type XenPlatform struct {
	pt    platformTimer
	hz    float64
	kind  uint32
	first hypercall.PlatformTime
	via   string
}

// The two ways to the hypercall, variables so tests can inject them.
var (
	openPrivcmdTimer = func() (platformTimer, error) { return hypercall.Open() }
	openDeviceTimer  = func() (platformTimer, error) { return openPlatformDevice(hypercall.SystimeDevicePath) }
)

// OpenXenPlatform makes one hypercall, so an unpatched hypervisor, a missing
// device, a denial or an unusable platform timer is reported here rather
// than at the first Read. privcmd is tried first: Dom0's root daemons have
// always used it and need no module for it. When privcmd cannot be opened
// or refuses the call (an unprivileged process, or a DomU's restricted
// privcmd), the systime device is used; if both fail, both reasons are
// returned.
func OpenXenPlatform() (*XenPlatform, error) {
	x, perr := openPlatformVia("privcmd", openPrivcmdTimer)
	if perr == nil {
		return x, nil
	}
	if !errors.Is(perr, ErrPermission) && !errors.Is(perr, ErrNoDevice) {
		return nil, perr // the hypervisor's answer (unpatched, malformed): the device would repeat it
	}
	x, derr := openPlatformVia(hypercall.SystimeDevicePath, openDeviceTimer)
	if derr == nil {
		return x, nil
	}
	return nil, errors.Join(derr, fmt.Errorf("and through privcmd: %w", perr))
}

func openPlatformVia(via string, open func() (platformTimer, error)) (*XenPlatform, error) {
	pt, err := open()
	if err != nil {
		return nil, platformError(err)
	}
	x, err := newXenPlatform(pt)
	if err != nil {
		pt.Close()
		return nil, err
	}
	x.via = via
	return x, nil
}

// Via names the path the hypercall takes: "privcmd" or the device's path.
func (x *XenPlatform) Via() string { return x.via }

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

// Close releases privcmd or the device.
func (x *XenPlatform) Close() error { return x.pt.Close() }
