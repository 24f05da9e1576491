package hypercall

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

// A sample as the module writes it, byte for byte (docs/kernel-abi.md).
const systimeVector = "58525354" + "01000000" + // magic "XRST", version 1
	"0807060504030201" + // system_time_ns 0x0102030405060708
	"0200000000000000" + // resume_gen 2
	"01000000" + "00000000" // flags TSC_STABLE, reserved

func TestDecodeSystimeVector(t *testing.T) {
	b, _ := hex.DecodeString(systimeVector)
	s, err := DecodeSystimeSample(b)
	if err != nil {
		t.Fatal(err)
	}
	want := SystimeSample{Magic: SystimeMagic, Version: 1, SystemTimeNs: 0x0102030405060708, ResumeGen: 2, Flags: SystimeTSCStable}
	if s != want {
		t.Fatalf("decoded %+v, want %+v", s, want)
	}
	if string(b[:4]) != "XRST" {
		t.Errorf("magic bytes %q", b[:4])
	}
	enc, _ := s.MarshalBinary()
	if !bytes.Equal(enc, b) {
		t.Errorf("re-encoded %x, want %x", enc, b)
	}
	file, err := os.ReadFile("testdata/xrst_sample_v1.bin")
	if err != nil || !bytes.Equal(file, b) {
		t.Errorf("testdata/xrst_sample_v1.bin differs from the vector: %v", err)
	}
}

func TestDecodeSystimeRejects(t *testing.T) {
	good, _ := hex.DecodeString(systimeVector)
	mut := func(f func(b []byte) []byte) []byte { c := append([]byte(nil), good...); return f(c) }
	for name, b := range map[string][]byte{
		"short":        good[:31],
		"long":         append(append([]byte(nil), good...), 0),
		"empty":        nil,
		"wrong magic":  mut(func(b []byte) []byte { b[0] = 'Y'; return b }),
		"big-endian":   mut(func(b []byte) []byte { copy(b, "TSRX"); return b }),
		"version 2":    mut(func(b []byte) []byte { b[4] = 2; return b }),
		"version 0":    mut(func(b []byte) []byte { b[4] = 0; return b }),
		"reserved set": mut(func(b []byte) []byte { b[31] = 1; return b }),
		"resume gen 0": mut(func(b []byte) []byte { b[16] = 0; return b }),
	} {
		if _, err := DecodeSystimeSample(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func platformVector() PlatformTime {
	p := PlatformTime{Version: 1, Kind: PTKindHPET, PlatformCount: 0x1122334455667788, PlatformHz: 100_000_000,
		SystemTimeNs: 123_456_789_000, GuestTSC: 0xaabbccddeeff0011, Incarnation: 3, Flags: PTPlatformValid | PTGuestTSCValid}
	copy(p.HostID[:], "0123456789abcdef")
	return p
}

const platformHex = "01000000" + "01000000" + "8877665544332211" + "00e1f50500000000" +
	"081a99be1c000000" + "1100ffeeddccbbaa" + "03000000" + "03000000" +
	"30313233343536373839616263646566"

func TestPlatformTimeVector(t *testing.T) {
	b, _ := hex.DecodeString(platformHex)
	p, err := DecodePlatformTime(b)
	if err != nil {
		t.Fatal(err)
	}
	if p != platformVector() || !p.PlatformValid() || !p.GuestTSCValid() {
		t.Fatalf("decoded %+v", p)
	}
	enc, _ := p.MarshalBinary()
	if !bytes.Equal(enc, b) {
		t.Errorf("re-encoded %x", enc)
	}
	if KindName(p.Kind) != "HPET" || !strings.Contains(KindName(9), "9") {
		t.Errorf("KindName")
	}
}

func TestPlatformTimeRejects(t *testing.T) {
	good, _ := platformVector().MarshalBinary()
	mut := func(f func(p *PlatformTime)) []byte {
		p := platformVector()
		f(&p)
		b, _ := p.MarshalBinary()
		return b
	}
	for name, b := range map[string][]byte{
		"short":         good[:63],
		"long":          append(append([]byte(nil), good...), 0),
		"version 0":     mut(func(p *PlatformTime) { p.Version = 0 }),
		"version 2":     mut(func(p *PlatformTime) { p.Version = 2 }),
		"kind 6":        mut(func(p *PlatformTime) { p.Kind = 6 }),
		"valid, 0 Hz":   mut(func(p *PlatformTime) { p.PlatformHz = 0 }),
		"valid, 20 GHz": mut(func(p *PlatformTime) { p.PlatformHz = 20e9 }),
	} {
		if _, err := DecodePlatformTime(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	// Not valid: the frequency is not looked at.
	if _, err := DecodePlatformTime(mut(func(p *PlatformTime) { p.Flags = 0; p.PlatformHz = 0 })); err != nil {
		t.Errorf("invalid platform timer rejected: %v", err)
	}
}

func FuzzDecodeSystimeSample(f *testing.F) {
	good, _ := hex.DecodeString(systimeVector)
	f.Add(good)
	f.Add(good[:10])
	f.Add(make([]byte, 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSystimeSample(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v not ErrMalformed", err)
			}
			return
		}
		enc, _ := s.MarshalBinary()
		if !bytes.Equal(enc, b) {
			t.Fatalf("accepted %x re-encodes to %x", b, enc)
		}
	})
}

func FuzzDecodePlatformTime(f *testing.F) {
	good, _ := platformVector().MarshalBinary()
	f.Add(good)
	f.Add(make([]byte, 64))
	f.Add(good[:5])
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePlatformTime(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v not ErrMalformed", err)
			}
			return
		}
		enc, _ := p.MarshalBinary()
		if !bytes.Equal(enc, b) {
			t.Fatalf("accepted %x re-encodes to %x", b, enc)
		}
	})
}
