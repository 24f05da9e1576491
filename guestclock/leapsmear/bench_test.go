package leapsmear

import "testing"

func BenchmarkSmear(b *testing.B) {
	c := dec2016.StepNs() - 3600e9
	for b.Loop() {
		c += 1000
		_ = Smear(c, dec2016)
	}
}
