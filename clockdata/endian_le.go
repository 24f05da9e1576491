//go:build 386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm

package clockdata

// hostLE: the page's little-endian words are native words on this
// architecture, so the live page is read without byte swaps.
const hostLE = true
