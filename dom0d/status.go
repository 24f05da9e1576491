package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/hostclock"
)

func init() { commands = append(commands, statusCommand()) }

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the running daemon's servers, preferred server and published clock",
		Description: `status reads the status file that dom0d run rewrites after every update
(default ` + hostclock.DefaultStatus + `) and prints: whether the daemon that
wrote it still runs (a stopped daemon's status is its last word); each server
with its stamps, warm-up progress, offset estimate, error bound, minimum RTT,
path penalty, rejections by reason and whether it is a falseticker (outside
the servers' agreement); how many servers agree against minsources; which
server is preferred and why; the published clock's
period, offset, both error bounds (statistical and guaranteed), status bits
spelled out, and the record's generation and disruption marker.

It then reads the shared page the daemon publishes (the status file names it)
with the daemon's counter and prints the clock now: time, earliest and latest,
and the read status (fresh, late, void, ...).

With --json it prints the status document itself (docs/dom0d.md), with the
page read under "page_read" and "pid_running" (false: the daemon is gone).

With a running daemon (dom0d run, or the one the demo prints):
   dom0d status
   dom0d status --json --status-file /run/xenradclock/status.json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "status-file", Value: hostclock.DefaultStatus, Usage: "read the status from `PATH`"},
			&cli.BoolFlag{Name: "json", Usage: "print the status document as JSON"},
		},
		Action: func(c *cli.Context) error {
			doc, err := hostclock.ReadStatus(c.String("status-file"))
			if err != nil {
				return fmt.Errorf("%w (is dom0d running? see --status-file)", err)
			}
			pr := readPage(doc)
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					*hostclock.StatusDoc
					PIDRunning bool      `json:"pid_running"`
					PageRead   *pageRead `json:"page_read"`
				}{doc, hostclock.PIDRunning(doc.PID), pr})
			}
			if err := hostclock.FormatStatus(c.App.Writer, doc); err != nil {
				return err
			}
			return pr.print(c.App.Writer)
		},
	}
}

// pageRead is one read of the shared page with the daemon's counter.
type pageRead struct {
	Error      string `json:"error,omitempty"`
	Status     string `json:"status,omitempty"`
	Counter    uint64 `json:"counter,omitempty"`
	Time       string `json:"time,omitempty"` // UNIX seconds, 9 decimals
	Earliest   string `json:"earliest,omitempty"`
	Latest     string `json:"latest,omitempty"`
	Generation uint64 `json:"generation,omitempty"`
}

func readPage(doc *hostclock.StatusDoc) *pageRead {
	if doc.Page == "" {
		return &pageRead{Error: "no shared page configured"}
	}
	ctr, err := counter.Open(doc.Counter)
	if err != nil {
		return &pageRead{Error: err.Error()}
	}
	p, err := clockdata.OpenPage(doc.Page)
	if err != nil {
		return &pageRead{Error: err.Error()}
	}
	defer p.Close()
	n, err := p.Now(ctr)
	if err != nil {
		return &pageRead{Error: err.Error()}
	}
	r := &pageRead{Status: n.Status.String(), Counter: n.Count, Generation: n.Generation}
	if n.Status.HasTime() {
		r.Time, r.Earliest, r.Latest = n.Time.Format9(), n.Earliest.Format9(), n.Latest.Format9()
	}
	return r
}

func (r *pageRead) print(w io.Writer) error {
	if r.Error != "" {
		_, err := fmt.Fprintf(w, "\nshared page: not read: %s\n", r.Error)
		return err
	}
	_, err := fmt.Fprintf(w, "\nshared page now: %s (generation %d, counter %d)\n  time      %s\n  earliest  %s\n  latest    %s\n",
		r.Status, r.Generation, r.Counter, r.Time, r.Earliest, r.Latest)
	return err
}
