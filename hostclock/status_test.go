package hostclock

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sampleStatus(pid int) *StatusDoc {
	return &StatusDoc{PID: pid, UpdatedAt: "2026-12-02T04:00:00Z", Counter: "simulated", CounterHz: 1e9,
		Preferred: "10.0.0.1:123", MinSources: 2, Truechimers: 2, SelectionReason: "kept",
		Clock: ClockDoc{State: "synchronised", Published: true, Generation: 9},
		Servers: []ServerDoc{
			{Address: "10.0.0.1:123", Preferred: true, Usable: true, Stamps: 30, Warmup: 5},
			{Address: "10.0.0.2:123", Usable: true, Stamps: 30, Warmup: 5},
			{Address: "10.0.0.3:123", Usable: true, Stamps: 30, Warmup: 5, Falseticker: true},
		}}
}

// goneProcess returns the pid of a process that has exited and been reaped.
func goneProcess(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	return cmd.Process.Pid
}

func TestFormatStatusAgreementAndLiveness(t *testing.T) {
	var b bytes.Buffer
	if err := FormatStatus(&b, sampleStatus(os.Getpid())); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"agreement:      2 truechimers of 3 servers (minsources 2); falsetickers: 10.0.0.3:123",
		"!  10.0.0.3:123", "! falseticker",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "NOT RUNNING") {
		t.Errorf("a running daemon shown as gone:\n%s", out)
	}
	b.Reset()
	if err := FormatStatus(&b, sampleStatus(goneProcess(t))); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(b.String(), "\n"); !strings.Contains(first, "NOT RUNNING: the process is gone") {
		t.Errorf("a stopped daemon's status does not say so: %q", first)
	}
}

func TestStatusRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.json")
	in := sampleStatus(42)
	if err := WriteStatus(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.Truechimers != 2 || out.MinSources != 2 || !out.Servers[2].Falseticker || out.Servers[0].Falseticker {
		t.Errorf("round trip: %+v", out)
	}
}

// specialFiles makes a FIFO, a directory and names a device.
func specialFiles(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"a FIFO": fifo, "a directory": sub, "a device": "/dev/null"}
}

// Anything but a regular file at the state or status path is refused at
// once, naming the path and what is there; a FIFO used to block for ever.
func TestSpecialFilesRefused(t *testing.T) {
	for kind, path := range specialFiles(t) {
		done := make(chan error, 2)
		go func() {
			_, err := LoadState(path)
			done <- err
			_, err = ReadStatus(path)
			done <- err
		}()
		for i := 0; i < 2; i++ {
			select {
			case err := <-done:
				if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), kind) {
					t.Errorf("%s: %v, want a refusal naming %s and %s", kind, err, path, kind)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s at %s: reading blocked", kind, path)
			}
		}
	}
}

// The daemon refuses to start on a FIFO (or a device, or a directory) at
// the state path, saying where, instead of hanging or later renaming its
// state over a device node.
func TestDaemonRefusesSpecialStateFile(t *testing.T) {
	for kind, path := range specialFiles(t) {
		dir := t.TempDir()
		cfg := testConfig(t, dir, []string{"127.0.0.1:1"})
		cfg.State = path
		done := make(chan error, 1)
		go func() {
			d, err := New(cfg, Options{Counter: simCounter(t, dir, 0)})
			if err == nil {
				d.close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "config key state") {
				t.Errorf("%s at the state path: %v", kind, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s at the state path: New blocked", kind)
		}
	}
}

func FuzzDecodeStatus(f *testing.F) {
	var b bytes.Buffer
	path := filepath.Join(f.TempDir(), "s.json")
	if err := WriteStatus(path, sampleStatus(7)); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"servers":[{"address":"\u001b[31m","path_penalty":1e400}]}`))
	f.Add([]byte("\xef\xbb\xbf{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodeStatus(data)
		if err != nil {
			return
		}
		if d.Version != 1 {
			t.Fatalf("accepted version %d", d.Version)
		}
		b.Reset()
		if err := FormatStatus(&b, d); err != nil {
			t.Fatal(err)
		}
	})
}
