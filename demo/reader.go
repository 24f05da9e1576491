package main

// The reader: one process per guest that reads the guest's page as an
// application would, as fast as --every allows, and checks every read that
// carries a time against the served time at that read's own counter value.

import (
	"context"
	"fmt"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/ntp"
)

// readerStats is what a reader reports, live (every second) and at the end.
type readerStats struct {
	Reads     uint64 `json:"reads"`
	WithTime  uint64 `json:"with_time"` // fresh or late
	Late      uint64 `json:"late"`
	Void      uint64 `json:"void"`
	Disrupted uint64 `json:"disrupted"`
	Mismatch  uint64 `json:"counter_mismatch"`
	NoClock   uint64 `json:"no_clock"` // no page yet, or a read error
	Unsynced  uint64 `json:"unsynchronised"`
	// UnsyncedOutside: unsynchronised reads outside their max_error.
	UnsyncedOutside uint64 `json:"unsynchronised_outside_max_error"`
	OutsideMax      uint64 `json:"outside_max_error"`
	OutsideEB       uint64 `json:"outside_error_bound"`
	Backwards       uint64 `json:"backwards"` // time or earliest bound went back
	MaxAbsErr       int64  `json:"max_abs_error_ns"`
	// The latest read with a time.
	LastErrNs      int64  `json:"last_error_ns"`
	LastMaxErrNs   uint64 `json:"last_max_error_ns"`
	LastEBNs       uint64 `json:"last_error_bound_ns"`
	LastState      string `json:"last_state"`
	LastStatus     string `json:"last_status"`
	LastHost       string `json:"last_host"`
	LastGeneration uint64 `json:"last_generation"`
}

// capture is the guest's counter, remembering the reading the page reader
// used (the last one taken inside its seqlock loop).
type capture struct {
	counter.Counter
	last counter.Reading
}

func (c *capture) Read() (counter.Reading, error) {
	r, err := c.Counter.Read()
	c.last = r
	return r, err
}

// hostTimeline maps a simulated host's identity to its counter function, so
// a reading is inverted with the function it was taken on even when the
// guest migrates between the reading and the inversion.
type hostTimeline struct {
	name string
	sim  *counter.Simulated
}

func readerCommand() *cli.Command {
	return &cli.Command{
		Name:      "reader",
		Usage:     "(internal) read a guest's page continuously and check it against the truth",
		Hidden:    true,
		UsageText: "xenradclock-demo reader --page FILE --counter FILE --host NAME=FILE ... --truth FILE --live FILE",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "page", Required: true},
			&cli.StringFlag{Name: "counter", Required: true, Usage: "the guest's simulated counter `FILE`"},
			&cli.StringSliceFlag{Name: "host", Required: true, Usage: "`NAME=FILE`: a simulated host the guest may run on"},
			&cli.StringFlag{Name: "truth", Required: true},
			&cli.StringFlag{Name: "live", Required: true, Usage: "write the statistics to `FILE` every second and at exit"},
			&cli.DurationFlag{Name: "every", Value: time.Millisecond, Usage: "pause between reads"},
		},
		Action: func(c *cli.Context) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return readLoop(ctx, c)
		},
	}
}

func openHosts(specs []string) (map[uint64]hostTimeline, error) {
	hosts := map[uint64]hostTimeline{}
	for _, s := range specs {
		name, file, ok := strings.Cut(s, "=")
		if !ok || name == "" || file == "" {
			return nil, fmt.Errorf("--host %q: want NAME=FILE", s)
		}
		sim, err := counter.OpenSimulated(file)
		if err != nil {
			return nil, err
		}
		r, err := sim.Read()
		if err != nil {
			return nil, err
		}
		hosts[r.Identity] = hostTimeline{name: name, sim: sim}
	}
	return hosts, nil
}

