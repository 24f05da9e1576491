package counter

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/xenradclock/xenradclock/hypercall"
)

func systimeFile(t *testing.T, s hypercall.SystimeSample) string {
	b, _ := s.MarshalBinary()
	p := filepath.Join(t.TempDir(), "systime")
	if err := os.WriteFile(p, b, 0o444); err != nil {
		t.Fatal(err)
	}
	return p
}

// The xen-system counter over a file holding a sample: the device's read
// format, decoded through the same pread path.
func TestXenSystemFromSample(t *testing.T) {
	p := systimeFile(t, hypercall.SystimeSample{Magic: hypercall.SystimeMagic, Version: 1, SystemTimeNs: 987654321, ResumeGen: 3, Flags: hypercall.SystimeTSCStable})
	x, err := OpenXenSystem(p)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	r, err := x.Read()
	if err != nil || r.Count != 987654321 || r.Identity != 3 || !x.TSCStable() || x.NominalHz() != 1e9 {
		t.Fatalf("Read = %+v, %v", r, err)
	}
	if err := CheckPurpose(x, Dependent); err != nil {
		t.Errorf("xen-system refused for a dependent clock: %v", err)
	}
	x.Close()
	if _, err := x.Read(); err == nil {
		t.Error("read after Close succeeded")
	}
}

func TestXenSystemErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenXenSystem(filepath.Join(dir, "missing"))
	if !errors.Is(err, ErrNoDevice) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("missing device: %v", err)
	}
	if !ProbeXen().Present && !errors.Is(err, ErrNotXen) {
		t.Errorf("missing device outside Xen does not say so: %v", err)
	}
	bad := systimeFile(t, hypercall.SystimeSample{Magic: 0x12345678, Version: 1, ResumeGen: 1})
	if _, err := OpenXenSystem(bad); !errors.Is(err, ErrBadData) || !errors.Is(err, hypercall.ErrMalformed) {
		t.Errorf("bad magic: %v", err)
	}
	long := filepath.Join(dir, "long")
	os.WriteFile(long, make([]byte, 64), 0o444)
	if _, err := OpenXenSystem(long); !errors.Is(err, ErrBadData) {
		t.Errorf("oversized answer: %v", err)
	}
	if err := xenSystemOpenError("/dev/xen/systime", syscall.EACCES); !errors.Is(err, ErrPermission) {
		t.Errorf("EACCES: %v", err)
	}
}

