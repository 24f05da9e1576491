package xenstore

import (
	"fmt"
	"strconv"
	"strings"
)

// Access is what a permission entry grants.
type Access uint8

// Access values, with the letters of Xen's syntax.
const (
	AccessNone  Access = 0 // 'n'
	AccessRead  Access = 1 // 'r'
	AccessWrite Access = 2 // 'w'
	AccessBoth  Access = 3 // 'b': read and write
)

// Letter is the access's letter in Xen's syntax.
func (a Access) Letter() byte {
	switch a & AccessBoth {
	case AccessRead:
		return 'r'
	case AccessWrite:
		return 'w'
	case AccessBoth:
		return 'b'
	}
	return 'n'
}

// CanRead and CanWrite test the bits.
func (a Access) CanRead() bool  { return a&AccessRead != 0 }
func (a Access) CanWrite() bool { return a&AccessWrite != 0 }

// Perm is one permission entry: a domain and its access. In a node's list
// the first entry names the owner and gives the access of every domain
// without an entry of its own; the owner itself always has full access.
type Perm struct {
	Domid  uint32
	Access Access
}

// MaxDomid is the largest domain id (DOMID_FIRST_RESERVED - 1 is 0x7fef;
// xenstored accepts any 16-bit value in permissions).
const MaxDomid = 0xffff

func (p Perm) String() string {
	return string(p.Access.Letter()) + strconv.FormatUint(uint64(p.Domid), 10)
}

// ParsePerm parses one entry such as "r0", "n5" or "b12".
func ParsePerm(s string) (Perm, error) {
	if len(s) < 2 {
		return Perm{}, fmt.Errorf("xenstore: permission %q: want a letter n, r, w or b and a domid", s)
	}
	var a Access
	switch s[0] {
	case 'n':
		a = AccessNone
	case 'r':
		a = AccessRead
	case 'w':
		a = AccessWrite
	case 'b':
		a = AccessBoth
	default:
		return Perm{}, fmt.Errorf("xenstore: permission %q: unknown access letter %q (want n, r, w or b)", s, s[0])
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return Perm{}, fmt.Errorf("xenstore: permission %q: domid is not a decimal number", s)
		}
	}
	d, err := strconv.ParseUint(s[1:], 10, 32)
	if err != nil || d > MaxDomid {
		return Perm{}, fmt.Errorf("xenstore: permission %q: domid out of range 0..%d", s, MaxDomid)
	}
	return Perm{Domid: uint32(d), Access: a}, nil
}

// Perms is a node's permission list; Perms[0] is the owner and default.
type Perms []Perm

// ParsePerms parses entries separated by commas, spaces or NULs
// ("n0,r5", "n0 r5").
func ParsePerms(s string) (Perms, error) {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == 0 })
	if len(f) == 0 {
		return nil, fmt.Errorf("xenstore: empty permission list")
	}
	out := make(Perms, 0, len(f))
	for _, x := range f {
		p, err := ParsePerm(x)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// String formats the list as "n0,r5".
func (ps Perms) String() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// Owner is the domid of the first entry.
func (ps Perms) Owner() uint32 {
	if len(ps) == 0 {
		return 0
	}
	return ps[0].Domid
}

// For returns the access domain domid has under these permissions, as
// xenstored computes it: the owner has both, a domain with its own entry
// has the access of its first such entry, anyone else has the owner
// entry's access. Privilege (dom0) is the caller's business.
func (ps Perms) For(domid uint32) Access {
	if len(ps) == 0 {
		return AccessNone
	}
	if ps[0].Domid == domid {
		return AccessBoth
	}
	for _, p := range ps[1:] {
		if p.Domid == domid {
			return p.Access
		}
	}
	return ps[0].Access
}

// encode is the wire form: each entry NUL-terminated.
func (ps Perms) encode() []string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return s
}

// Clone copies the list.
func (ps Perms) Clone() Perms { return append(Perms(nil), ps...) }
