package view

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xenradclock/xenradclock/guestclock/report"
)

// terminalSafe fails if out holds anything but printable text and
// newlines: no escape, no other control character, valid UTF-8.
func terminalSafe(t *testing.T, what string, out []byte) {
	t.Helper()
	if !utf8.Valid(out) {
		t.Fatalf("%s: invalid UTF-8:\n%q", what, out)
	}
	for _, r := range string(out) {
		if (r < 0x20 && r != '\n') || (r >= 0x7f && r < 0xa0) || r == '\u2028' || r == '\u2029' || (r >= 0x202a && r <= 0x202e) {
			t.Fatalf("%s: control character %U in output:\n%q", what, r, out)
		}
	}
}

// FuzzReportOutput: whatever a guest writes to its report node, the list
// has exactly one row for it, and no table or JSON string carries a control
// character.
func FuzzReportOutput(f *testing.F) {
	good, _ := (&report.Report{Version: 1, AgentVersion: "0.4.0", Mode: "dependent", Counter: "xen-system",
		State: "synchronised", HostID: "00", LastMigration: &report.Migration{Kind: "migration"}}).Encode()
	f.Add(good)
	f.Add([]byte(`{"v":1,"agent_version":"\u001b[2J\u001b]0;x\u0007","mode":"\n\nweb1 1 dependent","counter":"\t","state":"\u009b31m"}`))
	f.Add([]byte("{\"v\":1,\"agent_version\":\"\xff\xfe\"}"))
	f.Add([]byte(`{"v":1,"last_migration":{"from_host":"\u202eevil","kind":"\r"}}`))
	f.Add([]byte(strings.Repeat("{", 3000)))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := Domain{Domid: 7, Name: "g"}
		if r, err := report.Parse(b); err != nil {
			d.Agent, d.AgentError = AgentInvalid, Clean(err.Error(), 200)
		} else {
			cleanReport(&r)
			d.Agent, d.Report = AgentReporting, &r
		}
		s := &Snapshot{NowUnixNs: 1, Domains: []Domain{d}}
		s.derive(0)
		var out bytes.Buffer
		if err := s.WriteList(&out); err != nil {
			t.Fatal(err)
		}
		terminalSafe(t, "list", out.Bytes())
		if n := strings.Count(out.String(), "\n"); n != 2 {
			t.Fatalf("list has %d lines for one domain:\n%s", n, out.String())
		}
		out.Reset()
		if err := s.Show(&s.Domains[0]).WriteShow(&out); err != nil {
			t.Fatal(err)
		}
		terminalSafe(t, "show", out.Bytes())
		out.Reset()
		if err := WriteJSON(&out, s); err != nil {
			t.Fatal(err)
		}
		var back Snapshot
		if err := json.Unmarshal(out.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		if back.Domains[0].Report != nil {
			r := back.Domains[0].Report
			for _, v := range []string{r.AgentVersion, r.Mode, r.Counter, r.State, r.HostID, r.HostName} {
				terminalSafe(t, "json string", []byte(v))
			}
		}
	})
}
