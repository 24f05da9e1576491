package counter

import (
	"encoding/binary"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// simCount is exact modulo 2^64 (the counter's own wrap), checked against
// math/big.
func TestSimCountExact(t *testing.T) {
	for _, c := range []struct {
		offset, rate uint64
		raw          int64
	}{
		{0, 1 << 32, 123456789},
		{1 << 40, 3 << 32, 1e15},
		{5, 0xffff_ffff_ffff, math.MaxInt64 / 4096},
		{7, (1 << 32) + 4295, 86400e9 * 365},
	} {
		want := new(big.Int).Mul(big.NewInt(c.raw), new(big.Int).SetUint64(c.rate))
		want.Rsh(want, 32).Add(want, new(big.Int).SetUint64(c.offset))
		want.Mod(want, new(big.Int).Lsh(big.NewInt(1), 64)) // a 64-bit counter wraps
		if got := simCount(c.offset, c.rate, c.raw); new(big.Int).SetUint64(got).Cmp(want) != 0 {
			t.Errorf("simCount(%d, %d, %d) = %d, want %s", c.offset, c.rate, c.raw, got, want)
		}
	}
}

func TestSimHostConfigRejects(t *testing.T) {
	for _, c := range []SimHostConfig{
		{HostID: 0, NominalHz: 1e9},
		{HostID: 1, NominalHz: 0},
		{HostID: 1, NominalHz: math.NaN()},
		{HostID: 1, NominalHz: 1e11},
		{HostID: 1, NominalHz: 1e9, PPM: 2e5},
		{HostID: 1, NominalHz: 1e9, PPM: math.Inf(1)},
	} {
		if err := CreateSimHost(filepath.Join(t.TempDir(), "h"), c); err == nil {
			t.Errorf("CreateSimHost(%+v) accepted", c)
		}
	}
}

// A simulated host's counter advances at its configured rate: over a
// measured span of CLOCK_MONOTONIC_RAW the count grows by span·rate, up to
// the two reads' own duration.
func TestSimulatedRateAndOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hostA")
	cfg := SimHostConfig{HostID: 0xA, NominalHz: 3e9, PPM: 50, Offset: 1 << 50}
	if err := CreateSimHost(path, cfg); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm()&0o004 == 0 {
		t.Errorf("state file mode %v is not world-readable", st.Mode())
	}
	c, err := OpenSimulated(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.NominalHz() != 3e9 || c.Kind() != KindSimulated {
		t.Errorf("NominalHz %g Kind %v", c.NominalHz(), c.Kind())
	}
	t0 := monoRawNs()
	r0, _ := c.Read()
	t1 := monoRawNs()
	time.Sleep(5 * time.Millisecond)
	t2 := monoRawNs()
	r1, _ := c.Read()
	t3 := monoRawNs()
	rate := 3e9 * (1 + 50e-6) / 1e9
	lo, hi := float64(t2-t1)*rate, float64(t3-t0)*rate
	if d := float64(r1.Count - r0.Count); d < lo-1 || d > hi+1 {
		t.Errorf("count advanced %g over a span of %g..%g ticks", d, lo, hi)
	}
	if want := float64(cfg.Offset) + float64(t0)*rate; math.Abs(float64(r0.Count)-want) > float64(t1-t0)*rate+1e6 {
		t.Errorf("count %d, want about %g", r0.Count, want)
	}
	if r0.Identity != 0xA || r1.Identity != 0xA {
		t.Errorf("identities %x %x, want a", r0.Identity, r1.Identity)
	}
}

// A guest migrates from host A to host B: its identity changes to B's, its
// counts follow B's function, and a host's own reader is untouched.
func TestSimulatedMigration(t *testing.T) {
	dir := t.TempDir()
	a, b, g := filepath.Join(dir, "A"), filepath.Join(dir, "B"), filepath.Join(dir, "guest")
	if err := CreateSimHost(a, SimHostConfig{HostID: 0xA, NominalHz: 1e9, Offset: 1e12}); err != nil {
		t.Fatal(err)
	}
	if err := CreateSimHost(b, SimHostConfig{HostID: 0xB, NominalHz: 1e9, PPM: -20, Offset: 5e15}); err != nil {
		t.Fatal(err)
	}
	if err := MigrateSim(g, a); err != nil {
		t.Fatal(err)
	}
	guest, err := OpenSimulated(g)
	if err != nil {
		t.Fatal(err)
	}
	defer guest.Close()
	hostB, _ := OpenSimulated(b)
	defer hostB.Close()

	r, _ := guest.Read()
	if r.Identity != 0xA || r.Count > 4e15 || guest.Migrations() != 1 {
		t.Fatalf("before migration: %+v migrations %d", r, guest.Migrations())
	}
	if err := MigrateSim(g, b); err != nil {
		t.Fatal(err)
	}
	rg, _ := guest.Read()
	rb, _ := hostB.Read()
	if rg.Identity != 0xB || guest.Migrations() != 2 {
		t.Fatalf("after migration: %+v migrations %d", rg, guest.Migrations())
	}
	// Same host, read back to back: the guest's count is B's count.
	if d := int64(rb.Count - rg.Count); d < 0 || d > 1e8 {
		t.Errorf("guest count %d vs host B %d: not B's counter", rg.Count, rb.Count)
	}
}

// Readers in other goroutines never see a torn state while a writer keeps
// migrating the guest between two hosts: every reading's count lies on the
// function of the host its identity names. Run under -race too.
func TestSimulatedConcurrentMigrations(t *testing.T) {
	dir := t.TempDir()
	a, b, g := filepath.Join(dir, "A"), filepath.Join(dir, "B"), filepath.Join(dir, "guest")
	CreateSimHost(a, SimHostConfig{HostID: 0xA, NominalHz: 1e9, Offset: 0})
	CreateSimHost(b, SimHostConfig{HostID: 0xB, NominalHz: 1e9, Offset: 1 << 62})
	if err := MigrateSim(g, a); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 4)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := OpenSimulated(g)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer c.Close()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := c.Read()
				if err != nil {
					errs <- err.Error()
					return
				}
				onB := r.Count >= 1<<62
				if (r.Identity == 0xB) != onB || (r.Identity != 0xA && r.Identity != 0xB) {
					errs <- "torn read"
					return
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		host := a
		if i%2 == 0 {
			host = b
		}
		if err := MigrateSim(g, host); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestSimulatedBadFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenSimulated(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file opened")
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, make([]byte, 10), 0o644)
	if _, err := OpenSimulated(short); err == nil {
		t.Error("short file opened")
	}
	if err := CreateSimHost(short, SimHostConfig{HostID: 1, NominalHz: 1e9}); err == nil {
		t.Error("CreateSimHost overwrote a file that is not a state file")
	}
	bad := filepath.Join(dir, "bad")
	buf := make([]byte, SimSize)
	binary.LittleEndian.PutUint32(buf, 0xdeadbeef)
	os.WriteFile(bad, buf, 0o644)
	if _, err := OpenSimulated(bad); err == nil {
		t.Error("bad magic opened")
	}
	binary.LittleEndian.PutUint32(buf, SimMagic)
	binary.LittleEndian.PutUint32(buf[4:], 2)
	os.WriteFile(bad, buf, 0o644)
	if _, err := OpenSimulated(bad); err == nil {
		t.Error("unknown version opened")
	}
	binary.LittleEndian.PutUint32(buf[4:], SimVersion)
	os.WriteFile(bad, buf, 0o644)
	if _, err := OpenSimulated(bad); err == nil {
		t.Error("uninitialised (host id 0) opened")
	}
	// A writer that died mid-update leaves the sequence odd: readers give
	// up with an error, and the next writer repairs it.
	good := filepath.Join(dir, "good")
	CreateSimHost(good, SimHostConfig{HostID: 3, NominalHz: 1e9})
	c, err := OpenSimulated(good)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, _ := os.OpenFile(good, os.O_RDWR, 0)
	var odd [4]byte
	binary.LittleEndian.PutUint32(odd[:], 5)
	f.WriteAt(odd[:], simOffSeq)
	f.Close()
	if _, err := c.Read(); err == nil {
		t.Error("read succeeded with the writer busy forever")
	}
	if err := CreateSimHost(good, SimHostConfig{HostID: 4, NominalHz: 1e9}); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Read(); err != nil || r.Identity != 4 {
		t.Errorf("after repair: %+v, %v", r, err)
	}
}

func TestSimulatedRegistryNeedsEnv(t *testing.T) {
	t.Setenv(SimulatedEnv, "")
	if _, err := Open("simulated"); err == nil {
		t.Error("simulated opened without " + SimulatedEnv)
	}
}

// Whatever a state file holds, opening and reading it fails cleanly or
// returns the identity the file names.
func FuzzSimulatedState(f *testing.F) {
	good := make([]byte, SimSize)
	binary.LittleEndian.PutUint32(good[simOffMagic:], SimMagic)
	binary.LittleEndian.PutUint32(good[simOffVersion:], SimVersion)
	binary.LittleEndian.PutUint64(good[simOffHostID:], 9)
	binary.LittleEndian.PutUint64(good[simOffNominalHz:], 1e9)
	binary.LittleEndian.PutUint64(good[simOffRate:], 1<<32)
	f.Add(good)
	f.Add(good[:20])
	f.Add(make([]byte, SimSize))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "state")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := OpenSimulated(p)
		if err != nil {
			return
		}
		defer c.Close()
		if binary.LittleEndian.Uint32(b[simOffSeq:])&1 != 0 {
			return // a writer "busy" forever: Read would wait SimBusyTimeout
		}
		r, err := c.Read()
		if err != nil {
			t.Fatalf("opened but unreadable: %v", err)
		}
		if r.Identity != binary.LittleEndian.Uint64(b[simOffHostID:]) {
			t.Fatalf("identity %x, file says %x", r.Identity, b[simOffHostID:simOffHostID+8])
		}
	})
}

