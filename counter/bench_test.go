package counter

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkRead measures Read through the Counter interface for every
// registered counter this machine has (the others skip, saying why), and
// reports each cost relative to time.Now measured in the same run.
func BenchmarkRead(b *testing.B) {
	var sink int64
	nowNs := measureNs(func() { sink += time.Now().UnixNano() })
	_ = sink
	host := filepath.Join(b.TempDir(), "host")
	b.Setenv(SimulatedEnv, host)
	if err := CreateSimHost(host, SimHostConfig{HostID: 1, NominalHz: 1e9}); err != nil {
		b.Fatal(err)
	}
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			c, err := Open(name)
			if err != nil {
				b.Skip(err)
			}
			if cl, ok := c.(interface{ Close() error }); ok {
				defer cl.Close()
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.Read()
			}
			b.StopTimer()
			if b.N > 1 && nowNs > 0 {
				per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(per/nowNs, "x_time.Now")
			}
		})
	}
}

// measureNs is the mean cost of f over about 20 ms.
func measureNs(f func()) float64 {
	n := 0
	start := time.Now()
	for time.Since(start) < 20*time.Millisecond {
		for i := 0; i < 1000; i++ {
			f()
		}
		n += 1000
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}
