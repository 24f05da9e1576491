package view

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Frame is one screen of `xlclock watch`: a title line, the list table (or
// the error that prevented it), cut to width columns and height lines
// (0: no limit) so that the terminal never wraps or scrolls.
func Frame(s *Snapshot, err error, at time.Time, every time.Duration, width, height int) []string {
	title := fmt.Sprintf("xlclock watch: every %s, %s UTC (q quits)", every, at.UTC().Format("2006-01-02 15:04:05"))
	lines := []string{title, ""}
	if err != nil {
		lines = append(lines, "error: "+Clean(err.Error(), 400))
	} else {
		var b bytes.Buffer
		if werr := s.WriteList(&b); werr != nil {
			lines = append(lines, "error: "+werr.Error())
		} else {
			lines = append(lines, strings.Split(strings.TrimRight(b.String(), "\n"), "\n")...)
		}
	}
	if height > 0 && len(lines) > height {
		more := len(lines) - height + 1
		lines = append(lines[:height-1], fmt.Sprintf("… %d more lines (enlarge the terminal, or xlclock list)", more))
	}
	if width > 0 {
		for i, l := range lines {
			lines[i] = cut(l, width)
		}
	}
	return lines
}

// cut shortens l to at most width runes.
func cut(l string, width int) string {
	if utf8.RuneCountInString(l) <= width {
		return l
	}
	n := 0
	for i := range l {
		if n == width {
			return l[:i]
		}
		n++
	}
	return l
}
