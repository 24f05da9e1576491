/* xrc_vectors: drives xenradclock_clock.h for the Go cross-check test
 * (clockdata/creader_test.go); it lives in testdata/ so cgo does not build it into package cclock.
 *
 *   xrc_vectors page FILE KIND IDENTITY COUNT...   decode a page image
 *   xrc_vectors text FILE KIND IDENTITY COUNT...   parse a Xenstore line
 *   xrc_vectors live FILE KIND IDENTITY COUNT...   xrc_now on a mapped page
 *
 * For each COUNT it prints one line:
 *   status sec frac earliest.sec earliest.frac latest.sec latest.frac max_error_ns error_bound_ns ns
 * or, when decoding fails, "err CODE".
 */
#include <stdlib.h>
#include "../xenradclock_clock.h"

struct fixed {
	uint64_t count, identity;
};

static int fixed_counter(void *arg, uint64_t *count, uint64_t *identity)
{
	struct fixed *f = arg;
	*count = f->count;
	*identity = f->identity;
	return 0;
}

static void print_now(const struct xrc_now *n)
{
	printf("%d %" PRId64 " %016" PRIx64 " %" PRId64 " %016" PRIx64 " %" PRId64 " %016" PRIx64
	       " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
	       (int)n->status, n->time.sec, n->time.frac, n->earliest.sec, n->earliest.frac,
	       n->latest.sec, n->latest.frac, n->max_error_ns, n->error_bound_ns, xrc_to_ns(n->time));
}

int main(int argc, char **argv)
{
	static uint8_t buf[2 * XRC_PAGE_SIZE + 1];
	struct xrc_record r;
	struct xrc_derived d;
	struct xrc_now n;
	uint64_t seq, identity;
	uint16_t kind;
	size_t len;
	FILE *f;
	int i, err = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: %s page|text|live FILE KIND IDENTITY COUNT...\n", argv[0]);
		return 2;
	}
	kind = (uint16_t)strtoul(argv[3], NULL, 10);
	identity = strtoull(argv[4], NULL, 10);
	if (strcmp(argv[1], "live") == 0) {
		struct xrc_clock c;
		struct xrc_reader rd;
		if ((err = xrc_open(&c, argv[2])) != 0) {
			printf("err %d\n", err);
			return 0;
		}
		xrc_reader_init(&rd, &c);
		for (i = 5; i < argc; i++) {
			/* Alternate the cached reader and the stateless xrc_now. */
			struct fixed fx = {strtoull(argv[i], NULL, 10), identity};
			err = (i & 1) ? xrc_read(&rd, kind, fixed_counter, &fx, &n) : xrc_now(&c, kind, fixed_counter, &fx, &n);
			if (err)
				printf("err %d\n", err);
			else
				print_now(&n);
		}
		xrc_close(&c);
		return 0;
	}
	f = fopen(argv[2], "rb");
	if (!f) {
		perror(argv[2]);
		return 2;
	}
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	if (strcmp(argv[1], "page") == 0) {
		err = xrc_decode_page(buf, len, &r, &seq);
	} else {
		buf[len] = 0;
		err = xrc_parse_text((const char *)buf, &r);
	}
	for (i = 5; i < argc; i++) {
		if (err) {
			printf("err %d\n", err);
			continue;
		}
		xrc_derive(&r, &d);
		xrc_evaluate(&r, &d, kind, strtoull(argv[i], NULL, 10), identity, &n);
		print_now(&n);
	}
	return 0;
}
