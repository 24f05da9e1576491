package hypercall

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/xenradclock/xenradclock/internal/testtool"
)

const abiHeader = "../kernel-patches/include/xenradclock_abi.h"

// The C program prints every size, offset and constant of the header, one
// "name value" per line; the test compares each with the Go mirror.
const abiProbe = `#include <stdio.h>
#include <stddef.h>
#include "xenradclock_abi.h"
#define P(name, v) printf("%s %llu\n", name, (unsigned long long)(v))
#define S(name, v) printf("%s %s\n", name, v)
int main(void) {
	P("XENVER_platform_time", XENVER_platform_time);
	P("XENVER_PT_ABI_VERSION", XENVER_PT_ABI_VERSION);
	P("XENVER_PT_KIND_UNKNOWN", XENVER_PT_KIND_UNKNOWN);
	P("XENVER_PT_KIND_HPET", XENVER_PT_KIND_HPET);
	P("XENVER_PT_KIND_ACPI_PM", XENVER_PT_KIND_ACPI_PM);
	P("XENVER_PT_KIND_PIT", XENVER_PT_KIND_PIT);
	P("XENVER_PT_KIND_TSC", XENVER_PT_KIND_TSC);
	P("XENVER_PT_KIND_OTHER", XENVER_PT_KIND_OTHER);
	P("XENVER_PT_PLATFORM_VALID", XENVER_PT_PLATFORM_VALID);
	P("XENVER_PT_GUEST_TSC_VALID", XENVER_PT_GUEST_TSC_VALID);
	P("sizeof xenver_platform_time", sizeof(struct xenver_platform_time));
	P("offsetof version", offsetof(struct xenver_platform_time, version));
	P("offsetof kind", offsetof(struct xenver_platform_time, kind));
	P("offsetof platform_count", offsetof(struct xenver_platform_time, platform_count));
	P("offsetof platform_hz", offsetof(struct xenver_platform_time, platform_hz));
	P("offsetof system_time_ns", offsetof(struct xenver_platform_time, system_time_ns));
	P("offsetof guest_tsc", offsetof(struct xenver_platform_time, guest_tsc));
	P("offsetof incarnation", offsetof(struct xenver_platform_time, incarnation));
	P("offsetof flags", offsetof(struct xenver_platform_time, flags));
	P("offsetof host_id", offsetof(struct xenver_platform_time, host_id));
	P("sizeof host_id", sizeof(((struct xenver_platform_time *)0)->host_id));
	S("XRST_DEVICE_PATH", XRST_DEVICE_PATH);
	S("XRST_MISC_NAME", XRST_MISC_NAME);
	P("XRST_MAGIC", XRST_MAGIC);
	P("XRST_VERSION", XRST_VERSION);
	P("XRST_FLAG_TSC_STABLE", XRST_FLAG_TSC_STABLE);
	P("sizeof xrst_sample", sizeof(struct xrst_sample));
	P("offsetof magic", offsetof(struct xrst_sample, magic));
	P("offsetof s.version", offsetof(struct xrst_sample, version));
	P("offsetof s.system_time_ns", offsetof(struct xrst_sample, system_time_ns));
	P("offsetof resume_gen", offsetof(struct xrst_sample, resume_gen));
	P("offsetof s.flags", offsetof(struct xrst_sample, flags));
	P("offsetof reserved", offsetof(struct xrst_sample, reserved));
	P("XRST_IOC_READ", XRST_IOC_READ);
	P("XRST_IOC_PLATFORM", XRST_IOC_PLATFORM);
	P("sizeof xrst_platform", sizeof(struct xrst_platform));
	P("offsetof p.host_id", offsetof(struct xrst_platform, host_id));
	{ unsigned int m = XRST_MAGIC; const unsigned char *b = (const unsigned char *)&m;
	  printf("XRST_MAGIC bytes %c%c%c%c\n", b[0], b[1], b[2], b[3]); }
	return 0;
}
`

func compileProbe(t *testing.T) map[string]string {
	t.Helper()
	gcc := testtool.Require(t, "gcc")
	dir := t.TempDir()
	src := filepath.Join(dir, "probe.c")
	if err := os.WriteFile(src, []byte(abiProbe), 0o644); err != nil {
		t.Fatal(err)
	}
	inc, _ := filepath.Abs(filepath.Dir(abiHeader))
	bin := filepath.Join(dir, "probe")
	// -Wpadded -Werror: the header promises no implicit padding.
	cmd := exec.Command(gcc, "-std=c11", "-Wall", "-Wextra", "-Wpadded", "-Werror", "-I", inc, "-o", bin, src)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compiling the ABI probe against %s: %v\n%s", abiHeader, err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("running the ABI probe: %v", err)
	}
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		vals[line[:i]] = line[i+1:]
	}
	return vals
}

