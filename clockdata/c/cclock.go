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

static int decode_eval(const uint8_t *b, size_t len, uint16_t kind, uint64_t count, uint64_t identity,
		       struct xrc_now *n)
{
	struct xrc_record r;
	struct xrc_derived d;
	uint64_t seq;
	int err = xrc_decode_page(b, len, &r, &seq);
	if (err)
		return err;
	xrc_derive(&r, &d);
	xrc_evaluate(&r, &d, kind, count, identity, n);
	return 0;
}

static int parse_record(const char *s, struct xrc_record *r) { return xrc_parse_text(s, r); }

static int decode_record(const uint8_t *b, size_t len, struct xrc_record *r)
{
	uint64_t seq;
	return xrc_decode_page(b, len, r, &seq);
}

static int parse_eval(const char *s, uint16_t kind, uint64_t count, uint64_t identity, struct xrc_now *n)
{
	struct xrc_record r;
	struct xrc_derived d;
	int err = xrc_parse_text(s, &r);
	if (err)
		return err;
	xrc_derive(&r, &d);
	xrc_evaluate(&r, &d, kind, count, identity, n);
	return 0;
}

struct fixed_counter {
	uint64_t count, identity;
};

static int read_fixed(void *arg, uint64_t *count, uint64_t *identity)
{
	struct fixed_counter *f = arg;
	*count = f->count;
	*identity = f->identity;
	return 0;
}

static int read_live(struct xrc_reader *rd, uint16_t kind, uint64_t count, uint64_t identity, struct xrc_now *n)
{
	struct fixed_counter f = {count, identity};
	return xrc_read(rd, kind, read_fixed, &f, n);
}

static const int xrc_offsets[] = {
	XRC_OFF_MAGIC, XRC_OFF_SIZE, XRC_OFF_VERSION, XRC_OFF_SEQ, XRC_OFF_GENERATION,
	XRC_OFF_DISRUPTION_MARKER, XRC_OFF_HOST_ID, XRC_OFF_COUNTER_KIND, XRC_OFF_PERIOD_SHIFT,
	XRC_OFF_RAW_PERIOD_SHIFT, XRC_OFF_LOCAL_PERIOD_SHIFT, XRC_OFF_CLOCK_STATE, XRC_OFF_LEAP_NEXT,
	XRC_OFF_TAI_OFFSET, XRC_OFF_STATUS, XRC_OFF_COUNTER_HZ, XRC_OFF_COUNTER_IDENTITY,
	XRC_OFF_REF_COUNT, XRC_OFF_REF_TIME_SEC, XRC_OFF_REF_TIME_FRAC, XRC_OFF_PERIOD_FRAC,
	XRC_OFF_SLEW_END_COUNT, XRC_OFF_SLEW_END_TIME_SEC, XRC_OFF_SLEW_END_TIME_FRAC,
	XRC_OFF_RAW_PERIOD_FRAC, XRC_OFF_RAW_REF_TIME_SEC, XRC_OFF_RAW_REF_TIME_FRAC,
	XRC_OFF_LOCAL_PERIOD_FRAC, XRC_OFF_ERROR_BOUND_NS, XRC_OFF_MAX_ERROR_NS, XRC_OFF_RATE_ERROR_PS,
	XRC_OFF_ERROR_GROWTH_PS, XRC_OFF_MAX_ERROR_GROWTH_PS, XRC_OFF_NEXT_EXPECTED_COUNT,
	XRC_OFF_VOID_AFTER_COUNT, XRC_OFF_POLL_NS, XRC_OFF_LEAP_AT_COUNT,
	XRC_MAGIC, XRC_VERSION, XRC_PAGE_SIZE, XRC_RECORD_SIZE, XRC_BUSY_SPINS,
};

static int n_constants(void) { return sizeof(xrc_offsets) / sizeof(xrc_offsets[0]); }
static int constant_at(int i) { return xrc_offsets[i]; }

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

	"github.com/xenradclock/xenradclock/bintime"
	"github.com/xenradclock/xenradclock/clockdata"
	"github.com/xenradclock/xenradclock/clocksync"
	"github.com/xenradclock/xenradclock/counter"
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
	Status       int
	Count        uint64
	Sec          int64
	Frac         uint64
	MaxErrorNs   uint64
	ErrorBoundNs uint64
	Generation   uint64
}

func result(n *C.struct_xrc_now) Result {
	return Result{Status: int(n.status), Count: uint64(n.count), Sec: int64(n.time.sec), Frac: uint64(n.time.frac),
		MaxErrorNs: uint64(n.max_error_ns), ErrorBoundNs: uint64(n.error_bound_ns), Generation: uint64(n.generation)}
}

// DecodeEval decodes a page image with xrc_decode_page and evaluates it at
// one reading; the int is the C error code (0 on success).
func DecodeEval(b []byte, kind uint16, count, identity uint64) (Result, int) {
	if len(b) == 0 {
		b = []byte{0}[:0:1]
	}
	cb := C.CBytes(b)
	defer C.free(cb)
	var n C.struct_xrc_now
	if err := C.decode_eval((*C.uint8_t)(cb), C.size_t(len(b)), C.uint16_t(kind), C.uint64_t(count), C.uint64_t(identity), &n); err != 0 {
		return Result{}, int(err)
	}
	return result(&n), 0
}

