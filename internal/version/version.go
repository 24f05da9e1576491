// Package version holds the version string every binary prints for
// --version. Release builds set it with
//
//	go build -ldflags "-X github.com/xenradclock/xenradclock/internal/version.Version=1.2.3"
//
// (the Makefile does, from `git describe`); other builds fall back to the
// module version and VCS revision the Go toolchain embeds.
package version

import "runtime/debug"

// Version is set at link time; empty means "ask the build info".
var Version string

// String returns the version: the link-time one, else the module version
// with the VCS revision when the toolchain recorded them, else "devel".
func String() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += "+" + rev + dirty
	}
	return v
}