func TestABIHeaderMatchesGo(t *testing.T) {
	c := compileProbe(t)
	var pt PlatformTime
	var s SystimeSample
	want := map[string]uint64{
		"XENVER_platform_time":        XenverPlatformTime,
		"XENVER_PT_ABI_VERSION":       PTABIVersion,
		"XENVER_PT_KIND_UNKNOWN":      PTKindUnknown,
		"XENVER_PT_KIND_HPET":         PTKindHPET,
		"XENVER_PT_KIND_ACPI_PM":      PTKindACPIPM,
		"XENVER_PT_KIND_PIT":          PTKindPIT,
		"XENVER_PT_KIND_TSC":          PTKindTSC,
		"XENVER_PT_KIND_OTHER":        PTKindOther,
		"XENVER_PT_PLATFORM_VALID":    PTPlatformValid,
		"XENVER_PT_GUEST_TSC_VALID":   PTGuestTSCValid,
		"sizeof xenver_platform_time": uint64(unsafe.Sizeof(pt)),
		"offsetof version":            uint64(unsafe.Offsetof(pt.Version)),
		"offsetof kind":               uint64(unsafe.Offsetof(pt.Kind)),
		"offsetof platform_count":     uint64(unsafe.Offsetof(pt.PlatformCount)),
		"offsetof platform_hz":        uint64(unsafe.Offsetof(pt.PlatformHz)),
		"offsetof system_time_ns":     uint64(unsafe.Offsetof(pt.SystemTimeNs)),
		"offsetof guest_tsc":          uint64(unsafe.Offsetof(pt.GuestTSC)),
		"offsetof incarnation":        uint64(unsafe.Offsetof(pt.Incarnation)),
		"offsetof flags":              uint64(unsafe.Offsetof(pt.Flags)),
		"offsetof host_id":            uint64(unsafe.Offsetof(pt.HostID)),
		"sizeof host_id":              uint64(len(pt.HostID)),
		"XRST_MAGIC":                  SystimeMagic,
		"XRST_VERSION":                SystimeVersion,
		"XRST_FLAG_TSC_STABLE":        SystimeTSCStable,
		"sizeof xrst_sample":          uint64(unsafe.Sizeof(s)),
		"offsetof magic":              uint64(unsafe.Offsetof(s.Magic)),
		"offsetof s.version":          uint64(unsafe.Offsetof(s.Version)),
		"offsetof s.system_time_ns":   uint64(unsafe.Offsetof(s.SystemTimeNs)),
		"offsetof resume_gen":         uint64(unsafe.Offsetof(s.ResumeGen)),
		"offsetof s.flags":            uint64(unsafe.Offsetof(s.Flags)),
		"offsetof reserved":           uint64(unsafe.Offsetof(s.Reserved)),
		"XRST_IOC_READ":               uint64(SystimeIocRead),
		"XRST_IOC_PLATFORM":           uint64(SystimeIocPlatform),
		"sizeof xrst_platform":        PlatformTimeSize,
		"offsetof p.host_id":          uint64(unsafe.Offsetof(pt.HostID)),
	}
	for name, w := range want {
		got, ok := c[name]
		if !ok {
			t.Errorf("%s: not printed by the C probe", name)
			continue
		}
		if g, err := strconv.ParseUint(got, 10, 64); err != nil || g != w {
			t.Errorf("%s: C says %s, Go says %d", name, got, w)
		}
	}
	for name, w := range map[string]string{
		"XRST_DEVICE_PATH": SystimeDevicePath,
		"XRST_MISC_NAME":   SystimeMiscName,
		"XRST_MAGIC bytes": "XRST",
	} {
		if c[name] != w {
			t.Errorf("%s: C says %q, Go says %q", name, c[name], w)
		}
	}
	if len(c) != len(want)+3 {
		t.Errorf("the C probe printed %d values, the test checks %d", len(c), len(want)+3)
	}
}

// The documented layout, independent of both the C header and the Go
// struct: docs/kernel-abi.md's tables.
func TestABIDocumentedLayout(t *testing.T) {
	var pt PlatformTime
	var s SystimeSample
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"PlatformTime size", unsafe.Sizeof(pt), 64},
		{"Version", unsafe.Offsetof(pt.Version), 0},
		{"Kind", unsafe.Offsetof(pt.Kind), 4},
		{"PlatformCount", unsafe.Offsetof(pt.PlatformCount), 8},
		{"PlatformHz", unsafe.Offsetof(pt.PlatformHz), 16},
		{"SystemTimeNs", unsafe.Offsetof(pt.SystemTimeNs), 24},
		{"GuestTSC", unsafe.Offsetof(pt.GuestTSC), 32},
		{"Incarnation", unsafe.Offsetof(pt.Incarnation), 40},
		{"Flags", unsafe.Offsetof(pt.Flags), 44},
		{"HostID", unsafe.Offsetof(pt.HostID), 48},
		{"SystimeSample size", unsafe.Sizeof(s), 32},
		{"Magic", unsafe.Offsetof(s.Magic), 0},
		{"s.Version", unsafe.Offsetof(s.Version), 4},
		{"s.SystemTimeNs", unsafe.Offsetof(s.SystemTimeNs), 8},
		{"ResumeGen", unsafe.Offsetof(s.ResumeGen), 16},
		{"s.Flags", unsafe.Offsetof(s.Flags), 24},
		{"Reserved", unsafe.Offsetof(s.Reserved), 28},
		{"privcmd_hypercall size", unsafe.Sizeof(privcmdHypercall{}), 48},
		{"XRST_IOC_PLATFORM", uintptr(SystimeIocPlatform), 0x80405802},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, documented %d", c.name, c.got, c.want)
		}
	}
	if SystimeIocRead != 0x80205801 || IoctlPrivcmdHypercall != 0x00305000 {
		t.Errorf("ioctl numbers %#x %#x", SystimeIocRead, IoctlPrivcmdHypercall)
	}
}
