// Package scripts tests the shell scripts of scripts/.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stubPath makes a PATH holding only the tools install-deps.sh may use:
// real ones linked in, and stubs for apt-get (which records the
// policy-rc.d it sees), id (root), go and systemctl.
func stubPath(t *testing.T, policy, seen string) string {
	t.Helper()
	bin := t.TempDir()
	for _, tool := range []string{"mktemp", "cp", "mv", "rm", "chmod", "dirname", "cat", "bash", "sh"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	stubs := map[string]string{
		"id":        "echo 0",
		"apt-get":   `[ "$1" = install ] && cat "` + policy + `" > "` + seen + `"; exit 0`,
		"go":        "exit 0",
		"systemctl": "exit 0",
	}
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

func runInstall(t *testing.T, policy, seen string) {
	t.Helper()
	cmd := exec.Command("bash", "install-deps.sh")
	cmd.Env = []string{"PATH=" + stubPath(t, policy, seen), "XENRADCLOCK_POLICY_RC_D=" + policy}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install-deps.sh: %v\n%s", err, out)
	}
	b, err := os.ReadFile(seen)
	if err != nil {
		t.Fatalf("apt-get install never ran: %v", err)
	}
	if !strings.Contains(string(b), "exit 101") {
		t.Errorf("apt-get ran with policy-rc.d %q, want one that exits 101", b)
	}
}

// An existing policy-rc.d (Debian container images ship one) is the same
// after the install as before it.
func TestInstallDepsKeepsPolicyRcD(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy-rc.d")
	const mine = "#!/bin/sh\n# the image's own\nexit 101\n"
	if err := os.WriteFile(policy, []byte(mine), 0o755); err != nil {
		t.Fatal(err)
	}
	runInstall(t, policy, filepath.Join(dir, "seen"))
	b, err := os.ReadFile(policy)
	if err != nil || string(b) != mine {
		t.Errorf("policy-rc.d after the install: %q, %v; want it unchanged", b, err)
	}
	if fi, err := os.Stat(policy); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("policy-rc.d mode after the install: %v, %v", fi.Mode(), err)
	}
}

// Without one before, none is left after.
func TestInstallDepsRemovesItsPolicyRcD(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy-rc.d")
	runInstall(t, policy, filepath.Join(dir, "seen"))
	if _, err := os.Lstat(policy); !os.IsNotExist(err) {
		t.Errorf("policy-rc.d left behind: %v", err)
	}
}
