package main

import (
	"bufio"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/xenradclock/xenradclock/guestclock"
)

// TestDistConfig: every key dist/domu-agent.conf shows, with the value
// shown, is accepted (the sink keys as this binary registers them), and
// the file as shipped (all commented) gives the defaults.
func TestDistConfig(t *testing.T) {
	f, err := os.Open("../dist/domu-agent.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile(`^#([a-z_]+) = ?(.*)$`)
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		c := guestclock.Default()
		if err := c.Set(m[1], strings.TrimSpace(m[2])); err != nil {
			t.Errorf("%s: %v", sc.Text(), err)
		}
		n++
	}
	if n < 12 {
		t.Errorf("only %d keys shown", n)
	}
	c := guestclock.Default()
	if err := c.LoadFile("../dist/domu-agent.conf"); err != nil {
		t.Fatal(err)
	}
	if c.Mode != guestclock.DefaultMode || c.Tick != guestclock.DefaultTick || len(c.Servers) != 0 {
		t.Errorf("shipped file changes the defaults: %+v", c)
	}
	if err := c.Set("no_such_key", "1"); !errors.Is(err, guestclock.ErrUnknownKey) {
		t.Errorf("unknown key: %v", err)
	}
}
