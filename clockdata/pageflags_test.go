//go:build linux

package clockdata

import (
	"path/filepath"
	"testing"
)

// TestPageFlags: the publisher's flags reach readers of the live page; a
// disrupted page gives ReadDisrupted and no time even though the counter's
// identity is the record's, and clearing the flag serves time again.
func TestPageFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	w, err := CreatePage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	p, err := OpenPage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r := testRecord(t)
	c := &fakeCounter{kind: r.CounterKind, count: r.RefCount + 1000, id: r.CounterIdentity}
	for _, f := range []PageFlags{
		{},
		{Mode: ModeDependent, DisruptionImminent: true},
		{Mode: ModeDependent, Disrupted: true},
		{Mode: ModeIndependent},
	} {
		if err := w.PublishFlags(&r, f); err != nil {
			t.Fatal(err)
		}
		n, err := p.Now(c)
		if err != nil {
			t.Fatal(err)
		}
		if n.Flags != f {
			t.Errorf("flags %+v, want %+v", n.Flags, f)
		}
		if f.Disrupted != (n.Status == ReadDisrupted) || f.Disrupted == n.Status.HasTime() {
			t.Errorf("flags %+v: status %v", f, n.Status)
		}
		if f.Disrupted && (n.Time.Sec != 0 || n.MaxErrorNs != 0) {
			t.Errorf("disrupted read carries a time: %+v", n)
		}
		_, got, _, err := p.RecordFlags()
		if err != nil || got != f {
			t.Errorf("RecordFlags: %+v, %v; want %+v", got, err, f)
		}
	}
}
