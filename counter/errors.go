package counter

import (
	"errors"
	"fmt"
)

// Reasons a counter is unavailable. Every error returned by an Opener when
// the counter cannot be used on this machine wraps ErrUnavailable and, where
// one applies, one of the more specific reasons below, so callers can test
// with errors.Is and still print a message that says what to do.
var (
	// ErrUnavailable: the counter cannot be used here (the general reason).
	ErrUnavailable = errors.New("counter unavailable")
	// ErrNotXen: the counter needs Xen and this machine is not a Xen domain.
	ErrNotXen = errors.New("not running under Xen")
	// ErrUnderXen: the counter belongs to Xen and a domain cannot read it
	// (the HPET under Xen).
	ErrUnderXen = errors.New("owned by the Xen hypervisor")
	// ErrNoDevice: the device node the counter reads is missing (module not
	// loaded, driver not built, or no such hardware).
	ErrNoDevice = errors.New("device missing")
	// ErrPermission: the device exists but this process may not use it.
	ErrPermission = errors.New("permission denied")
	// ErrNotPatched: the hypervisor lacks the xenradclock platform-timer
	// hypercall (it returned ENOSYS).
	ErrNotPatched = errors.New("hypervisor not patched")
	// ErrUnsupportedArch: the counter does not exist on this CPU architecture.
	ErrUnsupportedArch = errors.New("unsupported architecture")
	// ErrNotDependent: the counter is not a shared timeline between Dom0 and
	// the guests of a host, so it cannot carry a dependent clock.
	ErrNotDependent = errors.New("not valid for a dependent clock")
	// ErrUnstable: the counter does not tick at a constant rate (a TSC that is
	// not invariant, or one that Xen emulates).
	ErrUnstable = errors.New("not a stable counter")
	// ErrBadData: the counter's source returned malformed data.
	ErrBadData = errors.New("malformed counter data")
)

// UnavailableError says why the named counter cannot be used. It matches
// ErrUnavailable and each of its Reasons with errors.Is, and unwraps to the
// underlying system error when there is one.
type UnavailableError struct {
	Counter string  // counter name
	Reasons []error // sentinel reasons from this file
	Detail  string  // what was found and what to do about it
	Err     error   // underlying error (syscall, file), may be nil
}

func (e *UnavailableError) Error() string {
	s := "counter " + e.Counter + " unavailable: " + e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports ErrUnavailable and every listed reason.
func (e *UnavailableError) Is(target error) bool {
	if target == ErrUnavailable {
		return true
	}
	for _, r := range e.Reasons {
		if r == target {
			return true
		}
	}
	return false
}

func (e *UnavailableError) Unwrap() error { return e.Err }

func unavailable(name string, err error, detail string, reasons ...error) error {
	return &UnavailableError{Counter: name, Reasons: reasons, Detail: detail, Err: err}
}

func unavailablef(name string, reasons []error, err error, format string, args ...any) error {
	return &UnavailableError{Counter: name, Reasons: reasons, Detail: fmt.Sprintf(format, args...), Err: err}
}
