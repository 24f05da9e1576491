package compare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
)

// Options configures a comparison run.
type Options struct {
	Dom0d    string // dom0d binary
	Chronyd  string // Debian 12's chronyd
	Chronyc  string
	Chronyd2 string // optional second chronyd (4.6 built from trixie's source)
	Chronyc2 string // chronyc for Chronyd2; empty: Chronyc
	Dir      string // work directory; one subdirectory per scenario and client
	Seed     uint64
	PinCPU   int // CPU for the server threads; -1: not pinned
	Progress io.Writer
}

// ClientRun is one client's samples and the server's log of its exchanges.
type ClientRun struct {
	Name      string
	Samples   []Sample
	Exchanges []Exchange
	FIFO      bool
}

// Run is one scenario's result.
type Run struct {
	Scenario Scenario
	Clients  []ClientRun
	Started  time.Time
	Adjtimex AdjtimexCheck
	LoadAvg  string
}

type member struct {
	c   Client
	ns  *nsPair
	eps []*endpoint
	run *ClientRun
}

// RunScenario runs one scenario: namespaces, one server thread per client
// and server, the clients, a sample of each every poll/4 (at most 1 s),
// then everything stopped and removed, also when ctx is cancelled.
func RunScenario(ctx context.Context, sc Scenario, o Options) (*Run, error) {
	before, err := readAdjtimex()
	if err != nil {
		return nil, err
	}
	r := &Run{Scenario: sc, Started: time.Now().UTC()}
	var stop atomic.Bool
	var members []*member
	defer func() {
		stop.Store(true)
		for _, m := range members {
			if m.c != nil {
				m.c.Stop()
			}
			m.ns.remove()
		}
	}()
	start := rawNs()
	sc.Clock.Base, sc.Clock.Raw0 = bintime.FromNanos(realNs()), start
	names := []string{"dom0d", "chronyd-4.3"}
	if o.Chronyd2 != "" {
		names = append(names, "chronyd-4.6")
	}
	for i, name := range names {
		m, err := setUpMember(i, name, &sc, o, start, &stop)
		if m != nil {
			members = append(members, m)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := sampleLoop(ctx, sc, o, members, start); err != nil {
		return nil, err
	}
	for _, m := range members {
		m.c.Stop()
		m.c = nil
		for _, e := range m.eps {
			m.run.Exchanges = append(m.run.Exchanges, e.Log()...)
			m.run.FIFO = e.fifo
		}
		r.Clients = append(r.Clients, *m.run)
	}
	after, err := readAdjtimex()
	if err != nil {
		return nil, err
	}
	r.Adjtimex = compareAdjtimex(before, after)
	r.LoadAvg = loadAvg()
	return r, nil
}

func setUpMember(i int, name string, sc *Scenario, o Options, start int64, stop *atomic.Bool) (*member, error) {
	ns, err := newNsPair(i, sc.Servers)
	if err != nil {
		return nil, err
	}
	m := &member{ns: ns, run: &ClientRun{Name: name}}
	var addrs []netip.AddrPort
	for k, a := range ns.ServerAddrs {
		e := &endpoint{sc: sc, seed: o.Seed, srv: k, addr: netip.AddrPortFrom(a, 123), netns: ns.Server,
			start: start, clock: sc.Clock, stop: stop, pinCPU: o.PinCPU}
		ready := make(chan error, 1)
		go e.serve(ready)
		if err := <-ready; err != nil {
			return m, err
		}
		m.eps = append(m.eps, e)
		addrs = append(addrs, e.addr)
	}
	// chronyd takes only an absolute path for its command socket.
	dir, err := filepath.Abs(filepath.Join(o.Dir, sc.Name, name))
	if err != nil {
		return m, fmt.Errorf("work directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return m, fmt.Errorf("work directory: %w", err)
	}
	switch name {
	case "dom0d":
		m.c = &Dom0d{Bin: o.Dom0d, Dir: dir, Netns: ns.Client, Servers: addrs, Poll: sc.Poll}
	case "chronyd-4.3":
		m.c = &Chronyd{Label: name, Bin: o.Chronyd, Chronyc: o.Chronyc, Dir: dir, Netns: ns.Client, Servers: addrs, Poll: sc.Poll}
	default:
		chronyc := o.Chronyc
		if o.Chronyc2 != "" {
			chronyc = o.Chronyc2
		}
		m.c = &Chronyd{Label: name, Bin: o.Chronyd2, Chronyc: chronyc, Dir: dir, Netns: ns.Client, Servers: addrs, Poll: sc.Poll}
	}
	return m, m.c.Start()
}

func sampleLoop(ctx context.Context, sc Scenario, o Options, members []*member, start int64) error {
	every := min(sc.Poll/4, time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastProgress := time.Now()
	restarted := sc.RestartAt == 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		el := time.Duration(rawNs() - start)
		if el >= sc.Duration {
			return nil
		}
		if !restarted && el >= sc.RestartAt {
			restarted = true
			if err := restartAll(ctx, members, sc.RestartGap); err != nil {
				return err
			}
		}
		for _, m := range members {
			if m.c.Exited() {
				return fmt.Errorf("%s exited during %s (its log is in %s)", m.run.Name, sc.Name, filepath.Join(o.Dir, sc.Name, m.run.Name))
			}
			if s, ok := m.c.Sample(&sc.Clock, start); ok {
				m.run.Samples = append(m.run.Samples, s)
			}
		}
		if o.Progress != nil && time.Since(lastProgress) >= 10*time.Second {
			lastProgress = time.Now()
			fmt.Fprintf(o.Progress, "compare: %s %3.0f/%.0f s%s\n", sc.Name, el.Seconds(), sc.Duration.Seconds(), progressOf(members))
		}
	}
}

func restartAll(ctx context.Context, members []*member, gap time.Duration) error {
	for _, m := range members {
		m.c.Stop()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(gap):
	}
	var errs []error
	for _, m := range members {
		errs = append(errs, m.c.Start())
	}
	return errors.Join(errs...)
}

func progressOf(members []*member) string {
	s := ""
	for _, m := range members {
		n := len(m.run.Samples)
		if n == 0 {
			s += fmt.Sprintf("; %s: no estimate yet", m.run.Name)
			continue
		}
		x := m.run.Samples[n-1]
		s += fmt.Sprintf("; %s: %+.1f µs%s", m.run.Name, float64(x.ErrNs)/1e3, map[bool]string{false: " (unsynced)", true: ""}[x.Usable])
	}
	return s
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return string(b[:len(b)-1])
}
