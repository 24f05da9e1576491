package view

import "strings"

// XLInfo is what Xen's toolstack library (libxl) says of a domain, when
// xlclock is built with the xenlight tag: the hypervisor's view, beside
// Xenstore's.
type XLInfo struct {
	Name string `json:"name"`
	// State is xl list's: r running, b blocked, p paused, s shut down,
	// c crashed, d dying; '-' where a flag is clear.
	State     string `json:"state"`
	Type      string `json:"type"` // pv, pvh, hvm
	CPUTimeNs uint64 `json:"cpu_time_ns"`
	UUID      string `json:"uuid"`
}

// XLState spells xl list's state column from the domain's flags.
func XLState(running, blocked, paused, shutdown, crashed, dying bool) string {
	var b strings.Builder
	for _, f := range []struct {
		on bool
		c  byte
	}{{running, 'r'}, {blocked, 'b'}, {paused, 'p'}, {shutdown, 's'}, {crashed, 'c'}, {dying, 'd'}} {
		if f.on {
			b.WriteByte(f.c)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// mergeXL attaches libxl's view to every domain and adds the domains
// libxl knows that Xenstore does not list (named from libxl).
func (s *Snapshot) mergeXL(xl map[uint32]XLInfo) {
	seen := map[uint32]bool{}
	for i := range s.Domains {
		d := &s.Domains[i]
		seen[d.Domid] = true
		if info, ok := xl[d.Domid]; ok {
			d.XL = cleanXL(info)
		}
	}
	for id, info := range xl {
		if !seen[id] {
			s.Domains = append(s.Domains, Domain{Domid: id, Name: Clean(info.Name, maxNameRunes), Agent: AgentNone, XL: cleanXL(info)})
		}
	}
	sortDomains(s.Domains)
}

func cleanXL(info XLInfo) *XLInfo {
	info.Name, info.State, info.Type, info.UUID = Clean(info.Name, maxNameRunes), Clean(info.State, 8), Clean(info.Type, 8), Clean(info.UUID, 40)
	return &info
}
