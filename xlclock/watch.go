package main

// xlclock watch: the list, refreshed.

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xenradclock/xenradclock/xlclock/internal/view"
)

func init() { commands = append(commands, watchCommand()) }

func watchCommand() *cli.Command {
	return &cli.Command{
		Name:      "watch",
		Usage:     "the list, refreshed live (q quits)",
		UsageText: "xlclock watch [--xenstore auto|SOCKET] [--interval DURATION] [--count N]",
		Description: `watch shows xlclock list and refreshes it every --interval. On a terminal it
draws on the alternate screen (your scrollback is left as it was), redraws in
place without clearing first (no flicker), cuts lines to the terminal's width
and height, and quits on q (or Ctrl-C). When standard output is not a terminal
it prints one plain table per refresh, each after a title line, for logs and
pipes. --json prints one list document per refresh, one per line.

A refresh that cannot read Xenstore shows the error and tries again at the
next one; only a failure on the first refresh ends watch with an error.

In Dom0 on a Xen host:
  xlclock watch
  xlclock watch --interval 500ms

Examples (with 'xenradclock-demo --dir demo' running in another terminal):
  xlclock watch --xenstore demo/host-a/xenstored.socket --count 2 --interval 500ms
  xlclock watch --xenstore demo/host-a/xenstored.socket --count 3 --interval 200ms | tee clocks.log`,
		Flags: append(xenstoreFlags(),
			&cli.DurationFlag{Name: "interval", Value: 2 * time.Second, Usage: "refresh every `DURATION`"},
			&cli.IntFlag{Name: "count", Usage: "stop after `N` refreshes (0: until q or a signal)"},
		),
		Action: runWatch,
	}
}

func runWatch(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	every := c.Duration("interval")
	if every < 100*time.Millisecond {
		return fmt.Errorf("--interval %s is shorter than 100ms", every)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	c.Context = ctx
	s, err := snapshot(c)
	if err != nil {
		return err
	}
	out, _ := c.App.Writer.(*os.File)
	if out != nil && isTerminal(out) && !c.Bool("json") {
		return watchTerminal(c, out, s, every)
	}
	return watchPlain(c, s, every)
}

// refreshes calls draw with a new snapshot every interval until ctx ends
// or count refreshes are done; quit closes to stop early.
func refreshes(c *cli.Context, first *view.Snapshot, every time.Duration, quit <-chan struct{}, draw func(*view.Snapshot, error) error) error {
	s, err := first, error(nil)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 1; ; n++ {
		if derr := draw(s, err); derr != nil {
			return derr
		}
		if count := c.Int("count"); count > 0 && n >= count {
			return nil
		}
		select {
		case <-c.Context.Done():
			return nil
		case <-quit:
			return nil
		case <-tick.C:
		}
		s, err = snapshot(c)
	}
}

func watchPlain(c *cli.Context, first *view.Snapshot, every time.Duration) error {
	w := c.App.Writer
	return refreshes(c, first, every, nil, func(s *view.Snapshot, err error) error {
		if c.Bool("json") {
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "xlclock watch: %v\n", err)
				return nil
			}
			return writeJSONLine(w, s)
		}
		_, werr := fmt.Fprintf(w, "%s\n\n", strings.Join(view.Frame(s, err, nowFunc(), every, 0, 0), "\n"))
		return werr
	})
}

func watchTerminal(c *cli.Context, out *os.File, first *view.Snapshot, every time.Duration) error {
	quit := make(chan struct{})
	if in, ok := c.App.Reader.(*os.File); ok && isTerminal(in) {
		restore, err := keyMode(in)
		if err != nil {
			return fmt.Errorf("watch: terminal input mode: %w", err)
		}
		defer restore()
		go readQuit(in, quit)
	}
	fmt.Fprint(out, escAltScreenOn+escCursorHide)
	defer fmt.Fprint(out, escCursorShow+escAltScreenOff)
	return refreshes(c, first, every, quit, func(s *view.Snapshot, err error) error {
		cols, rows := termSize(out)
		lines := view.Frame(s, err, nowFunc(), every, cols, rows)
		var b strings.Builder
		b.WriteString(escHome)
		for i, l := range lines {
			if i > 0 {
				b.WriteString("\r\n")
			}
			b.WriteString(l + escClearEOL)
		}
		b.WriteString(escClearEOS)
		_, werr := io.WriteString(out, b.String())
		return werr
	})
}

// readQuit closes quit when q or Q is typed (or the input ends).
func readQuit(in io.Reader, quit chan<- struct{}) {
	defer close(quit)
	buf := make([]byte, 64)
	for {
		n, err := in.Read(buf)
		if err != nil || strings.ContainsAny(string(buf[:n]), "qQ") {
			return
		}
	}
}

func writeJSONLine(w io.Writer, v any) error {
	return view.WriteJSONCompact(w, v)
}
