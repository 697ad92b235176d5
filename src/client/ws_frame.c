/*
 * ws_frame.c - the WebSocket frame codec (see ws_frame.h): a parser that
 * checks every rule RFC 6455 sets for the receiving side, and the frame
 * header writer. Owns no I/O and no memory: payloads are unmasked in the
 * caller's bytes and reported as pieces, so a message is never copied
 * here; only a control frame's payload (at most 125 bytes) is kept.
 */
#include <string.h>

#include "client/ws_frame.h"

enum { S_HEADER, S_PAYLOAD, S_CLOSED, S_FAILED };

void
ws_parser_init(ws_parser *ps, int role, uint64_t max_message)
{
	memset(ps, 0, sizeof(*ps));
	ps->role = role;
	ps->max_message = max_message;
	ps->state = S_HEADER;
	ps->hneed = 2;
}

int
ws_close_code_ok(int code)
{
	return (code >= 1000 && code <= 1003) ||
	       (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

/* ------------------------------------------------------------------ */
/* UTF-8 (RFC 3629, as RFC 6455 8.1 asks), incrementally              */

/* the state between bytes: 0 between characters, else the continuation
 * bytes still wanted << 16 | the least << 8 | the greatest next byte */
#define U8(need, lo, hi)	((uint32_t)(need) << 16 | (lo) << 8 | (hi))

static uint32_t
utf8_lead(unsigned c)
{
	if (c < 0xc2)
		return 1;	/* a continuation byte, or overlong */
	if (c < 0xe0)
		return U8(1, 0x80, 0xbf);
	if (c == 0xe0)
		return U8(2, 0xa0, 0xbf);	/* no overlong forms */
	if (c == 0xed)
		return U8(2, 0x80, 0x9f);	/* no surrogates */
	if (c < 0xf0)
		return U8(2, 0x80, 0xbf);
	if (c == 0xf0)
		return U8(3, 0x90, 0xbf);
	if (c < 0xf4)
		return U8(3, 0x80, 0xbf);
	if (c == 0xf4)
		return U8(3, 0x80, 0x8f);	/* up to U+10FFFF */
	return 1;
}

/* Go on decoding p[0..n) from *state; -1 at a byte that cannot be. */
static int
utf8_scan(uint32_t *state, const unsigned char *p, size_t n)
{
	uint32_t s = *state;
	size_t i = 0;

	while (i < n) {
		unsigned c;

		if (s == 0) {		/* ASCII eight bytes at a time */
			uint64_t w;

			while (i + 8 <= n) {
				memcpy(&w, p + i, 8);
				if (w & 0x8080808080808080ull)
					break;
				i += 8;
			}
			if (i == n)
				break;
			c = p[i++];
			if (c < 0x80)
				continue;
			s = utf8_lead(c);
			if (s == 1)
				return -1;
		} else {
			unsigned need = (s >> 16) - 1;

			c = p[i++];
			if (c < ((s >> 8) & 0xff) || c > (s & 0xff))
				return -1;
			s = need ? U8(need, 0x80, 0xbf) : 0;
		}
	}
	*state = s;
	return 0;
}

/* ------------------------------------------------------------------ */
/* parsing                                                            */

static size_t
fail(ws_parser *ps, ws_event *ev, int code, const char *why, size_t used)
{
	if (ps->state != S_FAILED) {
		ps->state = S_FAILED;
		ps->err_code = code;
		ps->err_why = why;
	}
	ev->type = WS_EV_ERROR;
	ev->code = ps->err_code;
	ev->why = ps->err_why;
	return used;
}

/* the first two bytes: what can be refused at once (5.2, 5.1, 5.5);
 * NULL when good, and hneed set to the whole header's length */
static const char *
check_start(ws_parser *ps)
{
	int b0 = ps->hdr[0], b1 = ps->hdr[1], l7 = b1 & 0x7f;

	ps->fin = b0 >> 7;
	ps->op = b0 & 0x0f;
	ps->masked = b1 >> 7;
	if (b0 & 0x70)
		return "RSV1-3 set, and no extension was negotiated";
	if (ps->op > WS_OP_BINARY && ps->op < WS_OP_CLOSE)
		return "reserved data opcode";
	if (ps->op > WS_OP_PONG)
		return "reserved control opcode";
	if (ps->role == WS_SERVER && !ps->masked)
		return "unmasked frame from a client";
	if (ps->role == WS_CLIENT && ps->masked)
		return "masked frame from a server";
	if (ps->op >= WS_OP_CLOSE && !ps->fin)
		return "fragmented control frame";
	if (ps->op >= WS_OP_CLOSE && l7 > WS_CONTROL_MAX)
		return "control frame over 125 bytes";
	ps->hneed = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) +
		    (ps->masked ? 4 : 0);
	return NULL;
}

/* the payload length and masking key of a whole header */
static void
read_length(ws_parser *ps)
{
	int l7 = ps->hdr[1] & 0x7f, at = 2, i;
	uint64_t len = (uint64_t)l7;

	if (l7 == 126) {
		len = (uint64_t)ps->hdr[2] << 8 | ps->hdr[3];
		at = 4;
	} else if (l7 == 127) {
		for (len = 0, i = 0; i < 8; i++)
			len = len << 8 | ps->hdr[2 + i];
		at = 10;
	}
	if (ps->masked)
		memcpy(ps->mask, ps->hdr + at, 4);
	ps->mpos = 0;
	ps->left = len;
	ps->clen = 0;
}

/* where a data frame stands in its message (5.4) and the size bound
 * (7.4.1): an error's close code and *why, else 0 */
static int
check_data_frame(ws_parser *ps, const char **why)
{
	if (ps->op == WS_OP_CONT && !ps->in_msg) {
		*why = "continuation frame with no message under way";
		return WS_CLOSE_PROTOCOL;
	}
	if (ps->op != WS_OP_CONT && ps->in_msg) {
		*why = "new data frame inside a fragmented message";
		return WS_CLOSE_PROTOCOL;
	}
	if (ps->op != WS_OP_CONT) {
		ps->in_msg = 1;
		ps->msg_first = 1;
		ps->msg_binary = ps->op == WS_OP_BINARY;
		ps->msg_len = 0;
		ps->utf8 = 0;
	}
	if (ps->max_message && (ps->left > ps->max_message ||
				ps->msg_len + ps->left > ps->max_message)) {
		*why = "message over the size limit";
		return WS_CLOSE_TOO_BIG;
	}
	ps->msg_len += ps->left;
	return 0;
}

/* a frame's payload is all there: back to reading a header */
static void
frame_done(ws_parser *ps)
{
	ps->state = S_HEADER;
	ps->hlen = 0;
	ps->hneed = 2;
	if (ps->op < WS_OP_CLOSE && ps->fin)
		ps->in_msg = 0;
}

/* a whole control frame (5.5) */
static size_t
control(ws_parser *ps, ws_event *ev, size_t used)
{
	frame_done(ps);
	ev->p = ps->ctrl;
	ev->n = ps->clen;
	if (ps->op == WS_OP_PING)
		ev->type = WS_EV_PING;
	else if (ps->op == WS_OP_PONG)
		ev->type = WS_EV_PONG;
	else {		/* close: a code, then a UTF-8 reason (5.5.1) */
		uint32_t u = 0;

		if (ps->clen == 1)
			return fail(ps, ev, WS_CLOSE_PROTOCOL,
				    "close frame of 1 byte", used);
		ev->code = WS_CLOSE_NO_CODE;
		if (ps->clen >= 2) {
			ev->code = ps->ctrl[0] << 8 | ps->ctrl[1];
			if (!ws_close_code_ok(ev->code))
				return fail(ps, ev, WS_CLOSE_PROTOCOL,
					    "close code that may not be sent",
					    used);
			ev->p = ps->ctrl + 2;
			ev->n = ps->clen - 2;
			if (utf8_scan(&u, ev->p, ev->n) || u)
				return fail(ps, ev, WS_CLOSE_INVALID,
					    "close reason not UTF-8", used);
		}
		ev->type = WS_EV_CLOSE;
		ps->state = S_CLOSED;
	}
	return used;
}

/* the header is whole: check it; nonzero when that gives an event */
static int
frame_start(ws_parser *ps, ws_event *ev)
{
	const char *why = NULL;
	int code;

	read_length(ps);
	if (ps->left >> 63) {
		fail(ps, ev, WS_CLOSE_PROTOCOL,
		     "64-bit payload length with its top bit set", 0);
		return 1;
	}
	if (ps->op < WS_OP_CLOSE && (code = check_data_frame(ps, &why))) {
		fail(ps, ev, code, why, 0);
		return 1;
	}
	ps->state = S_PAYLOAD;
	if (ps->left)
		return 0;
	if (ps->op >= WS_OP_CLOSE) {
		control(ps, ev, 0);
		return 1;
	}
	frame_done(ps);
	if (!ps->fin)
		return 0;
	if (ps->utf8) {		/* the text ended inside a character */
		fail(ps, ev, WS_CLOSE_INVALID, "text message not UTF-8", 0);
		return 1;
	}
	ev->type = WS_EV_DATA;	/* an empty last frame ends the message */
	ev->p = ps->hdr;
	ev->n = 0;
	ev->first = ps->msg_first;
	ev->final = 1;
	ev->binary = ps->msg_binary;
	return 1;
}

/* payload bytes of a data frame: one piece */
static size_t
data_piece(ws_parser *ps, unsigned char *p, size_t n, ws_event *ev,
	   size_t used)
{
	size_t take = ps->left < n ? (size_t)ps->left : n;
	uint64_t frame_left = ps->left;

	if (ps->masked) {
		ws_frame_mask(p, take, ps->mask, ps->mpos);
		ps->mpos = (ps->mpos + (unsigned)(take & 3)) & 3;
	}
	ps->left -= take;
	used += take;
	if (!ps->msg_binary && (utf8_scan(&ps->utf8, p, take) ||
				(ps->fin && !ps->left && ps->utf8)))
		return fail(ps, ev, WS_CLOSE_INVALID,
			    "text message not UTF-8", used);
	ev->type = WS_EV_DATA;
	ev->p = p;
	ev->n = take;
	ev->first = ps->msg_first;
	ev->final = ps->fin && !ps->left;
	ev->binary = ps->msg_binary;
	ev->frame_left = frame_left;
	ps->msg_first = 0;
	if (!ps->left)
		frame_done(ps);
	return used;
}

/* payload bytes of a control frame, kept until it is whole */
static size_t
control_bytes(ws_parser *ps, unsigned char *p, size_t n, ws_event *ev,
	      size_t used)
{
	size_t take = ps->left < n ? (size_t)ps->left : n;

	memcpy(ps->ctrl + ps->clen, p, take);
	if (ps->masked)
		ws_frame_mask(ps->ctrl + ps->clen, take, ps->mask, ps->clen);
	ps->clen += take;
	ps->left -= take;
	used += take;
	return ps->left ? used : control(ps, ev, used);
}

size_t
ws_parse(ws_parser *ps, unsigned char *data, size_t n, ws_event *ev)
{
	size_t used = 0;

	ev->type = WS_EV_NONE;
	if (ps->state == S_FAILED)
		return fail(ps, ev, 0, NULL, 0);
	if (ps->state == S_CLOSED)
		return n;
	while (used < n) {
		if (ps->state == S_HEADER) {
			size_t take = (size_t)(ps->hneed - ps->hlen);
			const char *why;

			if (take > n - used)
				take = n - used;
			memcpy(ps->hdr + ps->hlen, data + used, take);
			ps->hlen += (int)take;
			used += take;
			if (ps->hlen < ps->hneed)
				break;
			if (ps->hlen == 2 && (why = check_start(ps)))
				return fail(ps, ev, WS_CLOSE_PROTOCOL, why, used);
			if (ps->hlen < ps->hneed)
				continue;
			if (frame_start(ps, ev))
				return used;
		} else if (ps->op >= WS_OP_CLOSE) {
			used = control_bytes(ps, data + used, n - used, ev,
					     used);
			if (ev->type != WS_EV_NONE)
				return used;
		} else
			return data_piece(ps, data + used, n - used, ev, used);
	}
	return used;
}

/* ------------------------------------------------------------------ */
/* writing                                                            */

size_t
ws_frame_header(unsigned char *out, int fin, int op, uint64_t len,
		const unsigned char key[4])
{
	size_t hl = 2;
	int i;

	out[0] = (unsigned char)((fin ? 0x80 : 0) | (op & 0x0f));
	if (len < 126)
		out[1] = (unsigned char)len;
	else if (len < 65536) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		hl = 4;
	} else {
		out[1] = 127;
		for (i = 0; i < 8; i++)
			out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
		hl = 10;
	}
	if (key) {
		out[1] |= 0x80;
		memcpy(out + hl, key, 4);
		hl += 4;
	}
	return hl;
}

void
ws_frame_mask(unsigned char *p, size_t n, const unsigned char key[4],
	      uint64_t at)
{
	unsigned char k[8];
	uint64_t k8, w;
	size_t i;

	for (i = 0; i < 8; i++)
		k[i] = key[(at + i) & 3];
	memcpy(&k8, k, 8);
	for (i = 0; i + 8 <= n; i += 8) {	/* eight bytes at a time */
		memcpy(&w, p + i, 8);
		w ^= k8;
		memcpy(p + i, &w, 8);
	}
	for (; i < n; i++)
		p[i] ^= k[i & 7];
}
