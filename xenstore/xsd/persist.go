package xsd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/xenradclock/xenradclock/xenstore"
)

// image is the persistence file: JSON, nodes in pre-order so that every
// parent precedes its children and child order survives.
type image struct {
	Version    int               `json:"version"`
	Nodes      []imageNode       `json:"nodes"`
	Specials   map[string]string `json:"specials"`
	Introduced []uint32          `json:"introduced"`
}

type imageNode struct {
	Path  string `json:"path"`
	Value []byte `json:"value,omitempty"` // base64 in JSON: values may be binary
	Perms string `json:"perms"`
}

const imageVersion = 1

func (s *Server) snapshotLocked() *image {
	img := &image{Version: imageVersion, Specials: map[string]string{}}
	var walk func(p string)
	walk = func(p string) {
		n := s.nodes[p]
		img.Nodes = append(img.Nodes, imageNode{Path: p, Value: n.value, Perms: n.perms.String()})
		for _, c := range n.children {
			if s.nodes[childPath(p, c)] != nil {
				walk(childPath(p, c))
			}
		}
	}
	walk("/")
	for k, v := range s.specials {
		img.Specials[k] = v.String()
	}
	for d := range s.introduced {
		if d != 0 {
			img.Introduced = append(img.Introduced, d)
		}
	}
	sort.Slice(img.Introduced, func(i, j int) bool { return img.Introduced[i] < img.Introduced[j] })
	return img
}

func writeImage(file string, img *image) error {
	b, err := json.Marshal(img)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".xsd-persist-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// load reads the persistence file; a missing file is a fresh start, a
// damaged one an error (never a silently empty tree).
func (s *Server) load() (bool, error) {
	b, err := os.ReadFile(s.file)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("xsd: reading %s: %w", s.file, err)
	}
	if err := s.loadBytes(s.file, b); err != nil {
		return false, err
	}
	return true, nil
}

// loadBytes builds the tree of an empty server from a persistence file's
// content (named file in errors). Whatever b holds, it returns an error or
// a consistent tree, never panics.
func (s *Server) loadBytes(file string, b []byte) error {
	var img image
	if err := json.Unmarshal(b, &img); err != nil {
		return fmt.Errorf("xsd: %s is not a persisted tree: %w", file, err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("xsd: %s: "+format, append([]any{file}, a...)...)
	}
	if img.Version != imageVersion {
		return bad("version %d, want %d", img.Version, imageVersion)
	}
	if len(img.Nodes) == 0 || img.Nodes[0].Path != "/" {
		return bad("first node is not the root")
	}
	for i, in := range img.Nodes {
		ps, err := xenstore.ParsePerms(in.Perms)
		if err != nil {
			return bad("node %q: %v", in.Path, err)
		}
		if i == 0 {
			s.putLocked("/", &node{value: in.Value, perms: ps})
			continue
		}
		p, rel, err := canonical(0, in.Path, false)
		if err != nil || rel || p != in.Path || p == "/" {
			return bad("invalid node path %q", in.Path)
		}
		par := s.nodes[parentOf(p)]
		if par == nil {
			return bad("node %q comes before its parent", p)
		}
		if s.nodes[p] != nil {
			return bad("node %q twice", p)
		}
		np := par.clone()
		np.children = append(np.children, baseOf(p))
		s.putLocked(parentOf(p), np)
		s.putLocked(p, &node{value: in.Value, perms: ps})
	}
	for _, k := range []string{"@introduceDomain", "@releaseDomain"} {
		s.specials[k] = xenstore.Perms{{Domid: 0, Access: xenstore.AccessNone}}
		if v, ok := img.Specials[k]; ok {
			ps, err := xenstore.ParsePerms(v)
			if err != nil {
				return bad("special %s: %v", k, err)
			}
			s.specials[k] = ps
		}
	}
	for _, d := range img.Introduced {
		if d == 0 || d > xenstore.MaxDomid {
			return bad("introduced domid %d out of range", d)
		}
		s.introduced[d] = true
	}
	s.dirty = false
	return nil
}
