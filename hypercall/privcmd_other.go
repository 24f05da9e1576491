//go:build !linux

package hypercall

// Privcmd exists only on Linux.
type Privcmd struct{}

// IsXen is false outside Linux in this build.
func IsXen() bool { return false }

// Open fails outside Linux.
func Open() (*Privcmd, error) {
	return nil, &Error{Op: "open " + PrivcmdPath, Reason: ErrNotXen, Detail: "privcmd is Linux-only"}
}

func (p *Privcmd) Close() error { return nil }

func (p *Privcmd) PlatformTime() (PlatformTime, error) {
	return PlatformTime{}, &Error{Op: "XENVER_platform_time", Reason: ErrNotXen}
}

func ReadPlatformTime() (PlatformTime, error) {
	return PlatformTime{}, &Error{Op: "XENVER_platform_time", Reason: ErrNotXen}
}
