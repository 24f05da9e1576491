package ntp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
)

func TestPacketRoundTrip(t *testing.T) {
	p := Packet{
		Leap: 1, Version: 4, Mode: ModeServer, Stratum: 2, Poll: 6, Precision: -23,
		RootDelay: 0x00012345, RootDispersion: 0x0000abcd, RefID: 0xc0a80001,
		RefTime: 0xe9b0f1a2_80000000, Origin: 0x0123456789abcdef,
		Receive: 0xe9b0f1a3_00000001, Transmit: 0xe9b0f1a3_00000002,
	}
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x64, 2, 6, 0xe9, // LI 1, VN 4, mode 4; stratum; poll; precision -23
		0, 1, 0x23, 0x45, 0, 0, 0xab, 0xcd, 0xc0, 0xa8, 0, 1,
		0xe9, 0xb0, 0xf1, 0xa2, 0x80, 0, 0, 0,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		0xe9, 0xb0, 0xf1, 0xa3, 0, 0, 0, 1,
		0xe9, 0xb0, 0xf1, 0xa3, 0, 0, 0, 2,
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("wire form\n got %x\nwant %x", b, want)
	}
	q, err := Decode(b)
	if err != nil || q != p {
		t.Fatalf("decode: %+v %v", q, err)
	}
	if _, err := (&Packet{Leap: 4}).MarshalBinary(); err == nil {
		t.Fatal("leap 4 encoded")
	}
}