func readLoop(ctx context.Context, c *cli.Context) error {
	hosts, err := openHosts(c.StringSlice("host"))
	if err != nil {
		return err
	}
	t, err := readTruth(c.String("truth"))
	if err != nil {
		return err
	}
	mono, err := counter.Open("monotonic-raw")
	if err != nil {
		return err
	}
	guest, err := counter.OpenSimulated(c.String("counter"))
	if err != nil {
		return err
	}
	r := &reader{ctr: &capture{Counter: guest}, hosts: hosts, served: t.clock(mono), pagePath: c.String("page")}
	live := c.String("live")
	every := c.Duration("every")
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return writeJSONAtomic(live, r.st)
		case <-flush.C:
			if err := writeJSONAtomic(live, r.st); err != nil {
				return err
			}
		default:
		}
		r.once()
		time.Sleep(every)
	}
}

type reader struct {
	ctr      *capture
	hosts    map[uint64]hostTimeline
	served   *ntp.SkewedClock
	pagePath string
	page     *clockdata.Page
	st       readerStats
	n        clockdata.Now
	// The previous read with a time, for the never-backwards check.
	prevTime, prevEarliest bintime.Time
	prevGuess, havePrev    bool
}

func (r *reader) once() {
	r.st.Reads++
	if r.page == nil {
		p, err := clockdata.OpenPage(r.pagePath)
		if err != nil {
			r.st.NoClock++
			return
		}
		r.page = p
	}
	if err := r.page.ReadInto(r.ctr, &r.n); err != nil {
		r.st.NoClock++
		return
	}
	n := &r.n
	r.st.LastStatus = n.Status.String()
	switch n.Status {
	case clockdata.ReadDisrupted:
		r.st.Disrupted++
		return
	case clockdata.ReadCounterMismatch:
		r.st.Mismatch++
		return
	case clockdata.ReadVoid:
		r.st.Void++
		return
	case clockdata.ReadFresh, clockdata.ReadLate:
	default:
		r.st.NoClock++
		return
	}
	r.check(n)
}

// check judges one read that carries a time against the truth at its count.
func (r *reader) check(n *clockdata.Now) {
	r.st.WithTime++
	if n.Status == clockdata.ReadLate {
		r.st.Late++
	}
	guess := n.State == clockdata.StateUnsynchronised || n.State == clockdata.StateUnknown
	// An unsynchronised clock's earliest bound promised nothing (the agent
	// may replace it by a synchronised one's lower bound); its time did.
	if r.havePrev && (n.Time.Cmp(r.prevTime) < 0 || !r.prevGuess && n.Earliest.Cmp(r.prevEarliest) < 0) {
		r.st.Backwards++
	}
	r.prevTime, r.prevEarliest, r.prevGuess, r.havePrev = n.Time, n.Earliest, guess, true
	h, ok := r.hosts[r.ctr.last.Identity]
	if !ok {
		r.st.NoClock++
		return
	}
	raw, err := h.sim.MonoRawAt(n.Count)
	if err != nil {
		r.st.NoClock++
		return
	}
	truth := r.served.At(uint64(raw))
	errNs := n.Time.Sub(truth).Nanos()
	r.st.LastErrNs, r.st.LastMaxErrNs, r.st.LastEBNs = errNs, n.MaxErrorNs, n.ErrorBoundNs
	r.st.LastState, r.st.LastHost, r.st.LastGeneration = n.State.String(), h.name, n.Generation
	abs := errNs
	if abs < 0 {
		abs = -abs
	}
	if abs > r.st.MaxAbsErr {
		r.st.MaxAbsErr = abs
	}
	outside := truth.Cmp(n.Earliest) < 0 || truth.Cmp(n.Latest) > 0
	// An unsynchronised clock's time is a guess by definition: counted,
	// and its misses counted apart, but not held to its bounds.
	if guess {
		r.st.Unsynced++
		if outside {
			r.st.UnsyncedOutside++
		}
		return
	}
	if outside {
		r.st.OutsideMax++
	}
	if uint64(abs) > n.ErrorBoundNs {
		r.st.OutsideEB++
	}
}
