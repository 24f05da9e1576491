package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xenradclock/xenradclock/hostclock"
)

// dom0d status on the status file of a daemon that has stopped says that
// its pid is gone, in text and in JSON.
func TestStatusOfStoppedDaemon(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	path := filepath.Join(t.TempDir(), "status.json")
	doc := &hostclock.StatusDoc{PID: gone.Process.Pid, Counter: "simulated", MinSources: 1,
		Servers: []hostclock.ServerDoc{{Address: "192.0.2.1:123", Usable: true}}}
	if err := hostclock.WriteStatus(path, doc); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"dom0d", "status", "--status-file", path}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "NOT RUNNING: the process is gone") {
		t.Errorf("status of a stopped daemon does not say so:\n%s", out.String())
	}
	out.Reset()
	app = newApp()
	app.Writer = &out
	if err := app.Run([]string{"dom0d", "status", "--json", "--status-file", path}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		PID     int  `json:"pid"`
		Running bool `json:"pid_running"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.PID != gone.Process.Pid || got.Running {
		t.Errorf("status --json of a stopped daemon: %+v, %v\n%s", got, err, out.String())
	}
}
