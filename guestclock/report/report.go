// Package report is the guest agent's report of its own state, which the
// agent writes to its domain's home in Xenstore and which xlclock (in Dom0)
// reads for every guest:
//
//	/local/domain/<domid>/data/xenradclock/report
//
// The value is one JSON object (Report) of at most MaxBytes. The node is
// written by the guest, so whoever reads it must treat it as hostile:
// Parse bounds its size, refuses unknown shapes, and checks every field's
// range; strings are returned as written and must still be sanitised before
// they reach a terminal. docs/xenstore.md documents the node.
package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Node is the report's path relative to a domain's home
// (/local/domain/<domid>/).
const Node = "data/xenradclock/report"

// Version is the report format this package writes and the only one Parse
// accepts.
const Version = 1

// MaxBytes bounds an encoded report; Parse refuses a longer value.
const MaxBytes = 2048

// maxString bounds every string field after decoding.
const maxString = 128

// Report is what a guest agent says of itself. Times are the guest's
// CLOCK_REALTIME in nanoseconds since the epoch unless a name says otherwise.
type Report struct {
	Version      int    `json:"v"`
	AgentVersion string `json:"agent_version"`
	// Mode: "dependent" (Dom0's record), "independent" (own NTP), or
	// "none" (the agent runs but serves no clock).
	Mode    string `json:"mode"`
	Counter string `json:"counter"` // counter kind, e.g. xen-system
	// State is the clock state the guest serves, by clockdata.ClockState
	// name, or "disrupted" / "void" / "no-clock".
	State        string `json:"state"`
	ErrorBoundNs uint64 `json:"error_bound_ns"`
	MaxErrorNs   uint64 `json:"max_error_ns"`
	Generation   uint64 `json:"generation"`
	HostID       string `json:"host_id"` // hex, 32 digits; "" when none
	HostName     string `json:"host_name,omitempty"`
	// UpdatedUnixNs is when the agent last took a new record (or, in
	// independent mode, a new estimate).
	UpdatedUnixNs int64 `json:"updated_unix_ns"`
	// ReportedUnixNs is when this report was written.
	ReportedUnixNs int64  `json:"reported_unix_ns"`
	Disruptions    uint64 `json:"disruptions"`
	// LastMigration is the most recent migration or restore, if any.
	LastMigration *Migration `json:"last_migration,omitempty"`
}

// Migration describes one switch from one host's clock to another's (or the
// same host's after a save/restore).
type Migration struct {
	FromHost string `json:"from_host"`
	ToHost   string `json:"to_host"`
	// StepNs is the new host's clock minus the old host's clock
	// extrapolated across the pause with the guest's CLOCK_MONOTONIC
	// (positive: the clock jumped forward).
	StepNs int64 `json:"step_ns"`
	// PauseNs is the guest's CLOCK_MONOTONIC across the pause; it bounds the
	// error of that extrapolation.
	PauseNs int64 `json:"pause_ns"`
	// DisruptedNs is how long readers were told "disrupted".
	DisruptedNs int64  `json:"disrupted_ns"`
	AtUnixNs    int64  `json:"at_unix_ns"`
	Kind        string `json:"kind"` // "migration" or "restore"
}

// Encode returns r as the node's value.
func (r *Report) Encode() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	if len(b) > MaxBytes {
		return nil, fmt.Errorf("encode report: %d bytes, more than %d", len(b), MaxBytes)
	}
	return b, nil
}

// ErrInvalid wraps every Parse error.
var ErrInvalid = errors.New("invalid agent report")

// Parse decodes a value read from a guest's report node. It refuses values
// over MaxBytes, unknown fields, trailing data, a wrong version, strings
// longer than 128 bytes and negative durations.
func Parse(b []byte) (Report, error) {
	var r Report
	if len(b) > MaxBytes {
		return r, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalid, len(b), MaxBytes)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return Report{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if d.More() {
		return Report{}, fmt.Errorf("%w: trailing data after the object", ErrInvalid)
	}
	if r.Version != Version {
		return Report{}, fmt.Errorf("%w: version %d, want %d", ErrInvalid, r.Version, Version)
	}
	if err := r.check(); err != nil {
		return Report{}, err
	}
	return r, nil
}

func (r *Report) check() error {
	strs := map[string]string{"agent_version": r.AgentVersion, "mode": r.Mode, "counter": r.Counter,
		"state": r.State, "host_id": r.HostID, "host_name": r.HostName}
	if m := r.LastMigration; m != nil {
		strs["from_host"], strs["to_host"], strs["kind"] = m.FromHost, m.ToHost, m.Kind
		if m.PauseNs < 0 || m.DisruptedNs < 0 {
			return fmt.Errorf("%w: negative migration duration", ErrInvalid)
		}
	}
	for k, v := range strs {
		if len(v) > maxString {
			return fmt.Errorf("%w: %s is %s bytes, more than %d", ErrInvalid, k, strconv.Itoa(len(v)), maxString)
		}
	}
	return nil
}
