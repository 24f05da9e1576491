package counter

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/hypercall"
)

// platformDevice makes XENVER_platform_time through the systime device's
// XRST_IOC_PLATFORM ioctl: the kernel makes the call, so any process that
// can open the device (mode 0444) reads the platform counter.
type platformDevice struct {
	mu    sync.Mutex
	path  string
	fd    int
	ioctl func(fd int, req uint, arg unsafe.Pointer) syscall.Errno
}

func sysIoctlPtr(fd int, req uint, arg unsafe.Pointer) syscall.Errno {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	return e
}

func openPlatformDevice(path string) (*platformDevice, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &hypercall.Error{Op: "open " + path, Reason: deviceOpenReason(err), Errno: errnoOf(err),
			Detail: "load the xenradclock_systime module from kernel-patches/ (it creates the device mode 0444)"}
	}
	return &platformDevice{path: path, fd: fd, ioctl: sysIoctlPtr}, nil
}

func deviceOpenReason(err error) error {
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		return hypercall.ErrPermission
	}
	return hypercall.ErrNoDevice
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// PlatformTime makes the ioctl and decodes the 64 bytes. Xen's error comes
// back as the ioctl's errno (ENOSYS unpatched, EPERM denied); ENOTTY means a
// module older than XRST_IOC_PLATFORM.
func (d *platformDevice) PlatformTime() (hypercall.PlatformTime, error) {
	var buf [hypercall.PlatformTimeSize]byte
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fd < 0 {
		return hypercall.PlatformTime{}, &hypercall.Error{Op: "XRST_IOC_PLATFORM", Reason: hypercall.ErrFailed, Detail: d.path + " closed"}
	}
	switch errno := d.ioctl(d.fd, uint(hypercall.SystimeIocPlatform), unsafe.Pointer(&buf[0])); errno {
	case 0:
	case unix.ENOTTY, unix.EINVAL:
		return hypercall.PlatformTime{}, &hypercall.Error{Op: "XRST_IOC_PLATFORM", Reason: hypercall.ErrNoDevice, Errno: errno,
			Detail: d.path + " is from a xenradclock_systime module without XRST_IOC_PLATFORM: load the current one"}
	default:
		return hypercall.PlatformTime{}, fmt.Errorf("%s XRST_IOC_PLATFORM: %w", d.path, hypercall.PlatformTimeError(errno))
	}
	out, err := hypercall.DecodePlatformTime(buf[:])
	if err != nil {
		return out, fmt.Errorf("%s XRST_IOC_PLATFORM: %w", d.path, err)
	}
	return out, nil
}

func (d *platformDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}
