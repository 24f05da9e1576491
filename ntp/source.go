package ntp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Poll period limits (the 1 s to 1024 s).
const (
	MinPoll = time.Second
	MaxPoll = 1024 * time.Second
)

// Source defaults.
const (
	DefaultPoll          = 64 * time.Second
	DefaultBurst         = 8
	DefaultBurstInterval = 2 * time.Second
	DefaultResolveEvery  = time.Hour

	// The fast start follows the burst: the estimator (clocksync) needs
	// about 30 stamps before its rate, and so its offset, is as good as it
	// will be, and the burst's 8 only span 14 s. At a 64 s poll that would
	// take half an hour; at 1024 s, eight hours. Polling at 16 s for the
	// first 15 minutes gives it the burst plus about 55 stamps, so the clock
	// is good within minutes whatever the configured poll. 16 s is RFC 5905's
	// minimum poll (MINPOLL 4) and what RADclock polls at all the time;
	// chrony's default minpoll is 64 s, but a short fast phase at start is
	// accepted practice (ntpd's and chrony's iburst, at a shorter scale).
	// A server that disagrees says so with a RATE kiss-o'-death, which
	// ends the fast start at once and backs off as in the burst.
	DefaultFastStartPoll     = 16 * time.Second
	DefaultFastStartDuration = 15 * time.Minute
)

// Clock schedules a Source. The system clock's monotonic time by default;
// tests inject a virtual one (ntptest.VirtualClock).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Resolver looks up a host name; net.DefaultResolver.LookupNetIP fits.
type Resolver func(ctx context.Context, network, host string) ([]netip.Addr, error)

// SourceConfig configures the poller of one server.
type SourceConfig struct {
	// Server is "host", "host:port", "1.2.3.4", "[2001:db8::1]:123".
	Server string
	// Network restricts resolution: "ip" (default), "ip4" or "ip6".
	Network string
	// Poll is the period after the burst, MinPoll..MaxPoll (default 64 s).
	Poll time.Duration
	// Burst is the number of exchanges of the initial burst (default 8);
	// NoBurst skips it.
	Burst   int
	NoBurst bool
	// BurstInterval separates the burst's exchanges (default 2 s).
	BurstInterval time.Duration
	// FastStartPoll is the period after the burst until FastStartDuration
	// has passed since the first exchange (defaults 16 s and 15 min); the
	// period used is the shorter of it and Poll. NoFastStart skips the
	// phase: the configured Poll follows the burst at once. A RATE
	// kiss-o'-death ends the fast start.
	FastStartPoll     time.Duration
	FastStartDuration time.Duration
	NoFastStart       bool
	// ResolveEvery is how often a name is resolved again (default 1 h). IP
	// literals are never resolved.
	ResolveEvery time.Duration
	// Client configures the exchange socket; Client.Counter is required.
	// Client.Timeout defaults to 1 s, capped at half the shortest interval.
	Client ClientConfig
	// Clock schedules the exchanges (default: the system's monotonic clock).
	Clock Clock
	// Resolver resolves Server (default net.DefaultResolver.LookupNetIP).
	Resolver Resolver
}

// Event is what a Source reports: exactly one of Sample and Reject is set.
type Event struct {
	Time   time.Time // on the Source's Clock
	Name   string    // SourceConfig.Server
	Sample *Sample
	Reject *Rejection
	// Dropped marks a Reject that is one packet discarded while an exchange
	// went on (spoofed, late, malformed), not the exchange's outcome.
	Dropped bool
}

// ErrDenied is returned by Run after a DENY or RSTR kiss-o'-death: the
// server asked not to be used, and this source stops.
var ErrDenied = errors.New("ntp: server refused service (kiss-o'-death DENY or RSTR)")

// SourceStatus is a snapshot of a Source for status pages and metrics.
type SourceStatus struct {
	Server        string
	Addr          netip.AddrPort // current address (zero before resolution)
	Poll          time.Duration  // configured
	EffectivePoll time.Duration  // the period in use after the burst: fast start, RATE back-off
	InBurst       bool
	InFastStart   bool // after the burst, polling at the fast-start period
	Denied        bool
	Kiss          string // last kiss code received
	Exchanges     uint64
	Samples       uint64
	KernelStamps  uint64 // samples whose Ta and Tf both came from kernel stamps
	Rejected      map[Reason]uint64
	LastSample    time.Time // on the Source's Clock
	LastReject    Reason    // outcome of the last exchange without a sample
	LastRejectAt  time.Time // on the Source's Clock
}

