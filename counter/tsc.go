package counter

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

func init() { Register("tsc", func() (Counter, error) { return OpenTSC() }) }

// TSC is the CPU's time-stamp counter read with RDTSC (after an LFENCE, so
// a stamp is not taken before earlier instructions complete).
//
// Identity: outside Xen, a per-boot constant; under Xen, the domain's
// incarnation (CPUID leaf base+3 EDX), read before and after RDTSC and
// retried until both agree, so the count provably belongs to that
// incarnation. Under Xen every Read therefore costs two CPUID traps.
type TSC struct {
	hz       float64
	hzSource string
	xen      XenInfo
	identity uint64 // outside Xen
	cpuid    cpuidFunc
	boot     uint64
}

var (
	tscOnce sync.Once
	tscInst *TSC
	tscErr  error
)

// OpenTSC opens the tsc counter. It fails when the CPU has no TSC usable as a
// counter: another architecture, a TSC that is not invariant, or one that
// Xen emulates. Whether it may carry a dependent clock is a separate check:
// CheckPurpose(c, Dependent), or OpenFor("tsc", Dependent).
func OpenTSC() (*TSC, error) {
	tscOnce.Do(func() { tscInst, tscErr = openTSC() })
	return tscInst, tscErr
}

func openTSC() (*TSC, error) {
	if !haveTSC {
		return nil, unavailable("tsc", nil, "RDTSC exists only on amd64 in this build", ErrUnsupportedArch)
	}
	xen := ProbeXen()
	if err := tscVerdict(xen, InvariantTSC(), Independent); err != nil {
		return nil, err
	}
	boot, err := BootIdentity()
	if err != nil {
		return nil, unavailable("tsc", err, "cannot derive the per-boot identity", ErrUnavailable)
	}
	t := &TSC{xen: xen, identity: boot, boot: boot}
	if xen.Present && xen.TSC.Valid {
		t.cpuid = cpuid
		if xen.Forced {
			t.cpuid = xenForcedCpuid
		}
	}
	t.hz, t.hzSource = tscFrequency(xen)
	if t.hz <= 0 {
		return nil, unavailable("tsc", nil, "cannot determine the TSC frequency", ErrUnavailable)
	}
	return t, nil
}

// InvariantTSC reports CPUID 0x80000007 EDX bit 8: the TSC ticks at a
// constant rate in every P-, C- and T-state.
func InvariantTSC() bool {
	if !haveTSC {
		return false
	}
	maxExt, _, _, _ := cpuid(0x80000000, 0)
	if maxExt < 0x80000007 {
		return false
	}
	_, _, _, d := cpuid(0x80000007, 0)
	return d&(1<<8) != 0
}

func (t *TSC) Name() string       { return "tsc" }
func (t *TSC) Kind() Kind         { return KindTSC }
func (t *TSC) NominalHz() float64 { return t.hz }

// FrequencySource says where NominalHz came from ("cpuid 0x15", "xen
// gtsc_khz", "sysfs tsc_freq_khz", "cpuid 0x40000010", "cpuid 0x16",
// "calibrated against CLOCK_MONOTONIC_RAW").
func (t *TSC) FrequencySource() string { return t.hzSource }

// Xen is what Open learnt about Xen.
func (t *TSC) Xen() XenInfo { return t.xen }

// Read returns the TSC and its timeline identity.
func (t *TSC) Read() (Reading, error) {
	if t.cpuid == nil {
		return Reading{Count: rdtsc(), Identity: t.identity}, nil
	}
	base := t.xen.Base + 3
	for {
		_, _, _, inc1 := t.cpuid(base, 0)
		c := rdtsc()
		_, _, _, inc2 := t.cpuid(base, 0)
		if inc1 == inc2 {
			return Reading{Count: c, Identity: t.boot ^ uint64(inc1)}, nil
		}
	}
}

// checkPurpose implements purposeChecker.
func (t *TSC) checkPurpose(p Purpose) error {
	return tscVerdict(t.xen, true, p)
}

// ReadTSC is the bare LFENCE;RDTSC, for benchmarks and callers that manage
// identity themselves. It returns 0 where there is no TSC.
func ReadTSC() uint64 { return rdtsc() }

// tscFrequency finds the nominal frequency, exact sources first. CPUID 0x16
// comes late although the issue lists it beside 0x15: it is the processor's
// base frequency in whole MHz, which on many parts is not the TSC's.
func tscFrequency(x XenInfo) (float64, string) {
	if hz := cpuid15Hz(); hz > 0 {
		return hz, "cpuid 0x15"
	}
	if x.TSC.Valid && x.TSC.GuestKHz > 0 {
		return float64(x.TSC.GuestKHz) * 1e3, "xen gtsc_khz"
	}
	if b, err := os.ReadFile("/sys/devices/system/cpu/cpu0/tsc_freq_khz"); err == nil {
		if khz, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && khz > 0 {
			return float64(khz) * 1e3, "sysfs tsc_freq_khz"
		}
	}
	if !x.Present {
		// KVM and VMware publish the TSC frequency in kHz here.
		if maxHV, _, _, _ := cpuid(0x40000000, 0); maxHV >= 0x40000010 && maxHV < 0x40010000 {
			if khz, _, _, _ := cpuid(0x40000010, 0); khz > 0 {
				return float64(khz) * 1e3, "cpuid 0x40000010"
			}
		}
	}
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf >= 0x16 {
		if mhz, _, _, _ := cpuid(0x16, 0); mhz&0xffff > 0 {
			return float64(mhz&0xffff) * 1e6, "cpuid 0x16"
		}
	}
	return calibrateTSC(20 * time.Millisecond), "calibrated against CLOCK_MONOTONIC_RAW"
}

// cpuid15Hz: TSC = crystal × EBX/EAX when the crystal frequency (ECX) is
// enumerated.
func cpuid15Hz() float64 {
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf < 0x15 {
		return 0
	}
	den, num, crystal, _ := cpuid(0x15, 0)
	if den == 0 || num == 0 || crystal == 0 {
		return 0
	}
	return float64(crystal) * float64(num) / float64(den)
}

// calibrateTSC measures the TSC against CLOCK_MONOTONIC_RAW over span. Each
// end is the TSC bracketed by two clock reads, keeping the tightest of a few
// tries, so preemption between reads costs accuracy only when every try is
// preempted. A 20 ms span gives a few ppm of resolution: plenty for a nominal
// rate that the estimator refines.
func calibrateTSC(span time.Duration) float64 {
	t0, c0 := bracket()
	time.Sleep(span)
	t1, c1 := bracket()
	if t1 <= t0 || c1 <= c0 {
		return 0
	}
	return float64(c1-c0) / float64(t1-t0) * 1e9
}

func bracket() (ns int64, tsc uint64) {
	best := int64(-1)
	for i := 0; i < 9; i++ {
		a := monoRawNs()
		c := rdtsc()
		b := monoRawNs()
		if d := b - a; best < 0 || d < best {
			best, ns, tsc = d, a+d/2, c
		}
	}
	return ns, tsc
}

func monoRawNs() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

func (t *TSC) String() string {
	return fmt.Sprintf("tsc %.0f Hz (%s), %s", t.hz, t.hzSource, t.xen)
}
