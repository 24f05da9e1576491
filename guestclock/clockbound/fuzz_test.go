package clockbound

import (
	"bytes"
	"testing"
)

// FuzzDecode: Decode and BoundsAt never panic; whatever Decode accepts
// encodes back to the same 80 bytes (padding aside).
func FuzzDecode(f *testing.F) {
	good := sampleSegment()
	f.Add(Encode(&good), int64(1_700_000_000e9), int64(120e9))
	odd := good
	odd.Generation = 3
	f.Add(Encode(&odd), int64(0), int64(0))
	f.Add([]byte("NZMA\x00\x02BC"), int64(-1), int64(-1))
	long := append(Encode(&good), make([]byte, 100)...)
	f.Add(long, int64(5), int64(100e9))
	f.Fuzz(func(t *testing.T, b []byte, real, coarse int64) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		want := append([]byte(nil), b[:SegmentSize]...)
		clear(want[offSupport+1:])
		if got := Encode(&s); !bytes.Equal(got, want) {
			t.Fatalf("re-encoded %x, want %x", got, want)
		}
		bd, err := s.BoundsAt(real, coarse)
		if err == nil && bd.EarliestNs > bd.LatestNs {
			t.Fatalf("earliest %d after latest %d", bd.EarliestNs, bd.LatestNs)
		}
	})
}
