// Package trace reads and writes stamp traces: recorded NTP exchanges, one
// line per stamp, that `dom0d replay` runs through the estimator exactly as
// live.
//
// Two input formats are read, detected from the first non-empty line:
//
//   - the project's format (`#` headers such as `# counter_hz: 1000000000`,
//     then data lines `Ta Tb Te Tf`), which Writer produces and
//     `dom0d run --record` writes;
//   - RADclock's ASCII stamp files (`%` header, versions 3 and 4 and the
//     unversioned legacy layout), so data recorded by RADclock replays.
//
// Server times are parsed exactly with bintime.Parse, never through float64.
// The reader streams with bounded memory, reports the line number of every
// malformed line and can go on past it. docs/trace-format.md is the
// reference for both formats and for the replay CSV that CSVWriter emits.
package trace
