package counter

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const simHelperEnv = "XENRADCLOCK_SIM_HELPER"

// A guest in another process, reading through the registry as any program
// would, sees its identity switch from host A to host B when this process
// migrates it: the state file is the only channel between them.
func TestSimulatedMigrationAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	a, b, g := filepath.Join(dir, "A"), filepath.Join(dir, "B"), filepath.Join(dir, "guest")
	if err := CreateSimHost(a, SimHostConfig{HostID: 0xA, NominalHz: 1e9}); err != nil {
		t.Fatal(err)
	}
	if err := CreateSimHost(b, SimHostConfig{HostID: 0xB, NominalHz: 2e9, Offset: 1 << 60}); err != nil {
		t.Fatal(err)
	}
	if err := MigrateSim(g, a); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSimulatedHelperProcess$")
	cmd.Env = append(os.Environ(), simHelperEnv+"=1", SimulatedEnv+"="+g)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	var seen []string
	for lines.Scan() {
		l := lines.Text()
		if !strings.HasPrefix(l, "identity ") {
			continue
		}
		seen = append(seen, l)
		if l == "identity a" && len(seen) == 1 {
			if err := MigrateSim(g, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v (saw %v)", err, seen)
	}
	if strings.Join(seen, ",") != "identity a,identity b" {
		t.Errorf("the guest process saw %v, want a then b", seen)
	}
}

// TestSimulatedHelperProcess is the guest process of the test above; it
// does nothing unless started by it.
func TestSimulatedHelperProcess(t *testing.T) {
	if os.Getenv(simHelperEnv) != "1" {
		t.Skip("helper process for TestSimulatedMigrationAcrossProcesses")
	}
	c, err := Open("simulated")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	var last uint64
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r, err := c.Read()
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		if r.Identity != last {
			fmt.Printf("identity %x\n", r.Identity)
			last = r.Identity
			if r.Identity == 0xB {
				if r.Count < 1<<60 {
					fmt.Println("error: identity b with a count off host b's function")
					os.Exit(3)
				}
				os.Exit(0)
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
	fmt.Println("error: no migration seen")
	os.Exit(4)
}
