package hostclock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func sampleState() *State {
	return &State{
		SavedCount: 5_000_000_000, Counter: "simulated", CounterKind: 6, CounterHz: 1e9,
		CounterIdentity: 42, Disruption: 0xdeadbeef, Generation: 77, Preferred: "a:123",
		Servers: []ServerState{{Address: "a:123", Estimator: []byte{1, 2, 3, 0, 255}}},
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "state.json")
	if err := SaveState(path, sampleState()); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Disruption != 0xdeadbeef || got.Generation != 77 || string(got.Server("a:123")) != "\x01\x02\x03\x00\xff" {
		t.Errorf("round trip: %+v", got)
	}
	if got.Server("b:123") != nil {
		t.Error("unknown server has state")
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v %v", fi.Mode(), err)
	}
	// No temporary file is left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries", len(ents))
	}
}

func TestStateTornAndCorrupt(t *testing.T) {
	good, err := EncodeState(sampleState())
	if err != nil {
		t.Fatal(err)
	}
	// Every truncation is detected.
	for n := 0; n < len(good)-1; n++ {
		if _, err := DecodeState(good[:n]); !errors.Is(err, ErrStateCorrupt) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	// Every single-byte change of the body or digest is detected.
	for i := 0; i < len(good)-1; i++ {
		b := append([]byte(nil), good...)
		b[i] ^= 0x20
		if _, err := DecodeState(b); err == nil {
			t.Fatalf("flip at %d not detected", i)
		}
	}
	if _, err := DecodeState([]byte("garbage\n{}")); !errors.Is(err, ErrStateCorrupt) {
		t.Error(err)
	}
	if _, err := LoadState(filepath.Join(t.TempDir(), "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzDecodeState(f *testing.F) {
	good, _ := EncodeState(sampleState())
	f.Add(good)
	f.Add([]byte("xenradclock-state 1 len=2 sha256=00\n{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeState(b)
		if err == nil && s == nil {
			t.Fatal("nil state without error")
		}
	})
}

func TestStateUsable(t *testing.T) {
	s := sampleState()
	ok := StateCheck{Counter: "simulated", CounterIdentity: 42, CounterHz: 1e9, Count: 6_000_000_000, MaxAge: time.Hour}
	if err := s.Usable(ok); err != nil {
		t.Fatal(err)
	}
	bad := []StateCheck{ok, ok, ok, ok, ok}
	bad[0].Counter = "tsc"
	bad[1].CounterIdentity = 43
	bad[2].Count = 1
	bad[3].Count = s.SavedCount + 2*3600*1e9
	bad[4].CounterHz = 2e9
	for i, c := range bad {
		if err := s.Usable(c); !errors.Is(err, ErrStateStale) {
			t.Errorf("case %d: %v", i, err)
		}
	}
}
