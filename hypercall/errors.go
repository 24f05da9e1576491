package hypercall

import (
	"errors"
	"syscall"
)

// Why a hypercall could not be made or failed. Every error from this
// package's Open and PlatformTime is an *Error matching exactly one of these
// with errors.Is (besides the errno it unwraps to).
var (
	// ErrNotXen: this machine is not a Xen domain (no /sys/hypervisor/type
	// "xen", no /proc/xen).
	ErrNotXen = errors.New("not running under Xen")
	// ErrNoDevice: a Xen domain, but /dev/xen/privcmd is missing (the
	// xen-privcmd driver is not loaded).
	ErrNoDevice = errors.New("privcmd device missing")
	// ErrPermission: the device or the hypercall was denied.
	ErrPermission = errors.New("permission denied")
	// ErrNotPatched: the hypervisor does not know XENVER_platform_time
	// (it returned ENOSYS).
	ErrNotPatched = errors.New("hypervisor lacks the xenradclock platform-timer hypercall")
	// ErrBadVersion: the hypervisor rejected the structure's version (EINVAL).
	ErrBadVersion = errors.New("hypervisor rejected the ABI version")
	// ErrFault: the hypervisor could not access the argument buffer (EFAULT).
	ErrFault = errors.New("hypervisor could not access the argument buffer")
	// ErrFailed: any other failure.
	ErrFailed = errors.New("hypercall failed")
)

// Error is a failed Open or hypercall.
type Error struct {
	Op     string        // "open /dev/xen/privcmd", "XENVER_platform_time"
	Reason error         // one of the Err* sentinels above
	Errno  syscall.Errno // 0 when no system call failed
	Detail string        // what it means and what to do
}

func (e *Error) Error() string {
	s := e.Op + ": " + e.Reason.Error()
	if e.Errno != 0 {
		s += " (" + e.Errno.Error() + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is matches the Reason sentinel.
func (e *Error) Is(target error) bool { return target == e.Reason }

// Unwrap exposes the errno, so errors.Is(err, syscall.ENOSYS) also works.
func (e *Error) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// hypercallError maps the errno of a failed XENVER_platform_time.
// PlatformTimeError classifies the errno with which XENVER_platform_time
// failed, whoever made the call (privcmd, or the kernel for the systime
// device's XRST_IOC_PLATFORM, which passes Xen's error through).
func PlatformTimeError(errno syscall.Errno) error { return hypercallError(errno) }

func hypercallError(errno syscall.Errno) error {
	e := &Error{Op: "XENVER_platform_time", Errno: errno}
	switch errno {
	case syscall.ENOSYS:
		e.Reason = ErrNotPatched
		e.Detail = "boot a Xen built with kernel-patches/, or use the xen-system counter (stock Xen)"
	case syscall.EPERM, syscall.EACCES:
		e.Reason = ErrPermission
		e.Detail = "Xen denied it: the domain's xl.cfg sets platform_time = 0, an XSM/FLASK policy denies it, " +
			"or (from a DomU) the hypervisor is unpatched, since Xen's default policy makes unknown xen_version sub-ops privileged"
	case syscall.EINVAL:
		e.Reason = ErrBadVersion
		e.Detail = "the hypervisor speaks another xenver_platform_time version than 1"
	case syscall.EFAULT:
		e.Reason = ErrFault
		e.Detail = "the argument page was not accessible to Xen"
	default:
		e.Reason = ErrFailed
	}
	return e
}