// Inside a Xen domain with the module loaded this reads the real device.
func TestXenSystemReal(t *testing.T) {
	if err := systimeExists(); err != nil {
		t.Skipf("skipping the real xen-system counter: %v (runs inside the Xen test VMs with xenradclock_systime loaded)", err)
	}
	c, err := Open("xen-system")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Read()
	var b Reading
	for i := 0; i < 1000; i++ {
		if b, err = c.Read(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("xen system time %d ns, resume generation %d", b.Count, b.Identity)
	if b.Count <= a.Count || b.Identity < a.Identity || a.Identity == 0 {
		t.Errorf("xen-system went from %+v to %+v", a, b)
	}
}

type fakePlatform struct {
	s      hypercall.PlatformTime
	err    error
	closed bool
}

func (f *fakePlatform) PlatformTime() (hypercall.PlatformTime, error) {
	f.s.PlatformCount += 100
	return f.s, f.err
}
func (f *fakePlatform) Close() error { f.closed = true; return nil }

func TestXenPlatformFromHypercall(t *testing.T) {
	f := &fakePlatform{s: hypercall.PlatformTime{Version: 1, Kind: hypercall.PTKindHPET, PlatformHz: 100e6, Flags: hypercall.PTPlatformValid, Incarnation: 2}}
	copy(f.s.HostID[:], "host-one-id-0123")
	x, err := newXenPlatform(f)
	if err != nil {
		t.Fatal(err)
	}
	r1, _ := x.Read()
	if r1.Count != 200 || x.NominalHz() != 100e6 || x.TimerKind() != "HPET" || r1.Identity != PlatformIdentity(f.s.HostID, 2) {
		t.Fatalf("Read = %+v", r1)
	}
	f.s.Incarnation = 3 // a migration: new incarnation (and, really, a new host)
	r2, _ := x.Read()
	if r2.Identity == r1.Identity {
		t.Error("identity unchanged across incarnations")
	}
	f.s.HostID[0] ^= 1
	f.s.Incarnation = 2
	if r3, _ := x.Read(); r3.Identity == r1.Identity {
		t.Error("identity unchanged across hosts")
	}
}

// Each hypercall failure becomes the matching counter reason at Open.
func TestXenPlatformUnavailableAtOpen(t *testing.T) {
	cases := []struct {
		err  error
		want error
	}{
		{&hypercall.Error{Op: "x", Reason: hypercall.ErrNotPatched, Errno: syscall.ENOSYS}, ErrNotPatched},
		{&hypercall.Error{Op: "x", Reason: hypercall.ErrPermission, Errno: syscall.EPERM}, ErrPermission},
		{&hypercall.Error{Op: "x", Reason: hypercall.ErrNoDevice, Errno: syscall.ENOENT}, ErrNoDevice},
		{&hypercall.Error{Op: "x", Reason: hypercall.ErrNotXen}, ErrNotXen},
	}
	for _, c := range cases {
		_, err := newXenPlatform(&fakePlatform{err: c.err})
		if !errors.Is(err, c.want) || !errors.Is(err, ErrUnavailable) || !errors.Is(err, c.err) {
			t.Errorf("%v: got %v, want %v", c.err, err, c.want)
		}
	}
	_, err := newXenPlatform(&fakePlatform{s: hypercall.PlatformTime{Version: 1, Kind: hypercall.PTKindTSC}})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("no valid platform timer accepted: %v", err)
	}
	_, err = OpenXenPlatform()
	if err == nil {
		t.Log("xen-platform opened: running on a patched Xen")
	} else if !errors.Is(err, ErrUnavailable) {
		t.Errorf("OpenXenPlatform here: %v", err)
	} else {
		t.Logf("xen-platform here: %v", err)
	}
}

func TestXenPlatformReal(t *testing.T) {
	x, err := OpenXenPlatform()
	if err != nil {
		t.Skipf("skipping the real xen-platform counter: %v (runs in a Dom0 of the patched Xen in the test VMs)", err)
	}
	defer x.Close()
	a, _ := x.Read()
	b, err := x.Read()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s at %.0f Hz: %+v then %+v", x.TimerKind(), x.NominalHz(), a, b)
	if b.Count < a.Count || a.Identity != b.Identity {
		t.Errorf("went from %+v to %+v", a, b)
	}
}

func fakeHPETRegs(periodFs uint64, wide bool, counter uint64) []byte {
	mem := make([]byte, hpetMapSize)
	caps := periodFs << 32
	if wide {
		caps |= hpetCapCount64
	}
	binary.LittleEndian.PutUint64(mem[hpetRegCaps:], caps)
	binary.LittleEndian.PutUint64(mem[hpetRegCounter:], counter)
	return mem
}

func TestHPETRegisters(t *testing.T) {
	mem := fakeHPETRegs(69841279, true, 0x1_2345_6789) // 14.318 MHz, 64-bit
	h, err := newHPET(mem)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := h.Read(); r.Count != 0x1_2345_6789 || !h.Wide() || h.NominalHz() < 14.3179e6 || h.NominalHz() > 14.3182e6 {
		t.Errorf("wide read %+v at %g Hz", r, h.NominalHz())
	}
	for _, p := range []uint64{0, 100_000_001} {
		if _, err := newHPET(fakeHPETRegs(p, false, 0)); !errors.Is(err, ErrBadData) {
			t.Errorf("period %d fs accepted: %v", p, err)
		}
	}
}

// A 32-bit HPET wraps every 2^32 ticks; the reader carries the wraps.
func TestHPETWrapExtension(t *testing.T) {
	mem := fakeHPETRegs(100_000_000, false, 0xffff_ff00)
	h, err := newHPET(mem)
	if err != nil {
		t.Fatal(err)
	}
	set := func(v uint32) { binary.LittleEndian.PutUint32(mem[hpetRegCounter:], v) }
	var got []uint64
	for _, v := range []uint32{0xffff_ff80, 0x10, 0x8000_0000, 0xffff_fff0, 5} {
		set(v)
		r, _ := h.Read()
		got = append(got, r.Count)
	}
	want := []uint64{0xffff_ff80, 1<<32 | 0x10, 1<<32 | 0x8000_0000, 1<<32 | 0xffff_fff0, 2<<32 | 5}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("read %d = %#x, want %#x", i, got[i], want[i])
		}
	}
}

func TestHPETReal(t *testing.T) {
	h, err := OpenHPET(hpetPath)
	if err != nil {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("not an UnavailableError: %v", err)
		}
		t.Skipf("skipping the real HPET: %v", err)
	}
	defer h.Close()
	a, _ := h.Read()
	b, _ := h.Read()
	t.Logf("HPET %.0f Hz, 64-bit %v: %d then %d", h.NominalHz(), h.Wide(), a.Count, b.Count)
	if b.Count < a.Count {
		t.Errorf("HPET went back")
	}
}

// xen-system's identity (resume_gen) is the domain's own; the others' are
// shared timelines a guest compares with Dom0's record.
func TestIdentityIsLocal(t *testing.T) {
	if !IdentityIsLocal(&XenSystem{}) {
		t.Error("xen-system: identity not local")
	}
	if IdentityIsLocal(&Simulated{}) {
		t.Error("simulated: identity local")
	}
}
