package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The demo's whole pipeline, shortened: test servers, simulated counter,
// embedded Xenstore, dom0d; the clock is published, within its bound of the
// served time, and readable from Xenstore with permission r0.
func TestDemoShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for 6 s")
	}
	var out bytes.Buffer
	res, err := demo(context.Background(), &out, demoOptions{
		Duration: 6 * time.Second, Interval: 2 * time.Second, Offset: 2500 * time.Millisecond,
		SkewPPM: 40, CounterPPM: -25, Poll: time.Second, LogLevel: "warn",
	})
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.Lines < 2 || res.Generation < 4 || res.Preferred == "" {
		t.Errorf("demo result %+v", res)
	}
	if !res.WithinMaxError {
		t.Errorf("published clock %.1f µs from the served time, max error %.1f µs", res.LastOffset*1e6, res.LastMaxError*1e6)
	}
	if res.XenstorePerms != "r0" || res.XenstoreBytes == 0 {
		t.Errorf("xenstore node: %d bytes, perms %q", res.XenstoreBytes, res.XenstorePerms)
	}
	if !strings.Contains(out.String(), "summary after") {
		t.Error("no summary printed")
	}
}
