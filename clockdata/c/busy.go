//go:build linux && amd64 && cgo

package cclock

// A deterministic scenario for the C reader's busy-writer policy: the page
// is an in-memory image, and the policy's clock (XRC_BUSY_CLOCK_NS) is a
// fake one that also plays the writer. Every clock reading advances fake
// time by tick_ns and moves the seqlock to the next odd value; after
// `steps` moves the writer completes the update (generation + 1, seq even)
// unless it is a dead writer that never does.

/*
#cgo CFLAGS: -O2 -D_GNU_SOURCE -Wall -Werror
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int64_t busy_fake_clock(void);
#define XRC_BUSY_CLOCK_NS() busy_fake_clock()
#include "xenradclock_clock.h"

static struct {
	uint64_t page[XRC_PAGE_SIZE / 8];
	int64_t now, tick;
	int steps, moved, complete;
} busy;

static int64_t busy_fake_clock(void)
{
	uint64_t seq = xrc_le64(busy.page[2]);
	busy.now += busy.tick;
	if (seq & 1) {
		if (busy.moved < busy.steps) {
			busy.moved++;
			__atomic_store_n(&busy.page[2], xrc_le64(seq + 2), __ATOMIC_SEQ_CST);
		} else if (busy.complete) {
			busy.page[3] = xrc_le64(xrc_le64(busy.page[3]) + 1);
			__atomic_store_n(&busy.page[2], xrc_le64(seq + 1), __ATOMIC_SEQ_CST);
		}
	}
	return busy.now;
}

static int fixed_zero(void *arg, uint64_t *count, uint64_t *identity)
{
	const uint64_t *v = arg;
	*count = v[0];
	*identity = v[1];
	return 0;
}

// busy_run: image is a published page (seq even); the writer starts an
// update (seq + 1) and the reader reads with xrc_now.
static int busy_run(const uint8_t *image, uint16_t kind, uint64_t count, uint64_t identity, int steps,
		    int complete, int64_t tick, uint64_t *gen, int *moved, int64_t *elapsed)
{
	struct xrc_clock c = {busy.page, -1};
	struct xrc_now n;
	uint64_t ctr[2] = {count, identity};
	int err;
	memcpy(busy.page, image, XRC_PAGE_SIZE);
	busy.page[2] = xrc_le64(xrc_le64(busy.page[2]) + 1);
	busy.now = 0;
	busy.tick = tick;
	busy.steps = steps;
	busy.moved = 0;
	busy.complete = complete;
	memset(&n, 0, sizeof(n));
	err = xrc_now(&c, kind, fixed_zero, ctr, &n);
	*gen = n.generation;
	*moved = busy.moved;
	*elapsed = busy.now;
	return err;
}
*/
import "C"

import "time"

// BusyResult is what one busy scenario did.
type BusyResult struct {
	Code       int    // xrc_now's return value
	Generation uint64 // of the record read (0 on error)
	Moved      int    // seqlock moves the writer made
	Elapsed    time.Duration
}

// RunBusyScenario runs the C reader against a writer that holds the page
// image odd and moves it steps times, one move per reading of the policy's
// fake clock (each advancing tick), then completes the update when
// complete is set. image is a PageSize page with an even seqlock value.
// Not safe for concurrent use.
func RunBusyScenario(image []byte, kind uint16, count, identity uint64, steps int, complete bool, tick time.Duration) BusyResult {
	cb := C.CBytes(image)
	defer C.free(cb)
	var gen C.uint64_t
	var moved C.int
	var elapsed C.int64_t
	cpl := 0
	if complete {
		cpl = 1
	}
	code := C.busy_run((*C.uint8_t)(cb), C.uint16_t(kind), C.uint64_t(count), C.uint64_t(identity), C.int(steps),
		C.int(cpl), C.int64_t(tick), &gen, &moved, &elapsed)
	return BusyResult{Code: int(code), Generation: uint64(gen), Moved: int(moved), Elapsed: time.Duration(elapsed)}
}
