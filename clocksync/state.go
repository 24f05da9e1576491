package clocksync

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"reflect"
)

// The saved state: every field the estimator carries, so that a restored
// estimator continues bit for bit as the original would have. Layout
// (little endian): magic "xrcstate", version u32, ring depth u32, level and
// recent counts u32, state size u32, the fixed-size state, server name
// (u16 length + bytes), the stamp ring, the deque, CRC-32C of all before.
const (
	stateMagic   = "xrcstate"
	stateVersion = 5
	maxServerLen = 1024
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrState is wrapped by every Restore error.
var ErrState = errors.New("clocksync: unusable saved state")

// MarshalState saves the estimator's complete state (about 160 KB: the
// stamp history ring is included, so memory and state size are bounded
// whatever the run length).
func (e *Estimator) MarshalState() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(stateMagic)
	hdr := []uint32{stateVersion, ringCap, maxLevels, nRecent, uint32(binary.Size(&e.st))}
	if err := binary.Write(&b, binary.LittleEndian, hdr); err != nil {
		return nil, fmt.Errorf("clocksync: saving state header: %w", err)
	}
	if err := binary.Write(&b, binary.LittleEndian, &e.st); err != nil {
		return nil, fmt.Errorf("clocksync: saving state: %w", err)
	}
	if len(e.lastServer) > maxServerLen {
		return nil, fmt.Errorf("clocksync: server name of %d bytes too long to save", len(e.lastServer))
	}
	_ = binary.Write(&b, binary.LittleEndian, uint16(len(e.lastServer)))
	b.WriteString(e.lastServer)
	if err := binary.Write(&b, binary.LittleEndian, e.recs); err != nil {
		return nil, fmt.Errorf("clocksync: saving history: %w", err)
	}
	_ = binary.Write(&b, binary.LittleEndian, e.dq)
	_ = binary.Write(&b, binary.LittleEndian, crc32.Checksum(b.Bytes(), castagnoli))
	return b.Bytes(), nil
}

// Restore makes an estimator from a saved state and cfg. Truncated,
// corrupted or foreign data, a state saved for another counter frequency
// or an inconsistent state is a clear error, never a panic.
func Restore(cfg Config, data []byte) (*Estimator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Estimator{cfg: cfg, q: cfg.RateWander * cfg.RateWander, q3: cfg.DriftWander * cfg.DriftWander,
		recs: make([]rec, ringCap), dq: make([]int32, ringCap)}
	fixed := binary.Size(&e.st)
	recSize := binary.Size(e.recs)
	minLen := len(stateMagic) + 20 + fixed + 2 + recSize + 4*ringCap + 4
	if len(data) < len(stateMagic) || string(data[:len(stateMagic)]) != stateMagic {
		return nil, fmt.Errorf("%w: not an estimator state (bad magic)", ErrState)
	}
	if len(data) < minLen {
		return nil, fmt.Errorf("%w: truncated: %d bytes, want at least %d", ErrState, len(data), minLen)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch (corrupted or truncated)", ErrState)
	}
	r := bytes.NewReader(body[len(stateMagic):])
	var hdr [5]uint32
	_ = binary.Read(r, binary.LittleEndian, &hdr)
	if hdr != [5]uint32{stateVersion, ringCap, maxLevels, nRecent, uint32(fixed)} {
		return nil, fmt.Errorf("%w: version/layout %v not supported (want %v)", ErrState, hdr,
			[5]uint32{stateVersion, ringCap, maxLevels, nRecent, uint32(fixed)})
	}
	if err := binary.Read(r, binary.LittleEndian, &e.st); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrState, err)
	}
	var n uint16
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil || int(n) > maxServerLen || int(n) > r.Len() {
		return nil, fmt.Errorf("%w: bad server name length", ErrState)
	}
	name := make([]byte, n)
	_, _ = r.Read(name)
	e.lastServer = string(name)
	if err := binary.Read(r, binary.LittleEndian, e.recs); err != nil {
		return nil, fmt.Errorf("%w: history: %v", ErrState, err)
	}
	if err := binary.Read(r, binary.LittleEndian, e.dq); err != nil {
		return nil, fmt.Errorf("%w: deque: %v", ErrState, err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrState, r.Len())
	}
	if err := e.checkState(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrState, err)
	}
	return e, nil
}

// checkState validates a decoded state so that no later Process can
// panic or produce NaN from it.
func (e *Estimator) checkState() error {
	st := &e.st
	if st.CounterHz != e.cfg.CounterHz {
		return fmt.Errorf("saved for a %g Hz counter, config says %g Hz", st.CounterHz, e.cfg.CounterHz)
	}
	if hasNaN(reflect.ValueOf(st).Elem()) || hasNaN(reflect.ValueOf(e.recs)) {
		return errors.New("contains NaN")
	}
	switch {
	case !(st.Poll >= 1 && st.Poll <= 1024):
		return fmt.Errorf("poll period %v out of range", st.Poll)
	case !(st.Phat > 0) || math.Abs(st.Phat*st.CounterHz-1) > 0.1:
		return fmt.Errorf("period %v inconsistent with the counter", st.Phat)
	case st.I < 0 || st.I > 1<<50 || (st.I > 0 && !st.HaveLast):
		return fmt.Errorf("stamp count %d invalid", st.I)
	case st.DqH < 0 || st.DqH >= ringCap || st.DqN < 0 || st.DqN > ringCap || (st.I > 0 && st.DqN == 0):
		return errors.New("deque indices out of range")
	case st.RecentN < 0 || st.RecentN > nRecent || st.RecentH < 0 || st.RecentH >= nRecent:
		return errors.New("recent-stamp indices out of range")
	case st.LeapNext < -1 || st.LeapNext > 1 || st.LeapsApplied < -1000 || st.LeapsApplied > 1000:
		return errors.New("leap fields out of range")
	case st.I > 0 && (st.BaseN < 1 || st.F.P[0][0] < 0 || st.F.P[1][1] < 0 || math.IsInf(st.F.P[0][0], 0) || math.IsInf(st.F.P[1][1], 0) ||
		math.IsInf(st.F.X[0], 0) || math.IsInf(st.F.X[1], 0) || math.IsInf(st.RTThat, 0) || math.IsInf(st.Beta, 0)):
		return errors.New("filter state invalid")
	case st.Kt.Sec < 0 || st.Kt.Sec > 1<<40:
		return errors.New("clock anchor out of range")
	case st.Updates < 0 || st.LastShiftI < 0 || st.LastShiftI > st.I:
		return errors.New("counters out of range")
	}
	if st.I > 0 && !e.healthy() {
		return errors.New("filter state unusable")
	}
	prev := int64(-1)
	for k := int64(0); k < st.DqN; k++ {
		idx := int64(e.dq[(st.DqH+k)&(ringCap-1)])
		if idx <= prev || idx >= st.I || idx < st.I-ringCap {
			return errors.New("deque contents inconsistent")
		}
		prev = idx
	}
	sh := st.SearchStart
	e.setWindows(st.Poll)
	st.SearchStart = sh
	return nil
}

func hasNaN(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Float64:
		return math.IsNaN(v.Float())
	case reflect.Struct:
		for i := range v.NumField() {
			if hasNaN(v.Field(i)) {
				return true
			}
		}
	case reflect.Array, reflect.Slice:
		for i := range v.Len() {
			if hasNaN(v.Index(i)) {
				return true
			}
		}
	}
	return false
}
