package guestclock

import (
	"errors"
	"testing"

	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/xenstore"
)

// localCounter is fixedCounter with a domain-local identity, as xen-system's
// resume_gen is.
type localCounter struct{ fixedCounter }

func (*localCounter) IdentityIsLocal() bool { return true }

// TestAcceptLocalIdentity: with a counter whose identity is the guest's own
// (xen-system on stock Xen), Dom0's record, stamped with Dom0's resume_gen,
// is taken with the guest's identity, also after the guest moved (its
// resume_gen no longer equals Dom0's); a read during which the guest resumed
// is refused. A shared-identity counter still refuses a foreign timeline.
func TestAcceptLocalIdentity(t *testing.T) {
	r := lineRecord(t, 1_000_000_000, 0, 1_000_000, 11) // identity 7: Dom0's
	val, _ := r.MarshalText()
	ps, err := xenstore.ParsePerms("r0")
	if err != nil {
		t.Fatal(err)
	}
	at := func(id uint64) counter.Reading { return counter.Reading{Count: 1_500_000_000, Identity: id} }
	cases := []struct {
		name       string
		c          counter.Counter
		before, id uint64
		refused    bool
	}{
		{"local, guest's identity differs from Dom0's", &localCounter{}, 2, 2, false},
		{"local, same values", &localCounter{}, 7, 7, false},
		{"local, resumed during the read", &localCounter{}, 2, 3, true},
		{"shared, foreign timeline", &fixedCounter{}, 2, 2, true},
		{"shared, same timeline", &fixedCounter{}, 7, 7, false},
	}
	for _, c := range cases {
		var h history
		got, err := h.accept(val, ps, c.c, c.before, at(c.id))
		if c.refused {
			if !errors.Is(err, ErrRefused) {
				t.Errorf("%s: accepted (%v), want refused", c.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
			continue
		}
		if got.CounterIdentity != c.id {
			t.Errorf("%s: record identity %x, want the guest's %x", c.name, got.CounterIdentity, c.id)
		}
	}
}

// TestAcceptSameRecordAgain: the host's last record read again (after a
// Xenstore reconnect or a resume on the same host: in the Xen test VMs a
// guest saved and restored on one host read generation 85 after 85 and was
// refused, disrupted until Dom0's next record) is taken, also when the
// guest's local counter identity changed meanwhile; another record of the
// same generation, or an older generation, is still refused.
func TestAcceptSameRecordAgain(t *testing.T) {
	ps, err := xenstore.ParsePerms("r0")
	if err != nil {
		t.Fatal(err)
	}
	at := func(id uint64) counter.Reading { return counter.Reading{Count: 1_500_000_000, Identity: id} }
	text := func(r clockdata.Record) []byte {
		b, err := r.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r := lineRecord(t, 1_000_000_000, 0, 1_000_000, 11)
	r.Generation = 5
	var h history
	got, err := h.accept(text(r), ps, &localCounter{}, 2, at(2))
	if err != nil {
		t.Fatal(err)
	}
	h.remember(&got)

	if _, err := h.accept(text(r), ps, &localCounter{}, 3, at(3)); err != nil {
		t.Errorf("the same record after a resume: refused: %v", err)
	}
	other := r
	other.MaxErrorNs++ // same generation, other content
	if _, err := h.accept(text(other), ps, &localCounter{}, 3, at(3)); !errors.Is(err, clockdata.ErrStaleGeneration) {
		t.Errorf("another record of the same generation: %v, want a stale generation", err)
	}
	older := r
	older.Generation--
	if _, err := h.accept(text(older), ps, &localCounter{}, 3, at(3)); !errors.Is(err, clockdata.ErrStaleGeneration) {
		t.Errorf("an older generation: %v, want a stale generation", err)
	}
}
