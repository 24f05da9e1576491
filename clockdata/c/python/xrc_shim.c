/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xrc_shim.c: exported (non-inline) wrappers of xenradclock_clock.h, so
 * languages with a C FFI but no C compiler at run time (Python's ctypes)
 * can read the clock page. Build:
 *
 *   gcc -O2 -shared -fPIC -o libxenradclock.so xrc_shim.c
 *
 * One xrc_py handle holds a mapping and a caching reader; like xrc_reader
 * it belongs to one thread at a time.
 */
#include <stdlib.h>
#include "../xenradclock_clock.h"

struct xrc_py {
	struct xrc_clock clock;
	struct xrc_reader reader;
};

struct xrc_py *xrc_py_open(const char *path, int *err)
{
	struct xrc_py *p = calloc(1, sizeof(*p));
	if (!p) {
		*err = XRC_ERR_SYSCALL;
		return NULL;
	}
	*err = xrc_open(&p->clock, path);
	if (*err) {
		free(p);
		return NULL;
	}
	xrc_reader_init(&p->reader, &p->clock);
	return p;
}

void xrc_py_close(struct xrc_py *p)
{
	if (p) {
		xrc_close(&p->clock);
		free(p);
	}
}

struct fixed {
	uint64_t count, identity;
};

static int read_fixed(void *arg, uint64_t *count, uint64_t *identity)
{
	const struct fixed *f = arg;
	*count = f->count;
	*identity = f->identity;
	return 0;
}

/* Read with a counter value and identity the caller took itself. */
int xrc_py_read(struct xrc_py *p, uint16_t kind, uint64_t count, uint64_t identity, struct xrc_now *out)
{
	struct fixed f = {count, identity};
	return xrc_read(&p->reader, kind, read_fixed, &f, out);
}

#if defined(__x86_64__)
/* Read with the built-in RDTSC counter and the caller's timeline identity. */
int xrc_py_read_tsc(struct xrc_py *p, uint64_t identity, struct xrc_now *out)
{
	return xrc_read(&p->reader, XRC_COUNTER_TSC, xrc_rdtsc_counter, &identity, out);
}
#endif

unsigned long xrc_py_sizeof_now(void) { return sizeof(struct xrc_now); }
