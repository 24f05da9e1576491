package counter

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"github.com/xenradclock/xenradclock/hypercall"
)

func validPlatformSample() hypercall.PlatformTime {
	s := hypercall.PlatformTime{Version: 1, Kind: hypercall.PTKindHPET, PlatformCount: 12345, PlatformHz: 14318180,
		SystemTimeNs: 777, Flags: hypercall.PTPlatformValid, Incarnation: 4}
	copy(s.HostID[:], "host-two-id-4567")
	return s
}

// injectTimers replaces the two ways to the hypercall for one test.
func injectTimers(t *testing.T, privcmd, device func() (platformTimer, error)) {
	t.Helper()
	op, od := openPrivcmdTimer, openDeviceTimer
	openPrivcmdTimer, openDeviceTimer = privcmd, device
	t.Cleanup(func() { openPrivcmdTimer, openDeviceTimer = op, od })
}

func timerOf(f *fakePlatform, err error) func() (platformTimer, error) {
	return func() (platformTimer, error) {
		if err != nil {
			return nil, err
		}
		return f, nil
	}
}

var (
	errPrivcmdMissing = &hypercall.Error{Op: "open /dev/xen/privcmd", Reason: hypercall.ErrNoDevice}
	errXenDenied      = &hypercall.Error{Op: "XENVER_platform_time", Reason: hypercall.ErrPermission, Errno: syscall.EPERM}
	errXenUnpatched   = &hypercall.Error{Op: "XENVER_platform_time", Reason: hypercall.ErrNotPatched, Errno: syscall.ENOSYS}
)

// Dom0 as root: privcmd works and the device is not touched.
func TestOpenXenPlatformPrefersPrivcmd(t *testing.T) {
	pc := &fakePlatform{s: validPlatformSample()}
	injectTimers(t, timerOf(pc, nil), func() (platformTimer, error) {
		t.Error("device opened although privcmd works")
		return nil, errPrivcmdMissing
	})
	x, err := OpenXenPlatform()
	if err != nil || x.Via() != "privcmd" {
		t.Fatalf("OpenXenPlatform = %v, %v", x, err)
	}
}

// A DomU: privcmd missing, unreadable, or restricted (the call gets EPERM):
// the device's ioctl serves, and privcmd's failed handle is closed.
func TestOpenXenPlatformFallsBackToDevice(t *testing.T) {
	restricted := &fakePlatform{err: errXenDenied}
	for name, privcmd := range map[string]func() (platformTimer, error){
		"missing":    timerOf(nil, errPrivcmdMissing),
		"unreadable": timerOf(nil, &hypercall.Error{Op: "open /dev/xen/privcmd", Reason: hypercall.ErrPermission}),
		"restricted": timerOf(restricted, nil),
	} {
		dev := &fakePlatform{s: validPlatformSample()}
		injectTimers(t, privcmd, timerOf(dev, nil))
		x, err := OpenXenPlatform()
		if err != nil || x.Via() != hypercall.SystimeDevicePath {
			t.Fatalf("%s: OpenXenPlatform = %v, %v", name, x, err)
		}
		if r, err := x.Read(); err != nil || r.Identity != PlatformIdentity(dev.s.HostID, 4) {
			t.Errorf("%s: Read = %+v, %v", name, r, err)
		}
	}
	if !restricted.closed {
		t.Error("the restricted privcmd was not closed")
	}
}

// An unpatched hypervisor answers ENOSYS through privcmd: the device would
// say the same, so it is not tried and the reason is ErrNotPatched.
func TestOpenXenPlatformUnpatchedDoesNotFallBack(t *testing.T) {
	injectTimers(t, timerOf(&fakePlatform{err: errXenUnpatched}, nil), func() (platformTimer, error) {
		t.Error("device opened after ENOSYS")
		return nil, errPrivcmdMissing
	})
	if _, err := OpenXenPlatform(); !errors.Is(err, ErrNotPatched) {
		t.Fatalf("err = %v, want ErrNotPatched", err)
	}
}

// Both paths fail: both reasons are in the error.
func TestOpenXenPlatformBothFail(t *testing.T) {
	injectTimers(t, timerOf(nil, errPrivcmdMissing), timerOf(&fakePlatform{err: errXenDenied}, nil))
	_, err := OpenXenPlatform()
	if !errors.Is(err, ErrPermission) || !errors.Is(err, ErrNoDevice) {
		t.Fatalf("err = %v, want the device's ErrPermission and privcmd's ErrNoDevice", err)
	}
}

// The device's ioctl: the request number, the decoding of the 64 bytes the
// kernel copied out, and Xen's errno passed through as the hypercall's.
func TestPlatformDeviceIoctl(t *testing.T) {
	want := validPlatformSample()
	raw, err := want.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var errno syscall.Errno
	d := &platformDevice{path: "test", fd: 3, ioctl: func(fd int, req uint, arg unsafe.Pointer) syscall.Errno {
		if req != uint(hypercall.SystimeIocPlatform) || fd != 3 {
			t.Errorf("ioctl(%d, %#x)", fd, req)
		}
		if errno == 0 {
			copy(unsafe.Slice((*byte)(arg), hypercall.PlatformTimeSize), raw)
		}
		return errno
	}}
	got, err := d.PlatformTime()
	if err != nil || got != want {
		t.Fatalf("PlatformTime = %+v, %v; want %+v", got, err, want)
	}
	for e, reason := range map[syscall.Errno]error{syscall.ENOSYS: hypercall.ErrNotPatched, syscall.EPERM: hypercall.ErrPermission,
		syscall.ENOTTY: hypercall.ErrNoDevice} {
		errno = e
		if _, err := d.PlatformTime(); !errors.Is(err, reason) {
			t.Errorf("errno %v: err = %v, want %v", e, err, reason)
		}
	}
	errno = 0
	raw[0] = 2 // version 2: malformed
	if _, err := d.PlatformTime(); !errors.Is(err, hypercall.ErrMalformed) {
		t.Errorf("version 2: err = %v", err)
	}
}

// A regular file is not the device: the ioctl fails (ENOTTY) and says the
// module lacks XRST_IOC_PLATFORM; a missing path says to load the module.
func TestPlatformDeviceOnNonDevice(t *testing.T) {
	p := filepath.Join(t.TempDir(), "systime")
	if err := os.WriteFile(p, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	d, err := openPlatformDevice(p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.PlatformTime(); !errors.Is(err, hypercall.ErrNoDevice) {
		t.Errorf("err = %v", err)
	}
	if _, err := openPlatformDevice(p + ".missing"); !errors.Is(err, hypercall.ErrNoDevice) {
		t.Errorf("missing: err = %v", err)
	}
}
