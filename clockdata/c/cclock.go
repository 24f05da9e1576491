//go:build linux && amd64 && cgo

// Package cclock exposes the header-only C reader (xenradclock_clock.h) to Go
// for benchmarks and cross-checks. It is the only cgo in clockdata: the
// clockdata package itself stays pure Go.
//
// The benchmark loops run inside C, so a measurement is the C reader's cost
// and not cgo's call overhead.
package cclock

/*
#cgo CFLAGS: -O2 -D_GNU_SOURCE -Wall -Werror
#include <stdlib.h>
#include "xenradclock_clock.h"

static int bench_now_tsc(const struct xrc_clock *c, uint64_t identity, uint64_t n, struct xrc_now *last)
{
	int err = 0;
	struct xrc_reader rd;
	xrc_reader_init(&rd, c);
	for (uint64_t i = 0; i < n; i++) {
		err = xrc_read(&rd, XRC_COUNTER_TSC, xrc_rdtsc_counter, &identity, last);
		if (err)
			break;
	}
	return err;
}

static int64_t bench_clock_gettime(uint64_t n)
{
	struct timespec ts = {0, 0};
	int64_t sum = 0;
	for (uint64_t i = 0; i < n; i++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		sum += ts.tv_nsec;
	}
	return sum;
}

static uint64_t bench_rdtsc(uint64_t n)
{
	uint64_t id = 0, c = 0, id2 = 0, sum = 0;
	for (uint64_t i = 0; i < n; i++) {
		xrc_rdtsc_counter(&id, &c, &id2);
		sum += c;
	}
	return sum;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Clock is a page mapped by the C reader.
type Clock struct{ c C.struct_xrc_clock }

// Open maps the page at path with xrc_open.
func Open(path string) (*Clock, error) {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	var k Clock
	if err := C.xrc_open(&k.c, cs); err != 0 {
		return nil, fmt.Errorf("xrc_open %s: error %d", path, int(err))
	}
	return &k, nil
}

// Close unmaps the page.
func (k *Clock) Close() { C.xrc_close(&k.c) }

// Result is one C read, in Go types.
type Result struct {
	Status     int
	Count      uint64
	Sec        int64
	Frac       uint64
	MaxErrorNs uint64
}

// BenchNowTSC runs n reads of xrc_now with the built-in RDTSC reader and
// the given timeline identity, and returns the last one.
func (k *Clock) BenchNowTSC(identity uint64, n int) (Result, error) {
	var last C.struct_xrc_now
	if err := C.bench_now_tsc(&k.c, C.uint64_t(identity), C.uint64_t(n), &last); err != 0 {
		return Result{}, fmt.Errorf("xrc_now: error %d", int(err))
	}
	return Result{Status: int(last.status), Count: uint64(last.count), Sec: int64(last.time.sec),
		Frac: uint64(last.time.frac), MaxErrorNs: uint64(last.max_error_ns)}, nil
}

// BenchClockGettime runs n clock_gettime(CLOCK_REALTIME) calls in C.
func BenchClockGettime(n int) int64 { return int64(C.bench_clock_gettime(C.uint64_t(n))) }

// BenchRDTSC runs n reads of the built-in LFENCE;RDTSC counter in C.
func BenchRDTSC(n int) uint64 { return uint64(C.bench_rdtsc(C.uint64_t(n))) }
