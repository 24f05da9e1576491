package ntptest

import (
	"sync"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
)

func bintimeOf(t time.Time) bintime.Time {
	return bintime.FromUnix(t.Unix(), int64(t.Nanosecond()))
}

// VirtualClock is an ntp.Clock whose timers fire at once and advance its
// time to their deadline, so a schedule of hours runs in milliseconds and
// every wake-up time is exact.
type VirtualClock struct {
	mu      sync.Mutex
	now     time.Time
	wakes   []time.Time
	onAfter func(d time.Duration)
}

// OnAfter sets a hook called at the start of every After, before the clock
// advances: a test acts "during" a wait deterministically.
func (c *VirtualClock) OnAfter(f func(d time.Duration)) {
	c.mu.Lock()
	c.onAfter = f
	c.mu.Unlock()
}

// NewVirtualClock starts at t.
func NewVirtualClock(t time.Time) *VirtualClock { return &VirtualClock{now: t} }

// Now implements ntp.Clock.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After implements ntp.Clock: it advances the clock by d and fires.
func (c *VirtualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	hook := c.onAfter
	c.mu.Unlock()
	if hook != nil {
		hook(d)
	}
	c.mu.Lock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.wakes = append(c.wakes, c.now)
	ch := make(chan time.Time, 1)
	ch <- c.now
	c.mu.Unlock()
	return ch
}

// Wakes lists the times at which timers fired.
func (c *VirtualClock) Wakes() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.wakes...)
}
