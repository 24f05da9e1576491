package counter

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"sync"
)

// bootIDPath is the kernel's random per-boot UUID; a variable for tests.
var bootIDPath = "/proc/sys/kernel/random/boot_id"

var (
	bootOnce sync.Once
	bootID   uint64
	bootErr  error
)

// BootIdentity is a 64-bit identity of this OS boot, derived from the
// kernel's random boot_id: the timeline identity of per-OS counters
// (monotonic-raw, and the TSC outside Xen). It never is 0.
func BootIdentity() (uint64, error) {
	bootOnce.Do(func() { bootID, bootErr = readBootIdentity(bootIDPath) })
	return bootID, bootErr
}

func readBootIdentity(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("boot identity: %w", err)
	}
	s := strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != 16 {
		return 0, fmt.Errorf("boot identity: %s: not a UUID: %q", path, strings.TrimSpace(string(b)))
	}
	return foldIdentity("boot", raw), nil
}

// foldIdentity hashes a tagged byte string to a non-zero 64-bit identity.
// FNV-1a is enough: identities are compared for equality, not trusted
// against an adversary, and the inputs (UUIDs, host ids) are already random.
func foldIdentity(tag string, parts ...[]byte) uint64 {
	h := fnv.New64a()
	h.Write([]byte(tag))
	for _, p := range parts {
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	v := h.Sum64()
	if v == 0 {
		v = 1
	}
	return v
}
