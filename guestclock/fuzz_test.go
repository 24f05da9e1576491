package guestclock

import (
	"strings"
	"testing"

	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/xenstore"
)

type fixedCounter struct{ rd counter.Reading }

func (f *fixedCounter) Name() string                   { return "simulated" }
func (f *fixedCounter) Kind() counter.Kind             { return counter.KindSimulated }
func (f *fixedCounter) NominalHz() float64             { return 1e9 }
func (f *fixedCounter) Read() (counter.Reading, error) { return f.rd, nil }

// FuzzAccept: no clock node value and permission string panics the
// acceptance checks, and whatever is accepted applies to the counter read
// and came from a node only Dom0 may write.
func FuzzAccept(f *testing.F) {
	r := lineRecord(f, 1_000_000_000, 0, 1_000_000, 11)
	good, _ := r.MarshalText()
	f.Add(good, "r0", uint64(7))
	f.Add(good, "b0", uint64(7))
	f.Add(good, "r5", uint64(7))
	f.Add(good[:40], "r0", uint64(7))
	f.Add([]byte(strings.Replace(string(good), "v=1", "v=2", 1)), "r0", uint64(8))
	f.Fuzz(func(t *testing.T, value []byte, perms string, identity uint64) {
		ps, err := xenstore.ParsePerms(perms)
		if err != nil {
			return
		}
		c := &fixedCounter{rd: counter.Reading{Count: 1_500_000_000, Identity: identity}}
		var h history
		got, err := h.accept(value, ps, c, c.rd.Identity, c.rd)
		if err != nil {
			return
		}
		if got.CounterIdentity != identity || ps.Owner() != 0 || got.Validate() != nil {
			t.Fatalf("accepted %+v with perms %s for identity %x", got, ps, identity)
		}
		for i, p := range ps {
			if p.Access.CanWrite() && (i == 0 || p.Domid != 0) {
				t.Fatalf("accepted a node writable by others: %s", ps)
			}
		}
	})
}

// FuzzConfig: no configuration file panics the parser.
func FuzzConfig(f *testing.F) {
	f.Add("mode = dependent\nserver = a\nserver = b\ntick = 100ms\n# c\n")
	f.Add("page=\n")
	f.Add("nokey\n")
	f.Fuzz(func(t *testing.T, s string) {
		c := Default()
		_ = c.Parse(strings.NewReader(s), "fuzz")
	})
}
