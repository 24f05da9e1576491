//go:build !amd64

package counter

const haveTSC = false

func rdtsc() uint64                    { return 0 }
func rdtscRaw() uint64                 { return 0 }
func rdtscp() (tsc uint64, aux uint32) { return 0, 0 }
func cpuid(leaf, sub uint32) (a, b, c, d uint32) {
	return 0, 0, 0, 0
}
func xenForcedCpuid(leaf, sub uint32) (a, b, c, d uint32) {
	return 0, 0, 0, 0
}
