/*
 * ws_raw.c - the plain-TCP WebSocket transport (see ws_raw.h): as a
 * client, resolve, connect and upgrade on a libuv TCP handle; as a
 * server, adopt a socket whose handshake is answered; then frames, read
 * and written by ws_frame.c. Payloads are unmasked in the read buffer and
 * handed to the owner in bulk; a connection keeps no buffer of its own
 * between reads (one read buffer serves every connection of the thread).
 *
 * The end of a connection follows RFC 6455: a close frame is answered
 * with one carrying the same code (5.5.1); a peer that breaks a rule gets
 * a close frame with the code ws_frame.c names, then our side of TCP is
 * shut down (7.1.7). Either way what the peer still sends is read and
 * dropped until it closes too or CLOSE_TIMEOUT passes, so it reads our
 * close frame rather than a reset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "runtime/buf.h"
#include "client/ws_frame.h"
#include "client/ws_raw.h"

#define HEAD_MAX	(16u << 10)	/* the server's handshake answer */
#define OPEN_TIMEOUT	60000		/* ms, from connect to open */
#define CLOSE_TIMEOUT	5000		/* ms, for the peer's close */
#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* R_CLOSING: our side is shut down, the peer's bytes are dropped */
enum { R_CONNECTING, R_HANDSHAKE, R_OPEN, R_CLOSING, R_DONE };

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
	int		role;		/* WS_CLIENT or WS_SERVER */
	int		state, reading, paused, resolving;
	int		sent_close;
	char		*request;	/* a client's handshake request */
	char		accept[32];	/* the Sec-WebSocket-Accept expected */
	char		retry_after[64];	/* of a refused upgrade */
	buf		head;		/* a client: the answer, until its end;
					 * a server: bytes read with the head */
	ws_parser	parser;
	size_t		queued;		/* handed to uv_write, not written */
};

typedef struct out_req {
	uv_write_t	req;
	ws_raw		*r;
	size_t		n;
	char		data[];
} out_req;

static _Thread_local unsigned char read_buf[64 << 10];

static void start_reading(ws_raw *r);

void
ws_raw_accept_value(const char *key, size_t n, char out[29])
{
	unsigned char both[64 + sizeof(WS_GUID)], sha[20];
	unsigned len;

	if (n > 64)		/* a key is 24 bytes */
		n = 64;
	memcpy(both, key, n);
	memcpy(both + n, WS_GUID, sizeof(WS_GUID) - 1);
	EVP_Digest(both, n + sizeof(WS_GUID) - 1, sha, &len, EVP_sha1(),
		   NULL);
	EVP_EncodeBlock((unsigned char *)out, sha, sizeof(sha));
}

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

/* the owner hears of the end, once */
static void
tell_ended(ws_raw *r, const char *error, int status)
{
	void *ud = r->ud;

	r->ud = NULL;
	if (ud)
		r->ev->ended(ud, error, status,
			     r->retry_after[0] ? r->retry_after : NULL);
}

