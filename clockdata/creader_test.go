//go:build linux

package clockdata

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/counter"
	"github.com/xenradclock/xenradclock/internal/testtool"
)

// buildCReader compiles clockdata/c/testdata/xrc_vectors.c against the header, with
// warnings as errors.
func buildCReader(t *testing.T) string {
	t.Helper()
	gcc := testtool.Require(t, "gcc")
	bin := filepath.Join(t.TempDir(), "xrc_vectors")
	out, err := exec.Command(gcc, "-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-D_GNU_SOURCE",
		"-o", bin, filepath.Join("c", "testdata", "xrc_vectors.c")).CombinedOutput()
	if err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return bin
}

func fmtTimeC(t bintime.Time) string { return fmt.Sprintf("%d %016x", t.Sec, t.Frac) }

// goLine formats a Go read as xrc_vectors prints a C read.
func goLine(n Now) string {
	ns := uint64(0)
	if n.Time.Sec >= 0 {
		ns = uint64(n.Time.Nanos())
	}
	return fmt.Sprintf("%d %s %s %s %d %d %d", n.Status, fmtTimeC(n.Time), fmtTimeC(n.Earliest), fmtTimeC(n.Latest),
		n.MaxErrorNs, n.ErrorBoundNs, ns)
}

// cCode maps a Go decoding error to the C reader's error code.
func cCode(err error) int {
	switch {
	case errors.Is(err, ErrUninitialised):
		return -2
	case errors.Is(err, ErrMagic):
		return -3
	case errors.Is(err, ErrVersion):
		return -4
	case errors.Is(err, ErrTruncated), errors.Is(err, ErrOversized):
		return -5
	case errors.Is(err, ErrBusy):
		return -6
	}
	return -7
}

// TestCHeaderCompiles compiles the header as strict C99 and C11 with
// -pedantic and, where g++ is installed, as C++11: C, C++ and
// (through a small shared object) Python applications include it.
func TestCHeaderCompiles(t *testing.T) {
	src := filepath.Join(t.TempDir(), "use.c")
	os.WriteFile(src, []byte(`#include "xenradclock_clock.h"
int main(void) {
	struct xrc_clock c;
	struct xrc_reader rd;
	struct xrc_now n;
	uint64_t id = 1;
	if (xrc_open(&c, XRC_DEFAULT_PATH) != XRC_OK)
		return 1;
	xrc_reader_init(&rd, &c);
#if defined(__x86_64__)
	if (xrc_read(&rd, XRC_COUNTER_TSC, xrc_rdtsc_counter, &id, &n) != XRC_OK)
		return 1;
#endif
	xrc_close(&c);
	return 0;
}
`), 0o644)
	inc := "-I" + filepath.Join("c")
	type comp struct{ tool, std string }
	for _, c := range []comp{{"gcc", "-std=c99"}, {"gcc", "-std=c11"}, {"g++", "-std=c++11"}} {
		path, err := exec.LookPath(c.tool)
		if err != nil {
			t.Logf("skip %s %s: %s not installed", c.tool, c.std, c.tool)
			continue
		}
		args := []string{c.std, "-pedantic", "-Wall", "-Wextra", "-Werror", "-D_POSIX_C_SOURCE=200809L", inc, "-fsyntax-only"}
		if c.tool == "g++" {
			args = append(args, "-x", "c++")
		}
		if out, err := exec.Command(path, append(args, src)...).CombinedOutput(); err != nil {
			t.Errorf("%s %s: %v\n%s", c.tool, c.std, err, out)
		}
	}
}

// probeCounts are counter values around a record's interesting points:
// reference, slew end, next expected, void-after, a leap, far spans both ways.
func probeCounts(r *Record) []uint64 {
	c := []uint64{r.RefCount, r.RefCount + 1, r.RefCount - 1, r.RefCount - 3_000_000_000_000,
		r.SlewEndCount - 1, r.SlewEndCount, r.SlewEndCount + 12345,
		r.NextExpectedCount, r.NextExpectedCount + 1, r.VoidAfterCount, r.VoidAfterCount + 1,
		r.RefCount + 1<<62, r.RefCount + 1<<63 - 1, r.RefCount - 1<<63 + 1}
	if r.LeapNext != 0 {
		c = append(c, r.LeapAtCount-1, r.LeapAtCount, r.LeapAtCount+1)
	}
	return c
}

