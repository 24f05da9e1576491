// SPDX-License-Identifier: GPL-2.0
/*
 * xrst-read: read /dev/xen/systime, check the sample against the ABI and
 * print it, for the boot check of kernel-patches/.  Needs no privilege.
 *
 *   xrst-read           one sample via read(), checked against ioctl()
 *   xrst-read loop N    N reads: ns per read; system time must not go back
 *
 * Exit status 0 when every check passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "xenradclock_abi.h"

static int fail(const char *what, int err)
{
	fprintf(stderr, "xrst-read: %s: %s (errno %d)\n", what,
		err ? strerror(err) : "check failed", err);
	return 1;
}

static int check(const struct xrst_sample *s)
{
	if (s->magic != XRST_MAGIC || s->version != XRST_VERSION ||
	    s->reserved != 0 || s->resume_gen == 0 || s->system_time_ns == 0) {
		fprintf(stderr, "xrst-read: bad sample magic=0x%08" PRIx32
			" version=%" PRIu32 " reserved=%" PRIu32 " gen=%"
			PRIu64 "\n", s->magic, s->version, s->reserved,
			s->resume_gen);
		return 1;
	}
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct xrst_sample a, b;
	char big[64];
	int fd;

	fd = open(XRST_DEVICE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("open " XRST_DEVICE_PATH, errno);

	if (argc > 2 && !strcmp(argv[1], "loop")) {
		long i, n = strtol(argv[2], NULL, 0);
		uint64_t t0, t1;

		if (read(fd, &a, sizeof(a)) != sizeof(a))
			return fail("read", errno);
		t0 = mono_ns();
		for (i = 0; i < n; i++) {
			if (read(fd, &b, sizeof(b)) != sizeof(b))
				return fail("read", errno);
			if (b.system_time_ns < a.system_time_ns &&
			    b.resume_gen == a.resume_gen) {
				fprintf(stderr, "xrst-read: went back: %" PRIu64
					" -> %" PRIu64 "\n", a.system_time_ns,
					b.system_time_ns);
				return 1;
			}
			a = b;
		}
		t1 = mono_ns();
		printf("XRST loop reads=%ld ns_per_read=%" PRIu64 "\n", n,
		       n ? (t1 - t0) / n : 0);
		return 0;
	}

	if (read(fd, &a, sizeof(a)) != sizeof(a))
		return fail("read", errno);
	if (check(&a))
		return 1;
	/* Any offset, and a larger buffer: still exactly one sample. */
	if (pread(fd, big, sizeof(big), 12345) != sizeof(struct xrst_sample))
		return fail("pread at offset 12345", errno);
	if (read(fd, big, sizeof(a) - 1) != -1 || errno != EINVAL)
		return fail("short read must fail with EINVAL", 0);
	if (write(fd, &a, sizeof(a)) != -1)
		return fail("write must fail", 0);
	if (ioctl(fd, XRST_IOC_READ, &b))
		return fail("ioctl XRST_IOC_READ", errno);
	if (check(&b) || b.resume_gen != a.resume_gen ||
	    b.system_time_ns < a.system_time_ns)
		return fail("ioctl sample inconsistent with read", 0);

	printf("XRST magic=0x%08" PRIx32 " version=%" PRIu32
	       " system_time_ns=%" PRIu64 " resume_gen=%" PRIu64
	       " flags=0x%" PRIx32 " checks=ok\n", a.magic, a.version,
	       a.system_time_ns, a.resume_gen, a.flags);
	return 0;
}
