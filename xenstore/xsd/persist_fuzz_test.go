package xsd

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/xenradclock/xenradclock/xenstore"
)

// FuzzPersistFile loads arbitrary bytes as a persistence file. Bad input
// gives an error, never a panic; what loads is a consistent tree (every
// node's parent exists and lists it, owners and memory are counted) and
// survives a save and reload unchanged.
func FuzzPersistFile(f *testing.F) {
	good := newState(Config{})
	good.initTree()
	good.introduceLocked(12)
	good.createLocked("/p", []byte{0, 1, 255}, xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}, {Domid: 12, Access: xenstore.AccessBoth}})
	b, err := json.Marshal(good.snapshotLocked())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, s := range []string{"", "{", "null", `{"version":9}`, `{"version":1,"nodes":null}`,
		`{"version":1,"nodes":[{"path":"/a","perms":"n0"}]}`,
		`{"version":1,"nodes":[{"path":"/","perms":"n0"},{"path":"/a/b","perms":"n0"}]}`,
		`{"version":1,"nodes":[{"path":"/","perms":"x0"}]}`,
		`{"version":1,"nodes":[{"path":"/","perms":""}]}`,
		`{"version":1,"nodes":[{"path":"/","perms":"n0"},{"path":"/","perms":"n0"}]}`,
		`{"version":1,"nodes":[{"path":"/","perms":"n0"},{"path":"/a","perms":"n0"},{"path":"/a","perms":"n0"}]}`,
		`{"version":1,"nodes":[{"path":"/","perms":"n0"},{"path":"a","perms":"n0"}]}`,
		`{"version":1,"nodes":[{"path":"/","perms":"n0"}],"specials":{"@releaseDomain":""},"introduced":[0]}`,
		`{"version":1,"nodes":[{"path":"/","perms":"n0","value":"!!"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newState(Config{})
		if err := s.loadBytes("fuzz", b); err != nil {
			return
		}
		checkTree(t, s)
		again, err := json.Marshal(s.snapshotLocked())
		if err != nil {
			t.Fatal(err)
		}
		r := newState(Config{})
		if err := r.loadBytes("reloaded", again); err != nil {
			t.Fatalf("a saved tree does not load: %v\n%s", err, again)
		}
		checkTree(t, r)
		if twice, _ := json.Marshal(r.snapshotLocked()); !bytes.Equal(again, twice) {
			t.Fatalf("save and reload changed the tree:\n%s\n%s", again, twice)
		}
	})
}

func checkTree(t *testing.T, s *Server) {
	t.Helper()
	owned := map[uint32]int{}
	mem := map[uint32]int{}
	for p, n := range s.nodes {
		if len(n.perms) == 0 {
			t.Fatalf("node %q without permissions", p)
		}
		owned[n.perms.Owner()]++
		mem[n.perms.Owner()] += nodeCost(p, n)
		if p == "/" {
			continue
		}
		par := s.nodes[parentOf(p)]
		if par == nil {
			t.Fatalf("node %q without parent", p)
		}
		listed := 0
		for _, c := range par.children {
			if c == baseOf(p) {
				listed++
			}
		}
		if listed != 1 {
			t.Fatalf("node %q listed %d times by its parent", p, listed)
		}
	}
	for d, n := range owned {
		if s.owned[d] != n || s.mem[d] != mem[d] {
			t.Fatalf("domain %d: counted %d nodes %d bytes, has %d nodes %d bytes", d, s.owned[d], s.mem[d], n, mem[d])
		}
	}
	for _, k := range []string{"@introduceDomain", "@releaseDomain"} {
		if len(s.specials[k]) == 0 {
			t.Fatalf("special %s without permissions", k)
		}
	}
}
