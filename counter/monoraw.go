package counter

import "golang.org/x/sys/unix"

func init() { Register("monotonic-raw", func() (Counter, error) { return OpenMonotonicRaw() }) }

// MonotonicRaw is CLOCK_MONOTONIC_RAW in nanoseconds: the kernel's
// unslewed clocksource time. Its origin and rate belong to this OS, so it
// carries only an independent clock; its identity is the boot identity.
type MonotonicRaw struct{ identity uint64 }

// OpenMonotonicRaw opens the monotonic-raw counter.
func OpenMonotonicRaw() (*MonotonicRaw, error) {
	id, err := BootIdentity()
	if err != nil {
		return nil, unavailable("monotonic-raw", err, "cannot derive the per-boot identity", ErrUnavailable)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &ts); err != nil {
		return nil, unavailable("monotonic-raw", err, "clock_gettime(CLOCK_MONOTONIC_RAW) failed", ErrUnavailable)
	}
	return &MonotonicRaw{identity: id}, nil
}

func (m *MonotonicRaw) Name() string       { return "monotonic-raw" }
func (m *MonotonicRaw) Kind() Kind         { return KindMonotonicRaw }
func (m *MonotonicRaw) NominalHz() float64 { return 1e9 }

// Read returns CLOCK_MONOTONIC_RAW in ns.
func (m *MonotonicRaw) Read() (Reading, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &ts); err != nil {
		return Reading{}, err
	}
	return Reading{Count: uint64(ts.Nano()), Identity: m.identity}, nil
}

func (m *MonotonicRaw) checkPurpose(p Purpose) error {
	if p == Dependent {
		return unavailable("monotonic-raw", nil,
			"CLOCK_MONOTONIC_RAW is this OS's own timeline (its origin and rate differ in every domain), so it carries only an independent clock",
			ErrNotDependent)
	}
	return nil
}
