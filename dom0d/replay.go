package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/trace"
)

func init() { commands = append(commands, replayCommand()) }

// maxGridRows bounds the rows --grid adds to one gap, so a counter jump in
// a damaged trace cannot turn into billions of rows.
const maxGridRows = 1_000_000

// maxServers bounds the distinct servers of one trace, each with its own
// estimator; RADclock's sID has 256 values.
const maxServers = 256

func replayCommand() *cli.Command {
	return &cli.Command{
		Name:      "replay",
		Usage:     "run the estimator over a recorded stamp trace and print the clock after every stamp as CSV",
		ArgsUsage: "[FILE]",
		Description: `replay feeds the stamps of a trace, in file order, to the same estimator that
'dom0d run' uses, with the same configuration, and writes one CSV row per data
line of the input:

    tf,ca,period,error_bound,max_error,status

  tf           the stamp's Tf exactly as written in the input (counter ticks)
  ca           the absolute clock read at tf after processing the stamp,
               UNIX seconds with exactly 9 decimals
  period       the long-term period, seconds per tick (%.15e)
  error_bound  the statistical error bound at tf, seconds
  max_error    the guaranteed error bound at tf, seconds
  status       the estimator's status word in hex; 0x80000000 marks a
               stamp the estimator rejected (its reason goes to stderr with
               the line number); see docs/estimator.md for the other bits

Rejected stamps keep their row. A trace that names several servers (a
server column, or RADclock v4 sIDs) is replayed with one estimator per
server, as 'dom0d run' runs them, and each row shows its own server's clock.

The input is either the project's trace format ('dom0d run --record' writes
it; '# counter_hz: HZ' header) or a RADclock ASCII stamp file (versions 3
and 4, '%' header), detected from the first non-empty line. RADclock files
do not say the counter frequency: give it with --counter-hz. The first
malformed line stops the replay with an error that names it; rows for the
lines before it are written.

--grid SECONDS adds rows between stamps every SECONDS of nominal counter
time (counter values last_tf + k*round(SECONDS*counter_hz), below the next
stamp's Tf): the clock read with the parameters then in force and its
bounds grown with the age, so gaps and outages can be plotted. Grid rows
have tf set to that computed counter value and status bit 0x40000000 set;
none is added before the clock is synchronised. Formats:
docs/trace-format.md.

Examples:
  dom0d replay dom0d/testdata/sample.trace
  dom0d replay --in dom0d/testdata/sample.trace --grid 60 --out sample.csv
  dom0d replay --in trace/testdata/radclock-v4.txt --counter-hz 14318180
  # only the rejected stamps, with their line numbers and reasons:
  dom0d replay dom0d/testdata/rejected.trace 2>&1 >/dev/null | grep rejected
  # only the grid rows (status 0x4....... to 0x7.......):
  dom0d replay dom0d/testdata/sample.trace --grid 10 | grep -E ',0x[4-7][0-9a-f]{7}$'

(The files named are in the source tree; run them from its root.)`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "in", Aliases: []string{"i"}, Usage: "trace `FILE` to replay (- for stdin); the same as giving FILE as the argument"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "-", Usage: "write the CSV to `FILE` (- for stdout)"},
			&cli.Float64Flag{Name: "counter-hz", Usage: "nominal counter frequency in `HZ`, overriding the trace's counter_hz header (required for RADclock files)", DefaultText: "the trace's counter_hz"},
			&cli.Float64Flag{Name: "grid", Usage: "add a row every `SECONDS` of counter time between stamps", DefaultText: "no grid rows"},
			&cli.Float64Flag{Name: "poll-period", Usage: "poll period in `SECONDS` the estimator is configured with, overriding the trace's poll_period header", DefaultText: "the trace's poll_period, else 16"},
		},
		Action: func(c *cli.Context) error {
			args, err := positional(c)
			if err != nil {
				return err
			}
			path := c.String("in")
			switch {
			case len(args) > 1:
				return fmt.Errorf("replay takes one trace FILE (got %d arguments)", len(args))
			case len(args) == 1 && path != "":
				return fmt.Errorf("replay: the trace is both --in %s and the argument %s: give one", path, args[0])
			case len(args) == 1:
				path = args[0]
			case path == "":
				return errors.New("replay: give the trace FILE (or - for stdin) as the argument or with --in")
			}
			in, name := io.Reader(os.Stdin), "stdin"
			if p := path; p != "-" {
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				defer f.Close()
				in, name = f, p
			}
			out := io.Writer(os.Stdout)
			var outFile *os.File
			if p := c.String("out"); p != "-" {
				if f, ok := in.(*os.File); ok && f != os.Stdin {
					fi, err1 := f.Stat()
					fo, err2 := os.Stat(p)
					if err1 == nil && err2 == nil && os.SameFile(fi, fo) {
						return fmt.Errorf("--out %s is the input trace: it would be overwritten", p)
					}
				}
				f, err := os.Create(p)
				if err != nil {
					return err
				}
				outFile, out = f, f
			}
			start := time.Now()
			st, err := replay(in, out, os.Stderr, replayOptions{
				name:       name,
				counterHz:  c.Float64("counter-hz"),
				pollPeriod: c.Float64("poll-period"),
				grid:       c.Float64("grid"),
			})
			if outFile != nil {
				if cerr := outFile.Close(); cerr != nil && err == nil {
					err = fmt.Errorf("closing %s: %w", outFile.Name(), cerr)
				}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%s: replayed %d stamps (%d rejected, %d grid rows) in %.3f s\n",
				name, st.stamps, st.rejected, st.grid, time.Since(start).Seconds())
			return nil
		},
	}
}

