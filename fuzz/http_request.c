/*
 * fuzz/http_request.c - the server's request path up to routing
 * (src/server/http1.c): request lines, fields, Content-Length and chunked
 * bodies, trailers, pipelining, WebSocket upgrades, and the decoding of
 * paths and queries.
 *
 * Each input is fed twice as httpd.c feeds a connection (unconsumed bytes
 * presented again with the next ones; the next request parsed after
 * H1_DONE): whole, then in about 20 pieces, a quarter of them of 1 to
 * 4 bytes, at places drawn from a generator seeded by the input. Checked:
 *   - both runs give the same events: heads, body bytes, ends, and the
 *     state or error they stop in (a split changes nothing);
 *   - no more is consumed than was presented;
 *   - a refusal has status 400, 414, 431, 501 or 505 and a message;
 *   - a head's method is known, its version 1.0 or 1.1, its target has
 *     no space or control byte and holds its path and query, its field
 *     names are tokens and its values hold no CR, LF, NUL or other
 *     control byte and no whitespace at either end; an upgrade has no
 *     body;
 *   - a Content-Length body delivers exactly that many bytes;
 *   - a path or query decodes to at most its length, with no NUL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <http_parser.h>

#include "runtime/buf.h"
#include "server/http1.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

typedef struct run {
	buf		log;		/* the events, to compare */
	int		in_body;	/* the log's last event is body bytes */
	int64_t		length;		/* of the current body; -1 chunked */
	uint64_t	body;		/* its bytes so far */
} run;

static void
log_event(run *r, char kind, const void *p, size_t n)
{
	CHECK(buf_add(&r->log, &kind, 1) == 0);
	CHECK(buf_add(&r->log, p, n) == 0);
	r->in_body = 0;
}

static int
is_tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void
check_span(const http1_head *h, http1_span inner)
{
	CHECK(inner.len == 0 || (inner.off >= h->target.off &&
	      inner.off + inner.len <= h->target.off + h->target.len));
}

static void
check_decoding(const char *p, size_t n, int plus)
{
	static char out[HTTP1_TARGET_MAX];
	size_t m;

	CHECK(n <= sizeof(out) && http1_escapes_ok(p, n));
	m = http1_unescape(out, p, n, plus);
	CHECK(m <= n && !memchr(out, '\0', m));
}

static void
check_field(const char *name, size_t nn, const unsigned char *v, size_t vn)
{
	size_t i;

	CHECK(nn > 0);
	for (i = 0; i < nn; i++)
		CHECK(is_tchar((unsigned char)name[i]));
	if (vn)
		CHECK(v[0] != ' ' && v[0] != '\t' && v[vn - 1] != ' ' &&
		      v[vn - 1] != '\t');
	for (i = 0; i < vn; i++)
		CHECK(v[i] == '\t' || (v[i] >= 0x20 && v[i] != 0x7f));
}

static int
on_head(http1 *h, const http1_head *hd)
{
	run *r = h->data;
	const char *t = hd->base + hd->target.off;
	size_t i;
	int f;

	CHECK(http_method_str((enum http_method)hd->method)[0] != '<');
	CHECK(hd->minor == 0 || hd->minor == 1);
	CHECK(hd->length >= -1 && (!hd->upgrade || hd->length == 0));
	CHECK(hd->target.len > 0 && hd->target.len <= HTTP1_TARGET_MAX);
	for (i = 0; i < hd->target.len; i++)
		CHECK(t[i] > 0x20 && t[i] < 0x7f);
	check_span(hd, hd->path);
	check_span(hd, hd->query);
	check_decoding(hd->base + hd->path.off, hd->path.len, 0);
	check_decoding(hd->base + hd->query.off, hd->query.len, 1);
	CHECK(hd->nfields >= 0 && hd->nfields <= HTTP1_FIELDS_MAX);
	log_event(r, 'H', &hd->method, sizeof(hd->method));
	log_event(r, 'V', &hd->minor, sizeof(hd->minor));
	log_event(r, 'L', &hd->length, sizeof(hd->length));
	log_event(r, 'K', &hd->keep_alive, sizeof(hd->keep_alive));
	log_event(r, 'T', t, hd->target.len);
	for (f = 0; f < hd->nfields; f++) {
		const char *n = hd->base + hd->name[f].off;
		const char *v = hd->base + hd->value[f].off;

		check_field(n, hd->name[f].len, (const unsigned char *)v,
			    hd->value[f].len);
		log_event(r, 'N', n, hd->name[f].len);
		log_event(r, 'F', v, hd->value[f].len);
		http1_list_has(v, hd->value[f].len, "close");
	}
	r->length = hd->length;
	r->body = 0;
	return 0;
}

static int
on_body(http1 *h, const char *p, size_t n)
{
	run *r = h->data;

	CHECK(n > 0);
	if (!r->in_body)
		log_event(r, 'B', NULL, 0);
	CHECK(buf_add(&r->log, p, n) == 0);
	r->in_body = 1;
	r->body += n;
	CHECK(r->length < 0 || r->body <= (uint64_t)r->length);
	return 0;
}

static int
on_end(http1 *h)
{
	run *r = h->data;

	CHECK(r->length < 0 || r->body == (uint64_t)r->length);
	log_event(r, 'E', NULL, 0);
	return 0;
}

static const http1_settings settings = { on_head, on_body, on_end };

/* feed [data, data+size) in pieces of lengths from `seed` (0: whole) */
static void
feed(run *r, const uint8_t *data, size_t size, uint32_t seed)
{
	static http1 parser;
	static buf in;		/* kept from run to run: less malloc */
	http1 *h = &parser;
	size_t pos = 0;

	in.len = 0;
	http1_init(h, &settings, r);
	while (pos < size && h->state != H1_ERROR && h->state != H1_UPGRADED) {
		size_t k = size - pos, n;

		if (seed) {	/* a quarter tiny, the rest up to size/8 */
			seed = seed * 1103515245u + 12345u;
			k = 1 + (seed >> 16) % ((seed >> 14) & 3 ? size / 8 + 4 : 4);
			k = k < size - pos ? k : size - pos;
		}
		CHECK(buf_add(&in, data + pos, k) == 0);
		pos += k;
		for (;;) {
			n = http1_execute(h, in.p, in.len);
			CHECK(n <= in.len);
			if (n) {
				memmove(in.p, in.p + n, in.len - n);
				in.len -= n;
			}
			if (h->state != H1_DONE)
				break;
			http1_next(h);
		}
	}
	if (h->state == H1_ERROR) {
		CHECK(h->error && h->error[0]);
		CHECK(h->status == 400 || h->status == 414 ||
		      h->status == 431 || h->status == 501 ||
		      h->status == 505);
		log_event(r, 'X', &h->status, sizeof(h->status));
	} else
		log_event(r, 'S', &h->state, sizeof(h->state));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static run whole, split;	/* their logs kept from run to run */
	uint32_t seed = 2166136261u;
	size_t i;

	whole.log.len = split.log.len = 0;
	whole.in_body = split.in_body = 0;

	for (i = 0; i < size && i < 64; i++)	/* FNV-1a of the start */
		seed = (seed ^ data[i]) * 16777619u;
	feed(&whole, data, size, 0);
	feed(&split, data, size, seed | 1);
	CHECK(whole.log.len == split.log.len &&
	      !memcmp(whole.log.p, split.log.p, whole.log.len));
	return 0;
}
