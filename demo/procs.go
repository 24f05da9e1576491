package main

// Child processes: each piece of the demo runs as its own process, with its
// output in a log file of the work directory. Children are in their own
// process group (Ctrl-C reaches only the demo, which stops them in order)
// and die with the demo if it is killed (PR_SET_PDEATHSIG).

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

// spawn starts bin with args, its standard error (and standard output,
// unless stdout is set) appended to log.
func spawn(name, log string, env []string, stdout io.Writer, bin string, args ...string) (*proc, error) {
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: log: %w", name, err)
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: log}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace, then SIGKILL. It reports whether
// the process had to be killed.
func (p *proc) stop(grace time.Duration) bool {
	if p.exited() {
		return false
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return false
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return true
}

// waitFor polls until ok returns true, the process dies, or timeout passes.
func waitFor(what string, timeout time.Duration, p *proc, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if p != nil && p.exited() {
			return fmt.Errorf("%s: %s exited (%v); see %s", what, p.name, p.err, p.log)
		}
		if time.Now().After(deadline) {
			if p != nil {
				return fmt.Errorf("%s: not ready after %v; see %s", what, timeout, p.log)
			}
			return fmt.Errorf("%s: not ready after %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// prefixWriter writes whole lines to w, each behind prefix, under the
// demo's output lock.
type prefixWriter struct {
	out    *lockedWriter
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.out.line(p.prefix + string(p.buf[:i]))
		p.buf = p.buf[i+1:]
	}
	if len(p.buf) > 4096 { // a line that never ends is cut, not buffered forever
		p.out.line(p.prefix + string(p.buf))
		p.buf = p.buf[:0]
	}
	return len(b), nil
}

// lockedWriter serialises the demo's output between its goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (l *lockedWriter) line(s string) { fmt.Fprintln(l, s) }
