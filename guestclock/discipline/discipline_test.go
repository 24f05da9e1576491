//go:build linux

package discipline

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/guestclock/leapsmear"
	"github.com/xenradclock/xenradclock/guestclock/sink"
)

// fake records the adjtimex calls; it never reaches the kernel.
type fake struct {
	calls []unix.Timex
	err   error
}

func (f *fake) Adjtimex(tx *unix.Timex) (int, error) {
	f.calls = append(f.calls, *tx)
	return unix.TIME_OK, f.err
}

func sample(offsetNs, monoNs int64) sink.Sample {
	rt := int64(1_800_000_000e9)
	return sink.Sample{Usable: true, State: clockdata.StateSynchronised, ClockNs: rt + offsetNs, RealtimeNs: rt,
		MonotonicNs: monoNs, ErrorBoundNs: 3_000, MaxErrorNs: 40_000}
}

func newFake(t *testing.T, cfg Config) (*Discipline, *fake) {
	t.Helper()
	f := &fake{}
	d, err := NewWithSyscalls(cfg, nil, f)
	if err != nil {
		t.Fatal(err)
	}
	return d, f
}

const slewModes = unix.ADJ_OFFSET | unix.ADJ_NANO | unix.ADJ_STATUS | unix.ADJ_TIMECONST | unix.ADJ_MAXERROR | unix.ADJ_ESTERROR

func TestSlewByDefault(t *testing.T) {
	d, f := newFake(t, Config{})
	s := sample(3_000_000, 10e9)
	if err := d.Update(&s); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 1 {
		t.Fatalf("%d calls", len(f.calls))
	}
	tx := f.calls[0]
	if tx.Modes != slewModes || tx.Offset != 3_000_000 || tx.Status != unix.STA_PLL || tx.Constant != DefaultTimeConstant {
		t.Errorf("%+v", tx)
	}
	// maxerror: 40 µs + the 3 ms still to slew; esterror 3 µs + 3 ms.
	if tx.Maxerror != 3040 || tx.Esterror != 3003 {
		t.Errorf("maxerror %d µs, esterror %d µs", tx.Maxerror, tx.Esterror)
	}
	// Never steps without a threshold, however large the offset.
	s = sample(-7e9, 20e9)
	d.Update(&s)
	if tx := f.calls[1]; tx.Modes&unix.ADJ_SETOFFSET != 0 || tx.Offset != -MaxSlewNs || tx.Maxerror != 7_000_040 {
		t.Errorf("large offset without step: %+v", tx)
	}
	if d.Steps() != 0 {
		t.Error("stepped")
	}
	// The kernel caps maxerror at 16 s.
	s = sample(-70e9, 30e9)
	d.Update(&s)
	if tx := f.calls[2]; tx.Maxerror != maxErrorCapUs {
		t.Errorf("maxerror %d µs not capped", tx.Maxerror)
	}
}

func TestStepOnlyBeyondThreshold(t *testing.T) {
	d, f := newFake(t, Config{StepThresholdNs: 100e6})
	for i, c := range []struct {
		offsetNs int64
		step     bool
		sec, ns  int64
	}{
		{50e6, false, 0, 0},
		{100e6, false, 0, 0},
		{2e9 + 5, true, 2, 5},
		{-1_250_000_000, true, -2, 750_000_000},
		{-99e6, false, 0, 0},
	} {
		s := sample(c.offsetNs, int64(i+1)*10e9)
		if err := d.Update(&s); err != nil {
			t.Fatal(err)
		}
		tx := f.calls[len(f.calls)-1]
		if c.step {
			if tx.Modes != unix.ADJ_SETOFFSET|unix.ADJ_NANO || tx.Time.Sec != c.sec || tx.Time.Usec != c.ns {
				t.Errorf("%d: step %+v", c.offsetNs, tx)
			}
		} else if tx.Modes != slewModes || tx.Offset != c.offsetNs {
			t.Errorf("%d: slew %+v", c.offsetNs, tx)
		}
	}
	if d.Steps() != 2 {
		t.Errorf("%d steps", d.Steps())
	}
}

func TestNothingWhenUnusableOrTooSoon(t *testing.T) {
	d, f := newFake(t, Config{})
	s := sample(1000, 10e9)
	s.Usable = false
	d.Update(&s)
	s = sample(1000, 10e9)
	s.Disrupted = true
	d.Update(&s)
	if len(f.calls) != 0 {
		t.Fatal("adjusted from an unusable clock")
	}
	s = sample(1000, 10e9)
	d.Update(&s)
	s = sample(2000, 10e9+500e6) // half a second later
	d.Update(&s)
	s = sample(3000, 11e9)
	d.Update(&s)
	if len(f.calls) != 2 || f.calls[1].Offset != 3000 {
		t.Fatalf("rate limit: %d calls", len(f.calls))
	}
}

func TestSyscallErrorReported(t *testing.T) {
	d, f := newFake(t, Config{})
	f.err = unix.EPERM
	s := sample(1000, 10e9)
	if err := d.Update(&s); !errors.Is(err, unix.EPERM) {
		t.Fatalf("%v", err)
	}
}

func TestConfigRefused(t *testing.T) {
	for _, c := range []Config{{StepThresholdNs: -1}, {TimeConstant: 11}, {TimeConstant: -1}} {
		if _, err := NewWithSyscalls(c, nil, &fake{}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// A leap at the end of June: STA_INS on the last day only, nothing near the
// step; with smear, no leap bit and the smeared offset instead.
func TestLeap(t *testing.T) {
	l := leapsmear.Leap{AtUnixSec: time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC).Unix(), Next: 1}
	for _, smear := range []bool{false, true} {
		d, f := newFake(t, Config{Smear: smear})
		step := l.StepNs()
		for i, off := range []int64{-100000e9, -3600e9, -1e9, 3600e9} {
			cNs := step + off
			s := sample(0, 1000e9+int64(i)*3600e9+off)
			s.ClockNs = leapsmear.Stepped(cNs, l)
			s.RealtimeNs = s.ClockNs
			s.LeapNext, s.LeapAtUnixSec = l.Next, l.AtUnixSec
			n := len(f.calls)
			d.Update(&s)
			if off == -1e9 {
				if len(f.calls) != n {
					t.Errorf("smear=%v: adjusted a second before the step", smear)
				}
				continue
			}
			tx := f.calls[len(f.calls)-1]
			wantIns := !smear && off == -3600e9
			if (tx.Status&unix.STA_INS != 0) != wantIns {
				t.Errorf("smear=%v step%+d s: status %#x", smear, off/1e9, tx.Status)
			}
			want := int64(0)
			if smear {
				want = leapsmear.SmearOffsetNs(cNs, l)
			}
			if tx.Offset != want {
				t.Errorf("smear=%v step%+d s: offset %d, want %d", smear, off/1e9, tx.Offset, want)
			}
		}
	}
}

// The real implementation answers a read-only call (modes 0), which needs
// no privilege and changes nothing.
func TestSystemReadOnly(t *testing.T) {
	var tx unix.Timex
	state, err := System{}.Adjtimex(&tx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel clock state %d, status %#x, maxerror %d µs, freq %d", state, tx.Status, tx.Maxerror, tx.Freq)
}