/* the end: tell the owner (once), close the handles */
static void
finish(ws_raw *r, const char *error, int status)
{
	if (r->state == R_DONE)
		return;
	r->state = R_DONE;
	ocl_pending_del(&r->pending);
	tell_ended(r, error, status);
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

	finish(r, r->state >= R_OPEN ? NULL :
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

/* queue a header of hl bytes and a payload of n (counted in r->queued),
 * the payload masked with `key` when not NULL. An unmasked frame goes
 * out at once when the socket takes it (nothing queued before it): only
 * what it does not take is copied and queued. */
static int
write_out(ws_raw *r, const void *hdr, size_t hl, const void *p, size_t n,
	  const unsigned char *key)
{
	out_req *o;
	uv_buf_t b;
	size_t done = 0;

	if (!key) {
		uv_buf_t bufs[2] = {
			uv_buf_init((char *)hdr, (unsigned)hl),
			uv_buf_init((char *)p, (unsigned)n)
		};
		int w = uv_try_write((uv_stream_t *)&r->tcp, bufs,
				     n ? 2 : 1);

		if (w > 0)
			done = (size_t)w;
		if (done == hl + n)
			return 0;
	}
	o = malloc(sizeof(*o) + hl + n - done);
	if (!o)
		return -1;
	o->r = r;
	o->n = done > hl ? n - (done - hl) : n;
	if (done < hl)
		memcpy(o->data, (const char *)hdr + done, hl - done);
	if (n)
		memcpy(o->data + (done < hl ? hl - done : 0),
		       (const char *)p + (done > hl ? done - hl : 0), o->n);
	if (key)
		ws_frame_mask((unsigned char *)o->data + hl, n, key, 0);
	b = uv_buf_init(o->data, (unsigned)(hl + n - done));
	if (uv_write(&o->req, (uv_stream_t *)&r->tcp, &b, 1, on_written)) {
		free(o);
		return -1;
	}
	r->queued += o->n;
	return 0;
}

/* one frame, masked by a client (RFC 6455 5.3), not by a server (5.1) */
static int
write_frame(ws_raw *r, int op, const void *p, size_t n)
{
	unsigned char h[WS_HEADER_MAX], key[4], *k = NULL;
	size_t hl;

	if (r->role == WS_CLIENT) {
		if (uv_random(NULL, NULL, key, 4, 0, NULL))
			memset(key, 0x5a, 4);
		k = key;
	}
	hl = ws_frame_header(h, 1, op, n, k);
	return write_out(r, h, hl, p, n, k);
}

static void
on_shut(uv_shutdown_t *req, int status)
{
	(void)status;
	(void)req;
}

/* our close frame (a reason cut at a character, to stay UTF-8) */
static void
send_close(ws_raw *r, int code, const char *reason, size_t n)
{
	unsigned char p[WS_CONTROL_MAX];

	if (r->sent_close)
		return;
	r->sent_close = 1;
	if (n > sizeof(p) - 2) {
		n = sizeof(p) - 2;
		while (n && ((unsigned char)reason[n] & 0xc0) == 0x80)
			n--;
	}
	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	memcpy(p + 2, reason, n);
	write_frame(r, WS_OP_CLOSE, p, code != WS_CLOSE_NO_CODE ? n + 2 : 0);
	uv_timer_start(&r->timer, on_timeout, CLOSE_TIMEOUT, 0);
}

/* the closing handshake is done on our side: shut TCP down once our
 * frames are out, drop what comes until the peer closes (7.1.1) */
static void
shut_down(ws_raw *r)
{
	if (r->state != R_OPEN)
		return;
	r->state = R_CLOSING;
	uv_shutdown(&r->shut, (uv_stream_t *)&r->tcp, on_shut);
	uv_timer_start(&r->timer, on_timeout, CLOSE_TIMEOUT, 0);
	r->paused = 0;
	start_reading(r);
}

/* the peer broke a rule: close frame with `code`, then TCP (7.1.7) */
static void
fail(ws_raw *r, int code, const char *why)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "WebSocket protocol error (%d): %s", code,
		 why);
	send_close(r, code, why, strlen(why));
	shut_down(r);
	tell_ended(r, msg, 0);
}

/* ------------------------------------------------------------------ */
/* frames                                                             */

static void
peer_closed(ws_raw *r, const ws_event *e)
{
	if (r->ud)
		r->ev->peer_close(r->ud, e->code, (const char *)e->p, e->n);
	send_close(r, e->code, "", 0);		/* the same code (5.5.1) */
	shut_down(r);
}

/* Read frames in data[0..n) while the connection is open. */
static void
frames(ws_raw *r, unsigned char *data, size_t n)
{
	ws_event e;

	while (n && r->state == R_OPEN) {
		size_t used = ws_parse(&r->parser, data, n, &e);

		data += used;
		n -= used;
		switch (e.type) {
		case WS_EV_DATA:
			if (r->ud && r->ev->piece(r->ud, (const char *)e.p, e.n,
						  e.first, e.final, e.binary,
						  (size_t)e.frame_left))
				fail(r, 1011, "the message cannot be kept");
			break;
		case WS_EV_PING:
			if (!r->sent_close)
				write_frame(r, WS_OP_PONG, e.p, e.n);
			break;
		case WS_EV_CLOSE:
			peer_closed(r, &e);
			break;
		case WS_EV_ERROR:
			fail(r, e.code, e.why);
			break;
		default:	/* a pong, or nothing yet */
			break;
		}
	}
}