func TestDecodeErrors(t *testing.T) {
	good := make([]byte, HeaderLen)
	ext := func(n int, declared uint16) []byte {
		b := append(append([]byte{}, good...), make([]byte, n)...)
		if n >= 4 {
			b[HeaderLen+2], b[HeaderLen+3] = byte(declared>>8), byte(declared)
		}
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want Reason
	}{
		{"empty", nil, ReasonTruncated},
		{"47 bytes", good[:47], ReasonTruncated},
		{"header", good, ReasonNone},
		{"unaligned trailer", ext(3, 0), ReasonMalformed},
		{"MAC md5", ext(20, 0), ReasonNone},
		{"MAC sha1", ext(24, 0), ReasonNone},
		{"extension 16", ext(16, 16), ReasonNone},
		{"extension then MAC", ext(36, 16), ReasonNone},
		{"extension too long", ext(32, 48), ReasonMalformed},
		{"extension length 0", ext(32, 0), ReasonMalformed},
		{"8 stray bytes", ext(8, 8), ReasonMalformed},
		{"oversize", ext(MaxPacketLen, 16), ReasonMalformed},
	}
	for _, tc := range cases {
		_, err := Decode(tc.b)
		var de *DecodeError
		got := ReasonNone
		if errors.As(err, &de) {
			got = de.Reason
		} else if err != nil {
			t.Fatalf("%s: untyped error %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: %v (%v), want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestTimestampEras(t *testing.T) {
	cases := []struct {
		ts   Timestamp
		want bintime.Time
	}{
		{0xe9b0f1a3_80000000, bintime.Time{Sec: 0xe9b0f1a3 - ntpUnixOffset, Frac: 1 << 63}},
		// 2036-02-07T06:28:15Z is the last second of era 0 ...
		{0xffffffff_00000000, bintime.Time{Sec: 2085978495}},
		// ... and era 1 starts at 2036-02-07T06:28:16Z.
		{0x00000000_00000001, bintime.Time{Sec: 2085978496, Frac: 1 << 32}},
		{0x00000010_00000000, bintime.Time{Sec: 2085978496 + 16}},
		// Around 1970: before 1958 is outside the window, so era 0 here.
		{Timestamp(ntpUnixOffset) << 32, bintime.Time{}},
	}
	for _, tc := range cases {
		if got := tc.ts.Time(); got != tc.want {
			t.Errorf("%016x: %v, want %v", uint64(tc.ts), got, tc.want)
		}
		if back := TimestampOf(tc.want); back != tc.ts {
			t.Errorf("%v back to %016x, want %016x", tc.want, uint64(back), uint64(tc.ts))
		}
	}
	// A pivot in 2065 reads small seconds as era 1 and large ones as era 0.
	if got := Timestamp(0x10_00000000).TimeNear(3000000000).Sec; got != 2085978496+16 {
		t.Errorf("pivot 3e9: %d", got)
	}
	if got := Timestamp(0xf0000000_00000000).TimeNear(3000000000).Sec; got != 0xf0000000-ntpUnixOffset {
		t.Errorf("pivot 3e9, late era 0: %d", got)
	}
}

func TestTimestampOfRounds(t *testing.T) {
	// 2^-33 s rounds up to 2^-32 s; the fraction carries into the seconds.
	if got := TimestampOf(bintime.Time{Sec: 10, Frac: 1 << 31}); got != Timestamp((10+ntpUnixOffset)<<32|1) {
		t.Errorf("round up: %016x", uint64(got))
	}
	if got := TimestampOf(bintime.Time{Sec: 10, Frac: ^uint64(0)}); got != Timestamp((11+ntpUnixOffset)<<32) {
		t.Errorf("carry: %016x", uint64(got))
	}
}

func TestShort(t *testing.T) {
	if d := Short(0x00018000).Duration(); d != 1500*time.Millisecond {
		t.Errorf("1.5 s: %v", d)
	}
	if d := Short(1).Duration(); d != 15259*time.Nanosecond {
		t.Errorf("2^-16 s: %v", d)
	}
	for _, d := range []time.Duration{0, time.Microsecond * 15, time.Millisecond, 1500 * time.Millisecond, time.Hour} {
		s := ShortOf(d)
		if diff := s.Duration() - d; d < 65535*time.Second && (diff > 8*time.Microsecond || diff < -8*time.Microsecond) {
			t.Errorf("%v -> %v", d, s.Duration())
		}
	}
	if ShortOf(100000*time.Second) != Short(^uint32(0)) || ShortOf(-time.Second) != 0 {
		t.Error("ShortOf does not saturate")
	}
}

func TestKissCode(t *testing.T) {
	cases := []struct {
		stratum uint8
		refid   uint32
		code    string
		ok      bool
	}{
		{0, 0x52415445, "RATE", true},
		{0, 0x41434300, "ACC", true},
		{0, 0, "", false},
		{0, 0x7f000001, "", false},
		{1, 0x52415445, "", false},
	}
	for _, tc := range cases {
		p := Packet{Stratum: tc.stratum, RefID: tc.refid}
		if code, ok := p.KissCode(); code != tc.code || ok != tc.ok {
			t.Errorf("%d %08x: %q %v", tc.stratum, tc.refid, code, ok)
		}
	}
}

func TestReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		n := r.String()
		if n == "" || seen[n] || strings.HasPrefix(n, "reason_") {
			t.Errorf("reason %d has name %q", r, n)
		}
		seen[n] = true
	}
}

// FuzzDecode: the decoder never panics, accepts exactly what it can
// re-encode, and its verdict on length is consistent.
func FuzzDecode(f *testing.F) {
	p := Packet{Version: 4, Mode: ModeServer, Stratum: 1, Transmit: 1}
	b, _ := p.MarshalBinary()
	f.Add(b)
	f.Add(b[:47])
	f.Add(append(append([]byte{}, b...), 0, 2, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
	f.Add(append(append([]byte{}, b...), make([]byte, 20)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		q, err := Decode(in)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || (de.Reason != ReasonTruncated && de.Reason != ReasonMalformed) {
				t.Fatalf("untyped or unexpected error %v", err)
			}
			if (len(in) < HeaderLen) != (de.Reason == ReasonTruncated) {
				t.Fatalf("len %d gave %v", len(in), de.Reason)
			}
			return
		}
		out, err := q.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(out, in[:HeaderLen]) {
			t.Fatalf("round trip\n in %x\nout %x", in[:HeaderLen], out)
		}
		_, _ = q.KissCode()
		_, _ = CheckReply(&q)
		_ = q.Receive.Time()
	})
}

func BenchmarkDecode(b *testing.B) {
	p := Packet{Version: 4, Mode: ModeServer, Stratum: 1, Transmit: 1}
	buf, _ := p.MarshalBinary()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	p := Packet{Version: 4, Mode: ModeServer, Stratum: 1, Transmit: 1}
	var buf [HeaderLen]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
