/*
 * fuzz/ws_frame_driver.h - the driver both ws_frame targets share (each
 * .c file names its role): the bytes after the first four are a peer's
 * stream, fed to ws_parse() in pieces whose sizes the first four bytes
 * seed, with a message bound of 0 (none) or 1 to 4096 bytes. Checked:
 *   - every call takes at most what it is given, and all of it when it
 *     reports nothing;
 *   - a data piece is the end of what the call took, never longer than
 *     its frame's bytes still to come; the pieces of a frame add up to
 *     its length; a message starts with `first`, ends with `final`, keeps
 *     its type and its bound; a text message is UTF-8 (checked again here
 *     byte by byte);
 *   - control payloads are at most 125 bytes; a close carries a code
 *     that may be sent, or 1005;
 *   - after an error (1002, 1007 or 1009, with a reason) every call
 *     reports it again and takes nothing; after a close, every call takes
 *     all and reports nothing;
 *   - a frame written by ws_frame_header() (masked as the peer's role
 *     masks) reads back as the same payload, in two pieces cut anywhere.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/ws_frame.h"

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

/* the reference: a whole buffer is UTF-8 (RFC 3629), one byte at a time */
static int
utf8_ok(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i], need, k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, cp = c & 0x07;
		else
			return 0;
		if (i + need >= n)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

static uint32_t
next_rand(uint32_t *s)
{
	uint32_t x = *s ? *s : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

typedef struct state {
	int		failed, closed;
	int		err_code;
	int		in_msg, binary;
	uint64_t	frame_left;	/* of the frame under way, or 0 */
	unsigned char	*msg;		/* the message so far */
	size_t		msg_len;
	uint64_t	max;
} state;

static void
check_event(state *st, const ws_event *ev, const unsigned char *chunk,
	    size_t n, size_t used)
{
	CHECK(used <= n);
	if (st->failed) {
		CHECK(ev->type == WS_EV_ERROR && used == 0);
		CHECK(ev->code == st->err_code);
		return;
	}
	if (st->closed) {
		CHECK(ev->type == WS_EV_NONE && used == n);
		return;
	}
	switch (ev->type) {
	case WS_EV_NONE:
		CHECK(used == n);
		break;
	case WS_EV_DATA:
		CHECK(ev->first == !st->in_msg);
		if (st->in_msg)
			CHECK(ev->binary == st->binary);
		if (st->frame_left)
			CHECK(ev->frame_left == st->frame_left);
		if (ev->n) {
			CHECK(ev->p + ev->n == chunk + used);
			CHECK(ev->p >= chunk);
			CHECK(ev->n <= ev->frame_left);
			st->frame_left = ev->frame_left - ev->n;
		} else
			CHECK(ev->final && !st->frame_left);
		memcpy(st->msg + st->msg_len, ev->p, ev->n);
		st->msg_len += ev->n;
		if (st->max)
			CHECK(st->msg_len <= st->max);
		st->in_msg = 1;
		st->binary = ev->binary;
		if (ev->final) {
			CHECK(!st->frame_left);
			if (!ev->binary)
				CHECK(utf8_ok(st->msg, st->msg_len));
			st->in_msg = 0;
			st->msg_len = 0;
		}
		break;
	case WS_EV_PING:
	case WS_EV_PONG:
		CHECK(ev->n <= WS_CONTROL_MAX && !st->frame_left);
		break;
	case WS_EV_CLOSE:
		CHECK(ev->n <= WS_CONTROL_MAX - 2 && !st->frame_left);
		CHECK(ev->code == WS_CLOSE_NO_CODE ? ev->n == 0 :
		      ws_close_code_ok(ev->code));
		CHECK(utf8_ok(ev->p, ev->n));
		st->closed = 1;
		break;
	case WS_EV_ERROR:
		CHECK(ev->code == WS_CLOSE_PROTOCOL ||
		      ev->code == WS_CLOSE_INVALID ||
		      ev->code == WS_CLOSE_TOO_BIG);
		CHECK(ev->why && *ev->why);
		st->failed = 1;
		st->err_code = ev->code;
		break;
	default:
		CHECK(0);
	}
}

/* a frame we write reads back as the same payload, cut in two at `cut` */
static void
round_trip(int role, const unsigned char *p, size_t n, size_t cut)
{
	static const unsigned char key[4] = { 0x12, 0x34, 0x56, 0x78 };
	unsigned char *f = malloc(WS_HEADER_MAX + n + 1), *got = malloc(n + 1);
	size_t hl, off = 0, len = 0, used, end;
	ws_parser ps;
	ws_event ev;

	CHECK(f && got);
	hl = ws_frame_header(f, 1, WS_OP_BINARY, n,
			     role == WS_SERVER ? key : NULL);
	memcpy(f + hl, p, n);
	if (role == WS_SERVER)
		ws_frame_mask(f + hl, n, key, 0);
	cut %= hl + n + 1;
	ws_parser_init(&ps, role, 0);
	for (end = cut; off < hl + n; end = hl + n) {
		while (off < end) {
			used = ws_parse(&ps, f + off, end - off, &ev);
			off += used;
			CHECK(ev.type == WS_EV_DATA || ev.type == WS_EV_NONE);
			if (ev.type == WS_EV_DATA) {
				CHECK(ev.binary && ev.first == (len == 0));
				memcpy(got + len, ev.p, ev.n);
				len += ev.n;
				CHECK(ev.final == (len == n));
			}
			if (ev.type == WS_EV_NONE)
				break;
		}
	}
	CHECK(len == n && !memcmp(got, p, n));
	free(f);
	free(got);
}

static int
fuzz_role(int role, const uint8_t *data, size_t size)
{
	uint32_t seed;
	unsigned char *copy;
	size_t off = 0, n;
	ws_parser ps;
	state st;

	if (size < 4)
		return 0;
	memcpy(&seed, data, 4);
	data += 4;
	size -= 4;
	memset(&st, 0, sizeof(st));
	st.max = seed & 0x1000 ? 1 + (seed >> 20) : 0;
	copy = malloc(size + 1);
	st.msg = malloc(size + 1);
	CHECK(copy && st.msg);
	memcpy(copy, data, size);
	ws_parser_init(&ps, role, st.max);
	while (off < size) {
		uint32_t r = next_rand(&seed);
		size_t want = r & 0x100 ? 1 + (r & 7) : 1 + (r % 300), got = 0;

		if (want > size - off)
			want = size - off;
		while (got < want) {
			ws_event ev;
			size_t used = ws_parse(&ps, copy + off + got, want - got,
					       &ev);

			check_event(&st, &ev, copy + off + got, want - got,
				    used);
			got += used;
			if (st.failed || ev.type == WS_EV_NONE)
				break;
		}
		if (st.failed) {	/* and it stays failed */
			ws_event ev;
			size_t used = ws_parse(&ps, copy + off, size - off, &ev);

			check_event(&st, &ev, copy + off, size - off, used);
			break;
		}
		off += want;
	}
	n = size < 300 ? size : 300;
	round_trip(role, data, n, next_rand(&seed));
	free(copy);
	free(st.msg);
	return 0;
}
