// SPDX-License-Identifier: GPL-2.0
/*
 * xenradclock-pt: call XENVER_platform_time through /dev/xen/privcmd, for
 * the boot check of kernel-patches/.  Root only (privcmd).
 *
 *   xenradclock-pt              one sample, as key=value
 *   xenradclock-pt loop N       N calls: ns per call, counts must not go back
 *   xenradclock-pt hammer SECS  call it in a loop for SECS seconds
 *   xenradclock-pt hammer-control SECS   the same with XENVER_version, as a
 *                               control of equal hypercall load
 *   xenradclock-pt clockcost N  ns per clock_gettime(CLOCK_MONOTONIC): the
 *                               per-read cost of the current clocksource
 *   xenradclock-pt calib SECS   one sample a second: system time against the
 *                               platform count (Xen's calibration residual)
 *   xenradclock-pt badversion   must fail with EINVAL
 *   xenradclock-pt deny DOMID   XEN_DOMCTL_set_platform_time allow=0
 *   xenradclock-pt allow DOMID  XEN_DOMCTL_set_platform_time allow=1
 *
 * Exit status 0 on success; 1 with a message naming errno otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "xenradclock_abi.h"

#define HYPERVISOR_xen_version 17
#define HYPERVISOR_domctl 36
#define XEN_DOMCTL_INTERFACE_VERSION 0x15 /* Xen 4.17 */
#define XEN_DOMCTL_set_platform_time 87

struct privcmd_hypercall {
	uint64_t op;
	uint64_t arg[5];
};

#define IOCTL_PRIVCMD_HYPERCALL \
	_IOC(_IOC_NONE, 'P', 0, sizeof(struct privcmd_hypercall))

/* struct xen_domctl: a 16-byte header and a 128-byte union. */
struct domctl {
	uint32_t cmd;
	uint32_t interface_version;
	uint16_t domain;
	uint16_t pad[3];
	union {
		struct {
			uint8_t allow;
			uint8_t pad[7];
		} platform_time;
		uint8_t raw[128];
	} u;
};

static int privcmd_fd = -1;

static long hypercall(uint64_t op, uint64_t a0, void *a1)
{
	struct privcmd_hypercall h = { .op = op, .arg = { a0, (uintptr_t)a1 } };

	return ioctl(privcmd_fd, IOCTL_PRIVCMD_HYPERCALL, &h);
}

static int platform_time(struct xenver_platform_time *pt, uint32_t version)
{
	memset(pt, 0, sizeof(*pt));
	pt->version = version;
	return hypercall(HYPERVISOR_xen_version, XENVER_platform_time, pt) ?
	       -errno : 0;
}

static const char *kind_name(uint32_t kind)
{
	static const char *const names[] = {
		"unknown", "hpet", "acpi_pm", "pit", "tsc", "other",
	};

	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "bad";
}

static void print_pt(const struct xenver_platform_time *pt)
{
	int i;

	printf("PT version=%" PRIu32 " kind=%" PRIu32 "(%s) platform_count=%"
	       PRIu64 " platform_hz=%" PRIu64 " system_time_ns=%" PRIu64
	       " guest_tsc=%" PRIu64 " incarnation=%" PRIu32 " flags=0x%"
	       PRIx32 " host_id=", pt->version, pt->kind, kind_name(pt->kind),
	       pt->platform_count, pt->platform_hz, pt->system_time_ns,
	       pt->guest_tsc, pt->incarnation, pt->flags);
	for (i = 0; i < 16; i++)
		printf("%02x", pt->host_id[i]);
	printf("\n");
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "xenradclock-pt: %s: %s (errno %d)\n", what,
		strerror(err), err);
	return 1;
}

static int cmd_loop(long n)
{
	struct xenver_platform_time pt, prev;
	uint64_t t0, t1;
	long i;
	int rc;

	rc = platform_time(&prev, 1);
	if (rc)
		return fail("XENVER_platform_time", -rc);
	t0 = mono_ns();
	for (i = 0; i < n; i++) {
		rc = platform_time(&pt, 1);
		if (rc)
			return fail("XENVER_platform_time", -rc);
		if (pt.platform_count < prev.platform_count ||
		    pt.system_time_ns < prev.system_time_ns) {
			fprintf(stderr, "xenradclock-pt: went back at call %ld: "
				"count %" PRIu64 " -> %" PRIu64 ", stime %"
				PRIu64 " -> %" PRIu64 "\n", i,
				prev.platform_count, pt.platform_count,
				prev.system_time_ns, pt.system_time_ns);
			return 1;
		}
		prev = pt;
	}
	t1 = mono_ns();
	printf("PT loop calls=%ld ns_per_call=%" PRIu64 " monotonic=yes\n", n,
	       n ? (t1 - t0) / n : 0);
	return 0;
}

static int cmd_hammer(long secs, int control)
{
	struct xenver_platform_time pt;
	uint64_t t0 = mono_ns(), end = t0 + secs * 1000000000ull, t;
	long n = 0;
	int rc;

	do {
		if (control)
			rc = hypercall(HYPERVISOR_xen_version, 0, NULL) < 0 ?
			     -errno : 0;
		else
			rc = platform_time(&pt, 1);
		if (rc)
			return fail(control ? "XENVER_version" :
				    "XENVER_platform_time", -rc);
		n++;
		t = mono_ns();
	} while (t < end);
	printf("PT hammer%s calls=%ld ns_per_call=%" PRIu64 "\n",
	       control ? "-control" : "", n, (t - t0) / n);
	return 0;
}

