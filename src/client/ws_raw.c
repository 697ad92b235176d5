/*
 * ws_raw.c - the ws:// client transport (see ws_raw.h): resolve, connect
 * and upgrade on a libuv TCP handle, then frames. Payloads are copied in
 * bulk straight from the read buffer into the message being assembled; a
 * connection keeps no buffer of its own between reads (one read buffer
 * serves every connection of the thread). The closing handshake, ping and
 * pong follow RFC 6455; client frames are masked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libwebsockets.h>	/* lws_SHA1, lws_b64_encode_string */

#include "runtime/buf.h"
#include "client/ws_raw.h"

#define HEAD_MAX	(16u << 10)	/* the server's handshake answer */
#define OPEN_TIMEOUT	60000		/* ms, from connect to open */
#define CLOSE_TIMEOUT	5000		/* ms, for the peer's close frame */
#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum { R_CONNECTING, R_HANDSHAKE, R_OPEN, R_DONE };
enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9,
       OP_PONG = 10 };

struct ws_raw {
	ocl_pending	pending;	/* until its handles are closing */
	oclua_runtime	*rt;
	const ws_raw_events *ev;
	void		*ud;		/* NULL once ended or detached */
	uv_tcp_t	tcp;
	uv_timer_t	timer;
	uv_connect_t	connect;
	uv_getaddrinfo_t gai;
	uv_shutdown_t	shut;
	int		handles;	/* initialised, not yet closed */
	int		state, reading, paused, resolving;
	int		sent_close, shutting;
	int		port;
	char		*request;	/* the handshake request */
	char		accept[32];	/* the Sec-WebSocket-Accept expected */
	buf		head;		/* the answer, until its end */
	/* the frame being parsed */
	unsigned char	hdr[14];
	int		hlen, hneed;
	uint64_t	left;		/* payload bytes still to come */
	int		op, fin, masked;
	unsigned char	mask[4];
	unsigned	mpos;
	/* the data message being assembled */
	int		in_msg, msg_binary, msg_first;
	unsigned char	ctrl[125];	/* a control frame's payload */
	size_t		clen;
	size_t		queued;		/* handed to uv_write, not written */
};

typedef struct out_req {
	uv_write_t	req;
	ws_raw		*r;
	size_t		n;
	char		data[];
} out_req;

static _Thread_local char read_buf[64 << 10];

static void
maybe_free(ws_raw *r)
{
	if (r->handles == 0 && !r->resolving) {
		buf_free(&r->head);
		free(r->request);
		free(r);
	}
}

static void
handle_closed(uv_handle_t *h)
{
	ws_raw *r = h->data;

	r->handles--;
	maybe_free(r);
}

/* the end: tell the owner (once), close the handles */
static void
finish(ws_raw *r, const char *error, int status)
{
	void *ud = r->ud;

	if (r->state == R_DONE)
		return;
	r->state = R_DONE;
	r->ud = NULL;
	ocl_pending_del(&r->pending);
	if (ud)
		r->ev->ended(ud, error, status);
	if (r->resolving)
		uv_cancel((uv_req_t *)&r->gai);	/* its callback still runs */
	uv_close((uv_handle_t *)&r->timer, handle_closed);
	uv_close((uv_handle_t *)&r->tcp, handle_closed);
}

static void
pending_cancel(ocl_pending *p)
{
	finish((ws_raw *)p, "the runtime is closing", 0);
}

static void
on_timeout(uv_timer_t *t)
{
	ws_raw *r = t->data;

	finish(r, r->state == R_OPEN ? NULL :
	       "no answer to the WebSocket upgrade in time", 0);
}

/* ------------------------------------------------------------------ */
/* writing                                                            */

static void
on_written(uv_write_t *req, int status)
{
	out_req *o = (out_req *)req;
	ws_raw *r = o->r;

	(void)status;
	r->queued -= o->n;
	free(o);
	if (r->ud)
		r->ev->drained(r->ud, r->queued);
}

