package view

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean makes a string that a guest (or anyone else outside this process)
// wrote safe to print in a table or a JSON document: every byte that is not
// valid UTF-8 and every rune that is not printable (C0 and C1 controls, DEL,
// escape, tab and newline, bidirectional and other format characters,
// unassigned code points) becomes '?', so no terminal escape sequence, line
// break or column separator survives; the result has at most maxRunes runes,
// its last one '…' when the input was longer. maxRunes below 1 means 1.
//
// Clean is idempotent: Clean(Clean(s, n), n) == Clean(s, n).
func Clean(s string, maxRunes int) string {
	if maxRunes < 1 {
		maxRunes = 1
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if n == maxRunes {
			// One rune too many: the last kept rune becomes the ellipsis.
			return truncated(b.String())
		}
		if (r == utf8.RuneError && size == 1) || !printable(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// truncated replaces the last rune of s by '…'.
func truncated(s string) string {
	_, size := utf8.DecodeLastRuneInString(s)
	return s[:len(s)-size] + "…"
}

// printable: letters, marks, numbers, punctuation, symbols and the ASCII
// space (unicode.IsPrint), and not a private-use or surrogate code point.
func printable(r rune) bool {
	return unicode.IsPrint(r) && !unicode.Is(unicode.Co, r)
}
