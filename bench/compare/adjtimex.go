package compare

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// AdjtimexCheck compares the kernel clock's discipline before and after a
// run, read with adjtimex(2) in read-only mode: a client that touched the
// system clock would change its frequency, offset or status.
type AdjtimexCheck struct {
	Before, After unix.Timex
	Unchanged     bool
	Detail        string
}

func readAdjtimex() (unix.Timex, error) {
	var tx unix.Timex // Modes 0: read only
	if _, err := unix.Adjtimex(&tx); err != nil {
		return tx, fmt.Errorf("adjtimex (read-only): %w", err)
	}
	return tx, nil
}

func compareAdjtimex(a, b unix.Timex) AdjtimexCheck {
	c := AdjtimexCheck{Before: a, After: b}
	c.Detail = fmt.Sprintf("freq %d→%d, offset %d→%d, tick %d→%d, status %#x→%#x",
		a.Freq, b.Freq, a.Offset, b.Offset, a.Tick, b.Tick, a.Status, b.Status)
	c.Unchanged = a.Freq == b.Freq && a.Offset == b.Offset && a.Tick == b.Tick && a.Status == b.Status
	return c
}
