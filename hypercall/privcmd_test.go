//go:build linux

package hypercall

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fakePrivcmd is a Privcmd whose ioctl is a function of the test's: the
// seam through which a hypervisor's answers and errnos are injected.
// The fake checks that the call's argument points at the page and hands
// the page to the test as the hypervisor's view of guest memory.
func fakePrivcmd(t *testing.T, ioctl func(call *privcmdHypercall, guest []byte) syscall.Errno) *Privcmd {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	p := &Privcmd{fd: int(f.Fd()), buf: make([]byte, 4096)}
	p.ioctl = func(fd uintptr, arg unsafe.Pointer) (uintptr, syscall.Errno) {
		c := (*privcmdHypercall)(arg)
		if c.Arg[1] != uint64(uintptr(unsafe.Pointer(&p.buf[0]))) {
			t.Errorf("argument %#x does not point at the hypercall page", c.Arg[1])
			return 0, syscall.EFAULT
		}
		return 0, ioctl(c, p.buf[:PlatformTimeSize])
	}
	return p
}

func TestPlatformTimeCall(t *testing.T) {
	want := platformVector()
	p := fakePrivcmd(t, func(c *privcmdHypercall, buf []byte) syscall.Errno {
		if c.Op != HypervisorXenVersion || c.Arg[0] != XenverPlatformTime {
			t.Errorf("hypercall op %d args %x", c.Op, c.Arg)
			return syscall.EINVAL
		}
		if v := binary.LittleEndian.Uint32(buf); v != PTABIVersion {
			t.Errorf("IN version %d", v)
		}
		enc, _ := want.MarshalBinary()
		copy(buf, enc)
		return 0
	})
	got, err := p.PlatformTime()
	if err != nil || got != want {
		t.Fatalf("PlatformTime = %+v, %v", got, err)
	}
}

// Every errno the hypervisor or the driver can return becomes a distinct
// error that errors.Is recognises, and that still unwraps to the errno.
func TestPlatformTimeErrnoMapping(t *testing.T) {
	all := []error{ErrNotPatched, ErrPermission, ErrBadVersion, ErrFault, ErrFailed, ErrNoDevice, ErrNotXen}
	for _, c := range []struct {
		errno syscall.Errno
		want  error
		says  string
	}{
		{syscall.ENOSYS, ErrNotPatched, "xen-system"},
		{syscall.EPERM, ErrPermission, "platform_time = 0"},
		{syscall.EACCES, ErrPermission, "XSM"},
		{syscall.EINVAL, ErrBadVersion, "version"},
		{syscall.EFAULT, ErrFault, "page"},
		{syscall.EIO, ErrFailed, "input/output"},
	} {
		p := fakePrivcmd(t, func(*privcmdHypercall, []byte) syscall.Errno { return c.errno })
		_, err := p.PlatformTime()
		if !errors.Is(err, c.want) || !errors.Is(err, c.errno) {
			t.Errorf("%v: got %v, want %v", c.errno, err, c.want)
		}
		for _, other := range all {
			if other != c.want && errors.Is(err, other) {
				t.Errorf("%v: %v also matches %v", c.errno, err, other)
			}
		}
		if !contains(err.Error(), c.says) {
			t.Errorf("%v: message %q does not say %q", c.errno, err, c.says)
		}
	}
}

func TestPlatformTimeMalformedAnswer(t *testing.T) {
	p := fakePrivcmd(t, func(_ *privcmdHypercall, buf []byte) syscall.Errno {
		buf[0] = 7 // a hypervisor answering in another version
		return 0
	})
	if _, err := p.PlatformTime(); !errors.Is(err, ErrFailed) {
		t.Errorf("malformed answer: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	oldPaths, oldHV, oldProc, oldCS := privcmdPaths, sysHypervisor, procXen, clocksources
	t.Cleanup(func() { privcmdPaths, sysHypervisor, procXen, clocksources = oldPaths, oldHV, oldProc, oldCS })
	clocksources = filepath.Join(dir, "cs")

	privcmdPaths = []string{filepath.Join(dir, "privcmd")}
	sysHypervisor = filepath.Join(dir, "type")
	procXen = filepath.Join(dir, "proc-xen")
	if _, err := Open(); !errors.Is(err, ErrNotXen) {
		t.Errorf("no Xen: %v", err)
	}
	os.WriteFile(clocksources, []byte("xen tsc\n"), 0o644)
	if _, err := Open(); !errors.Is(err, ErrNoDevice) {
		t.Errorf("Xen (by its clocksource) without privcmd: %v", err)
	}
	os.Remove(clocksources)
	os.WriteFile(sysHypervisor, []byte("xen\n"), 0o644)
	if _, err := Open(); !errors.Is(err, ErrNoDevice) || !contains(err.Error(), "modprobe") {
		t.Errorf("Xen without privcmd: %v", err)
	}
	if os.Geteuid() != 0 {
		os.WriteFile(privcmdPaths[0], nil, 0o000)
		if _, err := Open(); !errors.Is(err, ErrPermission) {
			t.Errorf("unreadable privcmd: %v", err)
		}
	}
	if e := openError("/x", syscall.EPERM); !errors.Is(e, ErrPermission) || !contains(e.Error(), SystimeDevicePath) {
		t.Errorf("EPERM at open: %v", e)
	}
}

// On a real Xen Dom0 (or a DomU allowed the hypercall) this makes the call.
func TestPlatformTimeRealXen(t *testing.T) {
	p, err := Open()
	if err != nil {
		t.Skipf("skipping the real hypercall: %v", err)
	}
	defer p.Close()
	a, err := p.PlatformTime()
	if errors.Is(err, ErrNotPatched) || errors.Is(err, ErrPermission) {
		t.Skipf("skipping the real hypercall: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.PlatformTime()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("platform timer %s at %d Hz: %+v", KindName(a.Kind), a.PlatformHz, a)
	if a.HostID != b.HostID || a.SystemTimeNs > b.SystemTimeNs || (a.PlatformValid() && a.PlatformCount > b.PlatformCount) {
		t.Errorf("two calls disagree: %+v then %+v", a, b)
	}
}

func BenchmarkPlatformTimeReal(b *testing.B) {
	p, err := Open()
	if err != nil {
		b.Skip(err)
	}
	defer p.Close()
	if _, err := p.PlatformTime(); err != nil {
		b.Skip(err)
	}
	for i := 0; i < b.N; i++ {
		p.PlatformTime()
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestHypercallPage(t *testing.T) {
	b, unmap, err := hypercallPage()
	if err != nil {
		t.Skipf("cannot lock a page here (RLIMIT_MEMLOCK?): %v", err)
	}
	if len(b) != os.Getpagesize() || !unmap {
		t.Errorf("page of %d bytes, unmap %v", len(b), unmap)
	}
	b[0], b[len(b)-1] = 1, 2
	if err := unix.Munmap(b); err != nil {
		t.Error(err)
	}
}

func TestReadPlatformTimeHere(t *testing.T) {
	_, err := ReadPlatformTime()
	if err == nil {
		t.Log("a patched Xen answered")
		return
	}
	var he *Error
	if !errors.As(err, &he) {
		t.Fatalf("not a hypercall.Error: %v", err)
	}
	if !IsXen() && !errors.Is(err, ErrNotXen) {
		t.Errorf("outside Xen: %v", err)
	}
	t.Logf("here: %v", err)
}
