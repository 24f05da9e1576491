/* cb_reader: a C reader of ClockBound's shared memory segment, protocol
 * version 2, written from ClockBound's published layout (not from this
 * project's Go code), for TestCReader.
 *
 *   cb_reader SEGMENT REALTIME_NS COARSE_NS
 *
 * Maps the segment, copies the body between two equal even generation loads
 * and prints, on one line:
 *   generation as_of_ns void_after_ns bound_ns marker max_drift_ppb status
 *   earliest_ns latest_ns aged_status
 * where earliest/latest/aged_status are what a ClockBound client computes at
 * the given CLOCK_REALTIME and CLOCK_MONOTONIC_COARSE instants (bound grown
 * by max_drift, rounded up). Exit 1 on a segment it refuses, with a reason
 * on stderr. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct cb_header {
	uint32_t magic[2];
	uint32_t segsize;
	uint16_t version;
	uint16_t generation;
};

struct cb_body {
	struct timespec as_of;
	struct timespec void_after;
	int64_t bound_nsec;
	uint64_t disruption_marker;
	uint32_t max_drift_ppb;
	int32_t clock_status;
	uint8_t clock_disruption_support_enabled;
	uint8_t padding[7];
};

_Static_assert(sizeof(struct cb_header) == 16, "header");
_Static_assert(sizeof(struct cb_body) == 64, "body");

static int64_t ns_of(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

static int fail(const char *why)
{
	fprintf(stderr, "cb_reader: %s\n", why);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return fail("usage: cb_reader SEGMENT REALTIME_NS COARSE_NS");
	int64_t real = strtoll(argv[2], NULL, 10), coarse = strtoll(argv[3], NULL, 10);
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		return fail("open");
	unsigned char *seg = mmap(NULL, 80, PROT_READ, MAP_SHARED, fd, 0);
	if (seg == MAP_FAILED)
		return fail("mmap");
	struct cb_header *h = (struct cb_header *)seg;
	const struct cb_body *live = (const struct cb_body *)(seg + sizeof *h);
	if (h->magic[0] != 0x414D5A4E || h->magic[1] != 0x43420200)
		return fail("magic");
	if (__atomic_load_n(&h->version, __ATOMIC_ACQUIRE) != 2)
		return fail("version");
	if (h->segsize < sizeof(struct cb_header) + sizeof(struct cb_body))
		return fail("segment size");
	struct cb_body b;
	uint16_t g1, g2;
	for (int tries = 0;; tries++) {
		if (tries > 1000000)
			return fail("writer busy");
		g1 = __atomic_load_n(&h->generation, __ATOMIC_ACQUIRE);
		if (g1 == 0)
			return fail("not initialized");
		if (g1 & 1)
			continue;
		memcpy(&b, live, sizeof b);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		g2 = __atomic_load_n(&h->generation, __ATOMIC_ACQUIRE);
		if (g1 == g2)
			break;
	}
	if (b.max_drift_ppb >= 1000000000)
		return fail("max drift");
	int64_t as_of = ns_of(b.as_of), void_after = ns_of(b.void_after);
	int32_t aged = b.clock_status;
	if (aged == 1 || aged == 2) {
		if (coarse < as_of + 5000000000LL)
			;
		else if (coarse < void_after)
			aged = 2;
		else
			aged = 0;
	}
	int64_t age = 0;
	if (coarse >= as_of)
		age = coarse - as_of;
	else if (coarse <= as_of - 1000)
		return fail("causality breach");
	unsigned __int128 grow = ((unsigned __int128)age * b.max_drift_ppb + 999999999) / 1000000000;
	int64_t bound = b.bound_nsec + (int64_t)grow;
	printf("%u %lld %lld %lld %llu %u %d %lld %lld %d\n", g1, (long long)as_of, (long long)void_after,
	       (long long)b.bound_nsec, (unsigned long long)b.disruption_marker, b.max_drift_ppb, b.clock_status,
	       (long long)(real - bound), (long long)(real + bound), aged);
	return 0;
}