// Source polls one server: resolution, burst, poll period, KoD.
type Source struct {
	cfg  SourceConfig
	host string
	port uint16
	wake chan struct{}

	mu           sync.Mutex
	poll         time.Duration
	backoff      time.Duration // RATE: floor of the effective poll
	fastEnd      time.Time     // end of the fast start (zero before the first exchange)
	status       SourceStatus
	rejected     [numReasons]uint64
	running      bool
	lastResolved time.Time
	addrs        []netip.Addr // the server's known addresses
	failed       bool         // the current address had a network error: try the next
}

// NewSource validates cfg and returns a Source ready to Run.
func NewSource(cfg SourceConfig) (*Source, error) {
	host, port, err := SplitServer(cfg.Server)
	if err != nil {
		return nil, err
	}
	if cfg.Client.Counter == nil {
		return nil, errors.New("ntp: SourceConfig.Client.Counter is required")
	}
	switch cfg.Network {
	case "":
		cfg.Network = "ip"
	case "ip", "ip4", "ip6":
	default:
		return nil, fmt.Errorf("ntp: network %q: want ip, ip4 or ip6", cfg.Network)
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultPoll
	}
	if err := checkPoll(cfg.Poll); err != nil {
		return nil, err
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.NoBurst || cfg.Burst < 0 {
		cfg.Burst = 0
	}
	if cfg.BurstInterval <= 0 {
		cfg.BurstInterval = DefaultBurstInterval
	}
	if cfg.FastStartPoll == 0 {
		cfg.FastStartPoll = DefaultFastStartPoll
	}
	if cfg.FastStartDuration == 0 {
		cfg.FastStartDuration = DefaultFastStartDuration
	}
	if !cfg.NoFastStart {
		if err := checkPoll(cfg.FastStartPoll); err != nil {
			return nil, fmt.Errorf("ntp: fast start: %w", err)
		}
		if cfg.FastStartDuration < 0 {
			return nil, fmt.Errorf("ntp: negative fast start duration %v", cfg.FastStartDuration)
		}
	}
	if cfg.ResolveEvery <= 0 {
		cfg.ResolveEvery = DefaultResolveEvery
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver.LookupNetIP
	}
	if cfg.Client.Timeout <= 0 {
		cfg.Client.Timeout = time.Second
	}
	if cfg.Client.Name == "" {
		cfg.Client.Name = cfg.Server
	}
	s := &Source{cfg: cfg, host: host, port: port, wake: make(chan struct{}, 1), poll: cfg.Poll}
	s.status.Server = cfg.Server
	return s, nil
}

func checkPoll(d time.Duration) error {
	if d < MinPoll || d > MaxPoll {
		return fmt.Errorf("ntp: poll period %v outside %v..%v", d, MinPoll, MaxPoll)
	}
	return nil
}

// SplitServer parses "host", "host:port", "[v6]", "[v6]:port" or a bare
// IPv6 literal, defaulting the port to 123.
func SplitServer(server string) (host string, port uint16, err error) {
	if server == "" {
		return "", 0, errors.New("ntp: empty server")
	}
	if a, perr := netip.ParseAddr(server); perr == nil {
		return a.String(), DefaultPort, nil
	}
	h, p, serr := net.SplitHostPort(server)
	if serr != nil {
		if strings.HasPrefix(server, "[") && strings.HasSuffix(server, "]") {
			return server[1 : len(server)-1], DefaultPort, nil
		}
		if strings.Contains(serr.Error(), "missing port") {
			return server, DefaultPort, nil
		}
		return "", 0, fmt.Errorf("ntp: server %q: %w", server, serr)
	}
	n, perr := strconv.ParseUint(p, 10, 16)
	if perr != nil || n == 0 {
		return "", 0, fmt.Errorf("ntp: server %q: bad port %q", server, p)
	}
	if h == "" {
		return "", 0, fmt.Errorf("ntp: server %q: empty host", server)
	}
	return h, uint16(n), nil
}

// SetPoll changes the poll period at run time; the next exchange after the
// burst is rescheduled from the last one. During the fast start the shorter
// of d and the fast-start period applies until the fast start ends.
func (s *Source) SetPoll(d time.Duration) error {
	if err := checkPoll(d); err != nil {
		return err
	}
	s.mu.Lock()
	s.poll = d
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Status returns a snapshot.
func (s *Source) Status() SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Poll = s.poll
	st.EffectivePoll = max(s.poll, s.backoff)
	if st.InFastStart {
		st.EffectivePoll = min(s.poll, s.cfg.FastStartPoll)
	}
	st.Rejected = map[Reason]uint64{}
	for r, n := range s.rejected {
		if n != 0 {
			st.Rejected[Reason(r)] = n
		}
	}
	return st
}

func (s *Source) effectivePoll() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.poll, s.backoff)
}

