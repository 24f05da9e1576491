package counter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	Register("simulated", func() (Counter, error) {
		path := os.Getenv(SimulatedEnv)
		if path == "" {
			return nil, unavailable("simulated", nil,
				"set "+SimulatedEnv+" to a state file made by counter.CreateSimHost (or counter.MigrateSim for a guest)",
				ErrNoDevice)
		}
		return OpenSimulated(path)
	})
}

// The simulated counter's state file: 64 bytes, little-endian, written
// under a seqlock so any process can map it read-only and read without
// locks. docs/counters.md documents it byte for byte.
const (
	SimMagic   = 0x4d535258 // "XRSM" in memory order
	SimVersion = 1
	SimSize    = 64

	simOffMagic      = 0
	simOffVersion    = 4
	simOffSeq        = 8  // u32: even = stable, odd = writer busy
	simOffMigrations = 12 // u32: bumped by every MigrateSim into this file
	simOffHostID     = 16 // u64: identity of the simulated host (never 0)
	simOffNominalHz  = 24 // u64: nominal frequency, Hz
	simOffOffset     = 32 // u64: count at CLOCK_MONOTONIC_RAW = 0
	simOffRate       = 40 // u64: actual ticks per ns, unsigned 32.32 fixed point
	// 48..63 reserved, zero
)

// SimHostConfig defines a simulated host's counter:
// Count = Offset + NominalHz·(1 + PPM·10^-6)·MONOTONIC_RAW(s).
type SimHostConfig struct {
	HostID    uint64  // identity of the host; must not be 0
	NominalHz float64 // the frequency published as nominal (1 kHz..10 GHz)
	PPM       float64 // the true rate's error against nominal, parts per million (|PPM| < 10^5)
	Offset    uint64  // count when CLOCK_MONOTONIC_RAW reads 0
}

type simParams struct {
	hostID, nominalHz, offset, rate uint64
}

func (c SimHostConfig) params() (simParams, error) {
	if c.HostID == 0 {
		return simParams{}, errors.New("simulated host: HostID must not be 0")
	}
	if !(c.NominalHz >= 1e3 && c.NominalHz <= 1e10) {
		return simParams{}, fmt.Errorf("simulated host: NominalHz %g outside 1 kHz..10 GHz", c.NominalHz)
	}
	if !(math.Abs(c.PPM) < 1e5) {
		return simParams{}, fmt.Errorf("simulated host: PPM %g outside ±10^5", c.PPM)
	}
	rate := math.Round(c.NominalHz * (1 + c.PPM*1e-6) / 1e9 * (1 << 32))
	return simParams{hostID: c.HostID, nominalHz: uint64(math.Round(c.NominalHz)), offset: c.Offset, rate: uint64(rate)}, nil
}

// simCount is the affine function of a simulated host: offset plus
// raw·rate with a 128-bit product, exact for raw up to 2^64/rate ns.
func simCount(offset, rate uint64, rawNs int64) uint64 {
	hi, lo := bits.Mul64(uint64(rawNs), rate)
	return offset + (hi<<32 | lo>>32)
}

// CreateSimHost writes (or rewrites) the state file of a simulated host,
// world-readable. A dom0d for that host opens it as its counter.
func CreateSimHost(path string, cfg SimHostConfig) error {
	p, err := cfg.params()
	if err != nil {
		return err
	}
	return writeSim(path, p, false)
}

// MigrateSim moves a simulated guest to the host whose state file is
// hostPath: the guest's state file (created if missing) takes the host's
// counter function and identity, and its migration count goes up by one.
// Every process reading the guest's file sees the change at its next Read.
func MigrateSim(guestPath, hostPath string) error {
	h, err := OpenSimulated(hostPath)
	if err != nil {
		return fmt.Errorf("migrate to %s: %w", hostPath, err)
	}
	defer h.Close()
	p, err := h.params()
	if err != nil {
		return fmt.Errorf("migrate to %s: %w", hostPath, err)
	}
	return writeSim(guestPath, p, true)
}

