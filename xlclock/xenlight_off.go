//go:build !xenlight

package main

import "github.com/xenradclock/xenradclock/xlclock/internal/view"

// xlDomains is nil in the default build: domains come from Xenstore alone.
// Build with `make xlclock-xenlight` for libxl's view as well.
var xlDomains func() (map[uint32]view.XLInfo, error)
