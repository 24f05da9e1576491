package compare

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
)

// Sample is one reading of a client's estimate against the truth.
type Sample struct {
	ElapsedNs  int64
	Usable     bool    // the client claims to be synchronised
	ErrNs      int64   // estimate − truth at the same instant
	FreqErrPPM float64 // NaN when the client does not say
	// dom0d only: its statistical and guaranteed bounds, and whether the
	// truth was within them.
	HasBounds      bool
	ErrorBoundNs   uint64
	MaxErrorNs     uint64
	InBound, InMax bool
}

// Client is a clock under comparison, running in its namespace.
type Client interface {
	Name() string
	Start() error
	Stop()
	Exited() bool
	// Sample reads the estimate now; ok is false when there is none yet.
	Sample(clk *Served, start int64) (s Sample, ok bool)
}

// Dom0d is `dom0d run` on CLOCK_MONOTONIC_RAW, read through its page.
type Dom0d struct {
	Bin     string
	Dir     string
	Netns   string
	Servers []netip.AddrPort
	Poll    time.Duration
	p       *proc
	page    *clockdata.Page
	ctr     counter.Counter
}

func (d *Dom0d) Name() string { return "dom0d" }

func (d *Dom0d) Start() error {
	var conf strings.Builder
	for _, s := range d.Servers {
		fmt.Fprintf(&conf, "server = %s\n", s)
	}
	fmt.Fprintf(&conf, "poll = %s\ncounter = monotonic-raw\nxenstore = none\npage = %s\nstatus = %s\nstate = %s\nlog_level = info\n",
		d.Poll, filepath.Join(d.Dir, "clock"), filepath.Join(d.Dir, "status.json"), filepath.Join(d.Dir, "state.json"))
	if len(d.Servers) > 2 {
		fmt.Fprintf(&conf, "minsources = %d\n", len(d.Servers)/2+1)
	}
	path := filepath.Join(d.Dir, "dom0d.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		return fmt.Errorf("dom0d config: %w", err)
	}
	if d.ctr == nil {
		c, err := counter.Open("monotonic-raw")
		if err != nil {
			return fmt.Errorf("dom0d sampler: %w", err)
		}
		d.ctr = c
	}
	p, err := startInNetns(d.Netns, filepath.Join(d.Dir, "dom0d.log"), d.Bin, "run", "--config", path)
	d.p = p
	return err
}

func (d *Dom0d) Stop() {
	d.p.stop()
	if d.page != nil {
		d.page.Close()
		d.page = nil
	}
}

func (d *Dom0d) Exited() bool { return d.p != nil && d.p.exited() }