static int
write_raw(ws_raw *r, const void *p, size_t n, size_t counted)
{
	out_req *o = malloc(sizeof(*o) + n);
	uv_buf_t b;

	if (!o)
		return -1;
	o->r = r;
	o->n = counted;
	memcpy(o->data, p, n);
	b = uv_buf_init(o->data, (unsigned)n);
	if (uv_write(&o->req, (uv_stream_t *)&r->tcp, &b, 1, on_written)) {
		free(o);
		return -1;
	}
	r->queued += counted;
	return 0;
}

/* one masked frame */
static int
write_frame(ws_raw *r, int op, const void *p, size_t n)
{
	size_t hl = n < 126 ? 2 : n < 65536 ? 4 : 10, i;
	out_req *o = malloc(sizeof(*o) + hl + 4 + n);
	unsigned char *h, *d, key[4];
	const unsigned char *s = p;
	uv_buf_t b;

	if (!o)
		return -1;
	h = (unsigned char *)o->data;
	h[0] = (unsigned char)(0x80 | op);
	if (n < 126)
		h[1] = (unsigned char)(0x80 | n);
	else if (n < 65536) {
		h[1] = 0x80 | 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
	} else {
		h[1] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
	}
	if (uv_random(NULL, NULL, key, 4, 0, NULL))
		memset(key, 0x5a, 4);
	memcpy(h + hl, key, 4);
	d = h + hl + 4;
	/* mask eight bytes at a time, then the rest */
	{
		uint64_t k8, w;

		memcpy(&k8, key, 4);
		memcpy((char *)&k8 + 4, key, 4);
		for (i = 0; i + 8 <= n; i += 8) {
			memcpy(&w, s + i, 8);
			w ^= k8;
			memcpy(d + i, &w, 8);
		}
		for (; i < n; i++)
			d[i] = s[i] ^ key[i & 3];
	}
	o->r = r;
	o->n = n;
	b = uv_buf_init(o->data, (unsigned)(hl + 4 + n));
	if (uv_write(&o->req, (uv_stream_t *)&r->tcp, &b, 1, on_written)) {
		free(o);
		return -1;
	}
	r->queued += n;
	return 0;
}

static void
on_shut(uv_shutdown_t *req, int status)
{
	(void)status;
	(void)req;
}

/* our close frame, then our side of the connection */
static void
send_close(ws_raw *r, int code, const char *reason, size_t n)
{
	unsigned char p[125];

	if (r->sent_close)
		return;
	r->sent_close = 1;
	if (n > sizeof(p) - 2)
		n = sizeof(p) - 2;
	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	memcpy(p + 2, reason, n);
	write_frame(r, OP_CLOSE, p, code ? n + 2 : 0);
	uv_timer_start(&r->timer, on_timeout, CLOSE_TIMEOUT, 0);
}

/* ------------------------------------------------------------------ */
/* frames                                                             */

/* a whole control frame */
static void
control(ws_raw *r)
{
	switch (r->op) {
	case OP_PING:
		write_frame(r, OP_PONG, r->ctrl, r->clen);
		break;
	case OP_CLOSE: {
		int code = r->clen >= 2 ? r->ctrl[0] << 8 | r->ctrl[1] : 1005;

		if (r->ud)
			r->ev->peer_close(r->ud, code, (const char *)r->ctrl + 2,
					  r->clen >= 2 ? r->clen - 2 : 0);
		send_close(r, r->clen >= 2 ? code : 1000, "", 0);
		/* the server closes the TCP connection now: wait for it */
		if (!r->shutting) {
			r->shutting = 1;
			uv_shutdown(&r->shut, (uv_stream_t *)&r->tcp, on_shut);
		}
		break;
	}
	default:	/* pong */
		break;
	}
}