// ParseEval parses a Xenstore line with xrc_parse_text and evaluates it at
// one reading; the int is the C error code (0 on success).
func ParseEval(s string, kind uint16, count, identity uint64) (Result, int) {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	var n C.struct_xrc_now
	if err := C.parse_eval(cs, C.uint16_t(kind), C.uint64_t(count), C.uint64_t(identity), &n); err != 0 {
		return Result{}, int(err)
	}
	return result(&n), 0
}

// ParseRecord parses a Xenstore line with xrc_parse_text and returns the
// record it decoded, in Go types; the int is the C error code.
func ParseRecord(s string) (clockdata.Record, int) {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	var r C.struct_xrc_record
	if err := C.parse_record(cs, &r); err != 0 {
		return clockdata.Record{}, int(err)
	}
	return goRecord(&r), 0
}

// DecodeRecord decodes a page image with xrc_decode_page and returns the
// record, in Go types; the int is the C error code.
func DecodeRecord(b []byte) (clockdata.Record, int) {
	if len(b) == 0 {
		b = []byte{0}[:0:1]
	}
	cb := C.CBytes(b)
	defer C.free(cb)
	var r C.struct_xrc_record
	if err := C.decode_record((*C.uint8_t)(cb), C.size_t(len(b)), &r); err != 0 {
		return clockdata.Record{}, int(err)
	}
	return goRecord(&r), 0
}

func goTime(t C.struct_xrc_time) bintime.Time {
	return bintime.Time{Sec: int64(t.sec), Frac: uint64(t.frac)}
}

func goPeriod(p C.struct_xrc_period) clockdata.Period {
	return clockdata.Period{Frac: uint64(p.frac), Shift: uint8(p.shift)}
}

// goRecord converts every field of a C record.
func goRecord(r *C.struct_xrc_record) clockdata.Record {
	var host [16]byte
	for i := range host {
		host[i] = byte(r.host_id[i])
	}
	return clockdata.Record{
		Version: uint16(r.version), Generation: uint64(r.generation), DisruptionMarker: uint64(r.disruption_marker),
		HostID: host, CounterKind: counter.Kind(r.counter_kind), CounterHz: uint64(r.counter_hz),
		CounterIdentity: uint64(r.counter_identity), State: clockdata.ClockState(r.clock_state),
		Status: clocksync.Status(r.status), RefCount: uint64(r.ref_count), RefTime: goTime(r.ref_time),
		Period: goPeriod(r.period), SlewEndCount: uint64(r.slew_end_count), SlewEndTime: goTime(r.slew_end_time),
		RawPeriod: goPeriod(r.raw_period), RawRefTime: goTime(r.raw_ref_time), LocalPeriod: goPeriod(r.local_period),
		ErrorBoundNs: uint64(r.error_bound_ns), MaxErrorNs: uint64(r.max_error_ns),
		RateErrorPsPerS: uint32(r.rate_error_ps), ErrorGrowthPsPerS: uint32(r.error_growth_ps),
		MaxErrorGrowthPsPerS: uint32(r.max_error_growth_ps), NextExpectedCount: uint64(r.next_expected_count),
		VoidAfterCount: uint64(r.void_after_count), PollNs: uint64(r.poll_ns),
		TAIOffsetSec: int16(r.tai_offset_sec), LeapNext: int8(r.leap_next), LeapAtCount: uint64(r.leap_at_count),
	}
}

// Reader is a C xrc_reader over a Clock. Not safe for concurrent use.
type Reader struct{ rd *C.struct_xrc_reader }

// NewReader makes a caching reader; Free releases it.
func (k *Clock) NewReader() *Reader {
	rd := (*C.struct_xrc_reader)(C.calloc(1, C.sizeof_struct_xrc_reader))
	C.xrc_reader_init(rd, &k.c)
	return &Reader{rd: rd}
}

// Free releases the reader.
func (r *Reader) Free() { C.free(unsafe.Pointer(r.rd)) }

// Read runs xrc_read with a counter that returns count and identity.
func (r *Reader) Read(kind uint16, count, identity uint64) (Result, int) {
	var n C.struct_xrc_now
	if err := C.read_live(r.rd, C.uint16_t(kind), C.uint64_t(count), C.uint64_t(identity), &n); err != 0 {
		return Result{}, int(err)
	}
	return result(&n), 0
}

// Constants returns the header's offsets and constants in the order of
// the xrc_offsets table, for the layout test.
func Constants() []int {
	n := int(C.n_constants())
	out := make([]int, n)
	for i := range n {
		out[i] = int(C.constant_at(C.int(i)))
	}
	return out
}

// BenchNowTSC runs n reads of xrc_now with the built-in RDTSC reader and
// the given timeline identity, and returns the last one.
func (k *Clock) BenchNowTSC(identity uint64, n int) (Result, error) {
	var last C.struct_xrc_now
	if err := C.bench_now_tsc(&k.c, C.uint64_t(identity), C.uint64_t(n), &last); err != 0 {
		return Result{}, fmt.Errorf("xrc_read: error %d", int(err))
	}
	return result(&last), nil
}

// BenchClockGettime runs n clock_gettime(CLOCK_REALTIME) calls in C.
func BenchClockGettime(n int) int64 { return int64(C.bench_clock_gettime(C.uint64_t(n))) }

// BenchRDTSC runs n reads of the built-in LFENCE;RDTSC counter in C.
func BenchRDTSC(n int) uint64 { return uint64(C.bench_rdtsc(C.uint64_t(n))) }
