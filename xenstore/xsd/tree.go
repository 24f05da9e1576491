package xsd

import (
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/xenradclock/xenradclock/xenstore"
)

// node is immutable once stored: every change stores a modified copy, so a
// transaction's overlay and the committed tree never share mutable state.
type node struct {
	value    []byte
	perms    xenstore.Perms
	children []string // leaf names, in creation order (as xenstored lists them)
	gen      uint64   // generation of the last change; 0 is "absent"
}

func (n *node) clone() *node {
	c := *n
	c.perms = n.perms.Clone()
	c.children = slices.Clone(n.children)
	c.value = slices.Clone(n.value)
	return &c
}

// size is what the node-size quota counts: value, child names and
// permission entries, each name and entry with its NUL.
func (n *node) size() int {
	s := len(n.value)
	for _, c := range n.children {
		s += len(c) + 1
	}
	for _, p := range n.perms {
		s += len(p.String()) + 1
	}
	return s
}

func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

func baseOf(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

func childPath(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// isChild reports whether child is parent or below it ("/" is above all).
func isChild(child, parent string) bool {
	if parent == "/" {
		return true
	}
	if !strings.HasPrefix(child, parent) {
		return false
	}
	return len(child) == len(parent) || child[len(parent)] == '/'
}

func validChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '/' || c == '_' || c == '@'
}

// canonical resolves a path argument for a connection of domain domid:
// relative paths are below /local/domain/<domid>. It enforces xenstored's
// syntax: the characters [A-Za-z0-9/_@-], no empty component, no trailing
// slash, the length limits. Special paths (@...) are allowed only when
// special is set (watches and permissions).
func canonical(domid uint32, p string, special bool) (abs string, relative bool, err error) {
	if p == "" {
		return "", false, syscall.EINVAL
	}
	if p[0] == '@' {
		if !special || len(p) > xenstore.RelPathMax {
			return "", false, syscall.EINVAL
		}
		for i := 0; i < len(p); i++ {
			if !validChar(p[i]) {
				return "", false, syscall.EINVAL
			}
		}
		return p, false, nil
	}
	if p[0] != '/' {
		if len(p) > xenstore.RelPathMax {
			return "", false, syscall.EINVAL
		}
		relative = true
		p = "/local/domain/" + strconv.FormatUint(uint64(domid), 10) + "/" + p
	}
	if len(p) > xenstore.AbsPathMax {
		return "", false, syscall.EINVAL
	}
	if p != "/" && (strings.HasSuffix(p, "/") || strings.Contains(p, "//")) {
		return "", false, syscall.EINVAL
	}
	for i := 0; i < len(p); i++ {
		if !validChar(p[i]) {
			return "", false, syscall.EINVAL
		}
	}
	return p, relative, nil
}

func homePath(domid uint32) string {
	return "/local/domain/" + strconv.FormatUint(uint64(domid), 10)
}