func (d *Dom0d) Sample(clk *Served, start int64) (Sample, bool) {
	if d.page == nil {
		p, err := clockdata.OpenPage(filepath.Join(d.Dir, "clock"))
		if err != nil {
			return Sample{}, false
		}
		d.page = p
	}
	n, err := d.page.Now(d.ctr)
	if err != nil || !n.Status.HasTime() || n.Status == clockdata.ReadVoid {
		return Sample{}, false
	}
	truth := clk.At(int64(n.Count))
	s := Sample{ElapsedNs: int64(n.Count) - start, ErrNs: n.Time.Sub(truth).Nanos(), FreqErrPPM: math.NaN(),
		Usable: n.State == clockdata.StateSynchronised, HasBounds: true, ErrorBoundNs: n.ErrorBoundNs, MaxErrorNs: n.MaxErrorNs}
	s.InBound = uint64(abs64(s.ErrNs)) <= n.ErrorBoundNs
	s.InMax = truth.Cmp(n.Earliest) >= 0 && truth.Cmp(n.Latest) <= 0
	if rec, _, err := d.page.Record(); err == nil && rec.RawPeriod.IsNormal() {
		// Counts are ns: the true period is 1 ns × (1 + rate).
		s.FreqErrPPM = (rec.RawPeriod.Float()*1e9/(1+clk.RatePPM(int64(n.Count))*1e-6) - 1) * 1e6
	}
	return s, true
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// Chronyd is Debian's chronyd with -x as a client, read with chronyc.
type Chronyd struct {
	Label   string // "chronyd-4.3"
	Bin     string // chronyd
	Chronyc string
	Dir     string
	Netns   string
	Servers []netip.AddrPort
	Poll    time.Duration
	p       *proc
}

func (c *Chronyd) Name() string { return c.Label }

func (c *Chronyd) sock() string { return filepath.Join(c.Dir, "chronyd.sock") }

func (c *Chronyd) Start() error {
	// chronyd refuses a command socket in a directory others may enter.
	if err := os.Chmod(c.Dir, 0o700); err != nil {
		return fmt.Errorf("chronyd dir: %w", err)
	}
	poll := int(math.Round(math.Log2(c.Poll.Seconds())))
	var conf strings.Builder
	for _, s := range c.Servers {
		fmt.Fprintf(&conf, "server %s port %d iburst minpoll %d maxpoll %d\n", s.Addr(), s.Port(), poll, poll)
	}
	fmt.Fprintf(&conf, "driftfile %s\ndumpdir %s\nmakestep 1 3\nbindcmdaddress %s\ncmdport 0\nport 0\npidfile %s\n",
		filepath.Join(c.Dir, "chrony.drift"), c.Dir, c.sock(), filepath.Join(c.Dir, "chronyd.pid"))
	if len(c.Servers) > 2 {
		fmt.Fprintf(&conf, "minsources %d\n", len(c.Servers)/2+1)
	}
	path := filepath.Join(c.Dir, "chrony.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		return fmt.Errorf("chronyd config: %w", err)
	}
	p, err := startInNetns(c.Netns, filepath.Join(c.Dir, "chronyd.log"), c.Bin, "-x", "-d", "-r", "-u", "root", "-f", path)
	c.p = p
	return err
}

func (c *Chronyd) Stop() { c.p.stop() }

func (c *Chronyd) Exited() bool { return c.p != nil && c.p.exited() }

// Sample asks chronyd for its tracking report: with -x the system clock is
// never corrected, so chronyd's estimate of the servers' time is the system
// time plus the "System time" correction it reports.
func (c *Chronyd) Sample(clk *Served, start int64) (Sample, bool) {
	real0, raw0 := realNs(), rawNs()
	out, err := exec.Command(c.Chronyc, "-h", c.sock(), "-n", "-c", "tracking").Output()
	if err != nil {
		return Sample{}, false
	}
	tr, err := parseTracking(string(out))
	if err != nil {
		return Sample{}, false
	}
	est := bintime.FromNanos(real0).Add(bintime.MustFloat(tr.CorrectionS))
	s := Sample{ElapsedNs: raw0 - start, ErrNs: est.Sub(clk.At(raw0)).Nanos(), Usable: tr.Synced,
		FreqErrPPM: tr.FreqPPM - clk.RatePPM(raw0)}
	return s, true
}

// tracking is the part of `chronyc -c tracking` the comparison uses.
type tracking struct {
	CorrectionS float64 // System time: add to the system clock for chronyd's time
	FreqPPM     float64 // the system clock's rate error chronyd estimates, as the served clock's rate
	Synced      bool
}

func parseTracking(csv string) (tracking, error) {
	f := strings.Split(strings.TrimSpace(csv), ",")
	if len(f) < 14 {
		return tracking{}, fmt.Errorf("chronyc tracking: %d fields, want 14: %q", len(f), csv)
	}
	corr, err1 := strconv.ParseFloat(f[4], 64)
	freq, err2 := strconv.ParseFloat(f[7], 64)
	if err1 != nil || err2 != nil {
		return tracking{}, fmt.Errorf("chronyc tracking: bad numbers in %q", csv)
	}
	return tracking{CorrectionS: corr, FreqPPM: -freq, Synced: f[13] == "Normal" && f[0] != "00000000"}, nil
}
