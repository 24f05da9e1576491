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
 *   xenradclock-pt calibwatch SECS  Xen's calibration instants for SECS
 *                               seconds, from the pvclock record that the
 *                               test-only xrc_calibmon module exposes
 *   xenradclock-pt badversion   must fail with EINVAL
 *   xenradclock-pt deny DOMID   XEN_DOMCTL_set_platform_time allow=0
 *   xenradclock-pt allow DOMID  XEN_DOMCTL_set_platform_time allow=1
 *
 * Exit status 0 on success; 1 with a message naming errno otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Xen recalibrates each CPU's system time against the platform timer once a
 * second.  Compare, a second apart, the change of system_time_ns with the
 * change of the platform count scaled to ns: the difference is how far Xen
 * system time strays from the platform timer between calibrations.
 *
 * Under QEMU TCG the two readings inside one call can lie milliseconds
 * apart (the HPET read waits for QEMU's big lock, which a DomU hammering
 * the HPET holds often, or the QEMU thread is descheduled), so each end
 * point is the quickest of CALIB_TRIES calls, as NTP keeps the quickest
 * exchange: a quick call had no time to stall between its two readings.
 */
#define CALIB_TRIES 20

static int calib_sample(struct xenver_platform_time *best, uint64_t *best_ns)
{
	struct xenver_platform_time pt;
	uint64_t t0, t1;
	int i, rc;

	*best_ns = UINT64_MAX;
	for (i = 0; i < CALIB_TRIES; i++) {
		t0 = mono_ns();
		rc = platform_time(&pt, 1);
		t1 = mono_ns();
		if (rc)
			return rc;
		if (t1 - t0 < *best_ns) {
			*best_ns = t1 - t0;
			*best = pt;
		}
	}
	return 0;
}

static int cmd_calib(long secs)
{
	struct xenver_platform_time a, b;
	double worst = 0, sum = 0, res[64];
	uint64_t call_ns, worst_call = 0;
	long i;
	int rc;

	if (secs < 1 || secs > 64) {
		fprintf(stderr, "xenradclock-pt: calib: 1 to 64 seconds\n");
		return 2;
	}
	rc = calib_sample(&a, &call_ns);
	if (rc)
		return fail("XENVER_platform_time", -rc);
	for (i = 0; i < secs; i++) {
		double dplat, dsys;

		sleep(1);
		rc = calib_sample(&b, &call_ns);
		if (rc)
			return fail("XENVER_platform_time", -rc);
		if (call_ns > worst_call)
			worst_call = call_ns;
		dplat = (double)(b.platform_count - a.platform_count) * 1e9 /
			(double)b.platform_hz;
		dsys = (double)(b.system_time_ns - a.system_time_ns);
		res[i] = (dsys - dplat) / dplat * 1e6; /* ppm */
		if (res[i] < 0)
			res[i] = -res[i];
		sum += res[i];
		if (res[i] > worst)
			worst = res[i];
		a = b;
	}
	/* The median: one descheduled QEMU thread makes one wild sample. */
	qsort(res, secs, sizeof(res[0]), cmp_double);
	printf("PT calib seconds=%ld mean_abs_ppm=%.3f median_abs_ppm=%.3f "
	       "max_abs_ppm=%.3f slowest_best_call_us=%.1f\n", secs, sum / secs,
	       secs % 2 ? res[secs / 2] : (res[secs / 2 - 1] + res[secs / 2]) / 2,
	       worst, worst_call / 1e3);
	return 0;
}

/* A read of /dev/xrc_calibmon: tools/calibmon/xrc_calibmon.c. */
struct calibmon_rec {
	uint64_t system_time;
	uint64_t tsc_timestamp;
	uint64_t now_ns;
	uint32_t version;
	uint32_t tsc_to_system_mul;
	uint32_t cpu;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
};

#define CALIB_EPOCH_NS 1000000000ull	/* Xen's EPOCH */
#define CALIB_SAME_NS 250000000ull	/* stamps of one rendezvous */
#define CALIB_MAX_STAMPS 4096

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Every 10 ms, read this vCPU's pvclock record; each distinct system_time
 * is a calibration stamp of the physical CPU the vCPU ran on.  The stamps
 * of one rendezvous (one per physical CPU) lie within microseconds of each
 * other; rendezvous lie EPOCH apart plus however late the calibration timer
 * and the rendezvous ran.  Prints the intervals between rendezvous, in
 * Xen's time, and the longest gap between two of our own reads (a gap
 * longer than an interval could hide a calibration).
 */
static int cmd_calibwatch(long secs)
{
	static uint64_t stamps[CALIB_MAX_STAMPS];
	struct calibmon_rec r;
	uint64_t end, prev_now = 0, gap = 0, sum = 0, min = 0, max = 0;
	uint64_t last_stamp = 0, first;
	long samples = 0, nstamps = 0, ncal, nint = 0, late = 0, early = 0;
	long i;
	cpu_set_t set;
	int fd;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return fail("sched_setaffinity cpu 0", errno);
	fd = open("/dev/xrc_calibmon", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("open /dev/xrc_calibmon", errno);
	if (read(fd, &r, sizeof(r)) != sizeof(r))
		return fail("read /dev/xrc_calibmon", errno);
	end = r.now_ns + secs * 1000000000ull;
	do {
		if (read(fd, &r, sizeof(r)) != sizeof(r))
			return fail("read /dev/xrc_calibmon", errno);
		samples++;
		if (prev_now && r.now_ns - prev_now > gap)
			gap = r.now_ns - prev_now;
		prev_now = r.now_ns;
		/* The last one seen is the common case; others: search. */
		if (r.system_time != last_stamp) {
			for (i = 0; i < nstamps; i++)
				if (stamps[i] == r.system_time)
					break;
			if (i == nstamps) {
				if (nstamps == CALIB_MAX_STAMPS) {
					fprintf(stderr, "xenradclock-pt: more than %d "
						"stamps\n", CALIB_MAX_STAMPS);
					return 1;
				}
				stamps[nstamps++] = r.system_time;
			}
			last_stamp = r.system_time;
		}
		usleep(10000);
	} while (r.now_ns < end);
	close(fd);

	qsort(stamps, nstamps, sizeof(stamps[0]), cmp_u64);
	ncal = nstamps ? 1 : 0;
	first = nstamps ? stamps[0] : 0;
	for (i = 1; i < nstamps; i++) {
		uint64_t d = stamps[i] - first;

		if (d < CALIB_SAME_NS)
			continue;	/* another CPU, same rendezvous */
		ncal++;
		nint++;
		sum += d;
		if (!min || d < min)
			min = d;
		if (d > max)
			max = d;
		if (d > CALIB_EPOCH_NS * 3 / 2)
			late++;
		if (d < CALIB_EPOCH_NS * 9 / 10)
			early++;
		first = stamps[i];
	}
	printf("PT calibwatch seconds=%ld samples=%ld stamps=%ld "
	       "calibrations=%ld intervals=%ld mean_ms=%.1f min_ms=%.1f "
	       "max_ms=%.1f late=%ld early=%ld max_read_gap_ms=%.1f\n",
	       secs, samples, nstamps, ncal, nint,
	       nint ? sum / 1e6 / nint : 0.0, min / 1e6, max / 1e6, late,
	       early, gap / 1e6);
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
	if (!strcmp(cmd, "calibwatch") && argc > 2)
		return cmd_calibwatch(strtol(argv[2], NULL, 0));

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
		"clockcost N|calib SECS|calibwatch SECS|"
		"badversion|deny DOMID|allow DOMID]\n");
	return 2;
}
