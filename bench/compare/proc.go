package compare

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// proc is a client process run inside a namespace without CAP_SYS_TIME.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// startInNetns runs args in namespace ns, CAP_SYS_TIME removed from its
// bounding and inheritable sets, output to logPath. It is killed if the
// harness dies.
func startInNetns(ns, logPath string, args ...string) (*proc, error) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return nil, fmt.Errorf("setpriv (util-linux) drops CAP_SYS_TIME from the clients: %w", err)
	}
	full := append([]string{"netns", "exec", ns, setpriv, "--bounding-set=-sys_time", "--inh-caps=-sys_time"}, args...)
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("client log: %w", err)
	}
	p := &proc{cmd: exec.Command("ip", full...), done: make(chan struct{}), log: lf}
	p.cmd.Stdout, p.cmd.Stderr = lf, lf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting %s in %s: %w", filepath.Base(args[0]), ns, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
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

// stop sends SIGTERM, and SIGKILL after five seconds.
func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}
