//go:build linux

package hypercall

import (
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Paths, variables for tests.
var (
	privcmdPaths  = []string{PrivcmdPath, "/proc/xen/privcmd"}
	hypercallBuf  = "/dev/xen/hypercall"
	sysHypervisor = "/sys/hypervisor/type"
	procXen       = "/proc/xen"
	clocksources  = "/sys/devices/system/clocksource/clocksource0/available_clocksource"
	sysIoctl      = func(fd uintptr, arg unsafe.Pointer) (uintptr, syscall.Errno) {
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(IoctlPrivcmdHypercall), uintptr(arg))
		return r, errno
	}
)

// Privcmd is an open /dev/xen/privcmd with a page Xen can write into. Its
// methods are safe for concurrent use. Only root daemons use it: guests'
// unprivileged readers use /dev/xen/systime instead.
type Privcmd struct {
	mu    sync.Mutex
	fd    int
	buf   []byte // one page, locked or from /dev/xen/hypercall
	unmap bool
	ioctl func(fd uintptr, arg unsafe.Pointer) (uintptr, syscall.Errno)
}

// IsXen reports whether this machine is a Xen domain, from what Linux
// shows without privileges: /sys/hypervisor/type, xenfs's /proc/xen, or the
// pvclock-based "xen" clocksource.
func IsXen() bool {
	if b, err := os.ReadFile(sysHypervisor); err == nil && strings.TrimSpace(string(b)) == "xen" {
		return true
	}
	if _, err := os.Stat(procXen); err == nil {
		return true
	}
	b, err := os.ReadFile(clocksources)
	return err == nil && slices.Contains(strings.Fields(string(b)), "xen")
}

// Open opens the privcmd device and allocates the argument page.
func Open() (*Privcmd, error) {
	var lastErr error
	fd := -1
	for _, p := range privcmdPaths {
		f, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err == nil {
			fd = f
			break
		}
		if lastErr == nil || !errors.Is(err, unix.ENOENT) {
			lastErr = openError(p, err)
		}
	}
	if fd < 0 {
		return nil, lastErr
	}
	buf, unmap, err := hypercallPage()
	if err != nil {
		unix.Close(fd)
		return nil, &Error{Op: "allocate hypercall page", Reason: ErrFailed, Errno: errnoOf(err), Detail: err.Error()}
	}
	return &Privcmd{fd: fd, buf: buf, unmap: unmap, ioctl: sysIoctl}, nil
}

func openError(path string, err error) error {
	e := &Error{Op: "open " + path, Errno: errnoOf(err)}
	switch {
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO):
		if IsXen() {
			e.Reason = ErrNoDevice
			e.Detail = "load the xen-privcmd driver (modprobe xen-privcmd) and mount xenfs on /proc/xen"
		} else {
			e.Reason = ErrNotXen
			e.Detail = "/sys/hypervisor/type is not \"xen\" and /proc/xen is absent"
		}
	case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
		e.Reason = ErrPermission
		e.Detail = "privcmd is for root daemons only; unprivileged readers use " + SystimeDevicePath
	default:
		e.Reason = ErrFailed
	}
	return e
}

func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}

// hypercallPage returns memory Xen can write without faulting: a page of
// the kernel's hypercall buffer device when present (what libxencall uses),
// else a locked, populated anonymous page. Go's heap is unsuitable: Xen
// cannot fault in a page that was never touched or was swapped out.
func hypercallPage() ([]byte, bool, error) {
	size := os.Getpagesize()
	if fd, err := unix.Open(hypercallBuf, unix.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
		defer unix.Close(fd)
		if b, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
			return b, true, nil
		}
	}
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, false, err
	}
	if err := unix.Mlock(b); err != nil {
		unix.Munmap(b)
		return nil, false, err
	}
	return b, true, nil
}

// Close releases the device and the page.
func (p *Privcmd) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd < 0 {
		return nil
	}
	if p.unmap {
		unix.Munmap(p.buf)
	}
	err := unix.Close(p.fd)
	p.fd, p.buf = -1, nil
	return err
}

// PlatformTime makes the XENVER_platform_time hypercall and decodes the
// result.
func (p *Privcmd) PlatformTime() (PlatformTime, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd < 0 {
		return PlatformTime{}, &Error{Op: "XENVER_platform_time", Reason: ErrFailed, Detail: "privcmd closed"}
	}
	arg := p.buf[:PlatformTimeSize]
	clear(arg)
	arg[0] = PTABIVersion // version, little-endian u32
	call := privcmdHypercall{Op: HypervisorXenVersion}
	call.Arg[0] = XenverPlatformTime
	call.Arg[1] = uint64(uintptr(unsafe.Pointer(&arg[0])))
	_, errno := p.ioctl(uintptr(p.fd), unsafe.Pointer(&call))
	if errno != 0 {
		return PlatformTime{}, hypercallError(errno)
	}
	out, err := DecodePlatformTime(arg)
	if err != nil {
		return out, &Error{Op: "XENVER_platform_time", Reason: ErrFailed, Detail: err.Error()}
	}
	return out, nil
}

// ReadPlatformTime opens privcmd, makes one XENVER_platform_time hypercall
// and closes it again: for tools that sample once. Daemons keep a Privcmd.
func ReadPlatformTime() (PlatformTime, error) {
	p, err := Open()
	if err != nil {
		return PlatformTime{}, err
	}
	defer p.Close()
	return p.PlatformTime()
}