/* ------------------------------------------------------------------ */
/* the client's handshake                                             */

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

/* the answer so far; frames after its end are read */
static void
handshake(ws_raw *r, unsigned char *data, size_t n)
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
		v = header_value(r->head.p, "Retry-After", &vlen);
		if (v && vlen < sizeof(r->retry_after)) {
			memcpy(r->retry_after, v, vlen);
			r->retry_after[vlen] = 0;
		}
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
	if (r->ud)
		r->ev->open(r->ud);
	if (r->head.len > used)
		frames(r, (unsigned char *)rest, r->head.len - used);
	buf_free(&r->head);
}

/* ------------------------------------------------------------------ */
/* reading                                                            */

/* no buffer (UV_ENOBUFS, see on_read) while the owner is full */
static void
alloc_read(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	ws_raw *r = h->data;

	(void)hint;
	if (r->state == R_OPEN && r->ud && r->ev->full(r->ud))
		*b = uv_buf_init(NULL, 0);
	else
		*b = uv_buf_init((char *)read_buf, sizeof(read_buf));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	ws_raw *r = s->data;

	if (n == UV_ENOBUFS) {		/* full: wait for ws_raw_pause(r, 0) */
		uv_read_stop(s);
		r->reading = 0;
		r->paused = 1;
		return;
	}
	if (n < 0) {
		finish(r, r->state >= R_OPEN ? NULL :
		       "connection closed during the handshake", 0);
		return;
	}
	if (r->state == R_HANDSHAKE)
		handshake(r, (unsigned char *)b->base, (size_t)n);
	else if (r->state == R_OPEN)
		frames(r, (unsigned char *)b->base, (size_t)n);
	/* R_CLOSING: dropped */
}

static void
start_reading(ws_raw *r)
{
	if (!r->reading && !r->paused && r->state != R_DONE) {
		uv_read_start((uv_stream_t *)&r->tcp, alloc_read, on_read);
		r->reading = 1;
	}
}

/* ------------------------------------------------------------------ */
/* starting                                                           */

