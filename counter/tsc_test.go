package counter

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func openTSCOrSkip(t testing.TB) *TSC {
	c, err := OpenTSC()
	if err != nil {
		t.Skipf("tsc unavailable here: %v", err)
	}
	return c
}

func TestTSCMonotonic(t *testing.T) {
	c := openTSCOrSkip(t)
	t.Logf("%v", c)
	prev, _ := c.Read()
	for i := 0; i < 100000; i++ {
		r, err := c.Read()
		if err != nil {
			t.Fatal(err)
		}
		if r.Count < prev.Count || r.Identity != prev.Identity {
			t.Fatalf("read %d: %+v after %+v", i, r, prev)
		}
		prev = r
	}
}

// Reads pinned to each CPU in turn stay ordered: an invariant TSC is
// synchronised across cores (a host where it is not fails here).
func TestTSCAcrossCPUs(t *testing.T) {
	c := openTSCOrSkip(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var orig unix.CPUSet
	if err := unix.SchedGetaffinity(0, &orig); err != nil {
		t.Skipf("sched_getaffinity: %v", err)
	}
	defer unix.SchedSetaffinity(0, &orig)
	var cpus []int
	for i := 0; i < 1024; i++ {
		if orig.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) < 2 {
		t.Skipf("only %d CPU available", len(cpus))
	}
	prev, _ := c.Read()
	for round := 0; round < 50; round++ {
		for _, cpu := range cpus {
			var one unix.CPUSet
			one.Set(cpu)
			if err := unix.SchedSetaffinity(0, &one); err != nil {
				t.Fatalf("pin to CPU %d: %v", cpu, err)
			}
			r, _ := c.Read()
			if r.Count < prev.Count {
				t.Fatalf("TSC on CPU %d is %d ticks behind the previous read", cpu, prev.Count-r.Count)
			}
			prev = r
		}
	}
}

// The nominal frequency agrees with a fresh calibration against
// CLOCK_MONOTONIC_RAW to 1%, and is within the range of real CPUs.
func TestTSCFrequencySane(t *testing.T) {
	c := openTSCOrSkip(t)
	hz := c.NominalHz()
	if hz < 1e8 || hz > 1e10 {
		t.Fatalf("nominal %g Hz (%s) outside 100 MHz..10 GHz", hz, c.FrequencySource())
	}
	cal := calibrateTSC(20 * time.Millisecond)
	rel := math.Abs(cal-hz) / hz
	t.Logf("nominal %.0f Hz from %s; calibrated %.0f Hz; relative difference %.2e", hz, c.FrequencySource(), cal, rel)
	if rel > 0.01 {
		t.Errorf("nominal %.0f Hz and calibration %.0f Hz differ by %.2f%%", hz, cal, rel*100)
	}
}

func TestInvariantTSCReported(t *testing.T) {
	t.Logf("invariant TSC: %v; %v", InvariantTSC(), ProbeXen())
}

// A fake CPUID answering for a Xen of the given kind.
func fakeXen(base uint32, maxLeaf uint32, tsc [4]uint32, sub1 [4]uint32, hostKHz uint32, hvBit bool) cpuidFunc {
	return func(leaf, sub uint32) (a, b, c, d uint32) {
		switch {
		case leaf == 1:
			if hvBit {
				return 0, 0, 1 << 31, 0
			}
			return 0, 0, 0, 0
		case leaf == base:
			return maxLeaf, xenSignatureEBX, xenSignatureECX, xenSignatureEDX
		case leaf == base+1:
			return 4<<16 | 17, 0, 0, 0
		case leaf == base+3 && sub == 0:
			return tsc[0], tsc[1], tsc[2], tsc[3]
		case leaf == base+3 && sub == 1:
			return sub1[0], sub1[1], sub1[2], sub1[3]
		case leaf == base+3 && sub == 2:
			return hostKHz, 0, 0, 0
		}
		return 0, 0, 0, 0
	}
}

func noCPUID(leaf, sub uint32) (a, b, c, d uint32) { return 0x1234, 0x5678, 0, 0 }

func TestProbeXen(t *testing.T) {
	if x := probeXen(noCPUID, nil, "", ""); x.Present {
		t.Errorf("bare metal probed as %v", x)
	}
	hvm := fakeXen(0x40000100, 0x40000105, [4]uint32{0, XenTSCModeDefault, 2_000_000, 3}, [4]uint32{0x10, 0x2, 7, 0xfe}, 2_000_000, true)
	x := probeXen(hvm, nil, "xen", "HVM")
	if !x.Present || x.Base != 0x40000100 || x.Major != 4 || x.Minor != 17 || !x.TSC.Valid ||
		x.TSC.GuestKHz != 2_000_000 || x.TSC.Incarnation != 3 || x.TSC.Offset != 0x2_00000010 || x.TSC.ScaleShift != -2 || x.TSC.HostKHz != 2_000_000 {
		t.Errorf("HVM probe = %+v", x)
	}
	// A PV guest without CPUID faulting: plain CPUID shows nothing, the
	// forced prefix does, and is only used when sysfs says PV.
	pv := fakeXen(0x40000000, 0x40000005, [4]uint32{0, XenTSCModeNative, 3_000_000, 1}, [4]uint32{}, 3_000_000, true)
	x = probeXen(noCPUID, pv, "xen", "PV")
	if !x.Present || !x.Forced || x.TSC.Mode != XenTSCModeNative {
		t.Errorf("PV forced probe = %+v", x)
	}
	called := false
	trap := func(leaf, sub uint32) (a, b, c, d uint32) { called = true; return }
	x = probeXen(noCPUID, trap, "xen", "HVM")
	if called || !x.Present || x.TSC.Valid {
		t.Errorf("forced CPUID used outside PV (called=%v) or leaves invented: %+v", called, x)
	}
	short := fakeXen(0x40000000, 0x40000002, [4]uint32{}, [4]uint32{}, 0, true)
	if x := probeXen(short, nil, "xen", "PVH"); !x.Present || x.TSC.Valid {
		t.Errorf("max leaf base+2 probed TSC leaf: %+v", x)
	}
}

func TestTSCVerdict(t *testing.T) {
	native := XenTSC{Valid: true, Mode: XenTSCModeNative, GuestKHz: 3e6, HostKHz: 3e6, HostReliable: true}
	with := func(f func(*XenTSC)) XenTSC { x := native; f(&x); return x }
	cases := []struct {
		name      string
		x         XenInfo
		invariant bool
		p         Purpose
		want      error // nil: accepted
	}{
		{"bare metal invariant", XenInfo{}, true, Dependent, nil},
		{"bare metal not invariant", XenInfo{}, false, Independent, ErrUnstable},
		{"PV native", XenInfo{Present: true, GuestType: "PV", TSC: native}, true, Dependent, nil},
		{"PV native, host TSC not invariant", XenInfo{Present: true, GuestType: "PV", TSC: native}, false, Dependent, ErrUnstable},
		{"PV default mode", XenInfo{Present: true, GuestType: "PV", TSC: with(func(x *XenTSC) { x.Mode = XenTSCModeDefault })}, true, Dependent, ErrNotDependent},
		{"PV default mode, independent", XenInfo{Present: true, GuestType: "PV", TSC: with(func(x *XenTSC) { x.Mode = XenTSCModeDefault })}, true, Independent, nil},
		{"PV emulated", XenInfo{Present: true, GuestType: "PV", TSC: with(func(x *XenTSC) { x.Emulated = true })}, true, Independent, ErrUnstable},
		{"PV always_emulate", XenInfo{Present: true, GuestType: "PV", TSC: with(func(x *XenTSC) { x.Mode = XenTSCModeAlwaysEmulate })}, true, Dependent, ErrUnstable},
		{"PV scaled", XenInfo{Present: true, GuestType: "PV", TSC: with(func(x *XenTSC) { x.GuestKHz = 2e6 })}, true, Dependent, ErrNotDependent},
		{"PVH native", XenInfo{Present: true, GuestType: "PVH", TSC: native}, true, Dependent, ErrNotDependent},
		{"HVM native", XenInfo{Present: true, GuestType: "HVM", TSC: native}, true, Dependent, ErrNotDependent},
		{"HVM native, independent", XenInfo{Present: true, GuestType: "HVM", TSC: native}, true, Independent, nil},
		{"unknown guest type", XenInfo{Present: true, TSC: native}, true, Dependent, ErrNotDependent},
		{"leaves invisible", XenInfo{Present: true, GuestType: "PV"}, true, Dependent, ErrNotDependent},
	}
	for _, c := range cases {
		err := tscVerdict(c.x, c.invariant, c.p)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.want) || !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if c.p == Dependent && errors.Is(c.want, ErrNotDependent) && c.x.GuestType != "PV" && !containsStr(err.Error(), "xen-system") {
			t.Errorf("%s: error does not point to xen-system: %v", c.name, err)
		}
	}
}

