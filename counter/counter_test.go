package counter

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRegistryNames(t *testing.T) {
	got := strings.Join(Names(), ",")
	for _, n := range []string{"hpet", "monotonic-raw", "simulated", "tsc", "xen-platform", "xen-system"} {
		if !strings.Contains(got, n) {
			t.Errorf("Names() = %s, missing %s", got, n)
		}
		k, ok := KindByName(n)
		if !ok || k.String() != n {
			t.Errorf("KindByName(%q) = %v, %v", n, k, ok)
		}
	}
}

func TestOpenUnknown(t *testing.T) {
	_, err := Open("sundial")
	var ue *UnknownError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "tsc") {
		t.Fatalf("Open(sundial) = %v, want UnknownError listing known counters", err)
	}
}

// Every registered counter either opens and reads with the kind its name
// says, or fails with an UnavailableError that names it.
func TestEveryCounterOpensOrExplains(t *testing.T) {
	for _, n := range Names() {
		c, err := Open(n)
		if err != nil {
			var ue *UnavailableError
			if !errors.As(err, &ue) || !errors.Is(err, ErrUnavailable) || ue.Counter != n {
				t.Errorf("%s: error %v is not an UnavailableError for it", n, err)
			}
			t.Logf("%s: %v", n, err)
			continue
		}
		if c.Name() != n || c.Kind().String() != n {
			t.Errorf("%s: Name %q Kind %v", n, c.Name(), c.Kind())
		}
		if c.NominalHz() <= 0 {
			t.Errorf("%s: NominalHz %g", n, c.NominalHz())
		}
		if _, err := c.Read(); err != nil {
			t.Errorf("%s: Read: %v", n, err)
		}
	}
}

func TestUnavailableErrorMatching(t *testing.T) {
	under := os.ErrNotExist
	err := unavailable("x", under, "no device", ErrNoDevice)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNoDevice) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%v does not match its reasons", err)
	}
	if errors.Is(err, ErrPermission) {
		t.Errorf("%v matches ErrPermission", err)
	}
}

func TestBootIdentity(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "boot_id")
	os.WriteFile(p, []byte("c2b4f834-633c-45d1-b6fc-2dc2f534b509\n"), 0o644)
	a, err := readBootIdentity(p)
	if err != nil || a == 0 {
		t.Fatalf("readBootIdentity = %x, %v", a, err)
	}
	os.WriteFile(p, []byte("c2b4f834-633c-45d1-b6fc-2dc2f534b50a\n"), 0o644)
	b, _ := readBootIdentity(p)
	if a == b {
		t.Errorf("two boot ids give one identity %x", a)
	}
	os.WriteFile(p, []byte("not-a-uuid\n"), 0o644)
	if _, err := readBootIdentity(p); err == nil {
		t.Errorf("garbage boot_id accepted")
	}
}

func TestMonotonicRaw(t *testing.T) {
	c, err := OpenFor("monotonic-raw", Independent)
	if err != nil {
		t.Fatal(err)
	}
	prev, _ := c.Read()
	for i := 0; i < 1000; i++ {
		r, err := c.Read()
		if err != nil {
			t.Fatal(err)
		}
		if r.Count < prev.Count || r.Identity != prev.Identity || r.Identity == 0 {
			t.Fatalf("read %d: %+v after %+v", i, r, prev)
		}
		prev = r
	}
	if _, err := OpenFor("monotonic-raw", Dependent); !errors.Is(err, ErrNotDependent) {
		t.Errorf("monotonic-raw for a dependent clock: %v, want ErrNotDependent", err)
	}
}

func TestDetectWithListsEveryReason(t *testing.T) {
	open := func(n string, p Purpose) (Counter, error) {
		if n == "good" {
			return OpenMonotonicRaw()
		}
		if n == "nosuch" {
			return OpenFor("nosuch", p)
		}
		return nil, unavailable(n, nil, "broken "+n, ErrNoDevice)
	}
	c, tried, err := DetectWith(Independent, []string{"a", "nosuch", "good", "b"}, open)
	if err != nil || c.Name() != "monotonic-raw" || len(tried) != 3 || tried[2].Err != nil {
		t.Fatalf("DetectWith = %v %+v %v", c, tried, err)
	}
	_, _, err = DetectWith(Dependent, []string{"a", "b"}, open)
	var de *DetectionError
	if !errors.As(err, &de) || !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNoDevice) {
		t.Fatalf("DetectWith failure = %v", err)
	}
	if !strings.Contains(err.Error(), "broken a") || !strings.Contains(err.Error(), "broken b") || !strings.Contains(err.Error(), "dependent") {
		t.Errorf("error does not list every reason: %v", err)
	}
}

func TestOrder(t *testing.T) {
	t.Setenv(SimulatedEnv, "")
	cases := []struct {
		p    Purpose
		xen  bool
		want string
	}{
		{Dependent, true, "xen-system,xen-platform,tsc"},
		{Dependent, false, "xen-system,xen-platform,tsc"},
		{Independent, true, "xen-system,tsc,monotonic-raw"},
		{Independent, false, "tsc,monotonic-raw"},
	}
	for _, c := range cases {
		if got := strings.Join(Order(c.p, c.xen), ","); got != c.want {
			t.Errorf("Order(%v, xen=%v) = %s, want %s", c.p, c.xen, got, c.want)
		}
	}
	t.Setenv(SimulatedEnv, "/tmp/x")
	if got := Order(Dependent, true); got[0] != "simulated" {
		t.Errorf("Order with %s set = %v", SimulatedEnv, got)
	}
}

// Detect on this machine: outside Xen, the independent choice must succeed
// (monotonic-raw always exists), and with a simulated host configured both
// purposes pick it.
func TestDetectSimulatedFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host")
	if err := CreateSimHost(path, SimHostConfig{HostID: 7, NominalHz: 1e9}); err != nil {
		t.Fatal(err)
	}
	t.Setenv(SimulatedEnv, path)
	for _, p := range []Purpose{Dependent, Independent} {
		c, err := Detect(p)
		if err != nil || c.Name() != "simulated" {
			t.Errorf("Detect(%v) = %v, %v", p, c, err)
		}
	}
	t.Setenv(SimulatedEnv, "")
	c, err := Detect(Independent)
	if err != nil {
		t.Fatalf("Detect(independent): %v", err)
	}
	t.Logf("Detect(independent) chose %s", c.Name())
}

// Outside Xen, a dependent clock falls through xen-system and xen-platform
// (both ErrNotXen) to the TSC when it is invariant; the failure lists them.
func TestDetectDependentOutsideXen(t *testing.T) {
	if ProbeXen().Present {
		t.Skip("running under Xen: TestXenSystemReal covers the choice there")
	}
	t.Setenv(SimulatedEnv, "")
	c, tried, err := DetectWith(Dependent, Order(Dependent, false), OpenFor)
	for _, cand := range tried {
		t.Logf("%s: %v", cand.Name, cand.Err)
	}
	if len(tried) < 2 || !errors.Is(tried[0].Err, ErrNotXen) || !errors.Is(tried[1].Err, ErrNotXen) {
		t.Fatalf("xen-system and xen-platform not refused with ErrNotXen: %+v", tried)
	}
	if InvariantTSC() {
		if err != nil || c.Name() != "tsc" {
			t.Fatalf("chose %v, %v; want tsc", c, err)
		}
	} else if !errors.Is(err, ErrUnstable) {
		t.Fatalf("without an invariant TSC: %v", err)
	}
}
