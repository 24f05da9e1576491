package version

import "testing"

func TestStringLinkTimeOverride(t *testing.T) {
	old := Version
	defer func() { Version = old }()
	Version = "9.8.7"
	if got := String(); got != "9.8.7" {
		t.Fatalf("String() = %q with Version set, want 9.8.7", got)
	}
	Version = ""
	if got := String(); got == "" {
		t.Fatal("String() is empty without a link-time version")
	}
}
