/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xenradclock_clock.h: header-only C reader of the xenradclock clock page.
 *
 * Why: dom0d (in Xen's Dom0) and domu-agent (in each guest) publish the host's
 * feed-forward clock as a 4096-byte page file, by default
 * /run/xenradclock/clock. A process composes the clock itself from that page
 * and a raw counter read: no daemon round trip, no system call on the hot
 * path. Only this stateless read migrates with a guest: after a live
 * migration the page describes the new host and the counter reads the new
 * host's counter, so the time is the new host's clock with no "migration
 * shock". A migration can land between the page read and the counter read;
 * the counter read therefore returns, with the count, the identity of its
 * timeline, and the reader compares it with the page's inside the same
 * seqlock loop: a mismatch gives XRC_DISRUPTED and no time.
 *
 * The page is little-endian with fixed offsets (docs/clockdata.md, the
 * XRC_OFF_* constants below); the Go package clockdata is the writer and a Go
 * test checks that this reader returns the same time, to the 2^-64 s, for the
 * same page and counter value.
 *
 * Seqlock: the u64 at offset 16 is 0 while the page was never published, odd
 * while the writer updates it, even otherwise (it skips 0 on wrap). Readers
 * load it (acquire), copy the record, read the counter, load it again and
 * retry unless both loads are equal, even and non-zero. Policy on a busy
 * writer: spin XRC_BUSY_SPINS times, then retry (yielding) until one odd
 * seqlock value has lasted XRC_BUSY_DEADLINE_NS of CLOCK_MONOTONIC, then
 * return XRC_ERR_BUSY. Every new odd value (the writer finished an update and
 * began the next) restarts the spins and the deadline, so a live writer is
 * never taken for a dead one. Readers never write the page and never block
 * the writer.
 *
 * Thread safety: an xrc_clock is read-only after xrc_open; any number of
 * threads may call xrc_now on one xrc_clock at once. An xrc_reader caches the
 * decoded record for fast repeated reads and belongs to one thread.
 *
 * Time: an xrc_time is sec + frac·2^-64 seconds since the UNIX epoch, UTC
 * (leap seconds applied as POSIX does: a positive leap steps the clock back
 * one second at the published counter value). Arithmetic is fixed point with
 * xrc_u128 (GCC, Clang); no floating point.
 */
#ifndef XENRADCLOCK_CLOCK_H
#define XENRADCLOCK_CLOCK_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The page is little-endian; GCC and Clang predefine the host order. */
static inline uint64_t xrc_le64(uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(v);
#else
	return v;
#endif
}

/* 128-bit products; __extension__ keeps -pedantic builds quiet. */
__extension__ typedef unsigned __int128 xrc_u128;

#define XRC_MAGIC 0x4B435258u /* bytes "XRCK" */
#define XRC_VERSION 1
#define XRC_PAGE_SIZE 4096
#define XRC_RECORD_SIZE 248 /* version 1 with the flags word; the page's size field */
#define XRC_MIN_RECORD_SIZE 240 /* first version 1 pages: no flags word (flags read as 0) */
#define XRC_DEFAULT_PATH "/run/xenradclock/clock"
#define XRC_BUSY_SPINS 1000
#define XRC_BUSY_DEADLINE_NS 100000000LL /* 100 ms */
#define XRC_TEXT_MAX 2048 /* Xenstore node quota */

/* Byte offsets (docs/clockdata.md). Constant fields first. */
#define XRC_OFF_MAGIC 0                /* u32 XRC_MAGIC */
#define XRC_OFF_SIZE 4                 /* u32 bytes of record written */
#define XRC_OFF_VERSION 8              /* u16 XRC_VERSION; 10..15 reserved, 0 */
#define XRC_OFF_SEQ 16                 /* u64 seqlock */
/* Fields protected by the seqlock. */
#define XRC_OFF_GENERATION 24          /* u64 +1 per update */
#define XRC_OFF_DISRUPTION_MARKER 32   /* u64 never repeats */
#define XRC_OFF_HOST_ID 40             /* u8[16] */
#define XRC_OFF_COUNTER_KIND 56        /* u16 */
#define XRC_OFF_PERIOD_SHIFT 58        /* u8 */
#define XRC_OFF_RAW_PERIOD_SHIFT 59    /* u8 */
#define XRC_OFF_LOCAL_PERIOD_SHIFT 60  /* u8 */
#define XRC_OFF_CLOCK_STATE 61         /* u8 */
#define XRC_OFF_LEAP_NEXT 62           /* s8 -1, 0, +1; 63 reserved */
#define XRC_OFF_TAI_OFFSET 64          /* s16 TAI-UTC, s; 66..67 reserved */
#define XRC_OFF_STATUS 68              /* u32 estimator status bits */
#define XRC_OFF_COUNTER_HZ 72          /* u64 nominal Hz */
#define XRC_OFF_COUNTER_IDENTITY 80    /* u64 */
#define XRC_OFF_REF_COUNT 88           /* u64 */
#define XRC_OFF_REF_TIME_SEC 96        /* s64 */
#define XRC_OFF_REF_TIME_FRAC 104      /* u64 2^-64 s */
#define XRC_OFF_PERIOD_FRAC 112        /* u64 2^-(64+shift) s/tick */
#define XRC_OFF_SLEW_END_COUNT 120     /* u64 */
#define XRC_OFF_SLEW_END_TIME_SEC 128  /* s64 */
#define XRC_OFF_SLEW_END_TIME_FRAC 136 /* u64 */
#define XRC_OFF_RAW_PERIOD_FRAC 144    /* u64 */
#define XRC_OFF_RAW_REF_TIME_SEC 152   /* s64 */
#define XRC_OFF_RAW_REF_TIME_FRAC 160  /* u64 */
#define XRC_OFF_LOCAL_PERIOD_FRAC 168  /* u64 */
#define XRC_OFF_ERROR_BOUND_NS 176     /* u64 */
#define XRC_OFF_MAX_ERROR_NS 184       /* u64 */
#define XRC_OFF_RATE_ERROR_PS 192      /* u32 ps/s */
#define XRC_OFF_ERROR_GROWTH_PS 196    /* u32 ps/s */
#define XRC_OFF_MAX_ERROR_GROWTH_PS 200 /* u32 ps/s; 204..207 reserved */
#define XRC_OFF_NEXT_EXPECTED_COUNT 208 /* u64 */
#define XRC_OFF_VOID_AFTER_COUNT 216   /* u64 */
#define XRC_OFF_POLL_NS 224            /* u64 */
#define XRC_OFF_LEAP_AT_COUNT 232      /* u64 */
#define XRC_OFF_MODE 240               /* u8 XRC_MODE_*; only when size >= 248 */
#define XRC_OFF_PAGE_FLAGS 241         /* u8 XRC_FLAG_*; 242..247 reserved, 0 */

/* Publisher modes (clockdata.Mode). */
#define XRC_MODE_HOST 0        /* dom0d: the host's own clock */
#define XRC_MODE_DEPENDENT 1   /* guest agent: Dom0's record on the shared counter */
#define XRC_MODE_INDEPENDENT 2 /* guest agent: its own NTP and estimator */

/* Page flags (clockdata.Flag*). */
#define XRC_FLAG_DISRUPTION_IMMINENT 0x01 /* suspend/migration announced; time still served */
#define XRC_FLAG_DISRUPTED 0x02           /* the record does not apply: reads give XRC_DISRUPTED */

/* Counter kinds (counter.Kind in Go). */
#define XRC_COUNTER_XEN_SYSTEM 1
#define XRC_COUNTER_XEN_PLATFORM 2
#define XRC_COUNTER_TSC 3
#define XRC_COUNTER_MONOTONIC_RAW 4
#define XRC_COUNTER_HPET 5
#define XRC_COUNTER_SIMULATED 6

/* Clock states (clockdata.ClockState). */
#define XRC_STATE_UNKNOWN 0
#define XRC_STATE_UNSYNCHRONISED 1
#define XRC_STATE_WARM_UP 2
#define XRC_STATE_SYNCHRONISED 3
#define XRC_STATE_FREE_RUNNING 4
#define XRC_STATE_STARVING 5
#define XRC_STATE_SERVER_FAULT 6

/* Read status (clockdata.ReadStatus): how far a read may be trusted. */
enum xrc_status {
	XRC_INVALID = 0,          /* no read happened */
	XRC_FRESH = 1,            /* before the next expected update */
	XRC_LATE = 2,             /* update overdue; still valid, bounds grown */
	XRC_VOID = 3,             /* past the validity horizon: do not trust */
	XRC_COUNTER_MISMATCH = 4, /* counter of another kind: no time */
	XRC_DISRUPTED = 5,        /* counter of another timeline (migration): no time */
};

/* Errors (negative return values). */
enum xrc_error {
	XRC_OK = 0,
	XRC_ERR_SYSCALL = -1,       /* open/fstat/mmap failed: see errno */
	XRC_ERR_UNINITIALISED = -2, /* never published (seq 0 or blank header) */
	XRC_ERR_MAGIC = -3,         /* not a clock page */
	XRC_ERR_VERSION = -4,       /* unsupported version */
	XRC_ERR_SIZE = -5,          /* truncated or oversized */
	XRC_ERR_BUSY = -6,          /* writer busy past the deadline */
	XRC_ERR_INVALID = -7,       /* impossible values or text syntax */
	XRC_ERR_COUNTER = -8,       /* the counter read function failed */
	XRC_ERR_NOT_FILE = -9,      /* the path is a FIFO, device or directory */
};

struct xrc_time {
	int64_t sec;
	uint64_t frac; /* 2^-64 s */
};

struct xrc_period {
	uint64_t frac; /* 2^-(64+shift) s per tick, >= 2^63 */
	uint8_t shift;
};

/* A decoded record; field meanings as in docs/clockdata.md. */
struct xrc_record {
	uint16_t version;
	uint64_t generation, disruption_marker;
	uint8_t host_id[16];
	uint16_t counter_kind;
	uint8_t clock_state;
	int8_t leap_next;
	int16_t tai_offset_sec;
	uint32_t status;
	uint64_t counter_hz, counter_identity;
	uint64_t ref_count;
	struct xrc_time ref_time;
	struct xrc_period period;
	uint64_t slew_end_count;
	struct xrc_time slew_end_time;
	struct xrc_period raw_period;
	struct xrc_time raw_ref_time;
	struct xrc_period local_period;
	uint64_t error_bound_ns, max_error_ns;
	uint32_t rate_error_ps, error_growth_ps, max_error_growth_ps;
	uint64_t next_expected_count, void_after_count, poll_ns, leap_at_count;
	uint8_t mode, page_flags; /* the page publisher's; 0 outside a page */
};

/* One read of the clock. */
struct xrc_now {
	enum xrc_status status;
	uint8_t clock_state;
	uint64_t count;
	struct xrc_time time, earliest, latest; /* zero unless status is FRESH, LATE or VOID */
	uint64_t error_bound_ns, max_error_ns;
	uint64_t generation;
	uint8_t mode, page_flags; /* the page publisher's (XRC_MODE_*, XRC_FLAG_*) */
};

/* Reads the counter: the count and the identity of its timeline, taken in
 * one operation. Returns 0 on success. */
typedef int (*xrc_counter_fn)(void *arg, uint64_t *count, uint64_t *identity);

/* An open page. */
struct xrc_clock {
	const uint64_t *words; /* the mapping, 8-byte aligned */
	int fd;
};

#define XRC_WORDS (XRC_RECORD_SIZE / 8)

/* ---- fixed-point helpers ---- */

static inline struct xrc_time xrc_add(struct xrc_time a, struct xrc_time b)
{
	struct xrc_time r;
	r.frac = a.frac + b.frac;
	r.sec = (int64_t)((uint64_t)a.sec + (uint64_t)b.sec + (r.frac < a.frac));
	return r;
}

static inline struct xrc_time xrc_neg(struct xrc_time a)
{
	struct xrc_time r;
	r.frac = 0 - a.frac;
	r.sec = (int64_t)(0 - (uint64_t)a.sec - (a.frac != 0));
	return r;
}

static inline struct xrc_time xrc_sub(struct xrc_time a, struct xrc_time b) { return xrc_add(a, xrc_neg(b)); }

/* period·ticks: the exact 128-bit product shifted to 2^-64 s, truncated. */
static inline struct xrc_time xrc_mul(struct xrc_period p, uint64_t ticks)
{
	xrc_u128 x = (xrc_u128)p.frac * ticks;
	struct xrc_time r;
	x >>= p.shift; /* shift <= 63 in a valid record */
	r.sec = (int64_t)(uint64_t)(x >> 64);
	r.frac = (uint64_t)x;
	return r;
}

/* period·d with d a wrapping counter difference read as signed. */
static inline struct xrc_time xrc_mul_signed(struct xrc_period p, uint64_t d)
{
	if ((int64_t)d >= 0)
		return xrc_mul(p, d);
	return xrc_neg(xrc_mul(p, 0 - d));
}

/* Nanoseconds of a non-negative time, rounded to nearest, saturating. */
static inline uint64_t xrc_to_ns(struct xrc_time t)
{
	xrc_u128 x = (xrc_u128)t.frac * 1000000000u;
	uint64_t ns = (uint64_t)(x >> 64) + (((uint64_t)x >> 63) & 1);
	if (t.sec < 0)
		return 0;
	if (t.sec >= INT64_MAX / 1000000000 - 1)
		return INT64_MAX;
	return (uint64_t)t.sec * 1000000000u + ns;
}

/* ns as a time, the fraction rounded down (so xrc_ceil_ns gives ns back). */
static inline struct xrc_time xrc_ns_time(uint64_t ns)
{
	struct xrc_time r;
	r.sec = (int64_t)(ns / 1000000000u);
	r.frac = (uint64_t)(((xrc_u128)(ns % 1000000000u) << 64) / 1000000000u);
	return r;
}

/* A non-negative time in ns, rounded up, saturating. */
static inline uint64_t xrc_ceil_ns(struct xrc_time t)
{
	xrc_u128 x = (xrc_u128)t.frac * 1000000000u;
	if (t.sec < 0)
		return 0;
	if (t.sec >= INT64_MAX / 1000000000 - 1)
		return INT64_MAX;
	return (uint64_t)t.sec * 1000000000u + (uint64_t)(x >> 64) + ((uint64_t)x != 0);
}

/* Growth rate ps/s as a 2^-64 s fraction per second, rounded up. */
static inline uint64_t xrc_grow_q(uint32_t rate_ps)
{
	xrc_u128 x = (xrc_u128)rate_ps << 64;
	return (uint64_t)(x / 1000000000000ull) + (x % 1000000000000ull != 0);
}

/* base + age·q·2^-64, rounded up to the next 2^-64 s when inexact. */
static inline struct xrc_time xrc_grown(struct xrc_time base, struct xrc_time age, uint64_t q)
{
	xrc_u128 s = (xrc_u128)(uint64_t)age.sec * q;
	xrc_u128 f = (xrc_u128)age.frac * q;
	xrc_u128 sum = (s & UINT64_MAX) + (f >> 64) + ((uint64_t)f != 0);
	struct xrc_time g;
	g.frac = (uint64_t)sum;
	g.sec = (int64_t)((uint64_t)(s >> 64) + (uint64_t)(sum >> 64));
	return xrc_add(base, g);
}

/* Per-record constants of the read path (computed once per record). */
struct xrc_derived {
	struct xrc_time max_err_base, err_base;
	uint64_t max_grow_q, err_grow_q;
};

/* ---- the read function ---- */

/* Ca(T): the absolute clock at counter value T. */
static inline struct xrc_time xrc_absolute(const struct xrc_record *r, uint64_t T)
{
	struct xrc_time t;
	if ((int64_t)(T - r->slew_end_count) < 0)
		t = xrc_add(r->ref_time, xrc_mul_signed(r->period, T - r->ref_count));
	else
		t = xrc_add(r->slew_end_time, xrc_mul_signed(r->raw_period, T - r->slew_end_count));
	if (r->leap_next != 0 && (int64_t)(T - r->leap_at_count) >= 0)
		t.sec -= r->leap_next;
	return t;
}

/* Cd: the time between two counter values of one timeline. */
static inline struct xrc_time xrc_difference(const struct xrc_record *r, uint64_t T1, uint64_t T2)
{
	return xrc_mul_signed(r->raw_period, T2 - T1);
}

static inline void xrc_derive(const struct xrc_record *r, struct xrc_derived *d)
{
	d->max_err_base = xrc_ns_time(r->max_error_ns);
	d->err_base = xrc_ns_time(r->error_bound_ns);
	d->max_grow_q = xrc_grow_q(r->max_error_growth_ps);
	d->err_grow_q = xrc_grow_q(r->error_growth_ps);
}

/* |T - ref_count| on the raw period. */
static inline struct xrc_time xrc_age(const struct xrc_record *r, uint64_t T)
{
	uint64_t d = T - r->ref_count;
	if ((int64_t)d < 0)
		d = 0 - d;
	return xrc_mul(r->raw_period, d);
}

/* The guaranteed error bound at T, ns, rounded up. */
static inline uint64_t xrc_max_error_at(const struct xrc_record *r, uint64_t T)
{
	struct xrc_derived d;
	xrc_derive(r, &d);
	return xrc_ceil_ns(xrc_grown(d.max_err_base, xrc_age(r, T), d.max_grow_q));
}

/* Evaluate a record at one counter reading of the given kind; d is
 * xrc_derive(r). Multiplications only. */
static inline void xrc_evaluate(const struct xrc_record *r, const struct xrc_derived *d, uint16_t kind,
				uint64_t count, uint64_t identity, struct xrc_now *n)
{
	struct xrc_time e, age;
	memset(n, 0, sizeof(*n));
	n->clock_state = r->clock_state;
	n->count = count;
	n->generation = r->generation;
	n->mode = r->mode;
	n->page_flags = r->page_flags;
	if (r->page_flags & XRC_FLAG_DISRUPTED) {
		n->status = XRC_DISRUPTED;
		return;
	}
	if (kind != r->counter_kind) {
		n->status = XRC_COUNTER_MISMATCH;
		return;
	}
	if (identity != r->counter_identity) {
		n->status = XRC_DISRUPTED;
		return;
	}
	if ((int64_t)(count - r->void_after_count) > 0)
		n->status = XRC_VOID;
	else if (r->next_expected_count != 0 && (int64_t)(count - r->next_expected_count) > 0)
		n->status = XRC_LATE;
	else
		n->status = XRC_FRESH;
	n->time = xrc_absolute(r, count);
	age = xrc_age(r, count);
	e = xrc_grown(d->max_err_base, age, d->max_grow_q);
	n->max_error_ns = xrc_ceil_ns(e);
	n->error_bound_ns = xrc_ceil_ns(xrc_grown(d->err_base, age, d->err_grow_q));
	n->earliest = xrc_sub(n->time, e);
	n->latest = xrc_add(n->time, e);
}

/* ---- decoding ---- */

/* Check the constant header words (little-endian values). */
static inline int xrc_check_header(uint64_t w0, uint64_t w1, size_t avail)
{
	uint32_t magic = (uint32_t)w0, size = (uint32_t)(w0 >> 32);
	if (magic != XRC_MAGIC)
		return (w0 == 0 && w1 == 0) ? XRC_ERR_UNINITIALISED : XRC_ERR_MAGIC;
	if ((uint16_t)w1 != XRC_VERSION)
		return XRC_ERR_VERSION;
	if (w1 >> 16)
		return XRC_ERR_INVALID;
	if (size < XRC_MIN_RECORD_SIZE || size > XRC_PAGE_SIZE || size > avail)
		return XRC_ERR_SIZE;
	return XRC_OK;
}

static inline int xrc_period_ok(struct xrc_period p, uint64_t hz)
{
	/* Normalised, shift <= 62, and frac·hz within 2^(64+shift)·(1 ± 1/100)
	 * (the 1/100 truncated), exactly as the Go decoder checks it. frac·hz
	 * < 2^101 (hz <= 100 GHz is checked first). */
	xrc_u128 prod, one;
	if (p.frac < (1ull << 63) || p.shift > 62)
		return 0;
	prod = (xrc_u128)p.frac * hz;
	one = (xrc_u128)1 << (64 + p.shift);
	return prod >= one - one / 100 && prod <= one + one / 100;
}

/* Decode the record from the page's first XRC_WORDS little-endian words (as
 * values: on a big-endian host, after le64toh) and check what the read
 * relies on. */
static inline int xrc_decode_words(const uint64_t *w, struct xrc_record *r)
{
	int i;
	struct xrc_time want;
	/* The flags word exists only when the size field covers it. */
	uint64_t fw = (uint32_t)(w[0] >> 32) >= XRC_RECORD_SIZE ? w[30] : 0;
	memset(r, 0, sizeof(*r));
	if ((w[7] >> 56) || ((w[8] >> 16) & 0xffff) || (w[25] >> 32))
		return XRC_ERR_INVALID;
	if ((fw >> 16) || ((fw >> 8) & ~(uint64_t)(XRC_FLAG_DISRUPTION_IMMINENT | XRC_FLAG_DISRUPTED)) ||
	    (uint8_t)fw > XRC_MODE_INDEPENDENT)
		return XRC_ERR_INVALID;
	r->mode = (uint8_t)fw;
	r->page_flags = (uint8_t)(fw >> 8);
	r->version = (uint16_t)w[1];
	r->generation = w[3];
	r->disruption_marker = w[4];
	for (i = 0; i < 8; i++) {
		r->host_id[i] = (uint8_t)(w[5] >> (8 * i));
		r->host_id[8 + i] = (uint8_t)(w[6] >> (8 * i));
	}
	r->counter_kind = (uint16_t)w[7];
	r->period.shift = (uint8_t)(w[7] >> 16);
	r->raw_period.shift = (uint8_t)(w[7] >> 24);
	r->local_period.shift = (uint8_t)(w[7] >> 32);
	r->clock_state = (uint8_t)(w[7] >> 40);
	r->leap_next = (int8_t)(uint8_t)(w[7] >> 48);
	r->tai_offset_sec = (int16_t)(uint16_t)w[8];
	r->status = (uint32_t)(w[8] >> 32);
	r->counter_hz = w[9];
	r->counter_identity = w[10];
	r->ref_count = w[11];
	r->ref_time.sec = (int64_t)w[12];
	r->ref_time.frac = w[13];
	r->period.frac = w[14];
	r->slew_end_count = w[15];
	r->slew_end_time.sec = (int64_t)w[16];
	r->slew_end_time.frac = w[17];
	r->raw_period.frac = w[18];
	r->raw_ref_time.sec = (int64_t)w[19];
	r->raw_ref_time.frac = w[20];
	r->local_period.frac = w[21];
	r->error_bound_ns = w[22];
	r->max_error_ns = w[23];
	r->rate_error_ps = (uint32_t)w[24];
	r->error_growth_ps = (uint32_t)(w[24] >> 32);
	r->max_error_growth_ps = (uint32_t)w[25];
	r->next_expected_count = w[26];
	r->void_after_count = w[27];
	r->poll_ns = w[28];
	r->leap_at_count = w[29];

	if (r->version != XRC_VERSION)
		return XRC_ERR_VERSION;
	if (r->generation == 0 || r->disruption_marker == 0 || r->counter_kind == 0 ||
	    r->counter_kind > XRC_COUNTER_SIMULATED || r->counter_hz < 1000 ||
	    r->counter_hz > 100000000000ull || r->clock_state > XRC_STATE_SERVER_FAULT)
		return XRC_ERR_INVALID;
	if (!xrc_period_ok(r->period, r->counter_hz) || !xrc_period_ok(r->raw_period, r->counter_hz))
		return XRC_ERR_INVALID;
	if ((r->local_period.frac || r->local_period.shift) && !xrc_period_ok(r->local_period, r->counter_hz))
		return XRC_ERR_INVALID;
	/* 2000-01-01 .. 2200-01-01 */
	if (r->ref_time.sec < 946684800 || r->ref_time.sec >= 7258118400LL ||
	    r->slew_end_time.sec < 946684800 || r->slew_end_time.sec >= 7258118400LL ||
	    r->raw_ref_time.sec < 946684800 || r->raw_ref_time.sec >= 7258118400LL)
		return XRC_ERR_INVALID;
	if ((int64_t)(r->slew_end_count - r->ref_count) < 0 ||
	    (int64_t)(r->void_after_count - r->ref_count) <= 0)
		return XRC_ERR_INVALID;
	want = xrc_add(r->ref_time, xrc_mul(r->period, r->slew_end_count - r->ref_count));
	if (want.sec != r->slew_end_time.sec || want.frac != r->slew_end_time.frac)
		return XRC_ERR_INVALID;
	if (r->leap_next < -1 || r->leap_next > 1 || (r->leap_next != 0 && r->leap_at_count == 0))
		return XRC_ERR_INVALID;
	return XRC_OK;
}

/* Decode a page image (a copy, e.g. a test vector): header, seqlock word,
 * record. *seq receives the seqlock value. */
static inline int xrc_decode_page(const uint8_t *b, size_t len, struct xrc_record *r, uint64_t *seq)
{
	uint64_t w[XRC_WORDS];
	size_t i, n;
	int err;
	if (len < 24)
		return XRC_ERR_SIZE;
	if (len > XRC_PAGE_SIZE)
		return XRC_ERR_SIZE;
	memcpy(w, b, 24);
	for (i = 0; i < 3; i++)
		w[i] = xrc_le64(w[i]);
	err = xrc_check_header(w[0], w[1], len);
	if (err)
		return err;
	*seq = w[2];
	if (w[2] == 0)
		return XRC_ERR_UNINITIALISED;
	if (w[2] & 1)
		return XRC_ERR_BUSY;
	n = (uint32_t)(w[0] >> 32) < XRC_RECORD_SIZE ? XRC_MIN_RECORD_SIZE : XRC_RECORD_SIZE;
	memset(w, 0, sizeof(w));
	memcpy(w, b, n);
	for (i = 0; i < XRC_WORDS; i++)
		w[i] = xrc_le64(w[i]);
	return xrc_decode_words(w, r);
}

/* ---- the Xenstore text form ---- */

/* The text line is parsed exactly as the Go parser (clockdata.ParseText)
 * parses it: at most XRC_TEXT_MAX bytes, one trailing newline allowed,
 * XRC_TEXT_FIELDS fields "key=value" separated by single spaces in a fixed
 * order; unsigned decimals are 1..20 digits with no sign, each within its
 * field's width; signed decimals take an optional '-'; hex is fixed-width
 * lower case. Nothing wraps: a value out of its field's range is
 * XRC_ERR_INVALID, as in Go. */
#define XRC_TEXT_FIELDS 28

/* A field's value: bytes of the line, not NUL-terminated. */
struct xrc_span {
	const char *p;
	size_t n;
};

/* 1..20 decimal digits and nothing else. */
static inline int xrc_text_digits(struct xrc_span v)
{
	size_t i;
	if (v.n == 0 || v.n > 20)
		return 0;
	for (i = 0; i < v.n; i++)
		if (v.p[i] < '0' || v.p[i] > '9')
			return 0;
	return 1;
}

/* An unsigned decimal no greater than max. */
static inline int xrc_text_uint(struct xrc_span v, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;
	if (!xrc_text_digits(v))
		return 0;
	for (i = 0; i < v.n; i++) {
		uint64_t d = (uint64_t)(v.p[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return 0;
		x = x * 10 + d;
	}
	if (x > max)
		return 0;
	*out = x;
	return 1;
}

/* A signed decimal (an optional '-', then digits) within -minmag..max. */
static inline int xrc_text_int(struct xrc_span v, uint64_t minmag, uint64_t max, int64_t *out)
{
	uint64_t mag;
	int neg = v.n > 0 && v.p[0] == '-';
	if (neg) {
		v.p++;
		v.n--;
	}
	if (!xrc_text_uint(v, neg ? minmag : max, &mag))
		return 0;
	*out = neg ? (int64_t)(0 - mag) : (int64_t)mag; /* 0 - 2^63 is INT64_MIN */
	return 1;
}

/* Exactly `digits` lower-case hex digits (at most 16). */
static inline int xrc_text_hex(struct xrc_span v, size_t digits, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;
	if (v.n != digits)
		return 0;
	for (i = 0; i < v.n; i++) {
		char ch = v.p[i];
		if (ch >= '0' && ch <= '9')
			x = x << 4 | (uint64_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			x = x << 4 | (uint64_t)(ch - 'a' + 10);
		else
			return 0;
	}
	*out = x;
	return 1;
}

/* Split v at the first sep: head before it, tail after. */
static inline int xrc_text_cut(struct xrc_span v, char sep, struct xrc_span *head, struct xrc_span *tail)
{
	const char *at = (const char *)memchr(v.p, sep, v.n);
	if (!at)
		return 0;
	head->p = v.p;
	head->n = (size_t)(at - v.p);
	tail->p = at + 1;
	tail->n = v.n - head->n - 1;
	return 1;
}

/* SEC:FRAC into two page words. */
static inline int xrc_text_time(struct xrc_span v, uint64_t *sec, uint64_t *frac)
{
	struct xrc_span a, b;
	int64_t x;
	if (!xrc_text_cut(v, ':', &a, &b) || !xrc_text_hex(b, 16, frac) ||
	    !xrc_text_int(a, (uint64_t)1 << 63, INT64_MAX, &x))
		return 0;
	*sec = (uint64_t)x;
	return 1;
}

/* FRAC/SHIFT: the fraction word and the shift (0..255). */
static inline int xrc_text_period(struct xrc_span v, uint64_t *frac, uint64_t *shift)
{
	struct xrc_span a, b;
	return xrc_text_cut(v, '/', &a, &b) && xrc_text_hex(a, 16, frac) && xrc_text_uint(b, 255, shift);
}

/* Split the line into its fields and check the keys; the spans become the
 * values. Returns XRC_OK or the error the Go parser gives. */
static inline int xrc_text_fields(const char *s, struct xrc_span *f)
{
	static const char *const keys[XRC_TEXT_FIELDS] = {
		"v", "gen", "marker", "host", "kind", "hz", "cid", "state", "status",
		"ref", "time", "period", "slew_end", "slew_time", "raw_period", "raw_time", "local_period",
		"err", "maxerr", "rate_err", "err_growth", "maxerr_growth",
		"next", "void", "poll", "tai", "leap", "leap_at",
	};
	size_t len = strlen(s), i, nf = 0, start = 0, k;
	if (len > XRC_TEXT_MAX)
		return XRC_ERR_SIZE;
	if (len > 0 && s[len - 1] == '\n')
		len--;
	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != ' ')
			continue;
		if (nf < XRC_TEXT_FIELDS) {
			f[nf].p = s + start;
			f[nf].n = i - start;
		}
		nf++;
		start = i + 1;
	}
	if (f[0].n < 2 || memcmp(f[0].p, "v=", 2) != 0)
		return XRC_ERR_INVALID;
	if (f[0].n != 3 || f[0].p[2] != '1')
		return XRC_ERR_VERSION;
	if (nf != XRC_TEXT_FIELDS)
		return XRC_ERR_SIZE;
	for (i = 0; i < XRC_TEXT_FIELDS; i++) {
		k = strlen(keys[i]);
		if (f[i].n <= k || memcmp(f[i].p, keys[i], k) != 0 || f[i].p[k] != '=')
			return XRC_ERR_INVALID;
		f[i].p += k + 1;
		f[i].n -= k + 1;
	}
	return XRC_OK;
}

/* Parse and validate a Xenstore line (the text form, docs/clockdata.md). */
static inline int xrc_parse_text(const char *s, struct xrc_record *r)
{
	struct xrc_span f[XRC_TEXT_FIELDS], h1, h2;
	uint64_t w[XRC_WORDS], kind, state, sh[3], status, rate, grow, maxgrow, a, b;
	int64_t tai, leap;
	int err, ok, i;
	memset(r, 0, sizeof(*r));
	memset(w, 0, sizeof(w));
	if ((err = xrc_text_fields(s, f)) != XRC_OK)
		return err;
	h1.p = f[3].p;
	h1.n = f[3].n < 16 ? f[3].n : 16;
	h2.p = f[3].p + h1.n;
	h2.n = f[3].n - h1.n;
	ok = xrc_text_uint(f[0], UINT16_MAX, &w[1]) && xrc_text_uint(f[1], UINT64_MAX, &w[3]) &&
	     xrc_text_hex(f[2], 16, &w[4]) && xrc_text_hex(h1, 16, &a) && xrc_text_hex(h2, 16, &b) &&
	     xrc_text_uint(f[4], UINT16_MAX, &kind) && xrc_text_uint(f[5], UINT64_MAX, &w[9]) &&
	     xrc_text_hex(f[6], 16, &w[10]) && xrc_text_uint(f[7], UINT8_MAX, &state) &&
	     xrc_text_hex(f[8], 8, &status) && xrc_text_uint(f[9], UINT64_MAX, &w[11]) &&
	     xrc_text_time(f[10], &w[12], &w[13]) && xrc_text_period(f[11], &w[14], &sh[0]) &&
	     xrc_text_uint(f[12], UINT64_MAX, &w[15]) && xrc_text_time(f[13], &w[16], &w[17]) &&
	     xrc_text_period(f[14], &w[18], &sh[1]) && xrc_text_time(f[15], &w[19], &w[20]) &&
	     xrc_text_period(f[16], &w[21], &sh[2]) && xrc_text_uint(f[17], UINT64_MAX, &w[22]) &&
	     xrc_text_uint(f[18], UINT64_MAX, &w[23]) && xrc_text_uint(f[19], UINT32_MAX, &rate) &&
	     xrc_text_uint(f[20], UINT32_MAX, &grow) && xrc_text_uint(f[21], UINT32_MAX, &maxgrow) &&
	     xrc_text_uint(f[22], UINT64_MAX, &w[26]) && xrc_text_uint(f[23], UINT64_MAX, &w[27]) &&
	     xrc_text_uint(f[24], UINT64_MAX, &w[28]) && xrc_text_int(f[25], 32768, 32767, &tai) &&
	     xrc_text_int(f[26], 128, 127, &leap) && xrc_text_uint(f[27], UINT64_MAX, &w[29]);
	if (!ok)
		return XRC_ERR_INVALID;
	/* host: byte 0 is the first two hex digits; page words are little-endian. */
	for (i = 0; i < 8; i++) {
		w[5] |= (a >> (56 - 8 * i) & 0xff) << (8 * i);
		w[6] |= (b >> (56 - 8 * i) & 0xff) << (8 * i);
	}
	w[7] = kind | sh[0] << 16 | sh[1] << 24 | sh[2] << 32 | state << 40 | (uint64_t)(uint8_t)leap << 48;
	w[8] = (uint64_t)(uint16_t)tai | status << 32;
	w[24] = rate | grow << 32;
	w[25] = maxgrow;
	/* The page codec's checks, on the words the page would hold. */
	return xrc_decode_words(w, r);
}

/* ---- the live page ---- */

/* Map the page at path (NULL: XRC_DEFAULT_PATH) read-only. The open does not
 * block (O_NONBLOCK: a FIFO with no writer would hang it) and anything that
 * is not a regular file is refused with XRC_ERR_NOT_FILE. */
static inline int xrc_open(struct xrc_clock *c, const char *path)
{
	struct stat st;
	void *m;
	int err = XRC_ERR_SYSCALL, i;
	c->words = NULL;
	c->fd = open(path ? path : XRC_DEFAULT_PATH, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (c->fd < 0)
		return XRC_ERR_SYSCALL;
	if (fstat(c->fd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		err = XRC_ERR_NOT_FILE;
		goto fail;
	}
	if (st.st_size < XRC_PAGE_SIZE) {
		err = XRC_ERR_SIZE;
		goto fail;
	}
	m = mmap(NULL, XRC_PAGE_SIZE, PROT_READ, MAP_SHARED, c->fd, 0);
	if (m == MAP_FAILED)
		goto fail;
	c->words = (const uint64_t *)m;
	return XRC_OK;
fail:
	i = errno; /* close must not clobber the caller's errno */
	close(c->fd);
	errno = i;
	c->fd = -1;
	return err;
}

static inline void xrc_close(struct xrc_clock *c)
{
	if (c->words)
		munmap((void *)c->words, XRC_PAGE_SIZE);
	if (c->fd >= 0)
		close(c->fd);
	c->words = NULL;
	c->fd = -1;
}

static inline uint64_t xrc_load(const uint64_t *p, int order)
{
	return xrc_le64(__atomic_load_n(p, order));
}

static inline int64_t xrc_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The busy policy's clock (ns). A test may define XRC_BUSY_CLOCK_NS() before
 * including this header to drive the policy with a fake clock. */
#ifndef XRC_BUSY_CLOCK_NS
#define XRC_BUSY_CLOCK_NS() xrc_mono_ns()
#endif

/* A reader: an open page plus the record decoded at one seqlock value, so
 * that reads while the page is unchanged only read the counter. Not
 * thread-safe: use one xrc_reader per thread (they may share an xrc_clock). */
struct xrc_reader {
	const struct xrc_clock *clock;
	uint64_t seq; /* seqlock value of rec; 0: none */
	struct xrc_record rec;
	struct xrc_derived d;
};

static inline void xrc_reader_init(struct xrc_reader *rd, const struct xrc_clock *c)
{
	memset(rd, 0, sizeof(*rd));
	rd->clock = c;
}

/* Read the clock: the record and one counter reading inside one seqlock
 * loop, then evaluate. kind is the counter kind read_counter reads. A new
 * record is decoded and cached on one pass and the counter read on the next,
 * so the reading is never older than the decoding. */
static inline int xrc_read(struct xrc_reader *rd, uint16_t kind, xrc_counter_fn read_counter, void *arg,
			   struct xrc_now *out)
{
	const uint64_t *pw = rd->clock->words;
	uint64_t w[XRC_WORDS], s1, count, identity;
	struct xrc_record r;
	uint64_t busy_seq = 0;
	int64_t start = 0;
	int spins = 0, timing = 0, i, err;
	for (;;) {
		s1 = xrc_load(&pw[2], __ATOMIC_ACQUIRE); /* pairs with the writer's seq stores */
		if (s1 != 0 && !(s1 & 1)) {
			if (s1 != rd->seq) {
				w[0] = xrc_load(&pw[0], __ATOMIC_RELAXED);
				w[1] = xrc_load(&pw[1], __ATOMIC_RELAXED);
				w[2] = s1;
				for (i = 3; i < XRC_WORDS; i++)
					w[i] = xrc_load(&pw[i], __ATOMIC_RELAXED);
				__atomic_thread_fence(__ATOMIC_ACQUIRE);
				if (xrc_load(&pw[2], __ATOMIC_RELAXED) != s1)
					continue;
				err = xrc_check_header(w[0], w[1], XRC_PAGE_SIZE);
				if (!err)
					err = xrc_decode_words(w, &r);
				if (err)
					return err;
				rd->rec = r;
				xrc_derive(&r, &rd->d);
				rd->seq = s1;
				continue;
			}
			if (read_counter(arg, &count, &identity) != 0)
				return XRC_ERR_COUNTER;
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (xrc_load(&pw[2], __ATOMIC_RELAXED) != s1)
				continue;
			xrc_evaluate(&rd->rec, &rd->d, kind, count, identity, out);
			return XRC_OK;
		}
		if (s1 == 0) {
			err = xrc_check_header(xrc_load(&pw[0], __ATOMIC_RELAXED), xrc_load(&pw[1], __ATOMIC_RELAXED),
					       XRC_PAGE_SIZE);
			return err ? err : XRC_ERR_UNINITIALISED;
		}
		if (s1 != busy_seq) { /* a new odd value: the writer is alive */
			busy_seq = s1;
			spins = 0;
			timing = 0;
		}
		if (++spins > XRC_BUSY_SPINS) {
			int64_t now = XRC_BUSY_CLOCK_NS();
			if (!timing) {
				start = now;
				timing = 1;
			} else if (now - start > XRC_BUSY_DEADLINE_NS) {
				return XRC_ERR_BUSY;
			}
			sched_yield();
		}
	}
}

/* One read with no cache: thread-safe on a shared xrc_clock, but decodes
 * the record every time. */
static inline int xrc_now(const struct xrc_clock *c, uint16_t kind, xrc_counter_fn read_counter, void *arg,
			  struct xrc_now *out)
{
	struct xrc_reader rd;
	xrc_reader_init(&rd, c);
	return xrc_read(&rd, kind, read_counter, arg, out);
}

#if defined(__x86_64__)
/* Built-in reader for the tsc counter: LFENCE; RDTSC, as the Go counter
 * reads it. The TSC carries no identity of its own, so arg points to the
 * uint64_t identity of the caller's timeline (outside Xen, the boot identity
 * the Go tsc counter derives; under Xen, the caller must compose it with
 * the domain's incarnation as counter/tsc.go documents). */
static inline int xrc_rdtsc_counter(void *arg, uint64_t *count, uint64_t *identity)
{
	uint32_t lo, hi;
	__asm__ __volatile__("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	*count = (uint64_t)hi << 32 | lo;
	*identity = *(const uint64_t *)arg;
	return 0;
}
#endif

#endif /* XENRADCLOCK_CLOCK_H */
