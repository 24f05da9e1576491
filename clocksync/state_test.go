package clocksync_test

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"testing"

	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/clocksync/sim"
)

func lanStamps(t testing.TB, seed uint64, d float64) ([]clocksync.Stamp, *sim.Sim) {
	s, err := sim.New(sim.LAN(seed, d))
	if err != nil {
		t.Fatal(err)
	}
	var out []clocksync.Stamp
	for _, ex := range s.Run() {
		if !ex.Lost {
			out = append(out, ex.Stamp)
		}
	}
	return out, s
}

// A restored estimator continues bit for bit as the original.
func TestRestoreContinues(t *testing.T) {
	stamps, _ := lanStamps(t, 21, 0.5*day)
	cfg := clocksync.DefaultConfig()
	a, _ := clocksync.New(cfg)
	half := len(stamps) / 2
	for _, s := range stamps[:half] {
		a.Process(s)
	}
	data, err := a.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	b, err := clocksync.Restore(cfg, data)
	if err != nil {
		t.Fatal(err)
	}
	if a.Params() != b.Params() {
		t.Fatal("params differ right after restore")
	}
	for i, s := range stamps[half:] {
		ra, rb := a.Process(s), b.Process(s)
		if ra != rb {
			t.Fatalf("stamp %d after restore: %+v != %+v", i, ra.Params, rb.Params)
		}
	}
	t.Logf("state size %d bytes", len(data))
}

// After a restart with a gap (dom0d down for an hour), the restored clock is
// good within a few stamps.
func TestRestoreAfterDowntime(t *testing.T) {
	s, _ := sim.New(sim.LAN(22, day))
	cfg := clocksync.DefaultConfig()
	a, _ := clocksync.New(cfg)
	var data []byte
	worst := 0.0
	var b *clocksync.Estimator
	after := 0
	for _, ex := range s.Run() {
		if ex.Lost {
			continue
		}
		switch {
		case ex.T < 40000:
			a.Process(ex.Stamp)
			continue
		case ex.T < 43600:
			if data == nil {
				data, _ = a.MarshalState()
			}
			continue
		case b == nil:
			var err error
			if b, err = clocksync.Restore(cfg, data); err != nil {
				t.Fatal(err)
			}
		}
		p := b.Process(ex.Stamp).Params
		after++
		e := math.Abs(p.Absolute(ex.Stamp.Tf).Sub(s.TrueTime(ex.Stamp.Tf)).Float())
		if _, me := p.Bounds(ex.Stamp.Tf); e > me {
			t.Errorf("after restore stamp %d: |error| %.2fµs outside max_error %.2fµs", after, e*1e6, me*1e6)
		}
		if after >= 3 {
			worst = max(worst, e)
		}
	}
	t.Logf("after a restore and 1 h downtime: max |error| from the 3rd stamp %.2fµs", worst*1e6)
	if worst > 12e-6 {
		t.Errorf("max |error| %.2fµs after restore", worst*1e6)
	}
}

func TestRestoreRejects(t *testing.T) {
	stamps, _ := lanStamps(t, 23, 3600)
	cfg := clocksync.DefaultConfig()
	a, _ := clocksync.New(cfg)
	for _, s := range stamps {
		a.Process(s)
	}
	data, _ := a.MarshalState()
	flip := append([]byte(nil), data...)
	flip[len(flip)/2] ^= 1
	other := cfg
	other.CounterHz = 3e9
	for name, tc := range map[string]struct {
		cfg  clocksync.Config
		data []byte
	}{
		"empty":     {cfg, nil},
		"foreign":   {cfg, []byte("# counter_hz: 1e9\n1 2 3 4\n")},
		"truncated": {cfg, data[:len(data)-100]},
		"corrupted": {cfg, flip},
		"trailing":  {cfg, append(append([]byte(nil), data...), 0)},
		"counter":   {other, data},
	} {
		if _, err := clocksync.Restore(tc.cfg, tc.data); err == nil || !errors.Is(err, clocksync.ErrState) {
			t.Errorf("%s: err = %v", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func FuzzRestore(f *testing.F) {
	stamps, _ := lanStamps(f, 24, 1200)
	cfg := clocksync.DefaultConfig()
	a, _ := clocksync.New(cfg)
	f.Add([]byte(nil), false)
	for i, s := range stamps {
		a.Process(s)
		if i == 0 || i == 10 || i == len(stamps)-1 {
			d, _ := a.MarshalState()
			f.Add(d, false)
			f.Add(d, true)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, fixSum bool) {
		if fixSum && len(data) >= 12 {
			// Let mutations reach the decoder and validation past the checksum.
			binary.LittleEndian.PutUint32(data[len(data)-4:], crc32.Checksum(data[:len(data)-4], crc32.MakeTable(crc32.Castagnoli)))
		}
		e, err := clocksync.Restore(cfg, data)
		if err != nil {
			return
		}
		// A state that restores must be usable.
		r := e.Process(stamps[len(stamps)-1])
		_ = r.Params.Absolute(r.Params.RefCount)
	})
}