static int cmd_clockcost(long n)
{
	uint64_t t0, t1, prev = 0, now;
	long i;

	t0 = mono_ns();
	for (i = 0; i < n; i++) {
		now = mono_ns();
		if (now < prev) {
			fprintf(stderr, "xenradclock-pt: CLOCK_MONOTONIC went back\n");
			return 1;
		}
		prev = now;
	}
	t1 = mono_ns();
	printf("CLOCKCOST reads=%ld ns_per_read=%" PRIu64 "\n", n,
	       n ? (t1 - t0) / n : 0);
	return 0;
}

/*
 * Xen recalibrates each CPU's system time against the platform timer once a
 * second.  Compare, a second apart, the change of system_time_ns with the
 * change of the platform count scaled to ns: the difference is how far Xen
 * system time strays from the platform timer between calibrations.
 */
static int cmd_calib(long secs)
{
	struct xenver_platform_time a, b;
	double worst = 0, sum = 0;
	long i;
	int rc;

	rc = platform_time(&a, 1);
	if (rc)
		return fail("XENVER_platform_time", -rc);
	for (i = 0; i < secs; i++) {
		double dplat, dsys, res;

		sleep(1);
		rc = platform_time(&b, 1);
		if (rc)
			return fail("XENVER_platform_time", -rc);
		dplat = (double)(b.platform_count - a.platform_count) * 1e9 /
			(double)b.platform_hz;
		dsys = (double)(b.system_time_ns - a.system_time_ns);
		res = (dsys - dplat) / dplat * 1e6; /* ppm */
		if (res < 0)
			res = -res;
		sum += res;
		if (res > worst)
			worst = res;
		a = b;
	}
	printf("PT calib seconds=%ld mean_abs_ppm=%.3f max_abs_ppm=%.3f\n",
	       secs, secs ? sum / secs : 0, worst);
	return 0;
}

static int cmd_domctl(uint16_t domid, uint8_t allow)
{
	struct domctl *op;

	/* Xen copies a whole struct xen_domctl: give it a page. */
	op = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	if (op == MAP_FAILED)
		return fail("mmap", errno);
	memset(op, 0, 4096);
	op->cmd = XEN_DOMCTL_set_platform_time;
	op->interface_version = XEN_DOMCTL_INTERFACE_VERSION;
	op->domain = domid;
	op->u.platform_time.allow = allow;
	if (hypercall(HYPERVISOR_domctl, (uintptr_t)op, NULL))
		return fail("XEN_DOMCTL_set_platform_time", errno);
	printf("PT domctl domid=%u allow=%u ok\n", domid, allow);
	return 0;
}

int main(int argc, char **argv)
{
	struct xenver_platform_time pt;
	const char *cmd = argc > 1 ? argv[1] : "sample";
	int rc;

	if (!strcmp(cmd, "clockcost") && argc > 2)
		return cmd_clockcost(strtol(argv[2], NULL, 0));

	privcmd_fd = open("/dev/xen/privcmd", O_RDWR | O_CLOEXEC);
	if (privcmd_fd < 0)
		privcmd_fd = open("/proc/xen/privcmd", O_RDWR | O_CLOEXEC);
	if (privcmd_fd < 0)
		return fail("open privcmd", errno);

	if (!strcmp(cmd, "sample")) {
		rc = platform_time(&pt, 1);
		if (rc) {
			printf("PT rc=%d\n", rc);
			return fail("XENVER_platform_time", -rc);
		}
		print_pt(&pt);
		return 0;
	}
	if (!strcmp(cmd, "loop") && argc > 2)
		return cmd_loop(strtol(argv[2], NULL, 0));
	if (!strcmp(cmd, "hammer") && argc > 2)
		return cmd_hammer(strtol(argv[2], NULL, 0), 0);
	if (!strcmp(cmd, "hammer-control") && argc > 2)
		return cmd_hammer(strtol(argv[2], NULL, 0), 1);
	if (!strcmp(cmd, "calib") && argc > 2)
		return cmd_calib(strtol(argv[2], NULL, 0));
	if (!strcmp(cmd, "badversion")) {
		rc = platform_time(&pt, 2);
		printf("PT badversion rc=%d\n", rc);
		return rc == -EINVAL ? 0 : 1;
	}
	if (!strcmp(cmd, "status")) {
		/* rc only, for scripts: 0, -1 (EPERM), -38 (ENOSYS), ... */
		printf("PT rc=%d\n", platform_time(&pt, 1));
		return 0;
	}
	if ((!strcmp(cmd, "deny") || !strcmp(cmd, "allow")) && argc > 2)
		return cmd_domctl(strtoul(argv[2], NULL, 0),
				  !strcmp(cmd, "allow"));
	fprintf(stderr, "usage: xenradclock-pt [sample|status|loop N|hammer SECS|"
		"hammer-control SECS|"
		"clockcost N|calib SECS|"
		"badversion|deny DOMID|allow DOMID]\n");
	return 2;
}
