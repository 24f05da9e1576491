package main

// The little terminal control watch needs, on golang.org/x/sys/unix:
// detection, size, and a key-at-a-time input mode.

import (
	"os"

	"golang.org/x/sys/unix"
)

// Escape sequences (ECMA-48 and xterm's alternate screen).
const (
	escAltScreenOn  = "\x1b[?1049h"
	escAltScreenOff = "\x1b[?1049l"
	escCursorHide   = "\x1b[?25l"
	escCursorShow   = "\x1b[?25h"
	escHome         = "\x1b[H"
	escClearEOL     = "\x1b[K"
	escClearEOS     = "\x1b[J"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// termSize returns the terminal's columns and rows (0, 0 when unknown).
func termSize(f *os.File) (cols, rows int) {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0, 0
	}
	return int(ws.Col), int(ws.Row)
}

// keyMode switches f to non-canonical, no-echo input (one key at a time;
// Ctrl-C still sends SIGINT) and returns the function that restores it.
func keyMode(f *os.File) (restore func(), err error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	t := *old
	t.Lflag &^= unix.ICANON | unix.ECHO
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}