func writeSim(path string, p simParams, migrate bool) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("simulated counter state: %w", err)
	}
	defer f.Close()
	// Writers of one file serialise on a lock; readers never take it.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("simulated counter state %s: lock: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("simulated counter state %s: %w", path, err)
	}
	if st.Size() != SimSize {
		if st.Size() != 0 {
			return fmt.Errorf("simulated counter state %s: size %d, want %d (not a state file?)", path, st.Size(), SimSize)
		}
		if err := f.Truncate(SimSize); err != nil {
			return fmt.Errorf("simulated counter state %s: %w", path, err)
		}
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, SimSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("simulated counter state %s: mmap: %w", path, err)
	}
	defer unix.Munmap(mem)
	magic := binary.LittleEndian.Uint32(mem[simOffMagic:])
	if magic != 0 && magic != SimMagic {
		return fmt.Errorf("simulated counter state %s: bad magic %#x", path, magic)
	}
	seq := u32At(mem, simOffSeq)
	s := atomic.LoadUint32(seq)
	if s&1 == 0 {
		s++ // a crashed writer leaves it odd: take over from there
	}
	atomic.StoreUint32(seq, s)
	atomic.StoreUint32(u32At(mem, simOffMagic), SimMagic)
	atomic.StoreUint32(u32At(mem, simOffVersion), SimVersion)
	if migrate {
		atomic.AddUint32(u32At(mem, simOffMigrations), 1)
	}
	atomic.StoreUint64(u64At(mem, simOffHostID), p.hostID)
	atomic.StoreUint64(u64At(mem, simOffNominalHz), p.nominalHz)
	atomic.StoreUint64(u64At(mem, simOffOffset), p.offset)
	atomic.StoreUint64(u64At(mem, simOffRate), p.rate)
	atomic.StoreUint32(seq, s+1)
	return nil
}

func u32At(mem []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
func u64At(mem []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&mem[off])) }

// Simulated reads a simulated host's counter through its state file. Its
// identity is the host id, so a guest's Read after MigrateSim returns the
// new host's identity together with the new host's count.
type Simulated struct {
	path string
	mem  []byte
}

// SimBusyTimeout bounds how long Read waits for a writer that holds the
// seqlock odd (a writer holds it for well under a microsecond).
const SimBusyTimeout = 100 * time.Millisecond

// OpenSimulated maps the state file at path read-only.
func OpenSimulated(path string) (*Simulated, error) {
	f, err := os.Open(path)
	if err != nil {
		reason := ErrNoDevice
		if errors.Is(err, os.ErrPermission) {
			reason = ErrPermission
		}
		return nil, unavailable("simulated", err, "cannot open the state file", reason)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, unavailable("simulated", err, "cannot stat the state file", ErrUnavailable)
	}
	if st.Size() != SimSize {
		return nil, unavailablef("simulated", []error{ErrBadData}, nil, "%s: size %d, want %d", path, st.Size(), SimSize)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, SimSize, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, unavailable("simulated", err, "cannot map the state file", ErrUnavailable)
	}
	s := &Simulated{path: path, mem: mem}
	if _, err := s.params(); err != nil {
		unix.Munmap(mem)
		return nil, unavailable("simulated", err, path, ErrBadData)
	}
	return s, nil
}

// Close unmaps the state file.
func (s *Simulated) Close() error {
	if s.mem == nil {
		return nil
	}
	err := unix.Munmap(s.mem)
	s.mem = nil
	return err
}

func (s *Simulated) Name() string { return "simulated" }
func (s *Simulated) Kind() Kind   { return KindSimulated }

// Path is the state file this counter reads.
func (s *Simulated) Path() string { return s.path }

// NominalHz is the current host's nominal frequency.
func (s *Simulated) NominalHz() float64 {
	p, err := s.params()
	if err != nil {
		return 0
	}
	return float64(p.nominalHz)
}

// Migrations is how many times a guest's file was migrated.
func (s *Simulated) Migrations() uint32 { return atomic.LoadUint32(u32At(s.mem, simOffMigrations)) }