/* Parse frames in data[0..n); -1 to drop the connection. */
static int
frames(ws_raw *r, char *data, size_t n)
{
	while (n) {
		if (r->hlen < r->hneed) {		/* the header */
			size_t take = (size_t)(r->hneed - r->hlen);

			if (take > n)
				take = n;
			memcpy(r->hdr + r->hlen, data, take);
			r->hlen += (int)take;
			data += take;
			n -= take;
			if (r->hlen < r->hneed)
				break;
			if (r->hneed == 2) {
				int l7 = r->hdr[1] & 0x7f;

				r->masked = r->hdr[1] >> 7;
				r->hneed = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0)
					   + (r->masked ? 4 : 0);
				if (r->hneed > 2)
					continue;
			}
			/* the header is whole */
			{
				int l7 = r->hdr[1] & 0x7f, i, at = 2;
				uint64_t len = (uint64_t)l7;

				if (l7 == 126) {
					len = (uint64_t)r->hdr[2] << 8 | r->hdr[3];
					at = 4;
				} else if (l7 == 127) {
					for (len = 0, i = 0; i < 8; i++)
						len = len << 8 | r->hdr[2 + i];
					at = 10;
				}
				if (r->masked)
					memcpy(r->mask, r->hdr + at, 4);
				r->mpos = 0;
				r->fin = r->hdr[0] >> 7;
				r->op = r->hdr[0] & 0x0f;
				r->left = len;
				r->clen = 0;
			}
			if (r->op >= OP_CLOSE) {
				if (r->left > sizeof(r->ctrl) || !r->fin)
					return -1;
			} else if (r->op == OP_CONT) {
				if (!r->in_msg)
					return -1;
			} else if (r->op == OP_TEXT || r->op == OP_BINARY) {
				if (r->in_msg)
					return -1;
				r->in_msg = 1;
				r->msg_first = 1;
				r->msg_binary = r->op == OP_BINARY;
			} else
				return -1;
		} else {				/* the payload */
			size_t take = r->left < n ? (size_t)r->left : n, i;

			if (r->masked)
				for (i = 0; i < take; i++)
					data[i] ^= (char)r->mask[r->mpos++ & 3];
			if (r->op >= OP_CLOSE) {
				memcpy(r->ctrl + r->clen, data, take);
				r->clen += take;
			} else if (r->ud && r->ev->piece(r->ud, data, take,
					r->msg_first, r->fin && take == r->left,
					r->msg_binary, (size_t)r->left))
				return -1;
			else
				r->msg_first = 0;
			r->left -= take;
			data += take;
			n -= take;
		}
		if (r->hlen == r->hneed && r->left == 0) {	/* frame done */
			if (r->op >= OP_CLOSE)
				control(r);
			else if (r->fin) {
				if (r->msg_first && r->ud &&	/* empty */
				    r->ev->piece(r->ud, "", 0, 1, 1,
						 r->msg_binary, 0))
					return -1;
				r->in_msg = 0;
			}
			r->hlen = 0;
			r->hneed = 2;
			if (r->state == R_DONE)
				return 0;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* the handshake                                                      */

static const char *
header_value(const char *head, const char *name, size_t *len)
{
	size_t nl = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p && p[2] != '\r') {
		const char *line = p + 2, *end = strstr(line, "\r\n");

		if (!end)
			break;
		if ((size_t)(end - line) > nl && line[nl] == ':' &&
		    !strncasecmp(line, name, nl)) {
			const char *v = line + nl + 1;

			while (*v == ' ' || *v == '\t')
				v++;
			*len = (size_t)(end - v);
			while (*len && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
				(*len)--;
			return v;
		}
		p = end;
	}
	return NULL;
}

/* the answer so far; frames after its end are parsed */
static void
handshake(ws_raw *r, char *data, size_t n)
{
	char *end, *rest;
	const char *v;
	size_t vlen, used;
	int status = 0;

	if (buf_add(&r->head, data, n) || buf_add(&r->head, "", 1)) {
		finish(r, "out of memory", 0);
		return;
	}
	r->head.len--;				/* keep the NUL out */
	end = strstr(r->head.p, "\r\n\r\n");
	if (!end) {
		if (r->head.len > HEAD_MAX)
			finish(r, "the WebSocket upgrade answer is too long", 0);
		return;
	}
	sscanf(r->head.p, "HTTP/%*d.%*d %d", &status);
	if (status != 101) {
		char msg[80];

		snprintf(msg, sizeof(msg), "ws upgrade response not 101 "
			 "(HTTP %d)", status);
		finish(r, msg, status);
		return;
	}
	v = header_value(r->head.p, "Sec-WebSocket-Accept", &vlen);
	if (!v || vlen != strlen(r->accept) || memcmp(v, r->accept, vlen)) {
		finish(r, "bad Sec-WebSocket-Accept in the upgrade answer", 0);
		return;
	}
	rest = end + 4;
	used = (size_t)(rest - r->head.p);
	r->state = R_OPEN;
	uv_timer_stop(&r->timer);
	r->hneed = 2;
	if (r->ud)
		r->ev->open(r->ud);
	if (r->state == R_OPEN && r->head.len > used &&
	    frames(r, rest, r->head.len - used))
		finish(r, "bad WebSocket frame", 0);
	buf_free(&r->head);
}

/* no buffer (UV_ENOBUFS, see on_read) while the owner is full */
static void
alloc_read(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	ws_raw *r = h->data;

	(void)hint;
	if (r->state == R_OPEN && r->ud && r->ev->full(r->ud))
		*b = uv_buf_init(NULL, 0);
	else
		*b = uv_buf_init(read_buf, sizeof(read_buf));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	ws_raw *r = s->data;

	(void)b;
	if (n == UV_ENOBUFS) {		/* full: wait for ws_raw_pause(r, 0) */
		uv_read_stop(s);
		r->reading = 0;
		r->paused = 1;
		return;
	}
	if (n < 0) {
		finish(r, r->state == R_OPEN ? NULL :
		       "connection closed during the handshake", 0);
		return;
	}
	if (r->state == R_HANDSHAKE)
		handshake(r, b->base, (size_t)n);
	else if (r->state == R_OPEN && frames(r, b->base, (size_t)n))
		finish(r, "bad WebSocket frame", 0);
}

static void
start_reading(ws_raw *r)
{
	if (!r->reading && !r->paused && r->state != R_DONE) {
		uv_read_start((uv_stream_t *)&r->tcp, alloc_read, on_read);
		r->reading = 1;
	}
}

static void
on_connect(uv_connect_t *req, int status)
{
	ws_raw *r = req->data;
	char msg[120];

	if (r->state == R_DONE)
		return;
	if (status < 0) {
		snprintf(msg, sizeof(msg), "cannot connect: %s",
			 uv_strerror(status));
		finish(r, msg, 0);
		return;
	}
	uv_tcp_nodelay(&r->tcp, 1);
	r->state = R_HANDSHAKE;
	if (write_raw(r, r->request, strlen(r->request), 0)) {
		finish(r, "cannot send the WebSocket upgrade", 0);
		return;
	}
	start_reading(r);
}

static void
connect_to(ws_raw *r, const struct sockaddr *sa)
{
	r->connect.data = r;
	if (uv_tcp_connect(&r->connect, &r->tcp, sa, on_connect))
		finish(r, "cannot connect", 0);
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
	ws_raw *r = req->data;
	char msg[120];

	r->resolving = 0;
	if (r->state == R_DONE) {
		uv_freeaddrinfo(ai);
		maybe_free(r);
		return;
	}
	if (status < 0 || !ai) {
		snprintf(msg, sizeof(msg), "cannot resolve the host: %s",
			 uv_strerror(status));
		finish(r, msg, 0);
	} else
		connect_to(r, ai->ai_addr);
	uv_freeaddrinfo(ai);
}

ws_raw *
ws_raw_connect(oclua_runtime *rt, const char *host, int port,
	       const char *path, char **hdrs, const ws_raw_events *ev,
	       void *ud, const char **err)
{
	ws_raw *r = calloc(1, sizeof(*r));
	unsigned char key[16], sha[20];
	char key64[32], both[80];
	struct sockaddr_storage ss;
	buf q = { 0 };
	char **h;
	int bad = 0;

	*err = "out of memory";
	if (!r)
		return NULL;
	if (uv_random(NULL, NULL, key, sizeof(key), 0, NULL)) {
		*err = "no random bytes";
		free(r);
		return NULL;
	}
	lws_b64_encode_string((const char *)key, sizeof(key), key64,
			      sizeof(key64));
	snprintf(both, sizeof(both), "%s" WS_GUID, key64);
	lws_SHA1((const unsigned char *)both, strlen(both), sha);
	lws_b64_encode_string((const char *)sha, sizeof(sha), r->accept,
			      sizeof(r->accept));
	bad |= buf_add(&q, "GET ", 4) || buf_add(&q, path, strlen(path));
	{
		char line[600];

		snprintf(line, sizeof(line), " HTTP/1.1\r\nHost: %s:%d\r\n"
			 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\n"
			 "Sec-WebSocket-Version: 13\r\n", host, port, key64);
		bad |= buf_add(&q, line, strlen(line));
	}
	for (h = hdrs; h && h[0]; h += 2)	/* "name:", "value" */
		bad |= buf_add(&q, h[0], strlen(h[0])) || buf_add(&q, " ", 1) ||
		       buf_add(&q, h[1], strlen(h[1])) ||
		       buf_add(&q, "\r\n", 2);
	bad |= buf_add(&q, "\r\n", 3);		/* with the NUL */
	if (bad) {
		buf_free(&q);
		free(r);
		return NULL;
	}
	r->request = q.p;
	r->rt = rt;
	r->ev = ev;
	r->ud = ud;
	r->port = port;
	r->state = R_CONNECTING;
	uv_tcp_init(rt->loop, &r->tcp);
	uv_timer_init(rt->loop, &r->timer);
	r->tcp.data = r->timer.data = r->gai.data = r;
	r->handles = 2;
	r->pending.cancel = pending_cancel;
	ocl_pending_add(rt, &r->pending);
	uv_timer_start(&r->timer, on_timeout, OPEN_TIMEOUT, 0);
	if (!uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) ||
	    !uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss))
		connect_to(r, (struct sockaddr *)&ss);
	else {
		struct addrinfo hints;
		char ps[8];

		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		snprintf(ps, sizeof(ps), "%d", port);
		r->resolving = 1;
		if (uv_getaddrinfo(rt->loop, &r->gai, on_resolved, host, ps,
				   &hints)) {
			r->resolving = 0;
			finish(r, "cannot resolve the host", 0);
		}
	}
	*err = NULL;
	return r;
}

size_t
ws_raw_send(ws_raw *r, const void *p, size_t n, int binary)
{
	if (r->state == R_OPEN && !r->sent_close)
		write_frame(r, binary ? OP_BINARY : OP_TEXT, p, n);
	return r->queued;
}

void
ws_raw_pause(ws_raw *r, int pause)
{
	r->paused = pause;
	if (pause && r->reading) {
		uv_read_stop((uv_stream_t *)&r->tcp);
		r->reading = 0;
	} else if (!pause && r->state >= R_HANDSHAKE)
		start_reading(r);
}

void
ws_raw_close(ws_raw *r, int code, const char *reason)
{
	if (r->state == R_DONE)
		return;
	if (r->state != R_OPEN) {
		finish(r, "closed before it was open", 0);
		return;
	}
	send_close(r, code, reason, strlen(reason));
	ws_raw_pause(r, 0);		/* read on, for the peer's close */
}

void
ws_raw_detach(ws_raw *r)
{
	r->ud = NULL;
	if (r->state == R_OPEN)
		ws_raw_close(r, 1001, "");
	else
		finish(r, NULL, 0);
}
