//go:build linux && amd64 && cgo

package cclock

import (
	"testing"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
)

// TestCBusyWriterMakingProgress: the C reader restarts its busy deadline
// whenever the seqlock moves to a new odd value, so a live writer that is
// busy for many deadlines in total is waited for; a writer that holds one
// odd value past the deadline is dead (XRC_ERR_BUSY). Deterministic: the
// policy's clock is a fake one that plays the writer.
func TestCBusyWriterMakingProgress(t *testing.T) {
	r := xenSystemRecord(t)
	image := clockdata.EncodePage(&r, 2)
	kind := uint16(counter.KindXenSystem)
	tick := clockdata.BusyDeadline / 3

	got := RunBusyScenario(image, kind, 1e12, 5, 40, true, tick)
	if got.Code != 0 || got.Generation != r.Generation+1 {
		t.Errorf("writer busy for %v of fake time in %d moves: code %d, generation %d (want 0, %d)",
			got.Elapsed, got.Moved, got.Code, got.Generation, r.Generation+1)
	}
	if got.Moved != 40 || got.Elapsed < 5*clockdata.BusyDeadline {
		t.Errorf("the writer moved %d of 40 times in %v: the scenario did not exercise the policy", got.Moved, got.Elapsed)
	}

	dead := RunBusyScenario(image, kind, 1e12, 5, 0, false, tick)
	if dead.Code != -6 || dead.Elapsed < clockdata.BusyDeadline {
		t.Errorf("dead writer: code %d after %v of fake time (want -6, XRC_ERR_BUSY)", dead.Code, dead.Elapsed)
	}
}
