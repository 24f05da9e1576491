//go:build linux

package clockbound

import "testing"

// BenchmarkUpdate: one segment update from a sample (fill + generation
// protocol), what the agent pays per sample.
func BenchmarkUpdate(b *testing.B) {
	w, _ := newWriter(b, Config{})
	s := liveSample(b, 1000, 50_000)
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Update(&s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot: one consistent read of the segment by the Go reader.
func BenchmarkSnapshot(b *testing.B) {
	w, path := newWriter(b, Config{})
	s := liveSample(b, 1000, 50_000)
	w.Update(&s)
	r, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Snapshot(); err != nil {
			b.Fatal(err)
		}
	}
}
