/* cbcheck-c: reads a ClockBound segment through ClockBound's C library
 * (libclockbound) and prints what an unmodified C client sees, in the same
 * format as cbcheck (the Rust one):
 *   earliest_ns=<i64> latest_ns=<i64> status=<Unknown|Synchronized|FreeRunning|Disrupted>
 * or "error kind=<n>" with exit 3.
 * Usage: cbcheck-c SEGMENT_PATH VMCLOCK_PATH */
#include <stdio.h>
#include <clockbound.h>

static long long ns(struct timespec t) { return (long long)t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(int argc, char **argv)
{
	static const char *names[] = {"Unknown", "Synchronized", "FreeRunning", "Disrupted"};
	clockbound_err err;
	clockbound_now_result now;
	if (argc != 3) {
		fprintf(stderr, "usage: cbcheck-c SEGMENT_PATH VMCLOCK_PATH\n");
		return 2;
	}
	clockbound_ctx *ctx = clockbound_vmclock_open(argv[1], argv[2], &err);
	if (!ctx) {
		printf("error kind=%d\n", err.kind);
		return 3;
	}
	const clockbound_err *e = clockbound_now(ctx, &now);
	if (e) {
		printf("error kind=%d\n", e->kind);
		return 3;
	}
	if (now.clock_status > CLOCKBOUND_STA_DISRUPTED) {
		printf("error status=%d\n", now.clock_status);
		return 3;
	}
	printf("earliest_ns=%lld latest_ns=%lld status=%s\n", ns(now.earliest), ns(now.latest), names[now.clock_status]);
	clockbound_close(ctx);
	return 0;
}
