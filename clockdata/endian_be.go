//go:build !(386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm)

package clockdata

// hostLE: on big-endian architectures every live page word is byte-swapped.
const hostLE = false
