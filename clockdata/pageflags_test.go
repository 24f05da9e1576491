//go:build linux

package clockdata

import (
	"encoding/binary"
	"os"
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

// TestCreatePageKeepsSeqOfSize240Page: a page written before the flags word
// (size 240) is taken over without restarting its seqlock at 0: readers
// that cached a record at some seq must never meet that seq again with
// another record.
func TestCreatePageKeepsSeqOfSize240Page(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	w, err := CreatePage(path)
	if err != nil {
		t.Fatal(err)
	}
	r := testRecord(t)
	for range 3 {
		if err := w.Publish(&r); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(b[OffSize:], MinRecordSize)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := OpenPage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, seq1, err := p.Record()
	if err != nil {
		t.Fatal(err)
	}
	w2, err := CreatePage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	got, seq2, err := p.Record()
	if err != nil || seq2 != seq1 || got.Generation != r.Generation {
		t.Fatalf("after the new writer opened the old page: seq %d (was %d), %v", seq2, seq1, err)
	}
	if err := w2.Publish(&r); err != nil {
		t.Fatal(err)
	}
	if _, seq3, err := p.Record(); err != nil || seq3 <= seq1 {
		t.Fatalf("seq %d after publishing on a page at seq %d (%v)", seq3, seq1, err)
	}
}
