package counter

import (
	"errors"
	"os"
	"strings"
)

// Purpose is what a counter is opened for.
type Purpose int

const (
	// Dependent: the counter carries a clock that Dom0 estimates and every
	// guest of the host reads; it must be one timeline for all of them, and
	// its identity must change when a guest moves to another timeline.
	Dependent Purpose = iota
	// Independent: the counter carries a clock this OS estimates for itself.
	Independent
)

func (p Purpose) String() string {
	if p == Dependent {
		return "dependent"
	}
	return "independent"
}

// purposeChecker is implemented by counters that are valid for some
// purposes only.
type purposeChecker interface{ checkPurpose(Purpose) error }

// CheckPurpose says whether c may carry a clock of purpose p.
func CheckPurpose(c Counter, p Purpose) error {
	if pc, ok := c.(purposeChecker); ok {
		return pc.checkPurpose(p)
	}
	return nil
}

// OpenFor opens the counter registered under name and checks that it may
// carry a clock of purpose p.
func OpenFor(name string, p Purpose) (Counter, error) {
	c, err := Open(name)
	if err != nil {
		return nil, err
	}
	if err := CheckPurpose(c, p); err != nil {
		if cl, ok := c.(interface{ Close() error }); ok {
			cl.Close()
		}
		return nil, err
	}
	return c, nil
}

// SimulatedEnv names the environment variable that, when set, selects the
// simulated counter backed by the state file it names.
const SimulatedEnv = "XENRADCLOCK_SIM_COUNTER"

// Candidate is one counter Detect tried, with the reason it was not taken.
type Candidate struct {
	Name string
	Err  error // nil for the chosen one
}

// DetectionError lists every candidate Detect tried and why each failed.
type DetectionError struct {
	Purpose    Purpose
	Candidates []Candidate
}

func (e *DetectionError) Error() string {
	var b strings.Builder
	b.WriteString("no counter usable for a " + e.Purpose.String() + " clock:")
	for _, c := range e.Candidates {
		b.WriteString("\n  " + c.Name + ": " + c.Err.Error())
	}
	return b.String()
}

// Is matches ErrUnavailable.
func (e *DetectionError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap exposes the candidates' errors to errors.Is and errors.As.
func (e *DetectionError) Unwrap() []error {
	errs := make([]error, len(e.Candidates))
	for i, c := range e.Candidates {
		errs[i] = c.Err
	}
	return errs
}

// Order lists, best first, the counters Detect tries for a purpose on this
// machine. The simulated counter comes first whenever SimulatedEnv is set:
// setting it is an explicit choice.
//
// Dependent: xen-system (the default on stock Xen: world-readable, the same
// Xen system time in Dom0 and every guest, identity bumped by migration),
// xen-platform (needs the patched hypervisor and privcmd), then tsc (valid
// only as a PV guest in native TSC mode on an invariant-TSC host, or outside
// Xen).
//
// Independent: under Xen, xen-system first (its identity follows
// migrations), then tsc, then monotonic-raw; outside Xen, tsc, then
// monotonic-raw. The HPET is never chosen automatically: it costs a
// microsecond per read where the TSC costs nanoseconds; ask for it by name.
func Order(p Purpose, underXen bool) []string {
	var names []string
	if os.Getenv(SimulatedEnv) != "" {
		names = append(names, "simulated")
	}
	switch {
	case p == Dependent:
		names = append(names, "xen-system", "xen-platform", "tsc")
	case underXen:
		names = append(names, "xen-system", "tsc", "monotonic-raw")
	default:
		names = append(names, "tsc", "monotonic-raw")
	}
	return names
}

// Detect opens the best counter for purpose p on this machine, trying
// Order(p) in turn. On failure the error lists every candidate's reason.
func Detect(p Purpose) (Counter, error) {
	c, _, err := DetectWith(p, Order(p, ProbeXen().Present), OpenFor)
	return c, err
}

// DetectWith is Detect over an explicit candidate list and opener, for
// callers with a configured preference and for tests. It returns the chosen
// counter and every candidate tried before it.
func DetectWith(p Purpose, names []string, open func(string, Purpose) (Counter, error)) (Counter, []Candidate, error) {
	var tried []Candidate
	for _, n := range names {
		c, err := open(n, p)
		if err == nil {
			tried = append(tried, Candidate{Name: n})
			return c, tried, nil
		}
		var ue *UnknownError
		if errors.As(err, &ue) {
			err = unavailable(n, err, "not built into this binary", ErrUnavailable)
		}
		tried = append(tried, Candidate{Name: n, Err: err})
	}
	return nil, tried, &DetectionError{Purpose: p, Candidates: tried}
}
