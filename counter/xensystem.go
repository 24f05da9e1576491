package counter

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/xenradclock/xenradclock/hypercall"
	"golang.org/x/sys/unix"
)

func init() {
	Register("xen-system", func() (Counter, error) { return OpenXenSystem(hypercall.SystimeDevicePath) })
}

// XenSystem is Xen system time (ns since host boot: the "Xen clocksource")
// read through the xenradclock_systime module's device. The count is the
// same timeline in Dom0 and in every guest of the host; the identity is the
// module's resume generation, which the module bumps before user space runs
// again after a save/restore or a live migration, so a count and the
// identity read with it always belong to the same host.
type XenSystem struct {
	path   string
	fd     int
	last   atomic.Uint64 // last sample's flags (TSC_STABLE), for tools
	closed atomic.Bool
}

// OpenXenSystem opens the systime device at path (hypercall.SystimeDevicePath
// in production) and reads one sample, so a broken device fails here.
func OpenXenSystem(path string) (*XenSystem, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, xenSystemOpenError(path, err)
	}
	x := &XenSystem{path: path, fd: fd}
	if _, err := x.Read(); err != nil {
		unix.Close(fd)
		return nil, unavailable("xen-system", err, path+" answered with an unusable sample", ErrBadData)
	}
	return x, nil
}

func xenSystemOpenError(path string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO):
		if !ProbeXen().Present {
			return unavailable("xen-system", err, path+" is missing and this machine is not a Xen domain", ErrNotXen, ErrNoDevice)
		}
		return unavailable("xen-system", err,
			path+" is missing: load the xenradclock_systime module built from kernel-patches/ (modprobe xenradclock_systime)",
			ErrNoDevice)
	case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
		return unavailable("xen-system", err, path+" is not readable: the module creates it mode 0444; check local udev rules", ErrPermission)
	}
	return unavailable("xen-system", err, "cannot open "+path, ErrUnavailable)
}

func (x *XenSystem) Name() string       { return "xen-system" }
func (x *XenSystem) Kind() Kind         { return KindXenSystem }
func (x *XenSystem) NominalHz() float64 { return 1e9 }

// Sample reads and decodes one whole sample.
func (x *XenSystem) Sample() (hypercall.SystimeSample, error) {
	if x.closed.Load() {
		return hypercall.SystimeSample{}, fmt.Errorf("xen-system: %s closed", x.path)
	}
	var b [hypercall.SystimeSampleSize + 1]byte
	// One byte more than a sample: a device answering more is not ours.
	n, err := unix.Pread(x.fd, b[:], 0)
	if err != nil {
		return hypercall.SystimeSample{}, fmt.Errorf("xen-system: read %s: %w", x.path, err)
	}
	s, err := hypercall.DecodeSystimeSample(b[:n])
	if err != nil {
		return s, fmt.Errorf("xen-system: %s: %w", x.path, err)
	}
	x.last.Store(uint64(s.Flags))
	return s, nil
}

// Read returns Xen system time in ns with the resume generation.
func (x *XenSystem) Read() (Reading, error) {
	s, err := x.Sample()
	if err != nil {
		return Reading{}, err
	}
	return Reading{Count: s.SystemTimeNs, Identity: s.ResumeGen}, nil
}

// IdentityIsLocal: resume_gen counts this domain's own resumes (see
// LocalIdentity).
func (x *XenSystem) IdentityIsLocal() bool { return true }

// TSCStable reports the last sample's TSC_STABLE flag.
func (x *XenSystem) TSCStable() bool { return x.last.Load()&hypercall.SystimeTSCStable != 0 }

// Close releases the device.
func (x *XenSystem) Close() error {
	if x.closed.Swap(true) {
		return nil
	}
	return unix.Close(x.fd)
}

// systimeExists is used by tests and tools to say why a real test skips.
func systimeExists() error {
	_, err := os.Stat(hypercall.SystimeDevicePath)
	return err
}