func runC(t *testing.T, bin string, args ...string) []string {
	t.Helper()
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// TestCReaderVectors feeds every vector in testdata/ to the C reader and to
// the Go reader and requires the same decision and, for valid records, the
// same time to the 2^-64 s, the same bounds and the same status at every
// probe count, for the right identity, a wrong one and a wrong kind.
func TestCReaderVectors(t *testing.T) {
	bin := buildCReader(t)
	for _, v := range vectors(t) {
		t.Run(v.name, func(t *testing.T) {
			path := filepath.Join("testdata", v.name)
			mode := "page"
			var r Record
			var flags PageFlags
			var err error
			if v.page != nil {
				r, flags, _, err = DecodePageFlags(v.page)
			} else {
				mode = "text"
				r, err = ParseText(v.text)
			}
			if err != nil {
				got := runC(t, bin, mode, path, "3", "1", "0")
				if got[0] != fmt.Sprintf("err %d", cCode(err)) {
					t.Errorf("Go: %v; C: %s (want err %d)", err, got[0], cCode(err))
				}
				return
			}
			counts := probeCounts(&r)
			args := []string{mode, path, "", ""}
			for _, c := range counts {
				args = append(args, strconv.FormatUint(c, 10))
			}
			for _, id := range []struct {
				kind counter.Kind
				id   uint64
			}{{r.CounterKind, r.CounterIdentity}, {r.CounterKind, r.CounterIdentity ^ 1}, {r.CounterKind + 1, r.CounterIdentity}} {
				args[2], args[3] = strconv.Itoa(int(id.kind)), strconv.FormatUint(id.id, 10)
				got := runC(t, bin, args...)
				if len(got) != len(counts) {
					t.Fatalf("C printed %d lines for %d counts: %q", len(got), len(counts), got)
				}
				for i, c := range counts {
					n := r.Read(id.kind, counter.Reading{Count: c, Identity: id.id})
					applyFlags(&n, flags)
					want := goLine(n)
					if got[i] != want {
						t.Errorf("count %d (kind %d id %x):\n Go %s\n  C %s", c, id.kind, id.id, want, got[i])
					}
				}
			}
		})
	}
}

// TestCReaderLivePage publishes through the Go Writer and reads the mapped
// file with the C reader's seqlock loop (xrc_now): same nanosecond as the Go
// Page reader for the same counter values.
func TestCReaderLivePage(t *testing.T) {
	bin := buildCReader(t)
	path := filepath.Join(t.TempDir(), "clock")
	args := []string{"live", path, "3", "1", "5"}
	if got := runC(t, bin, args...); got[0] != "err -1" {
		t.Errorf("missing page: %q", got)
	}
	w, err := CreatePage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if got := runC(t, bin, args...); got[0] != "err -2" {
		t.Errorf("uninitialised page: %q", got)
	}
	r := slewedRecord(t)
	if err := w.Publish(&r); err != nil {
		t.Fatal(err)
	}
	p, err := OpenPage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	counts := probeCounts(&r)
	args = []string{"live", path, strconv.Itoa(int(r.CounterKind)), strconv.FormatUint(r.CounterIdentity, 10)}
	for _, c := range counts {
		args = append(args, strconv.FormatUint(c, 10))
	}
	got := runC(t, bin, args...)
	for i, c := range counts {
		n, err := p.Now(&fakeCounter{kind: r.CounterKind, count: c, id: r.CounterIdentity})
		if err != nil {
			t.Fatal(err)
		}
		if want := goLine(n); got[i] != want {
			t.Errorf("count %d:\n Go %s\n  C %s", c, want, got[i])
		}
	}
	os.Remove(path)
}

// TestPythonReader builds the ctypes shim (c/python/xrc_shim.c) and reads
// a live page from Python (c/python/xenradclock.py): the same status, time
// to the 2^-64 s and bounds as the Go reader at every probe count.
func TestPythonReader(t *testing.T) {
	gcc := testtool.Require(t, "gcc")
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: the ctypes reader cannot be checked here")
	}
	dir := t.TempDir()
	lib := filepath.Join(dir, "libxenradclock.so")
	if out, err := exec.Command(gcc, "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o", lib,
		filepath.Join("c", "python", "xrc_shim.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "clock")
	w, err := CreatePage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := slewedRecord(t)
	w.Publish(&r)
	p, err := OpenPage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	counts := probeCounts(&r)
	args := []string{filepath.Join("c", "python", "xenradclock.py"), lib, path,
		strconv.Itoa(int(r.CounterKind)), strconv.FormatUint(r.CounterIdentity, 10)}
	for _, c := range counts {
		args = append(args, strconv.FormatUint(c, 10))
	}
	out, err := exec.Command(py, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(got) != len(counts) {
		t.Fatalf("python printed %d lines for %d counts:\n%s", len(got), len(counts), out)
	}
	// A FIFO at the page path: refused at once, the error named.
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang, not a timing assertion
	defer cancel()
	probe := "import sys; sys.path.insert(0, sys.argv[1]); import xenradclock as x\n" +
		"try:\n x.Clock(sys.argv[3], sys.argv[2])\nexcept x.ClockError as e:\n print(e)"
	msg, err := exec.CommandContext(ctx, py, "-B", "-c", probe, filepath.Join("c", "python"), lib, fifo).CombinedOutput()
	if want := "xrc_open " + fifo + ": error -9 (not a regular file"; err != nil || !strings.HasPrefix(string(msg), want) {
		t.Errorf("python on a FIFO: %v %q (want %q...)", err, msg, want)
	}
	for i, c := range counts {
		n, err := p.Now(&fakeCounter{kind: r.CounterKind, count: c, id: r.CounterIdentity})
		if err != nil {
			t.Fatal(err)
		}
		if want := goLine(n); got[i] != want {
			t.Errorf("count %d:\n     Go %s\n Python %s", c, want, got[i])
		}
	}
	// The publisher's flags: mode and disruption flags reach Python; a
	// disrupted page reads "disrupted".
	flagsProbe := "import sys; sys.path.insert(0, sys.argv[1]); import xenradclock as x\n" +
		"with x.Clock(sys.argv[3], sys.argv[2]) as c:\n n = c.read(int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))\n" +
		" print(n.mode_name, n.disruption_imminent, n.disrupted, n.status_name)"
	for _, c := range []struct {
		f    PageFlags
		want string
	}{
		{PageFlags{Mode: ModeDependent, DisruptionImminent: true}, "dependent True False fresh"},
		{PageFlags{Mode: ModeDependent, Disrupted: true}, "dependent False True disrupted"},
		{PageFlags{Mode: ModeIndependent}, "independent False False fresh"},
	} {
		if err := w.PublishFlags(&r, c.f); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, "-B", "-c", flagsProbe, filepath.Join("c", "python"), lib, path, strconv.Itoa(int(r.CounterKind)),
			strconv.FormatUint(r.RefCount+1, 10), strconv.FormatUint(r.CounterIdentity, 10)).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != c.want {
			t.Errorf("python, flags %+v: %q %v, want %q", c.f, out, err, c.want)
		}
	}
}

// TestCReaderOpenNotRegular: xrc_open refuses a FIFO, a device and a
// directory with XRC_ERR_NOT_FILE (−9), without blocking on the FIFO.
func TestCReaderOpenNotRegular(t *testing.T) {
	bin := buildCReader(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, "/dev/null", dir} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang, not a timing assertion
		out, err := exec.CommandContext(ctx, bin, "live", path, "3", "1", "5").Output()
		cancel()
		if got := strings.TrimSpace(string(out)); err != nil || got != "err -9" {
			t.Errorf("%s: %q, %v (want err -9)", path, got, err)
		}
	}
}