/* the parts both roles have; the timer is armed by the caller */
static ws_raw *
raw_new(oclua_runtime *rt, int role, size_t max_message,
	const ws_raw_events *ev, void *ud)
{
	ws_raw *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->rt = rt;
	r->ev = ev;
	r->ud = ud;
	r->role = role;
	ws_parser_init(&r->parser, role, max_message);
	uv_tcp_init(rt->loop, &r->tcp);
	uv_timer_init(rt->loop, &r->timer);
	r->tcp.data = r->timer.data = r->gai.data = r;
	r->handles = 2;
	r->pending.cancel = pending_cancel;
	ocl_pending_add(rt, &r->pending);
	return r;
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
	if (write_out(r, r->request, strlen(r->request), NULL, 0, NULL)) {
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

/* the handshake request (RFC 6455 4.1) and the answer it wants */
static char *
client_request(ws_raw *r, const char *host, int port, const char *path,
	       char **hdrs)
{
	unsigned char key[16];
	char key64[32], line[600];
	buf q = { 0 };
	char **h;
	int bad = 0;

	if (uv_random(NULL, NULL, key, sizeof(key), 0, NULL))
		return NULL;
	EVP_EncodeBlock((unsigned char *)key64, key, sizeof(key));
	ws_raw_accept_value(key64, strlen(key64), r->accept);
	bad |= buf_add(&q, "GET ", 4) || buf_add(&q, path, strlen(path));
	snprintf(line, sizeof(line), " HTTP/1.1\r\nHost: %s:%d\r\n"
		 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: %s\r\n"
		 "Sec-WebSocket-Version: 13\r\n", host, port, key64);
	bad |= buf_add(&q, line, strlen(line));
	for (h = hdrs; h && h[0]; h += 2)	/* "name:", "value" */
		bad |= buf_add(&q, h[0], strlen(h[0])) || buf_add(&q, " ", 1) ||
		       buf_add(&q, h[1], strlen(h[1])) ||
		       buf_add(&q, "\r\n", 2);
	bad |= buf_add(&q, "\r\n", 3);		/* with the NUL */
	if (bad) {
		buf_free(&q);
		return NULL;
	}
	return q.p;
}

/* localhost and every name under it are the loopback (RFC 6761 6.3), as
 * libcurl and browsers resolve them (preview URLs of the local server:
 * <id>-p<port>.localhost), whatever the system's resolver says */
static int
is_localhost(const char *host)
{
	size_t n = strlen(host);

	if (n && host[n - 1] == '.')
		n--;
	return (n == 9 && !strncasecmp(host, "localhost", 9)) ||
	       (n > 10 && !strncasecmp(host + n - 10, ".localhost", 10));
}

ws_raw *
ws_raw_connect(oclua_runtime *rt, const char *host, int port,
	       const char *path, char **hdrs, size_t max_message,
	       const ws_raw_events *ev, void *ud, const char **err)
{
	struct sockaddr_storage ss;
	ws_raw *r;

	*err = "out of memory";
	r = raw_new(rt, WS_CLIENT, max_message, ev, ud);
	if (!r)
		return NULL;
	r->request = client_request(r, host, port, path, hdrs);
	if (!r->request) {
		r->ud = NULL;
		finish(r, NULL, 0);
		return NULL;
	}
	r->state = R_CONNECTING;
	uv_timer_start(&r->timer, on_timeout, OPEN_TIMEOUT, 0);
	if (!uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) ||
	    !uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss))
		connect_to(r, (struct sockaddr *)&ss);
	else if (is_localhost(host) &&
		 !uv_ip4_addr("127.0.0.1", port, (struct sockaddr_in *)&ss))
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

/* a server's connection is open on the loop's next turn, once its owner
 * holds it: then the bytes read with the request head are read */
static void
on_accepted(uv_timer_t *t)
{
	ws_raw *r = t->data;

	if (r->state != R_OPEN)
		return;
	if (r->ud)
		r->ev->open(r->ud);
	if (r->head.len)
		frames(r, (unsigned char *)r->head.p, r->head.len);
	buf_free(&r->head);
	start_reading(r);
}

ws_raw *
ws_raw_accept(oclua_runtime *rt, int fd, const char *answer, size_t alen,
	      const char *rest, size_t rlen, size_t max_message,
	      const ws_raw_events *ev, void *ud, const char **err)
{
	ws_raw *r = raw_new(rt, WS_SERVER, max_message, ev, ud);

	*err = "out of memory";
	if (!r) {
		close(fd);
		return NULL;
	}
	r->state = R_OPEN;
	if (uv_tcp_open(&r->tcp, fd)) {
		close(fd);
		*err = "cannot adopt the connection";
		r->ud = NULL;
		finish(r, NULL, 0);
		return NULL;
	}
	uv_tcp_nodelay(&r->tcp, 1);
	if (buf_add(&r->head, rest, rlen) ||
	    write_out(r, answer, alen, NULL, 0, NULL)) {
		*err = "cannot answer the WebSocket handshake";
		r->ud = NULL;
		finish(r, NULL, 0);
		return NULL;
	}
	uv_timer_start(&r->timer, on_accepted, 0, 0);
	*err = NULL;
	return r;
}

/* ------------------------------------------------------------------ */
/* the owner's calls                                                  */

size_t
ws_raw_send(ws_raw *r, const void *p, size_t n, int binary)
{
	if (r->state == R_OPEN && !r->sent_close)
		write_frame(r, binary ? WS_OP_BINARY : WS_OP_TEXT, p, n);
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
	if (r->state >= R_CLOSING)
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
		ws_raw_close(r, WS_CLOSE_GOING_AWAY, "");
	else if (r->state != R_CLOSING)
		finish(r, NULL, 0);
}
