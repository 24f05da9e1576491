// SPDX-License-Identifier: GPL-2.0
/*
 * xrst-read: read /dev/xen/systime, check the sample against the ABI and
 * print it, for the boot check of kernel-patches/.  Needs no privilege.
 *
 *   xrst-read           one sample via read(), checked against ioctl()
 *   xrst-read loop N    N reads: ns per read; system time must not go back
 *   xrst-read platform N  as uid 65534: N XRST_IOC_PLATFORM calls, platform
 *                       count and NOW() monotonic, NOW() inside the device's
 *                       system time read just before and after (1 ms slack)
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

static void print_pt(const struct xrst_platform *p)
{
	int i;

	printf("XRSTPT version=%" PRIu32 " kind=%" PRIu32 " platform_count=%"
	       PRIu64 " platform_hz=%" PRIu64 " system_time_ns=%" PRIu64
	       " guest_tsc=%" PRIu64 " incarnation=%" PRIu32 " flags=0x%"
	       PRIx32 " host_id=", p->version, p->kind, p->platform_count,
	       p->platform_hz, p->system_time_ns, p->guest_tsc,
	       p->incarnation, p->flags);
	for (i = 0; i < 16; i++)
		printf("%02x", p->host_id[i]);
}

/* XRST_IOC_PLATFORM as an unprivileged reader (uid/gid 65534). */
static int platform(long n)
{
	struct xrst_platform a, b;
	struct xrst_sample s0, s1;
	uint64_t t0, t1;
	long i;
	int fd;

	if (getuid() == 0 && (setgid(65534) || setuid(65534)))
		return fail("drop to uid 65534", errno);
	fd = open(XRST_DEVICE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("open " XRST_DEVICE_PATH, errno);
	if (ioctl(fd, XRST_IOC_READ, &s0))
		return fail("ioctl XRST_IOC_READ", errno);
	if (ioctl(fd, XRST_IOC_PLATFORM, &a)) {
		printf("XRSTPT uid=%d rc=-%d\n", (int)getuid(), errno);
		return 1;
	}
	if (ioctl(fd, XRST_IOC_READ, &s1))
		return fail("ioctl XRST_IOC_READ", errno);
	if (a.version != XENVER_PT_ABI_VERSION ||
	    a.system_time_ns + 1000000 < s0.system_time_ns ||
	    a.system_time_ns > s1.system_time_ns + 1000000) {
		fprintf(stderr, "xrst-read: NOW() %" PRIu64 " outside [%" PRIu64
			", %" PRIu64 "]\n", a.system_time_ns,
			s0.system_time_ns, s1.system_time_ns);
		return 1;
	}
	b = a;
	t0 = mono_ns();
	for (i = 0; i < n; i++) {
		struct xrst_platform c;

		if (ioctl(fd, XRST_IOC_PLATFORM, &c))
			return fail("ioctl XRST_IOC_PLATFORM", errno);
		if (c.platform_count < b.platform_count ||
		    c.system_time_ns < b.system_time_ns)
			return fail("platform count or NOW() went back", 0);
		b = c;
	}
	t1 = mono_ns();
	print_pt(&a);
	printf(" uid=%d calls=%ld ns_per_call=%" PRIu64
	       " count_delta=%" PRIu64 " now_delta_ns=%" PRIu64
	       " monotonic=yes bracket=ok\n", (int)getuid(), n,
	       n ? (t1 - t0) / n : 0, b.platform_count - a.platform_count,
	       b.system_time_ns - a.system_time_ns);
	return 0;
}

int main(int argc, char **argv)
{
	struct xrst_sample a, b;
	char big[64];
	int fd;

	if (argc > 2 && !strcmp(argv[1], "platform"))
		return platform(strtol(argv[2], NULL, 0));

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
