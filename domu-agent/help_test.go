package main

import (
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/internal/helptest"
	"github.com/xenradclock/xenradclock/internal/helptest/demodir"
)

// exampleServer is the NTP server the run example names ('dom0d
// testserver --listen 127.0.0.1:11127' when a user runs it; not dom0d's
// examples' 11123 and 11124, whose help test may run at the same time).
const exampleServer = "127.0.0.1:11127"

// Every example of every domu-agent --help runs as printed, in a
// directory holding g1's page and counter as 'xenradclock-demo --dir
// demo' makes them, with a test NTP server on the port run's names.
func TestHelpExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds domu-agent and runs every help example")
	}
	helptest.Run(t, newApp(), helptest.Config{
		Binaries: map[string]string{"domu-agent": "."},
		Setup:    setupExamples,
		Expect: func(ex helptest.Example) helptest.Expect {
			if ex.Command == "domu-agent run" {
				return helptest.Expect{Daemon: true, Settle: 4 * time.Second, WaitFor: "clock"}
			}
			return helptest.Expect{}
		},
	})
}

func setupExamples(t *testing.T, dir, command string) []string {
	if command != "domu-agent run" {
		demodir.Guest(t, dir)
		return nil
	}
	helptest.NTPServer(t, exampleServer, 0, 0)
	return nil
}
