package counter

const haveTSC = true

func rdtsc() uint64
func rdtscRaw() uint64
func rdtscp() (tsc uint64, aux uint32)
func cpuid(leaf, sub uint32) (a, b, c, d uint32)
func xenForcedCpuid(leaf, sub uint32) (a, b, c, d uint32)
