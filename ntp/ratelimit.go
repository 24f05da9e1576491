package ntp

import (
	"net/netip"
	"sync"
	"time"
)

// RateLimit bounds how often one client address is answered, so that a
// guest flooding the host's server costs little and learns to slow down.
type RateLimit struct {
	// Interval is the mean interval allowed between requests of one address.
	Interval time.Duration
	// Burst is how many requests may come back to back (default 8, the
	// size of a client's initial burst).
	Burst int
	// KoD answers an excess request with a RATE kiss-o'-death (the same size
	// as the request: no amplification) instead of dropping it silently.
	KoD bool
}

// maxTracked bounds the limiter's memory; past it, idle addresses are
// forgotten first, then the longest idle one.
const maxTracked = 4096

type bucket struct {
	tokens float64
	last   time.Time
}

// limiter is a token bucket per client address (the port is ignored).
type limiter struct {
	cfg     RateLimit
	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

func newLimiter(cfg RateLimit) *limiter {
	if cfg.Burst <= 0 {
		cfg.Burst = 8
	}
	return &limiter{cfg: cfg, buckets: map[netip.Addr]*bucket{}}
}

// allow takes a token for addr at now and reports whether one was there.
func (l *limiter) allow(addr netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= maxTracked {
			l.prune(now)
		}
		b = &bucket{tokens: float64(l.cfg.Burst), last: now}
		l.buckets[addr] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(float64(l.cfg.Burst), b.tokens+float64(el)/float64(l.cfg.Interval))
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) prune(now time.Time) {
	full := time.Duration(l.cfg.Burst) * l.cfg.Interval
	var oldest netip.Addr
	var oldestAt time.Time
	for a, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, a)
			continue
		}
		if oldestAt.IsZero() || b.last.Before(oldestAt) {
			oldest, oldestAt = a, b.last
		}
	}
	if len(l.buckets) >= maxTracked {
		delete(l.buckets, oldest)
	}
}
