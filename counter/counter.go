// Package counter reads raw hardware and hypervisor counters: monotonic,
// 64-bit cumulative tick counts that the feed-forward clock converts to time.
package counter

// Reading is one read of a counter: the tick count and, taken in the same
// operation, an identity of the timeline the count belongs to (the physical
// host, or the guest's incarnation on it). A reader composing a dependent
// clock compares Identity with the identity the clock record was made for;
// when they differ a migration or restore happened between the record read
// and the counter read, and no time may be derived.
type Reading struct {
	Count    uint64
	Identity uint64
}

// Counter is one raw counter implementation.
type Counter interface {
	// Name is the counter's selector ("tsc", "xen-system", ...).
	Name() string
	// Kind is the counter's numeric identity as published in clock records.
	Kind() Kind
	// NominalHz is the counter's nominal frequency in ticks per second.
	NominalHz() float64
	// Read returns the current count with its timeline identity.
	Read() (Reading, error)
}

// LocalIdentity is implemented by a counter whose Reading.Identity is the
// guest's own incarnation rather than a timeline identity it shares with
// Dom0: xen-system's resume_gen, bumped by the module in each domain
// separately.  Dom0's record then carries Dom0's value, which says nothing
// about the guest's: a guest agent stamps the record it copies with the
// identity it read, from a read of the record that started and ended on
// the same incarnation (so on the host the record came from).
type LocalIdentity interface {
	IdentityIsLocal() bool
}

// IdentityIsLocal reports whether c's identities are local to this domain.
func IdentityIsLocal(c Counter) bool {
	l, ok := c.(LocalIdentity)
	return ok && l.IdentityIsLocal()
}

// Kind is the numeric counter identity carried in clock records and traces.
type Kind uint16

// Counter kinds. The numbers are ABI: they appear in every record encoding.
const (
	KindUnknown      Kind = 0
	KindXenSystem    Kind = 1 // Xen system time, ns since host boot
	KindXenPlatform  Kind = 2 // Xen's platform timer (HPET/ACPI PM) via hypercall
	KindTSC          Kind = 3
	KindMonotonicRaw Kind = 4 // CLOCK_MONOTONIC_RAW, ns (independent clock only)
	KindHPET         Kind = 5 // bare-metal /dev/hpet
	KindSimulated    Kind = 6 // per-simulated-host affine function of MONOTONIC_RAW
)

var kindNames = map[Kind]string{
	KindUnknown:      "unknown",
	KindXenSystem:    "xen-system",
	KindXenPlatform:  "xen-platform",
	KindTSC:          "tsc",
	KindMonotonicRaw: "monotonic-raw",
	KindHPET:         "hpet",
	KindSimulated:    "simulated",
}

func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return "unknown"
}

// KindByName is the inverse of Kind.String.
func KindByName(name string) (Kind, bool) {
	for k, n := range kindNames {
		if n == name && k != KindUnknown {
			return k, true
		}
	}
	return KindUnknown, false
}

// Opener opens one counter implementation, or says clearly why it is not
// available on this machine.
type Opener func() (Counter, error)

var openers = map[string]Opener{}

// Register makes a counter implementation selectable by name. It is called
// from the init functions of the implementation files.
func Register(name string, open Opener) { openers[name] = open }

// Names lists the registered counter names.
func Names() []string {
	names := make([]string, 0, len(openers))
	for n := range openers {
		names = append(names, n)
	}
	sortStrings(names)
	return names
}

// Open opens the counter registered under name.
func Open(name string) (Counter, error) {
	open, ok := openers[name]
	if !ok {
		return nil, &UnknownError{Name: name, Known: Names()}
	}
	return open()
}

// UnknownError is returned by Open for a name no implementation registered.
type UnknownError struct {
	Name  string
	Known []string
}

func (e *UnknownError) Error() string {
	return "unknown counter " + quote(e.Name) + " (known: " + join(e.Known) + ")"
}
