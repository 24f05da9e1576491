package testtool

import (
	"testing"
)

// fakeT records what Require did instead of ending the test.
type fakeT struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeT) Helper()                  {}
func (f *fakeT) Skip(...any)              { f.skipped = true }
func (f *fakeT) Fatalf(string, ...any)    { f.failed = true }
func (f *fakeT) Skipf(string, ...any)     { f.skipped = true }
func (f *fakeT) Logf(string, ...any)      {}
func (f *fakeT) Errorf(string, ...any)    { f.failed = true }
func (f *fakeT) Fatal(...any)             { f.failed = true }
func (f *fakeT) Log(...any)               {}
func (f *fakeT) Name() string             { return "fake" }
func (f *fakeT) Setenv(key, value string) {}
func (f *fakeT) TempDir() string          { return "" }
func (f *fakeT) Cleanup(func())           {}
func (f *fakeT) Error(...any)             { f.failed = true }
func (f *fakeT) Fail()                    { f.failed = true }
func (f *fakeT) FailNow()                 { f.failed = true }
func (f *fakeT) Failed() bool             { return f.failed }
func (f *fakeT) SkipNow()                 { f.skipped = true }
func (f *fakeT) Skipped() bool            { return f.skipped }

const absent = "xenradclock-no-such-tool"

func TestMissingSkipsLocally(t *testing.T) {
	t.Setenv("CI", "")
	t.Setenv(RequireEnv, "")
	f := &fakeT{}
	Require(f, absent)
	if !f.skipped || f.failed {
		t.Fatalf("missing tool outside CI: skipped %v, failed %v; want a skip", f.skipped, f.failed)
	}
}

func TestMissingFailsInCI(t *testing.T) {
	for _, env := range [][2]string{{"CI", "true"}, {RequireEnv, "1"}} {
		t.Setenv("CI", "")
		t.Setenv(RequireEnv, "")
		t.Setenv(env[0], env[1])
		f := &fakeT{}
		Require(f, absent)
		if !f.failed || f.skipped {
			t.Errorf("%s=%s: skipped %v, failed %v; want a failure", env[0], env[1], f.skipped, f.failed)
		}
	}
}

func TestRequireFinds(t *testing.T) {
	if p := Require(t, "sh"); p == "" {
		t.Fatal("sh not found")
	}
}