func containsStr(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// Under Xen the identity is read before and after RDTSC; a migration in
// between (the incarnation changes) forces a retry, so the returned count
// and identity belong together.
func TestTSCIdentityRetriesAcrossIncarnationChange(t *testing.T) {
	if !haveTSC {
		t.Skip("no TSC on this architecture")
	}
	calls := 0
	inc := uint32(5)
	f := func(leaf, sub uint32) (a, b, c, d uint32) {
		calls++
		if calls == 2 { // the migration lands between the first pair of reads
			inc++
		}
		return 0, 0, 0, inc
	}
	tc := &TSC{xen: XenInfo{Present: true, Base: 0x40000000, TSC: XenTSC{Valid: true}}, cpuid: f, boot: 0xabc}
	r, err := tc.Read()
	if err != nil || r.Identity != 0xabc^6 || calls != 4 {
		t.Fatalf("Read = %+v, %v after %d CPUID calls; want identity %x after 4", r, err, calls, 0xabc^6)
	}
}

func BenchmarkRDTSCUnfenced(b *testing.B) {
	var s uint64
	for i := 0; i < b.N; i++ {
		s += rdtscRaw()
	}
	_ = s
}

func BenchmarkRDTSCP(b *testing.B) {
	var s uint64
	for i := 0; i < b.N; i++ {
		v, _ := rdtscp()
		s += v
	}
	_ = s
}

func BenchmarkTimeNow(b *testing.B) {
	var s int64
	for i := 0; i < b.N; i++ {
		s += time.Now().UnixNano()
	}
	_ = s
}

// Xen is recognised from the clocksource list or /proc/xen when the sysfs
// hypervisor node is missing, and a domain whose Xen leaves are invisible is
// then refused the TSC for a dependent clock rather than taken for bare metal.
func TestXenTypeFallbacks(t *testing.T) {
	dir := t.TempDir()
	oldHV, oldProc, oldCS := sysHypervisor, procXen, availClocksource
	t.Cleanup(func() { sysHypervisor, procXen, availClocksource = oldHV, oldProc, oldCS })
	sysHypervisor = filepath.Join(dir, "hv")
	procXen = filepath.Join(dir, "proc-xen")
	availClocksource = filepath.Join(dir, "cs")
	if got := sysfsXenType(); got != "" {
		t.Errorf("nothing present: %q", got)
	}
	os.WriteFile(availClocksource, []byte("tsc kvm-clock\n"), 0o644)
	if got := sysfsXenType(); got != "" {
		t.Errorf("kvm-clock taken for Xen: %q", got)
	}
	os.WriteFile(availClocksource, []byte("xen tsc\n"), 0o644)
	if got := sysfsXenType(); got != "xen" {
		t.Errorf("xen clocksource not recognised: %q", got)
	}
	x := probeXen(noCPUID, nil, sysfsXenType(), "")
	if !x.Present || !errors.Is(tscVerdict(x, true, Dependent), ErrNotDependent) {
		t.Errorf("invisible leaves: %+v accepted", x)
	}
	os.Remove(availClocksource)
	os.Mkdir(procXen, 0o755)
	if got := sysfsXenType(); got != "xen" {
		t.Errorf("/proc/xen not recognised: %q", got)
	}
}
