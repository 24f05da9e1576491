package counter

import (
	"fmt"
	"os"
	"strings"
)

// Xen's CPUID interface (xen/include/public/arch-x86/cpuid.h): the leaves
// start at the first 0x100-aligned base from 0x40000000 whose signature is
// "XenVMMXenVMM" (a Viridian-enabled HVM guest sees them at 0x40000100).
const (
	xenCPUIDFirst   = 0x40000000
	xenCPUIDLast    = 0x4000ff00
	xenSignatureEBX = 0x566e6558 // "XenV"
	xenSignatureECX = 0x65584d4d // "MMXe"
	xenSignatureEDX = 0x4d4d566e // "nVMM"

	// Leaf base+3, sub-leaf 0, EAX bits.
	xenTSCEmulated     = 1 << 0
	xenHostTSCReliable = 1 << 1
	// tsc_mode values (EBX).
	XenTSCModeDefault       = 0
	XenTSCModeAlwaysEmulate = 1
	XenTSCModeNative        = 2 // "never emulate"
	XenTSCModePVRDTSCP      = 3 // never emulate, TSC_AUX (removed in Xen 4.10)
)

// XenInfo is what this domain learns about Xen from CPUID and sysfs.
type XenInfo struct {
	Present   bool   // running under Xen
	Base      uint32 // CPUID base of the Xen leaves (0 if not visible)
	Major     uint16 // Xen version from leaf base+1
	Minor     uint16
	GuestType string // "PV", "PVH", "HVM", or "" when unknown
	TSC       XenTSC // leaf base+3; TSC.Valid false when not visible
	Forced    bool   // the leaves were read with the PV forced-emulation prefix
}

// XenTSC is Xen's view of this domain's TSC (CPUID leaf base+3).
type XenTSC struct {
	Valid        bool
	Emulated     bool   // vtsc: RDTSC traps into Xen
	HostReliable bool   // host TSC is invariant and synchronised
	Mode         uint32 // tsc_mode, XenTSCMode*
	GuestKHz     uint32 // the domain's TSC frequency
	Incarnation  uint32 // bumped by Xen on every restore and migration
	HostKHz      uint32 // sub-leaf 2: the host's TSC frequency (0 if unknown)
	Offset       uint64 // sub-leaf 1: the domain's TSC offset
	ScaleMul     uint32 // sub-leaf 1: tsc→ns multiplier
	ScaleShift   int8   // sub-leaf 1: tsc→ns shift
}

// Scaled reports whether Xen scales this domain's TSC: its frequency
// differs from the host's.
func (t XenTSC) Scaled() bool { return t.HostKHz != 0 && t.GuestKHz != t.HostKHz }

type cpuidFunc func(leaf, sub uint32) (a, b, c, d uint32)

// sysHypervisor is where Linux describes the hypervisor; a variable for tests.
var sysHypervisor = "/sys/hypervisor"

// ProbeXen reports whether this domain runs under Xen and what Xen says
// about its TSC. It never faults: the forced-emulation CPUID is used only
// when sysfs says this is a Xen PV guest.
func ProbeXen() XenInfo {
	if !haveTSC {
		return XenInfo{Present: sysfsXenType() == "xen", GuestType: sysfsGuestType()}
	}
	return probeXen(cpuid, xenForcedCpuid, sysfsXenType(), sysfsGuestType())
}

func probeXen(plain, forced cpuidFunc, hvType, guestType string) XenInfo {
	info := XenInfo{GuestType: guestType}
	if base, ok := findXenBase(plain); ok {
		info.Present = true
		info.Base = base
		fillXen(&info, plain)
		return info
	}
	if hvType == "xen" {
		info.Present = true
		// A PV guest without CPUID faulting sees native CPUID; Xen answers
		// its own leaves only through the forced-emulation prefix.
		if guestType == "PV" && forced != nil {
			if base, ok := findXenBase(forced); ok {
				info.Base = base
				info.Forced = true
				fillXen(&info, forced)
			}
		}
	}
	return info
}

func findXenBase(f cpuidFunc) (uint32, bool) {
	// Leaf 1 ECX bit 31: a hypervisor is present. Without it the 0x4000xxxx
	// leaves are not defined and real CPUs return garbage for them.
	if _, _, c, _ := f(1, 0); c&(1<<31) == 0 {
		// PV guests may not see the bit; the forced path still finds Xen.
		if a, b, c2, d := f(xenCPUIDFirst, 0); !(b == xenSignatureEBX && c2 == xenSignatureECX && d == xenSignatureEDX && a >= xenCPUIDFirst+2) {
			return 0, false
		}
	}
	for base := uint32(xenCPUIDFirst); base <= xenCPUIDLast; base += 0x100 {
		a, b, c, d := f(base, 0)
		if b == xenSignatureEBX && c == xenSignatureECX && d == xenSignatureEDX && a >= base+2 && a < base+0x100 {
			return base, true
		}
	}
	return 0, false
}

