package trace

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// codeBlocks returns the fenced code blocks of a Markdown file.
func codeBlocks(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	parts := strings.Split(string(b), "```")
	for i := 1; i < len(parts); i += 2 {
		blocks = append(blocks, strings.TrimPrefix(parts[i], "\n"))
	}
	return blocks
}

// The examples of docs/trace-format.md are real: each trace reads and is
// written back byte for byte; the CSV has the documented layout.
func TestDocExamples(t *testing.T) {
	blocks := codeBlocks(t, "../docs/trace-format.md")
	if len(blocks) < 3 {
		t.Fatalf("%d code blocks", len(blocks))
	}
	var first []Record
	for i, want := range []Format{FormatXenradclock, FormatRADclockV4} {
		r := NewReader(strings.NewReader(blocks[i]))
		h, err := r.Header()
		if err != nil || h.Format != want {
			t.Fatalf("block %d: header %+v, %v", i, h, err)
		}
		recs := readAll(t, r)
		var buf bytes.Buffer
		w, err := NewWriter(&buf, h)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if err := w.Write(rec.Stamp); err != nil {
				t.Fatal(err)
			}
		}
		if buf.String() != blocks[i] {
			t.Errorf("block %d written back as\n%s\nnot\n%s", i, buf.String(), blocks[i])
		}
		if i == 0 {
			first = recs
		} else if s, f := recs[0].Stamp, first[0].Stamp; s.Ta != f.Ta || s.Tb != f.Tb || s.Te != f.Te || s.Tf != f.Tf {
			t.Errorf("the RADclock example is not the first stamp of the other: %+v, %+v", s, f)
		}
	}
	csv := strings.Split(strings.TrimSpace(blocks[2]), "\n")
	if csv[0] != CSVHeader {
		t.Errorf("CSV header %q", csv[0])
	}
	row := regexp.MustCompile(`^[0-9]+,[0-9]+\.[0-9]{9},[0-9]\.[0-9]{15}e-[0-9]{2},[0-9]\.[0-9]{6}e[-+][0-9]{2},[0-9]\.[0-9]{6}e[-+][0-9]{2},0x[0-9a-f]+$`)
	for _, l := range csv[1:] {
		if l != "..." && !row.MatchString(l) {
			t.Errorf("CSV example row %q does not have the layout", l)
		}
	}
}
