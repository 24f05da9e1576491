package trace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateOrAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.trace")
	h := Header{CounterHz: 1e9, Counter: "tsc", SideColumns: true, PollPeriod: 16}
	stamps := synthStamps(6, 11)
	fw, err := CreateOrAppend(path, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stamps[:3] {
		if err := fw.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	// A recorder killed in the middle of a line.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("123456 1700000000.00")
	f.Close()

	fw, err = CreateOrAppend(path, h)
	if err != nil {
		t.Fatal(err)
	}
	if fw.Dropped != int64(len("123456 1700000000.00")) {
		t.Errorf("dropped %d bytes", fw.Dropped)
	}
	for _, s := range stamps[3:] {
		if err := fw.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReader(f)
	got, err := r.Header()
	if err != nil || got != h {
		t.Fatalf("header %+v, %v", got, err)
	}
	recs := readAll(t, r)
	if len(recs) != len(stamps) {
		t.Fatalf("%d records, want %d", len(recs), len(stamps))
	}
	for i, rec := range recs {
		if rec.Stamp != stamps[i] {
			t.Errorf("record %d: %+v, want %+v", i, rec.Stamp, stamps[i])
		}
	}

	// Appending with another counter, frequency, layout or server is refused
	// and leaves the file alone.
	before, _ := os.ReadFile(path)
	for _, other := range []Header{
		{CounterHz: 14318180, Counter: "tsc", SideColumns: true},
		{CounterHz: 1e9, Counter: "hpet", SideColumns: true},
		{CounterHz: 1e9, Counter: "tsc"},
		{Format: FormatRADclockV4, CounterHz: 1e9},
	} {
		if fw, err := CreateOrAppend(path, other); err == nil {
			fw.Close()
			t.Errorf("appended %+v", other)
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a refused append changed the file")
	}
	// Not a trace of ours.
	bad := filepath.Join(t.TempDir(), "radclock.txt")
	os.WriteFile(bad, []byte("% version: 4\n1 2 3 4 5\n"), 0o644)
	if _, err := CreateOrAppend(bad, h); err == nil || !strings.Contains(err.Error(), "radclock-v4") {
		t.Errorf("appending to a RADclock file: %v", err)
	}
	if _, err := CreateOrAppend(filepath.Join(t.TempDir(), "no", "dir"), h); err == nil {
		t.Error("created a file in a missing directory")
	}
}