// params reads the parameters consistently under the seqlock.
func (s *Simulated) params() (simParams, error) {
	var p simParams
	err := s.readLocked(func() { p = s.load() })
	if err == nil && (p.hostID == 0 || p.rate == 0) {
		err = errors.New("state file not initialised (host id or rate 0)")
	}
	return p, err
}

func (s *Simulated) load() simParams {
	return simParams{
		hostID:    atomic.LoadUint64(u64At(s.mem, simOffHostID)),
		nominalHz: atomic.LoadUint64(u64At(s.mem, simOffNominalHz)),
		offset:    atomic.LoadUint64(u64At(s.mem, simOffOffset)),
		rate:      atomic.LoadUint64(u64At(s.mem, simOffRate)),
	}
}

// readLocked runs body until it ran entirely between two equal, even
// sequence values.
func (s *Simulated) readLocked(body func()) error {
	if s.mem == nil {
		return errors.New("simulated counter closed")
	}
	if m := atomic.LoadUint32(u32At(s.mem, simOffMagic)); m != SimMagic {
		return fmt.Errorf("bad magic %#x", m)
	}
	if v := atomic.LoadUint32(u32At(s.mem, simOffVersion)); v != SimVersion {
		return fmt.Errorf("unknown version %d", v)
	}
	seq := u32At(s.mem, simOffSeq)
	var deadline time.Time
	for i := 0; ; i++ {
		s1 := atomic.LoadUint32(seq)
		if s1&1 == 0 {
			body()
			if atomic.LoadUint32(seq) == s1 {
				return nil
			}
		} else {
			runtime.Gosched() // the writer may need this CPU to finish
		}
		if i&1023 == 1023 {
			if deadline.IsZero() {
				deadline = time.Now().Add(SimBusyTimeout)
			} else if time.Now().After(deadline) {
				return fmt.Errorf("simulated counter %s: writer busy for over %v (crashed writer?)", s.path, SimBusyTimeout)
			}
		}
	}
}

// Read returns the current host's count and identity, both taken inside
// one seqlock read with the CLOCK_MONOTONIC_RAW read between them.
func (s *Simulated) Read() (Reading, error) {
	var p simParams
	var raw int64
	if err := s.readLocked(func() {
		p = s.load()
		raw = monoRawNs()
	}); err != nil {
		return Reading{}, err
	}
	if p.hostID == 0 || p.rate == 0 {
		return Reading{}, fmt.Errorf("simulated counter %s: state not initialised", s.path)
	}
	return Reading{Count: simCount(p.offset, p.rate, raw), Identity: p.hostID}, nil
}

// MonoRawAt is the CLOCK_MONOTONIC_RAW time, ns, at which the current
// host's counter reaches count: the inverse of Read's function (the first
// nanosecond whose count is at least count). It is the simulation's ground
// truth for a stamp already taken. A reference clock that runs on
// MONOTONIC_RAW (the demo's served time) is compared with a clock read at
// count through it, not through a second clock read made a moment later:
// whatever ran in between (decoding a fresh record takes tens of µs) would
// count as clock error.
func (s *Simulated) MonoRawAt(count uint64) (int64, error) {
	p, err := s.params()
	if err != nil {
		return 0, fmt.Errorf("simulated counter %s: %w", s.path, err)
	}
	return simRawAt(p.offset, p.rate, count)
}

// simRawAt inverts simCount: the least raw ≥ 0 with
// ⌊raw·rate/2^32⌋ ≥ count − offset, that is ⌈(count − offset)·2^32/rate⌉.
func simRawAt(offset, rate, count uint64) (int64, error) {
	d := count - offset
	hi, lo := d>>32, d<<32
	if hi >= rate {
		return 0, fmt.Errorf("simulated counter: count %d is before MONOTONIC_RAW 0 or over 2^64 ns after it", count)
	}
	q, r := bits.Div64(hi, lo, rate)
	if r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return 0, fmt.Errorf("simulated counter: count %d is over 2^63 ns after MONOTONIC_RAW 0", count)
	}
	return int64(q), nil
}
