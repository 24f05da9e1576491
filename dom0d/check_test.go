package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/ntp"
	"github.com/xenradclock/xenradclock/ntp/ntptest"
)

// dom0d check against chronyd (usable) and against a server stuck at LI=3
// (unusable, non-zero exit).
func TestCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts chronyd")
	}
	cd := ntptest.StartChronyd(t)
	var out bytes.Buffer
	if err := runCheck(cd.Addr.String(), 3*time.Second, &out); err != nil {
		t.Fatalf("check of chronyd: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "stratum:         1") || !strings.Contains(out.String(), "verdict:         usable") {
		t.Errorf("check output:\n%s", out.String())
	}

	unsync, err := ntptest.NewFakePeer(false, func(req ntp.Packet) []ntptest.Reply {
		p := ntptest.GoodReply(req)
		p.Leap = ntp.LeapUnsync
		return []ntptest.Reply{{Bytes: ntptest.Bytes(p)}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unsync.Close()
	out.Reset()
	err = runCheck(unsync.Addr().String(), 3*time.Second, &out)
	if err == nil || !strings.Contains(out.String(), "UNUSABLE") {
		t.Errorf("check of an LI=3 server: %v\n%s", err, out.String())
	}
	if err := runCheck("127.0.0.1:99999", time.Second, &out); err == nil {
		t.Error("bad port accepted")
	}
}
