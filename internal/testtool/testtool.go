// Package testtool finds the external tools some tests run (gcc, chronyd,
// Debian's xenstore-utils). On a developer's machine a missing tool skips
// the test; in CI it fails it, so that a run without the tool cannot pass
// by skipping what it was meant to check.
package testtool

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireEnv, set to 1, makes a missing tool fail the test; .ci/run sets
// it. CI=true (set by most CI services) does the same.
const RequireEnv = "XENRADCLOCK_REQUIRE_TOOLS"

// Strict reports whether a missing tool must fail the test.
func Strict() bool {
	return os.Getenv(RequireEnv) == "1" || os.Getenv("CI") == "true"
}

// Require returns the path of tool: an absolute path that exists, or a
// name found in PATH (or in /usr/sbin and /sbin, where Debian puts
// daemons). When it is missing the test skips, or fails under Strict.
func Require(t testing.TB, tool string) string {
	t.Helper()
	if p, ok := find(tool); ok {
		return p
	}
	Missing(t, tool+" not installed (scripts/install-deps.sh installs it)")
	return "" // not reached in a real test
}

// Missing skips the test with why, or fails it under Strict.
func Missing(t testing.TB, why string) {
	t.Helper()
	if Strict() {
		t.Fatalf("%s; a missing tool fails the test when %s=1 or CI=true", why, RequireEnv)
		return
	}
	t.Skip(why)
}

func find(tool string) (string, bool) {
	if filepath.IsAbs(tool) {
		_, err := os.Stat(tool)
		return tool, err == nil
	}
	if p, err := exec.LookPath(tool); err == nil {
		return p, true
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, tool)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}