func fillXen(info *XenInfo, f cpuidFunc) {
	maxLeaf, _, _, _ := f(info.Base, 0)
	v, _, _, _ := f(info.Base+1, 0)
	info.Major, info.Minor = uint16(v>>16), uint16(v)
	if maxLeaf < info.Base+3 {
		return
	}
	a, b, c, d := f(info.Base+3, 0)
	t := XenTSC{
		Valid:        true,
		Emulated:     a&xenTSCEmulated != 0,
		HostReliable: a&xenHostTSCReliable != 0,
		Mode:         b,
		GuestKHz:     c,
		Incarnation:  d,
	}
	lo, hi, mul, shift := f(info.Base+3, 1)
	t.Offset = uint64(hi)<<32 | uint64(lo)
	t.ScaleMul, t.ScaleShift = mul, int8(shift)
	t.HostKHz, _, _, _ = f(info.Base+3, 2)
	info.TSC = t
}

func readSysfs(name string) string {
	b, err := os.ReadFile(sysHypervisor + "/" + name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Paths a Xen domain shows without privileges; variables for tests.
var (
	procXen          = "/proc/xen"
	availClocksource = "/sys/devices/system/clocksource/clocksource0/available_clocksource"
)

// sysfsXenType is "xen" when Linux shows any sign of running on Xen: the
// sys/hypervisor type (needs CONFIG_XEN_SYS_HYPERVISOR), xenfs's /proc/xen,
// or the pvclock-based "xen" clocksource. A PV guest without CPUID faulting
// and without the sysfs node would otherwise look like bare metal.
func sysfsXenType() string {
	if t := readSysfs("type"); t != "" {
		return t
	}
	if _, err := os.Stat(procXen); err == nil {
		return "xen"
	}
	if b, err := os.ReadFile(availClocksource); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if f == "xen" {
				return "xen"
			}
		}
	}
	return ""
}

func sysfsGuestType() string { return readSysfs("guest_type") }

// tscVerdict decides whether the TSC may carry a clock, given what Xen says
// and whether the CPU's TSC is invariant. It is pure: tests feed it tables.
func tscVerdict(x XenInfo, invariant bool, p Purpose) error {
	if !invariant {
		return unavailable("tsc", nil,
			"the CPU does not advertise an invariant TSC (CPUID 0x80000007 EDX bit 8): its rate may change with power states; use xen-system under Xen, monotonic-raw otherwise",
			ErrUnstable)
	}
	if !x.Present {
		return nil
	}
	if !x.TSC.Valid {
		return unavailablef("tsc", []error{ErrNotDependent}, nil,
			"running under Xen (guest type %q) but Xen's TSC leaf (CPUID base+3) is not visible, so emulation, scaling and migration cannot be ruled out; use xen-system",
			x.GuestType)
	}
	t := x.TSC
	if t.Emulated || t.Mode == XenTSCModeAlwaysEmulate {
		return unavailablef("tsc", []error{ErrUnstable}, nil,
			"Xen emulates this domain's TSC (vtsc=%v, tsc_mode=%d): every RDTSC traps into the hypervisor and ticks at %d kHz; use xen-system",
			t.Emulated, t.Mode, t.GuestKHz)
	}
	if p == Independent {
		return nil
	}
	if x.GuestType != "PV" {
		gt := x.GuestType
		if gt == "" {
			gt = "unknown (no /sys/hypervisor/guest_type)"
		}
		return unavailablef("tsc", []error{ErrNotDependent}, nil,
			"guest type %s: PVH and HVM guests get a per-domain TSC offset that migration carries over, so the TSC is not the host's timeline; use xen-system", gt)
	}
	if t.Mode != XenTSCModeNative && t.Mode != XenTSCModePVRDTSCP {
		return unavailablef("tsc", []error{ErrNotDependent}, nil,
			"PV guest with tsc_mode=%d: only tsc_mode=native (2) guarantees the TSC is never emulated, e.g. after a migration to a host of another frequency; set tsc_mode=\"native\" in xl.cfg or use xen-system", t.Mode)
	}
	if t.Scaled() {
		return unavailablef("tsc", []error{ErrNotDependent}, nil,
			"Xen scales this domain's TSC (guest %d kHz, host %d kHz): it is not the host's counter; use xen-system", t.GuestKHz, t.HostKHz)
	}
	return nil
}

func (x XenInfo) String() string {
	if !x.Present {
		return "not Xen"
	}
	s := fmt.Sprintf("Xen %d.%d guest type %q", x.Major, x.Minor, x.GuestType)
	if x.TSC.Valid {
		s += fmt.Sprintf(" tsc_mode=%d vtsc=%v gtsc_khz=%d host_khz=%d incarnation=%d",
			x.TSC.Mode, x.TSC.Emulated, x.TSC.GuestKHz, x.TSC.HostKHz, x.TSC.Incarnation)
	}
	return s
}
