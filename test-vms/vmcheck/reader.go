package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/xenstore"
)

var pageReaderCmd = &cli.Command{
	Name:  "page-reader",
	Usage: "in a DomU: read the agent's clock page continuously, count statuses and check every time against the last",
	Description: `Runs until killed, reading --page with clockdata's reader every --every.
Each read with a time is checked against the previous one with a time:

  backwards  its time is earlier than the previous read's
  bound      |Δtime − Δcount/nominal Hz| exceeds both reads' max_error plus
             --ppm of Δcount: both reads promise the true time within their
             max_error, and on one host true time runs at the counter's
             rate (Xen system time, the same timeline in Dom0 and every
             guest, so this holds across a localhost migration)

Every second it writes one line to data/xrc/reader (relative: after a move it
lands under the new domid) and prints it on a status change:
reads timed disrupted other errors backwards bound gen status max_disc_ns.`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "page", Value: "/run/xenradclock/clock"},
		&cli.StringFlag{Name: "counter", Value: "xen-system"},
		&cli.DurationFlag{Name: "every", Value: 20 * time.Millisecond},
		&cli.Float64Flag{Name: "ppm", Value: 500, Usage: "rate slack of the bound check, ppm"},
	},
	Action: func(cx *cli.Context) error {
		return pageReader(cx.String("page"), cx.String("counter"), cx.Duration("every"), cx.Float64("ppm"))
	},
}

type readerStats struct {
	reads, timed, disrupted, other, errors, backwards, bound uint64
	gen                                                      uint64
	status                                                   string
	maxDiscNs                                                int64
	lastErr                                                  string
}

func (s *readerStats) String() string {
	return fmt.Sprintf("reads=%d timed=%d disrupted=%d other=%d errors=%d backwards=%d bound=%d gen=%d status=%s max_disc_ns=%d last_error=%q",
		s.reads, s.timed, s.disrupted, s.other, s.errors, s.backwards, s.bound, s.gen, s.status, s.maxDiscNs, s.lastErr)
}

func pageReader(path, counterName string, every time.Duration, ppm float64) error {
	ctx := context.Background()
	c, err := counter.Open(counterName)
	if err != nil {
		return fmt.Errorf("page-reader: %w", err)
	}
	var p *clockdata.Page
	for p == nil {
		if p, err = clockdata.OpenPage(path); err != nil {
			time.Sleep(time.Second)
		}
	}
	xs, err := xenstore.Dial(ctx)
	if err != nil {
		return fmt.Errorf("page-reader: %w", err)
	}
	defer xs.Close()
	var st readerStats
	var prev clockdata.Now
	havePrev := false
	lastPut := time.Now()
	lastStatus := ""
	for {
		var n clockdata.Now
		st.reads++
		if err := p.ReadInto(c, &n); err != nil {
			st.errors++
			st.status = "error"
			if st.lastErr = err.Error(); len(st.lastErr) > 120 {
				st.lastErr = st.lastErr[:120]
			}
		} else {
			st.status = n.Status.String()
			st.gen = n.Generation
			switch {
			case n.Status.HasTime():
				st.timed++
				if havePrev {
					checkRead(&st, &prev, &n, c.NominalHz(), ppm)
				}
				prev, havePrev = n, true
			case n.Status == clockdata.ReadDisrupted:
				st.disrupted++
			default:
				st.other++
			}
		}
		if st.status != lastStatus {
			fmt.Printf("XRC-GUEST reader: %s\n", &st)
			lastStatus = st.status
		}
		if time.Since(lastPut) >= time.Second {
			lastPut = time.Now()
			octx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := xs.Write(octx, "data/xrc/reader", []byte(st.String())); err != nil {
				fmt.Printf("XRC-GUEST reader: report: %v\n", err)
			}
			cancel()
		}
		time.Sleep(every)
	}
}

// checkRead compares a read with a time against the previous one.
func checkRead(st *readerStats, prev, n *clockdata.Now, hz, ppm float64) {
	if n.Time.Cmp(prev.Time) < 0 {
		st.backwards++
		fmt.Printf("XRC-GUEST reader: BACKWARDS %s -> %s (generation %d -> %d)\n", prev.Time, n.Time, prev.Generation, n.Generation)
	}
	dCount := int64(float64(n.Count-prev.Count) * 1e9 / hz) // ns; reads are ms apart
	disc := n.Time.Sub(prev.Time).Nanos() - dCount
	if disc < 0 {
		disc = -disc
	}
	if disc > st.maxDiscNs {
		st.maxDiscNs = disc
	}
	slack := float64(prev.MaxErrorNs) + float64(n.MaxErrorNs) + ppm*1e-6*float64(dCount)
	if float64(disc) > slack {
		st.bound++
		fmt.Printf("XRC-GUEST reader: BOUND |Δtime-Δcount|=%d ns > %.0f ns (generation %d -> %d, Δcount %d ns)\n",
			disc, slack, prev.Generation, n.Generation, dCount)
	}
}