// simRawAt is the exact inverse of simCount: the first nanosecond at which
// the count reaches a value, for rates below, at and above one tick per ns.
func TestSimRawAtInvertsSimCount(t *testing.T) {
	for _, c := range []struct{ offset, rate uint64 }{
		{0, 1 << 32},
		{1 << 40, uint64(math.Round((1 - 25e-6) * (1 << 32)))}, // the demo's counter
		{5, 3 << 32},       // 3 GHz: counts between ticks are skipped
		{7, (1 << 32) / 3}, // 333 MHz: several ns per tick
	} {
		for _, raw := range []int64{0, 1, 999_999_937, 86400e9 * 365, 1 << 50} {
			n := simCount(c.offset, c.rate, raw)
			got, err := simRawAt(c.offset, c.rate, n)
			if err != nil {
				t.Fatalf("rate %d raw %d: %v", c.rate, raw, err)
			}
			// got is the first ns with that count: not after raw, and the
			// ns before it had a smaller count.
			if got > raw || simCount(c.offset, c.rate, got) != n || (got > 0 && simCount(c.offset, c.rate, got-1) >= n) {
				t.Errorf("rate %d: simRawAt(simCount(%d)) = %d", c.rate, raw, got)
			}
		}
	}
	if _, err := simRawAt(1<<40, 1<<32, 1<<39); err == nil {
		t.Error("a count before MONOTONIC_RAW 0 was inverted")
	}
}

// MonoRawAt on an open counter agrees with the MONOTONIC_RAW reads around
// a Read.
func TestSimulatedMonoRawAt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host")
	if err := CreateSimHost(path, SimHostConfig{HostID: 3, NominalHz: 1e9, PPM: -25, Offset: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	c, err := OpenSimulated(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t0 := monoRawNs()
	r, err := c.Read()
	t1 := monoRawNs()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.MonoRawAt(r.Count)
	if err != nil {
		t.Fatal(err)
	}
	if raw < t0-1 || raw > t1 {
		t.Errorf("MonoRawAt = %d, outside the reads %d..%d around the counter read", raw, t0, t1)
	}
}
