package chronysock

import (
	"bytes"
	"math"
	"testing"
)

// FuzzDecode: Decode never panics and what it accepts re-encodes to the
// same bytes (the pad field aside).
func FuzzDecode(f *testing.F) {
	good := Sample{TvSec: 1_700_000_000, TvUsec: 5, OffsetSec: 1e-3, Leap: LeapDelete}
	f.Add(good.Encode())
	f.Add(make([]byte, SampleSize))
	f.Add([]byte("KCOS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		want := append([]byte(nil), b...)
		clear(want[32:36])
		got := s.Encode()
		if math.IsNaN(s.OffsetSec) {
			return // NaN payloads need not survive
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("re-encoded % x, want % x", got, want)
		}
	})
}
