package hostclock

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The state file keeps what a restarted dom0d needs to have a good clock
// within a few exchanges instead of a new warm-up: each server's estimator
// state, the publication's disruption marker and generation, and the
// counter the state belongs to. docs/dom0d.md documents the format.
//
// The file is a header line followed by a JSON body:
//
//	xenradclock-state 1 len=<body bytes> sha256=<hex of body>\n
//	{...}
//
// The length and digest make a torn or corrupted file detectable; it is
// then ignored with a warning, as is a file written for another counter or
// another boot of the host, or one older than state_max_age.

const stateMagic = "xenradclock-state"

// StateVersion is the format version this package writes and reads.
const StateVersion = 1

// maxStateSize bounds what Load reads, so a wrong path cannot make the
// daemon swallow a huge file.
const maxStateSize = 64 << 20

// State is the persisted state.
type State struct {
	Version         int           `json:"version"`
	SavedUnixNano   int64         `json:"saved_unix_nano"` // system clock at save: for humans only
	SavedCount      uint64        `json:"saved_count"`     // counter value at save
	Counter         string        `json:"counter"`
	CounterKind     uint16        `json:"counter_kind"`
	CounterHz       float64       `json:"counter_hz"`
	CounterIdentity uint64        `json:"counter_identity"`
	Disruption      uint64        `json:"disruption"`
	Generation      uint64        `json:"generation"`
	Preferred       string        `json:"preferred"`
	Record          string        `json:"record"` // last published record, Xenstore text encoding
	Servers         []ServerState `json:"servers"`
}

// ServerState is one server's estimator state, opaque to this package.
type ServerState struct {
	Address   string `json:"address"`
	Estimator []byte `json:"estimator"` // clocksync's MarshalState, base64 in JSON
}

// Server returns the saved estimator state of address, or nil.
func (s *State) Server(address string) []byte {
	for _, v := range s.Servers {
		if v.Address == address {
			return v.Estimator
		}
	}
	return nil
}

// Errors of LoadState; a caller logs them and starts afresh.
var (
	ErrStateCorrupt = errors.New("state file corrupt")
	ErrStateStale   = errors.New("state file stale")
)

// EncodeState renders the file contents.
func EncodeState(s *State) ([]byte, error) {
	s.Version = StateVersion
	body, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	sum := sha256.Sum256(body)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %d len=%d sha256=%s\n", stateMagic, StateVersion, len(body), hex.EncodeToString(sum[:]))
	b.Write(body)
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// DecodeState parses file contents, checking length and digest.
func DecodeState(data []byte) (*State, error) {
	head, body, ok := bytes.Cut(data, []byte{'\n'})
	if !ok {
		return nil, fmt.Errorf("%w: no header line", ErrStateCorrupt)
	}
	f := strings.Fields(string(head))
	if len(f) != 4 || f[0] != stateMagic {
		return nil, fmt.Errorf("%w: bad header %.60q", ErrStateCorrupt, head)
	}
	if f[1] != strconv.Itoa(StateVersion) {
		return nil, fmt.Errorf("%w: version %s, this dom0d reads %d", ErrStateCorrupt, f[1], StateVersion)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(f[2], "len="))
	if err != nil || !strings.HasPrefix(f[2], "len=") || n < 0 {
		return nil, fmt.Errorf("%w: bad length field %q", ErrStateCorrupt, f[2])
	}
	body = bytes.TrimSuffix(body, []byte{'\n'})
	if len(body) != n {
		return nil, fmt.Errorf("%w: body is %d bytes, header says %d (torn write?)", ErrStateCorrupt, len(body), n)
	}
	sum := sha256.Sum256(body)
	if f[3] != "sha256="+hex.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrStateCorrupt)
	}
	var s State
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStateCorrupt, err)
	}
	if s.Version != StateVersion {
		return nil, fmt.Errorf("%w: body version %d", ErrStateCorrupt, s.Version)
	}
	return &s, nil
}

// StateCheck is what the running daemon knows when it loads a state file.
type StateCheck struct {
	Counter         string
	CounterIdentity uint64
	CounterHz       float64
	Count           uint64 // current counter value
	MaxAge          time.Duration
}

// Usable tells whether s may seed the daemon now, and why not.
func (s *State) Usable(c StateCheck) error {
	if s.Counter != c.Counter {
		return fmt.Errorf("%w: written for counter %q, running on %q", ErrStateStale, s.Counter, c.Counter)
	}
	if s.CounterIdentity != c.CounterIdentity {
		return fmt.Errorf("%w: counter timeline changed (reboot or new host)", ErrStateStale)
	}
	if c.Count < s.SavedCount {
		return fmt.Errorf("%w: counter went backwards since the save (reboot?)", ErrStateStale)
	}
	if s.CounterHz <= 0 || c.CounterHz <= 0 {
		return fmt.Errorf("%w: no counter frequency", ErrStateCorrupt)
	}
	if r := s.CounterHz / c.CounterHz; r < 0.999 || r > 1.001 {
		return fmt.Errorf("%w: counter frequency changed from %g to %g Hz", ErrStateStale, s.CounterHz, c.CounterHz)
	}
	age := time.Duration(float64(c.Count-s.SavedCount) / c.CounterHz * float64(time.Second))
	if c.MaxAge > 0 && age > c.MaxAge {
		return fmt.Errorf("%w: saved %v ago, more than state_max_age %v", ErrStateStale, age.Round(time.Second), c.MaxAge)
	}
	return nil
}

// LoadState reads and verifies a state file. A missing file returns an
// error satisfying errors.Is(err, os.ErrNotExist); anything but a regular
// file (a FIFO would block a plain read for ever) one satisfying
// errors.Is(err, ErrNotRegular), at once.
func LoadState(path string) (*State, error) {
	data, err := readRegular(path, maxStateSize)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrNotRegular) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrStateCorrupt, err)
	}
	return DecodeState(data)
}

// SaveState writes the state atomically: a temporary file in the same
// directory, fsync, rename over the old file, fsync of the directory. A
// crash at any point leaves either the old or the new file whole.
func SaveState(path string, s *State) error {
	data, err := EncodeState(s)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data, 0o600)
}

// WriteFileAtomic replaces path with data through temp+fsync+rename.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeFileAtomic(path, data, perm, true)
}

// writeFileAtomic: with durable false the rename is still atomic for
// readers but nothing is fsynced (runtime files on tmpfs, rewritten often).
func writeFileAtomic(path string, data []byte, perm os.FileMode, durable bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			return fmt.Errorf("write %s: fsync: %w", path, err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	if !durable {
		return nil
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: the rename is already visible
		d.Close()
	}
	return nil
}

func sortStrings(s []string) { sort.Strings(s) }
