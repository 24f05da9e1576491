package counter

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() { Register("hpet", func() (Counter, error) { return OpenHPET(hpetPath) }) }

var hpetPath = "/dev/hpet"

// HPET register block (IA-PC HPET specification 1.0a, section 2.3).
const (
	hpetRegCaps     = 0x000 // general capabilities and ID
	hpetRegCounter  = 0x0f0 // main counter value
	hpetCapCount64  = 1 << 13
	hpetMaxPeriodFs = 100_000_000 // the spec's upper bound on the tick period (10 MHz minimum)
	hpetMapSize     = 4096
)

// HPET is the High Precision Event Timer's main counter on bare metal,
// mapped read-only from /dev/hpet (needs CONFIG_HPET_MMAP and hpet_mmap=1
// unless the kernel enables it by default). Under Xen the HPET belongs to
// the hypervisor: use xen-platform. A 32-bit counter is extended to 64 bits
// by tracking wraps, which needs a Read at least once per wrap period
// (2^32 ticks: 300 s at 14.318 MHz); a longer gap loses whole wraps.
type HPET struct {
	mem      []byte
	hz       float64
	wide     bool
	identity uint64

	mu   sync.Mutex // 32-bit extension state
	high uint64
	last uint32
}

// OpenHPET maps the HPET at path.
func OpenHPET(path string) (*HPET, error) {
	if x := ProbeXen(); x.Present {
		return nil, unavailable("hpet", nil,
			"under Xen the HPET belongs to the hypervisor and no domain may map it; use xen-platform (Xen's platform timer through the hypercall) or xen-system",
			ErrUnderXen)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO):
			return nil, unavailable("hpet", err, path+" is missing: no HPET, or a kernel without CONFIG_HPET", ErrNoDevice)
		case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
			return nil, unavailable("hpet", err, path+" is not readable by this user", ErrPermission)
		case errors.Is(err, unix.EBUSY):
			return nil, unavailable("hpet", err, path+": every HPET comparator is taken (each open claims one)", ErrUnavailable)
		}
		return nil, unavailable("hpet", err, "cannot open "+path, ErrUnavailable)
	}
	defer unix.Close(fd)
	mem, err := unix.Mmap(fd, 0, hpetMapSize, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		if errors.Is(err, unix.EACCES) {
			return nil, unavailable("hpet", err, "the kernel refuses to map the HPET: boot with hpet_mmap=1 (needs CONFIG_HPET_MMAP)", ErrPermission)
		}
		return nil, unavailable("hpet", err, "cannot map "+path+" (kernel without CONFIG_HPET_MMAP, or HPET not page-aligned)", ErrUnavailable)
	}
	h, err := newHPET(mem)
	if err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	return h, nil
}

func newHPET(mem []byte) (*HPET, error) {
	caps := atomic.LoadUint64((*uint64)(unsafe.Pointer(&mem[hpetRegCaps])))
	period := caps >> 32
	if period == 0 || period > hpetMaxPeriodFs {
		return nil, unavailablef("hpet", []error{ErrBadData}, nil, "capabilities register %#x: tick period %d fs is outside the specification's 1..10^8 fs", caps, period)
	}
	id, err := BootIdentity()
	if err != nil {
		return nil, unavailable("hpet", err, "cannot derive the per-boot identity", ErrUnavailable)
	}
	h := &HPET{mem: mem, hz: 1e15 / float64(period), wide: caps&hpetCapCount64 != 0, identity: id}
	h.last = h.low32()
	return h, nil
}

func (h *HPET) Name() string       { return "hpet" }
func (h *HPET) Kind() Kind         { return KindHPET }
func (h *HPET) NominalHz() float64 { return h.hz }

// Wide reports a 64-bit main counter (no wrap tracking needed).
func (h *HPET) Wide() bool { return h.wide }

func (h *HPET) reg32(off int) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&h.mem[off])))
}

func (h *HPET) low32() uint32 { return h.reg32(hpetRegCounter) }

// Read returns the main counter extended to 64 bits.
func (h *HPET) Read() (Reading, error) {
	if h.mem == nil {
		return Reading{}, fmt.Errorf("hpet: closed")
	}
	if h.wide {
		// Two 32-bit halves, the high one read on both sides: some chipsets
		// do not latch a 64-bit read.
		for {
			hi := h.reg32(hpetRegCounter + 4)
			lo := h.reg32(hpetRegCounter)
			if h.reg32(hpetRegCounter+4) == hi {
				return Reading{Count: uint64(hi)<<32 | uint64(lo), Identity: h.identity}, nil
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return Reading{Count: h.extend(h.low32()), Identity: h.identity}, nil
}

// extend adds wraps of a 32-bit counter; called with mu held.
func (h *HPET) extend(lo uint32) uint64 {
	if lo < h.last {
		h.high += 1 << 32
	}
	h.last = lo
	return h.high | uint64(lo)
}

// Close unmaps the registers.
func (h *HPET) Close() error {
	if h.mem == nil {
		return nil
	}
	err := unix.Munmap(h.mem)
	h.mem = nil
	return err
}