type replayOptions struct {
	name       string  // input name for messages
	counterHz  float64 // overrides the header when > 0
	pollPeriod float64 // overrides the header when > 0
	grid       float64 // seconds between grid rows; 0: none
	maxGrid    uint64  // grid rows per gap at most; 0: maxGridRows
}

type replayStats struct {
	stamps, rejected, grid int
}

// replay runs the estimator over the trace read from in and writes the CSV
// to out; reasons for rejected stamps and notes go to diag.
func replay(in io.Reader, out, diag io.Writer, opt replayOptions) (replayStats, error) {
	var st replayStats
	r := trace.NewReader(in)
	h, err := r.Header()
	if err != nil {
		return st, fmt.Errorf("%s: %w", opt.name, err)
	}
	hz := h.CounterHz
	if opt.counterHz != 0 {
		if !(opt.counterHz > 0) || math.IsInf(opt.counterHz, 0) {
			return st, fmt.Errorf("--counter-hz %v: must be a positive frequency", opt.counterHz)
		}
		if hz != 0 && hz != opt.counterHz {
			fmt.Fprintf(diag, "%s: --counter-hz %v overrides the trace's counter_hz %v\n", opt.name, opt.counterHz, hz)
		}
		hz = opt.counterHz
	}
	if hz == 0 {
		what := "has no counter_hz header"
		if h.Format.IsRADclock() {
			what = "is a RADclock file, which never says the counter frequency"
		} else if _, err := r.Next(); err != nil && err != io.EOF {
			// No header and no stamp: not a trace at all, and the counter
			// frequency is not what is missing.
			return st, fmt.Errorf("%s is not a stamp trace (docs/trace-format.md): %w", opt.name, err)
		}
		return st, fmt.Errorf("%s %s: give the nominal counter frequency with --counter-hz HZ", opt.name, what)
	}
	cfg := clocksync.DefaultConfig()
	cfg.CounterHz = hz
	poll := h.PollPeriod
	if opt.pollPeriod != 0 {
		if !(opt.pollPeriod > 0) || math.IsInf(opt.pollPeriod, 0) {
			return st, fmt.Errorf("--poll-period %v: must be a positive number of seconds", opt.pollPeriod)
		}
		poll = opt.pollPeriod
	}
	if poll > 0 {
		// As dom0d run does: the estimator takes polls of 1 s to 1024 s.
		cfg.PollPeriod = min(max(poll, 1), 1024)
		if cfg.PollPeriod != poll {
			fmt.Fprintf(diag, "%s: poll period %v s taken as %v s, the estimator's limit\n", opt.name, poll, cfg.PollPeriod)
		}
	}
	// One estimator per server, as 'dom0d run' keeps one per server; a
	// single-server trace has exactly one.
	ests := map[string]*clocksync.Estimator{}
	estimator := func(server string, line int) (*clocksync.Estimator, error) {
		if e, ok := ests[server]; ok {
			return e, nil
		}
		if len(ests) == maxServers {
			// Each estimator holds its history (about 170 kB): bound the memory.
			return nil, fmt.Errorf("%s: line %d: server %q would be server number %d; replay keeps at most %d",
				opt.name, line, server, maxServers+1, maxServers)
		}
		e, err := clocksync.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("configuring the estimator for %s: %w", opt.name, err)
		}
		ests[server] = e
		return e, nil
	}
	var step uint64
	if opt.grid != 0 {
		ticks := opt.grid * hz
		if !(ticks >= 1) || ticks >= 1<<63 {
			return st, fmt.Errorf("--grid %v: must be at least one counter tick and at most 2^63 ticks", opt.grid)
		}
		step = uint64(math.Round(ticks))
	}

	maxGrid := opt.maxGrid
	if maxGrid == 0 {
		maxGrid = maxGridRows
	}
	w := trace.NewCSVWriter(out)
	var (
		params   clocksync.Params
		lastTf   uint64
		lastLine int
		have     bool
	)
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, errors.Join(fmt.Errorf("%s: %w", opt.name, err), w.Flush())
		}
		tf := rec.Stamp.Tf
		if step != 0 && have && tf > lastTf && params.Status&clocksync.StatusUnsync == 0 {
			gap := tf - lastTf
			n := (gap - 1) / step
			if n > maxGrid {
				fmt.Fprintf(diag, "%s: line %d: no grid rows in the gap of %d ticks after line %d (over %d rows)\n",
					opt.name, rec.Line, gap, lastLine, maxGrid)
				n = 0
			}
			for k := uint64(1); k <= n; k++ {
				T := lastTf + k*step
				eb, me := params.Bounds(T)
				err := w.Write(trace.Row{Tf: T, Ca: params.Absolute(T), Period: params.Period,
					ErrorBound: eb, MaxError: me, Status: params.StatusAt(T)&^clocksync.StatusRejected | trace.StatusGrid})
				if err != nil {
					return st, err
				}
				st.grid++
			}
		}
		est, err := estimator(rec.Stamp.Side.Server, rec.Line)
		if err != nil {
			return st, errors.Join(err, w.Flush())
		}
		res := est.Process(rec.Stamp)
		params = res.Params
		status := params.StatusAt(tf)
		st.stamps++
		if !res.Accepted {
			st.rejected++
			status |= clocksync.StatusRejected
			fmt.Fprintf(diag, "%s: line %d: stamp rejected: %s\n", opt.name, rec.Line, res.Detail())
		}
		eb, me := params.Bounds(tf)
		err = w.Write(trace.Row{TfText: rec.TfText, Tf: tf, Ca: params.Absolute(tf), Period: params.Period,
			ErrorBound: eb, MaxError: me, Status: status})
		if err != nil {
			return st, err
		}
		lastTf, lastLine, have = tf, rec.Line, true
	}
	if st.stamps == 0 {
		fmt.Fprintf(diag, "%s: no stamps in the trace\n", opt.name)
	}
	return st, w.Flush()
}
