package compare

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// nsPrefix starts the name of every namespace the harness creates,
// followed by the creating process's pid and a dash ("xrcmp-1234-..."), so
// a run removes what a killed run left behind and never what a live one
// (a concurrent make compare or TestShortComparison) still uses.
const nsPrefix = "xrcmp-"

// ownPrefix is the name prefix of this process's namespaces.
func ownPrefix() string { return fmt.Sprintf("%s%d-", nsPrefix, os.Getpid()) }

// ownerAlive reports whether the process that created namespace name may
// still run: true unless its pid parses and the process is gone.  A name
// without a pid (an older harness's) counts as abandoned.
func ownerAlive(name string) bool {
	rest, ok := strings.CutPrefix(name, nsPrefix)
	if !ok {
		return true
	}
	pidText, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) != syscall.ESRCH
}

// nsPair is a client's two namespaces joined by a veth pair: the client in
// Client (10.215.i.1), its servers in Server (10.215.i.2, .3, ...).
type nsPair struct {
	Client, Server string
	ClientAddr     netip.Addr
	ServerAddrs    []netip.Addr
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newNsPair creates client i's namespaces with servers server addresses.
// On error whatever was created is removed.
func newNsPair(i, servers int) (p *nsPair, err error) {
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	tag := hex.EncodeToString(rnd[:])
	p = &nsPair{Client: fmt.Sprintf("%s%s-c%d", ownPrefix(), tag, i), Server: fmt.Sprintf("%s%s-s%d", ownPrefix(), tag, i),
		ClientAddr: netip.AddrFrom4([4]byte{10, 215, byte(i), 1})}
	for k := range servers {
		p.ServerAddrs = append(p.ServerAddrs, netip.AddrFrom4([4]byte{10, 215, byte(i), byte(2 + k)}))
	}
	defer func() {
		if err != nil {
			p.remove()
		}
	}()
	if err := ipCmd("netns", "add", p.Client); err != nil {
		return p, err
	}
	if err := ipCmd("netns", "add", p.Server); err != nil {
		return p, err
	}
	// The veth pair is made inside the client namespace and one end moved:
	// nothing ever exists in the harness's own namespace.
	if err := ipCmd("-n", p.Client, "link", "add", "xc", "type", "veth", "peer", "name", "xs", "netns", p.Server); err != nil {
		return p, err
	}
	steps := [][]string{
		{"-n", p.Client, "link", "set", "lo", "up"}, {"-n", p.Server, "link", "set", "lo", "up"},
		{"-n", p.Client, "addr", "add", p.ClientAddr.String() + "/24", "dev", "xc"},
		{"-n", p.Client, "link", "set", "xc", "up"}, {"-n", p.Server, "link", "set", "xs", "up"},
	}
	for _, a := range p.ServerAddrs {
		steps = append(steps, []string{"-n", p.Server, "addr", "add", a.String() + "/24", "dev", "xs"})
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			return p, err
		}
	}
	return p, nil
}

// remove deletes both namespaces (the veth pair goes with them).
func (p *nsPair) remove() {
	for _, n := range []string{p.Client, p.Server} {
		if _, err := os.Stat("/run/netns/" + n); err == nil {
			_ = ipCmd("netns", "del", n)
		}
	}
}

// RemoveStale deletes namespaces a killed run left behind (their creator
// is gone); it returns their names.
func RemoveStale() []string {
	ents, _ := os.ReadDir("/run/netns")
	var gone []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, nsPrefix) && !ownerAlive(n) && ipCmd("netns", "del", n) == nil {
			gone = append(gone, n)
		}
	}
	return gone
}