// interval is the period after an exchange at last once the burst is over:
// the fast-start period while the slot it gives is before the end of the
// fast start (and no RATE kiss came), the effective poll after that.
func (s *Source) interval(last time.Time) (d time.Duration, fast bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cfg.NoFastStart && s.backoff == 0 && !s.fastEnd.IsZero() {
		if f := min(s.poll, s.cfg.FastStartPoll); last.Add(f).Before(s.fastEnd) {
			return f, true
		}
	}
	return max(s.poll, s.backoff), false
}

// Run polls until ctx is done (returning nil) or the server denies service
// (ErrDenied). Events go to out; Run blocks when out is full, so the
// consumer sets the pace, never the loss. Run may be called once.
func (s *Source) Run(ctx context.Context, out chan<- Event) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("ntp: Source.Run called twice")
	}
	s.running = true
	s.status.InBurst = s.cfg.Burst > 0
	s.mu.Unlock()

	var client *Client
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	clk := s.cfg.Clock
	burstLeft := s.cfg.Burst
	next := clk.Now()
	var last time.Time // scheduled time of the last exchange
	for {
		// Wait for the next slot; a poll change recomputes it.
		for {
			if burstLeft == 0 && !last.IsZero() {
				// Recomputed at every wake-up, so SetPoll and RATE take
				// effect from the last exchange, with no drift.
				d, _ := s.interval(last)
				next = last.Add(d)
			}
			d := next.Sub(clk.Now())
			if d <= 0 {
				break
			}
			select {
			case <-ctx.Done():
				return nil
			case <-clk.After(d):
			case <-s.wake:
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		// Late by a whole interval or more (the host was suspended, the
		// exchange overran): start again from now instead of replaying the
		// missed slots back to back. Later by less keeps the grid.
		interval, _ := s.interval(last)
		if burstLeft > 0 {
			interval = s.cfg.BurstInterval
		}
		if now := clk.Now(); now.Sub(next) >= interval {
			next = now
		}
		last = next
		s.mu.Lock()
		if s.fastEnd.IsZero() {
			s.fastEnd = last.Add(s.cfg.FastStartDuration)
		}
		s.mu.Unlock()
		var err error
		client, err = s.ensureClient(ctx, client, last)
		if err != nil {
			var rej *Rejection
			if !errors.As(err, &rej) {
				rej = &Rejection{Reason: ReasonNetwork, Detail: err.Error()}
			}
			s.mu.Lock()
			s.status.Exchanges++
			s.rejected[rej.Reason]++
			s.status.LastReject, s.status.LastRejectAt = rej.Reason, last
			s.mu.Unlock()
			if !s.emit(ctx, out, Event{Time: last, Reject: rej}) {
				return nil
			}
		} else if denied, ok := s.exchange(ctx, client, out, last); !ok {
			return nil
		} else if denied {
			return ErrDenied
		}
		if burstLeft > 0 {
			burstLeft--
		}
		s.mu.Lock()
		if s.backoff > 0 {
			burstLeft = 0 // a RATE kiss ends the burst
		}
		s.status.InBurst = burstLeft > 0
		s.mu.Unlock()
		_, fast := s.interval(last)
		s.mu.Lock()
		s.status.InFastStart = burstLeft == 0 && fast
		s.mu.Unlock()
		if burstLeft > 0 {
			next = last.Add(s.cfg.BurstInterval)
		}
	}
}

// exchange runs one exchange and reports it. ok is false when ctx ended.
func (s *Source) exchange(ctx context.Context, c *Client, out chan<- Event, at time.Time) (denied, ok bool) {
	smp, dropped, err := c.Exchange(ctx)
	if ctx.Err() != nil {
		return false, false
	}
	s.mu.Lock()
	s.status.Exchanges++
	for _, d := range dropped {
		s.rejected[d.Reason] += uint64(max(d.Count, 1))
	}
	s.mu.Unlock()
	for i := range dropped {
		if !s.emit(ctx, out, Event{Time: at, Reject: &dropped[i], Dropped: true}) {
			return false, false
		}
	}
	if err == nil {
		s.mu.Lock()
		s.status.Samples++
		s.status.LastSample = at
		if smp.TaMethod == MethodKernel && smp.TfMethod == MethodKernel {
			s.status.KernelStamps++
		}
		s.mu.Unlock()
		return false, s.emit(ctx, out, Event{Time: at, Sample: &smp})
	}
	var rej *Rejection
	if !errors.As(err, &rej) {
		rej = &Rejection{Reason: ReasonNetwork, Server: c.Server(), Detail: err.Error()}
	}
	s.mu.Lock()
	s.rejected[rej.Reason]++
	s.status.LastReject, s.status.LastRejectAt = rej.Reason, at
	if rej.Kiss != "" {
		s.status.Kiss = rej.Kiss
	}
	switch rej.Reason {
	case ReasonNetwork:
		s.failed = true
	case ReasonKoDRate:
		// Double the effective period, bounded; it stays backed off.
		s.backoff = min(2*max(s.poll, s.backoff), MaxPoll)
	case ReasonKoDDeny, ReasonKoDRstr:
		s.status.Denied, denied = true, true
	}
	s.mu.Unlock()
	return denied, s.emit(ctx, out, Event{Time: at, Reject: rej})
}

func (s *Source) emit(ctx context.Context, out chan<- Event, ev Event) bool {
	ev.Name = s.cfg.Server
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// ensureClient resolves the server when due and (re)opens the socket when
// its address changed or failed. A failed re-resolution keeps the known
// addresses; after a network error the next address is tried, so a name
// with an unreachable IPv6 address still reaches its IPv4 one.
func (s *Source) ensureClient(ctx context.Context, c *Client, now time.Time) (*Client, error) {
	literal, _ := netip.ParseAddr(s.host)
	if literal.IsValid() {
		s.addrs = []netip.Addr{literal.Unmap()}
	} else if len(s.addrs) == 0 || now.Sub(s.lastResolved) >= s.cfg.ResolveEvery {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		addrs, err := s.cfg.Resolver(rctx, s.cfg.Network, s.host)
		cancel()
		s.lastResolved = now
		if err == nil && len(addrs) > 0 {
			s.addrs = s.addrs[:0]
			for _, a := range addrs {
				s.addrs = append(s.addrs, a.Unmap())
			}
		} else if len(s.addrs) == 0 {
			detail := "no addresses"
			if err != nil {
				detail = err.Error()
			}
			return c, &Rejection{Reason: ReasonResolve, Detail: fmt.Sprintf("resolving %q: %s", s.host, detail)}
		}
	}
	cur := -1
	if c != nil {
		for i, a := range s.addrs {
			if a == c.Server().Addr() {
				cur = i
			}
		}
	}
	if cur >= 0 && !s.failed {
		return c, nil // still valid: no churn
	}
	idx := 0
	if cur >= 0 {
		idx = (cur + 1) % len(s.addrs)
	}
	if c != nil {
		c.Close()
	}
	s.failed = false
	want := netip.AddrPortFrom(s.addrs[idx], s.port)
	cfg := s.cfg.Client
	interval := min(s.effectivePoll(), s.cfg.BurstInterval)
	if !s.cfg.NoFastStart {
		interval = min(interval, s.cfg.FastStartPoll)
	}
	if cfg.Timeout > interval/2 {
		cfg.Timeout = interval / 2
	}
	nc, err := Dial(want, cfg)
	if err != nil {
		// Rotate past this address next time too.
		s.addrs = append(s.addrs[idx+1:], s.addrs[:idx+1]...)
		return nil, &Rejection{Reason: ReasonNetwork, Server: want, Detail: err.Error()}
	}
	s.mu.Lock()
	s.status.Addr = want
	s.mu.Unlock()
	return nc, nil
}
