//go:build linux

package chronysock

import (
	"encoding/binary"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/guestclock/leapsmear"
	"github.com/xenradclock/xenradclock/guestclock/sink"
)

// listen plays chronyd: a bound datagram socket the feed sends to.
func listen(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, path
}

func recv(t *testing.T, c *net.UnixConn) (Sample, bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	b := make([]byte, 100)
	n, err := c.Read(b)
	if err != nil {
		return Sample{}, false
	}
	s, err := Decode(b[:n])
	if err != nil {
		t.Fatal(err)
	}
	return s, true
}

func TestWireLayout(t *testing.T) {
	s := Sample{TvSec: 1_700_000_000, TvUsec: 123_456, OffsetSec: -0.25, Leap: LeapInsert}
	b := s.Encode()
	want := []byte{
		0x00, 0xf1, 0x53, 0x65, 0, 0, 0, 0, // tv_sec 1700000000
		0x40, 0xe2, 0x01, 0, 0, 0, 0, 0, // tv_usec 123456
		0, 0, 0, 0, 0, 0, 0xd0, 0xbf, // -0.25
		0, 0, 0, 0, // pulse
		1, 0, 0, 0, // leap
		0, 0, 0, 0, // pad
		0x4b, 0x43, 0x4f, 0x53, // "SOCK" magic 0x534f434b
	}
	if !hostLittleEndian() {
		t.Skip("wire vector is little-endian")
	}
	if string(b) != string(want) {
		t.Fatalf("encoded % x\nwant    % x", b, want)
	}
	if got, err := Decode(b); err != nil || got != s {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := Decode(b[:39]); err == nil {
		t.Error("short sample decoded")
	}
	b[36] ^= 1
	if _, err := Decode(b); err == nil {
		t.Error("bad magic decoded")
	}
}

func hostLittleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }

func baseSample() sink.Sample {
	return sink.Sample{Usable: true, ClockNs: 1_800_000_000_123_456_789, RealtimeNs: 1_800_000_000_100_000_999,
		MonotonicNs: 1000e9, MaxErrorNs: 10_000}
}

// The offset is the clock minus the timeval actually sent (µs-truncated),
// exactly; an unusable or disrupted sample sends nothing.
func TestFeedSamples(t *testing.T) {
	c, path := listen(t)
	f, err := New(Config{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := baseSample()
	if err := f.Update(&s); err != nil {
		t.Fatal(err)
	}
	got, ok := recv(t, c)
	if !ok {
		t.Fatal("nothing sent")
	}
	if got.TvSec != 1_800_000_000 || got.TvUsec != 100_000 || got.Leap != LeapNone || got.Pulse != 0 {
		t.Errorf("%+v", got)
	}
	if want := float64(23_456_789) / 1e9; got.OffsetSec != want {
		t.Errorf("offset %v, want %v", got.OffsetSec, want)
	}
	for _, mut := range []func(*sink.Sample){
		func(s *sink.Sample) { s.Usable = false },
		func(s *sink.Sample) { s.Disrupted = true },
		func(s *sink.Sample) { s.ClockNs = -9e18 }, // insane offset
	} {
		s := baseSample()
		mut(&s)
		f.Update(&s)
		if _, ok := recv(t, c); ok {
			t.Errorf("sent for %+v", s)
		}
	}
	if f.Sent() != 1 {
		t.Errorf("sent %d", f.Sent())
	}
}

// Across an insert leap at the end of December: leap 1 is announced on the
// last day only, no sample within the guard, and none with the leap field
// after the step; with smear, no leap code and the smeared offset.
func TestFeedLeapCodes(t *testing.T) {
	l := leapsmear.Leap{AtUnixSec: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), Next: 1}
	neg := leapsmear.Leap{AtUnixSec: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC).Unix() - 1, Next: -1}
	for _, tc := range []struct {
		l     leapsmear.Leap
		smear bool
		code  int32
	}{{l, false, LeapInsert}, {l, true, LeapNone}, {neg, false, LeapDelete}, {neg, true, LeapNone}} {
		c, path := listen(t)
		f, _ := New(Config{Path: path, Smear: tc.smear}, nil)
		step := tc.l.StepNs()
		for _, d := range []int64{-90000e9, -80000e9, -3e9, -1500e6, -500e6, 500e6, 1500e6, 3e9, 40000e9} {
			cNs := step + d
			s := baseSample()
			s.ClockNs = leapsmear.Stepped(cNs, tc.l)
			s.RealtimeNs = s.ClockNs - 1000 // µs-aligned: offset 1 µs stepped
			s.MonotonicNs = 200000e9 + d
			if d < 2e9 {
				s.LeapNext, s.LeapAtUnixSec = tc.l.Next, tc.l.AtUnixSec
			}
			f.Update(&s)
			got, ok := recv(t, c)
			if near := d > -2e9 && d < 2e9; near {
				if ok {
					t.Errorf("%+v smear=%v: sent at step%+d ns", tc.l, tc.smear, d)
				}
				continue
			}
			if !ok {
				t.Fatalf("%+v smear=%v: nothing at step%+d ns", tc.l, tc.smear, d)
			}
			wantCode := int32(LeapNone)
			if d >= -86400e9 && d < 0 {
				wantCode = tc.code
			}
			wantOffNs := int64(1000)
			if tc.smear {
				wantOffNs += leapsmear.SmearOffsetNs(cNs, tc.l)
			}
			if got.Leap != wantCode || got.OffsetSec != float64(wantOffNs)/1e9 {
				t.Errorf("%+v smear=%v step%+d ns: leap %d offset %v, want %d %v", tc.l, tc.smear, d, got.Leap, got.OffsetSec, wantCode, float64(wantOffNs)/1e9)
			}
		}
		f.Close()
	}
}

// chronyd not running: Update reports it; it recovers once chronyd is there.
func TestFeedWithoutChronyd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	f, err := New(Config{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := baseSample()
	if err := f.Update(&s); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("no socket: %v", err)
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := f.Update(&s); err != nil {
		t.Fatal(err)
	}
	if _, ok := recv(t, c); !ok {
		t.Fatal("nothing after chronyd came up")
	}
	if _, err := New(Config{Path: string(make([]byte, 200))}, nil); err == nil {
		t.Error("overlong path accepted")
	}
}
