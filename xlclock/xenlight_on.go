//go:build xenlight

package main

// The xenlight build: domain state also comes from libxl through Xen's Go
// binding (cgo, linked against Debian's libxen-dev). Built by
// `make xlclock-xenlight` (xlclock/build-xenlight.sh), which takes the
// binding from Xen's source.

import (
	"fmt"

	"xenbits.xenproject.org/git-http/xen.git/tools/golang/xenlight"

	"github.com/xenradclock/xenradclock/xlclock/internal/view"
)

var xlDomains = func() (map[uint32]view.XLInfo, error) {
	ctx, err := xenlight.NewContext()
	if err != nil {
		return nil, fmt.Errorf("libxl context (run in Dom0 as root): %w", err)
	}
	defer ctx.Close()
	out := map[uint32]view.XLInfo{}
	for _, d := range ctx.ListDomain() {
		out[uint32(d.Domid)] = view.XLInfo{
			Name:      ctx.DomidToName(d.Domid),
			State:     view.XLState(d.Running, d.Blocked, d.Paused, d.Shutdown, d.Shutdown && d.ShutdownReason == xenlight.ShutdownReasonCrash, d.Dying),
			Type:      domainType(d.DomainType),
			CPUTimeNs: d.CpuTime,
			UUID:      d.Uuid.String(),
		}
	}
	return out, nil
}

func domainType(t xenlight.DomainType) string {
	switch t {
	case xenlight.DomainTypePv:
		return "pv"
	case xenlight.DomainTypePvh:
		return "pvh"
	case xenlight.DomainTypeHvm:
		return "hvm"
	}
	return "unknown"
}
