package clockdata

// JSON for tools. 64-bit integers are decimal strings (JavaScript numbers
// lose them above 2^53); exact times and periods use the text form's tokens
// (SEC:FRAC, FRAC/SHIFT). Fields whose names end in _display are for people,
// written on encode and ignored on decode.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

type jsonRecord struct {
	Version          uint16 `json:"version"`
	Generation       string `json:"generation"`
	DisruptionMarker string `json:"disruption_marker"`
	HostID           string `json:"host_id"`
	CounterKind      uint16 `json:"counter_kind"`
	CounterName      string `json:"counter_name_display,omitempty"`
	CounterHz        string `json:"counter_hz"`
	CounterIdentity  string `json:"counter_identity"`
	State            uint8  `json:"state"`
	StateName        string `json:"state_display,omitempty"`
	Status           uint32 `json:"status"`

	RefCount     string `json:"ref_count"`
	RefTime      string `json:"ref_time"`
	RefTimeUTC   string `json:"ref_time_display,omitempty"`
	Period       string `json:"period"`
	SlewEndCount string `json:"slew_end_count"`
	SlewEndTime  string `json:"slew_end_time"`
	RawPeriod    string `json:"raw_period"`
	RawPeriodS   string `json:"raw_period_display,omitempty"`
	RawRefTime   string `json:"raw_ref_time"`
	LocalPeriod  string `json:"local_period"`

	ErrorBoundNs         string `json:"error_bound_ns"`
	MaxErrorNs           string `json:"max_error_ns"`
	RateErrorPsPerS      uint32 `json:"rate_error_ps_per_s"`
	ErrorGrowthPsPerS    uint32 `json:"error_growth_ps_per_s"`
	MaxErrorGrowthPsPerS uint32 `json:"max_error_growth_ps_per_s"`

	NextExpectedCount string `json:"next_expected_count"`
	VoidAfterCount    string `json:"void_after_count"`
	PollNs            string `json:"poll_ns"`
	TAIOffsetSec      int16  `json:"tai_offset_sec"`
	LeapNext          int8   `json:"leap_next"`
	LeapAtCount       string `json:"leap_at_count"`
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }

// MarshalJSON encodes r for tools. It does not validate r.
func (r Record) MarshalJSON() ([]byte, error) {
	j := jsonRecord{
		Version: r.Version, Generation: u(r.Generation),
		DisruptionMarker: fmt.Sprintf("%016x", r.DisruptionMarker),
		HostID:           fmt.Sprintf("%x", r.HostID[:]),
		CounterKind:      uint16(r.CounterKind), CounterName: r.CounterKind.String(),
		CounterHz: u(r.CounterHz), CounterIdentity: fmt.Sprintf("%016x", r.CounterIdentity),
		State: uint8(r.State), StateName: r.State.String(), Status: uint32(r.Status),
		RefCount: u(r.RefCount), RefTime: fmtTime(r.RefTime), RefTimeUTC: r.RefTime.Format9(),
		Period: fmtPeriod(r.Period), SlewEndCount: u(r.SlewEndCount), SlewEndTime: fmtTime(r.SlewEndTime),
		RawPeriod: fmtPeriod(r.RawPeriod), RawPeriodS: strconv.FormatFloat(r.RawPeriod.Float(), 'g', 17, 64),
		RawRefTime: fmtTime(r.RawRefTime), LocalPeriod: fmtPeriod(r.LocalPeriod),
		ErrorBoundNs: u(r.ErrorBoundNs), MaxErrorNs: u(r.MaxErrorNs),
		RateErrorPsPerS: r.RateErrorPsPerS, ErrorGrowthPsPerS: r.ErrorGrowthPsPerS, MaxErrorGrowthPsPerS: r.MaxErrorGrowthPsPerS,
		NextExpectedCount: u(r.NextExpectedCount), VoidAfterCount: u(r.VoidAfterCount), PollNs: u(r.PollNs),
		TAIOffsetSec: r.TAIOffsetSec, LeapNext: r.LeapNext, LeapAtCount: u(r.LeapAtCount),
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes and validates a record. Unknown fields are errors.
func (r *Record) UnmarshalJSON(b []byte) error {
	var j jsonRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("%w: json: %v", ErrSyntax, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: json: data after the object", ErrSyntax)
	}
	if j.Version != Version {
		return fmt.Errorf("%w: json version %d (want %d)", ErrVersion, j.Version, Version)
	}
	// Reuse the text parser for the exact tokens: build the line and parse it.
	line := strings.Join([]string{
		"v=" + strconv.Itoa(int(j.Version)), "gen=" + j.Generation, "marker=" + j.DisruptionMarker,
		"host=" + j.HostID, "kind=" + strconv.Itoa(int(j.CounterKind)), "hz=" + j.CounterHz,
		"cid=" + j.CounterIdentity, "state=" + strconv.Itoa(int(j.State)), fmt.Sprintf("status=%08x", j.Status),
		"ref=" + j.RefCount, "time=" + j.RefTime, "period=" + j.Period, "slew_end=" + j.SlewEndCount,
		"slew_time=" + j.SlewEndTime, "raw_period=" + j.RawPeriod, "raw_time=" + j.RawRefTime,
		"local_period=" + j.LocalPeriod, "err=" + j.ErrorBoundNs, "maxerr=" + j.MaxErrorNs,
		"rate_err=" + u(uint64(j.RateErrorPsPerS)), "err_growth=" + u(uint64(j.ErrorGrowthPsPerS)),
		"maxerr_growth=" + u(uint64(j.MaxErrorGrowthPsPerS)), "next=" + j.NextExpectedCount,
		"void=" + j.VoidAfterCount, "poll=" + j.PollNs, "tai=" + strconv.Itoa(int(j.TAIOffsetSec)),
		"leap=" + strconv.Itoa(int(j.LeapNext)), "leap_at=" + j.LeapAtCount,
	}, " ")
	if strings.ContainsAny(line, "\n") {
		return fmt.Errorf("%w: json: newline in a field", ErrSyntax)
	}
	for _, f := range []string{j.Generation, j.DisruptionMarker, j.HostID, j.CounterHz, j.CounterIdentity,
		j.RefCount, j.RefTime, j.Period, j.SlewEndCount, j.SlewEndTime, j.RawPeriod, j.RawRefTime,
		j.LocalPeriod, j.ErrorBoundNs, j.MaxErrorNs, j.NextExpectedCount, j.VoidAfterCount, j.PollNs, j.LeapAtCount} {
		if strings.ContainsAny(f, " =") {
			return fmt.Errorf("%w: json: field %q contains a space or '='", ErrSyntax, f)
		}
	}
	rec, err := ParseText(line)
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	*r = rec
	return nil
}
