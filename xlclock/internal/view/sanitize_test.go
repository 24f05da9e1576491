package view

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"web1", 24, "web1"},
		{"", 24, ""},
		{"\x1b[2J\x1b[31mred", 24, "?[2J?[31mred"},
		{"a\nb\tc\rd", 24, "a?b?c?d"},
		{"bad\xff\xfeutf8", 24, "bad??utf8"},
		{"\u202egnp.exe", 24, "?gnp.exe"},  // right-to-left override
		{"a\u0085b\u009bc", 24, "a?b?c"},   // C1 controls (NEL, CSI)
		{"a\u2028b\x7f", 24, "a?b?"},       // line separator, DEL
		{"héllo wörld", 24, "héllo wörld"}, // printable Unicode stays
		{"abcdefghij", 5, "abcd…"},         // cut with an ellipsis
		{"abcde", 5, "abcde"},              // exactly the limit
		{"\x00\x00\x00\x00\x00\x00", 3, "??…"},
		{"x", 0, "x"},
	} {
		if got := Clean(c.in, c.max); got != c.want {
			t.Errorf("Clean(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

// checkClean asserts what Clean promises of any output.
func checkClean(t *testing.T, in, out string, max int) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("Clean(%q) = %q: invalid UTF-8", in, out)
	}
	if n := utf8.RuneCountInString(out); n > max && !(max < 1 && n <= 1) {
		t.Fatalf("Clean(%q, %d) = %q: %d runes", in, max, out, n)
	}
	for _, r := range out {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) || r == 0x1b || r == '\u2028' || r == '\u2029' || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			t.Fatalf("Clean(%q) = %q keeps %U", in, out, r)
		}
	}
	if again := Clean(out, max); again != out {
		t.Fatalf("Clean is not idempotent on %q: %q then %q", in, out, again)
	}
	if strings.Count(in, "") <= max && utf8.ValidString(in) && !strings.ContainsFunc(in, func(r rune) bool { return !printable(r) }) && out != in {
		t.Fatalf("Clean changed the clean string %q into %q", in, out)
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"web1", "\x1b]0;pwned\x07", "\x1b[2J", "a\nb", "\xff\xfe", "\u202e", "héllo", strings.Repeat("x", 300), "\u0085\u009b"} {
		f.Add(s, 24)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max > 1000 || max < -10 {
			max = 24
		}
		checkClean(t, s, Clean(s, max), max)
	})
}
