package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// chrony46Copy puts build-chrony46.sh into a fresh tree outside any git
// repository (so no shared/tools/apt-extra beside it), and a PATH holding
// only bash, dirname, mkdir, grep and cat: no apt-extra, no compiler, no network.
func chrony46Copy(t *testing.T) (script, path string) {
	t.Helper()
	root := t.TempDir()
	b, err := os.ReadFile("build-chrony46.sh")
	if err != nil {
		t.Fatal(err)
	}
	script = filepath.Join(root, "scripts", "build-chrony46.sh")
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, b, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, tool := range []string{"bash", "dirname", "mkdir", "grep", "cat"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	return script, bin
}

// Without apt-extra the script stops before building, saying what is missing.
func TestBuildChrony46NeedsAptExtra(t *testing.T) {
	script, bin := chrony46Copy(t)
	out := filepath.Join(t.TempDir(), "chrony-4.6")
	cmd := exec.Command(script, out)
	cmd.Env = []string{"PATH=" + bin}
	b, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("build-chrony46.sh without apt-extra succeeded:\n%s", b)
	}
	if !strings.Contains(string(b), "apt-extra not found") || !strings.Contains(string(b), "APT_EXTRA") {
		t.Errorf("error text %q does not name apt-extra and APT_EXTRA", b)
	}
}

// A directory already holding a 4.6 chronyd and chronyc is left alone, and
// no apt-extra is needed for that.
func TestBuildChrony46SkipsWhenBuilt(t *testing.T) {
	script, bin := chrony46Copy(t)
	out := t.TempDir()
	stub := "#!/bin/sh\necho 'chronyd (chrony) version 4.6.1 (+CMDMON)'\n"
	for _, f := range []string{"chronyd", "chronyc"} {
		if err := os.WriteFile(filepath.Join(out, f), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(out, "VERSION"), []byte("4.6.1-3+deb13u2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, out)
	cmd.Env = []string{"PATH=" + bin}
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "nothing to do") {
		t.Errorf("build-chrony46.sh over a built directory: %v\n%s", err, b)
	}
}
