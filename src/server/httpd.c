/*
 * httpd.c - the HTTP/1.1 server primitive of the local sandbox server, on
 * the runtime's loop: libuv TCP, requests framed and checked by http1.c
 * (RFC 9112, strictly: chunked bodies, keep-alive, pipelining and
 * upgrades done right), and WebSocket upgrades handed to httpd_ws.c (it
 * answers the opening handshake; the socket is dup()ed and adopted with
 * the bytes read after the request head, and the connection is then an
 * ordinary websocket.c connection object).
 *
 *     srv = core.http_listen(host, port [, opts])
 *                              raises when it cannot listen; opts:
 *                              header_timeout, idle_timeout, body_timeout,
 *                              send_timeout (seconds, 0: none),
 *                              max_connections
 *     srv:port() ; srv:close()
 *     req = srv:accept()       yields for the next request (head parsed);
 *                              nil once the server is closed
 *     req.method, req.path (decoded), req.raw_path, req.query (decoded
 *     table, first value wins), req.target (the request-target as sent),
 *     req.headers (lower-case names, repeats joined with ", "),
 *     req.upgrade (a WebSocket upgrade)
 *     req:read()               next body piece, nil at the end (yields);
 *                              raises if the body was cut short
 *     req:respond(status, headers, body)
 *     req:start(status, headers [, length])   chunked without a length
 *     req:write(chunk) ; req:finish() ; req:closed()
 *     ws = req:accept_websocket()             yields until open; nil when
 *                              the handshake was bad (refused with 400/426)
 *     t = req:tunnel(fd)       the connection and the connected socket fd
 *                              joined both ways (tunnel.c), the request
 *                              sent on to fd first as it came
 *
 * A connection serves one request at a time: the next pipelined request is
 * parsed once the response to the previous one is complete. Memory is
 * bounded both ways: past BODY_HIGH bytes of request body waiting for
 * read(), the socket is not read until read() has taken them; past
 * OUT_HIGH response bytes queued, respond/write/finish wait.
 *
 * Bad input never reaches Lua: what http1.c refuses is answered here
 * with its status (400, 414, 431, 501, 505) and reason as JSON, and the
 * connection closes. When the body of a request already handed to Lua
 * turns out malformed, the handler's read() raises "malformed request
 * body: <reason>" and the client gets the 400 unless the response has
 * begun (then the connection just closes).
 *
 * Timeouts and the connection cap (defaults; core.http_listen's opts):
 * - idle_timeout (IDLE_TIMEOUT, 30 s): a connection with no request under
 *   way (before its first byte, or between keep-alive requests) is
 *   closed, without an answer (RFC 9112 9.5).
 * - header_timeout (HEAD_TIMEOUT, 10 s): a head must be complete within
 *   this time of its first byte, else 408 and close.
 * - body_timeout (BODY_TIMEOUT, 60 s): a body still to come must move
 *   (a byte, of data or of chunked framing: sizes, extensions, trailer
 *   fields, RFC 9112 7.1) within this time, else 408 (or a plain close
 *   once the response has begun) and read() raises "request body timed
 *   out".
 *   No timeout runs while the handler has the request and waits for
 *   nothing from the client, nor while its body is held back because the
 *   handler reads slowly.
 * - send_timeout (SEND_TIMEOUT, 60 s): queued response bytes the client
 *   takes none of (the socket buffer stays full) for this time close the
 *   connection; the handler's write() raises. Checked every quarter of
 *   it, so the close comes within 1.25 times the timeout.
 * - A closing connection drains what the client still sends for at most
 *   LINGER_TIMEOUT (5 s, less when idle_timeout is less).
 * - max_connections (default: half of the descriptors the soft
 *   RLIMIT_NOFILE leaves after FD_RESERVE; the oclua binary raises the
 *   soft limit to the hard one at start, src/cli/main.c): a connection
 *   past it is accepted, answered `503` with `Retry-After: 1` and
 *   `Connection: close`, and closed, so the server keeps descriptors for
 *   its sandboxes and for /health. Past a quarter more (refused ones
 *   linger a moment), a new connection gets the same 503 but is closed
 *   at once, with no lingering (conn_shed).
 *
 * Choices where the contract is silent:
 * - `Expect: 100-continue` is answered when the handler first calls read()
 *   and no body byte has arrived yet, so a handler that refuses a request
 *   (401, 413) never makes the client send the body.
 * - A body the handler did not read is discarded after the response, so
 *   the connection stays usable, when at most DISCARD_MAX bytes of it are
 *   left; with more (or an unanswered 100-continue) the response says
 *   `Connection: close`.
 * - Closing after a response is graceful: our side is shut down once the
 *   response is written, and what the client still sends is drained until
 *   it closes (at most LINGER_MAX bytes), so the client reads the response
 *   rather than a reset.
 * - The handler's Content-Length, Transfer-Encoding and Connection headers
 *   are replaced by the framing this file computes; an X-Request-Id given
 *   by the handler replaces the request's.
 * - A response to a client that has gone is dropped without an error by
 *   respond() and finish(); write() raises.
 * - A request object that is collected (or closed by `<close>`) without a
 *   complete response: 500 if nothing was sent, else the connection is
 *   closed.
 *
 * Lifetimes: a request (hreq) is freed once no userdata, no connection and
 * no ready queue holds it; a connection (hconn) in its handle's close
 * callback; the server when its userdata is collected, its listening
 * handle closed and its last connection freed.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <http_parser.h>

#include "runtime/buf.h"
#include "server/http1.h"
#include "server/httpd.h"
#include "runtime/runtime.h"

#define SRV_MT		"oclua.http_server"
#define REQ_MT		"oclua.http_server_request"
#define BODY_HIGH	(1u << 20)	/* body waiting for read(): stop reading */
#define BODY_LOW	(256u << 10)	/* ... and read again below this */
#define OUT_HIGH	(1u << 20)	/* response bytes queued: writers wait */
#define IN_HIGH		(1u << 20)	/* unparsed (pipelined) bytes: stop */
#define DISCARD_MAX	(1u << 20)	/* unread body dropped to keep alive */
#define LINGER_MAX	(4u << 20)	/* drained after our FIN, at most */
#define READ_SIZE	(64u << 10)
#define ID_MAX		128		/* longest X-Request-Id echoed */
#define HEAD_TIMEOUT	10000	/* ms from a head's first byte to its end */
#define IDLE_TIMEOUT	30000	/* ms without a request on a connection */
#define BODY_TIMEOUT	60000	/* ms without a byte of an awaited body */
#define SEND_TIMEOUT	60000	/* ms without a byte of a response taken */
#define LINGER_TIMEOUT	5000	/* ms of draining after our FIN, at most */
#define FD_RESERVE	256	/* descriptors kept from connections */
#define RETRY_AFTER	1	/* s, in the 503 to a connection over the cap */
#define ERROR_MAX	768	/* bytes of an error response C composes */
#define SHED_DRAIN	READ_SIZE	/* bytes read off a shed connection */

/* the timeout that applies to a connection (conn_phase) */
enum { T_NONE, T_IDLE, T_HEAD, T_BODY, T_LINGER, T_COUNT };

typedef struct server server;
typedef struct hconn hconn;
typedef struct hreq hreq;

struct server {
	ocl_pending	pending;	/* linked until freed */
	oclua_runtime	*rt;
	uv_tcp_t	tcp;
	int		port;
	int		handle_open;	/* tcp's close callback has not run */
	int		listening;	/* counted in rt->active */
	int		gone;		/* userdata collected */
	int		task;		/* in accept(), or LUA_NOREF */
	hreq		*ready_head, *ready_tail;	/* parsed, not accepted */
	hconn		*conns;
	int		nconns;		/* in conns */
	int		max_conns;	/* more get 503 */
	uint64_t	timeout[T_COUNT];	/* ms for each phase; 0: none */
	uint64_t	send_ms;	/* send_timeout; 0: none */
};

enum { C_OPEN, C_LINGER, C_DEAD };

struct hconn {
	server		*srv;
	hconn		*next;
	uv_tcp_t	tcp;
	uv_timer_t	timer;		/* the phase's timeout */
	uv_timer_t	send_timer;	/* runs while output is queued */
	uv_shutdown_t	shut;
	http1		h1;
	int		handles;	/* tcp and the timers until closed */
	int		state;		/* C_OPEN, C_LINGER (shut down), C_DEAD */
	int		phase;		/* T_*: which timeout runs */
	uint64_t	since;		/* loop ms when the phase (or body
					 * progress) began */
	int		reading;	/* uv_read_start in effect */
	int		eof;		/* the client will send nothing more */
	int		close_after;	/* close once this response is done */
	int		discarding;	/* dropping a finished request's body */
	uint64_t	dropped;	/* bytes discarded or drained */
	size_t		out_pending;	/* bytes handed to uv_write */
	uint64_t	out_total;	/* ... ever */
	uint64_t	sent;		/* bytes the socket had taken at */
	uint64_t	sent_at;	/* this loop ms */
	hreq		*req;		/* the request being read or answered */
	buf		in;		/* read, not yet parsed */
};

typedef struct chunk {
	struct chunk	*next;
	size_t		len;
	char		data[];
} chunk;

struct hreq {
	hconn		*conn;		/* while its connection serves it */
	oclua_runtime	*rt;
	hreq		*next_ready;
	int		queued;		/* in the server's ready queue */
	int		lua;		/* a userdata holds it */
	int		task;		/* in read/respond/write/finish */
	/* the request */
	int		method, minor, keep_alive, head_only, upgrade;
	int		expect_continue, continue_sent;
	char		id[ID_MAX + 1];
	char		*url;		/* then the header strings */
	size_t		path_off, path_len;	/* in url */
	size_t		query_off, query_len;	/* query_len 0: none */
	int		nh;
	char		**hn, **hv;
	/* its body */
	chunk		*body_head, *body_tail;
	size_t		body_queued;
	int		body_full;	/* reading stopped for it */
	int		body_done;
	const char	*body_error;	/* why it ended early */
	const char	*body_why;	/* and the detail, or NULL */
	int64_t		body_length;	/* -1: chunked */
	uint64_t	body_seen;
	/* the response */
	int		started, complete, chunked, no_body;
	int		flushing;	/* tunnel(): waits for out_pending 0 */
	int64_t		length;		/* Content-Length of start(), or -1 */
	uint64_t	sent;
	int		client_gone;
};

static void conn_close(hconn *c);
static void conn_linger(hconn *c);
static void conn_parse(hconn *c);
static void conn_sync_reading(hconn *c);
static void conn_request_done(hconn *c);

/* ------------------------------------------------------------------ */
/* small helpers                                                      */

static const char *
reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 422: return "Unprocessable Entity";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	default: return "Status";
	}
}

/* 16 hex digits, unique in this process and hard to guess */
static void
new_request_id(char *out, size_t size)
{
	static _Thread_local uint64_t key, next;
	uint64_t z;

	if (!key && uv_random(NULL, NULL, &key, sizeof(key), 0, NULL))
		key = uv_hrtime() | 1;
	z = key + ++next * 0x9e3779b97f4a7c15ULL;	/* splitmix64 */
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	snprintf(out, size, "%016llx", (unsigned long long)z);
}

/* a client's X-Request-Id is echoed when it is short visible ASCII */
static int
usable_request_id(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > ID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* push the decoding of [p, p+n) (checked by http1_escapes_ok); '+' is a
 * space when `plus` */
static void
push_decoded(lua_State *L, const char *p, size_t n, int plus)
{
	luaL_Buffer b;
	char *out = luaL_buffinitsize(L, &b, n);

	luaL_pushresultsize(&b, http1_unescape(out, p, n, plus));
}

static void
chunks_free(chunk *c)
{
	while (c) {
		chunk *n = c->next;

		free(c);
		c = n;
	}
}

static const char *
req_header(const hreq *r, const char *name)
{
	int i;

	for (i = 0; i < r->nh; i++)
		if (!strcmp(r->hn[i], name))
			return r->hv[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* requests: waiting, waking, freeing                                 */

/* free once nothing holds it: no userdata, connection or ready queue */
static void
req_maybe_free(hreq *r)
{
	if (r->lua || r->conn || r->queued)
		return;
	chunks_free(r->body_head);
	free(r->url);
	free(r->hn);
	free(r);
}

/* a task waiting on the request keeps the runtime alive meanwhile */
static int
req_wait(lua_State *L, hreq *r, lua_KFunction k)
{
	if (r->task != LUA_NOREF)
		return luaL_error(L, "another task is already waiting on this "
				  "request");
	r->task = ocl_task_pin(L);
	r->rt->active++;
	return ocl_suspend(L, 0, k);
}

static void
req_wake(hreq *r)
{
	int t = r->task;

	if (t != LUA_NOREF) {
		r->task = LUA_NOREF;
		r->rt->active--;
		ocl_wake(r->rt, NULL, t);
	}
}

/* the connection lets go of its request; `why`: the body was cut short */
static void
req_detach(hreq *r, const char *why)
{
	hconn *c = r->conn;

	if (c && c->req == r)
		c->req = NULL;
	r->conn = NULL;
	if (why) {
		r->client_gone = 1;
		if (!r->body_done && !r->body_error)
			r->body_error = why;
	}
	req_wake(r);
	req_maybe_free(r);
}

/* ------------------------------------------------------------------ */
/* output                                                             */

typedef struct out_write {
	uv_write_t	req;
	hconn		*conn;
	size_t		len;
	char		data[];
} out_write;

/* the queue fell to OUT_HIGH: writers go on, a complete response lets
 * the connection move on */
static void
conn_drained(hconn *c)
{
	hreq *r = c->req;

	if (!r)
		return;
	req_wake(r);
	if (r->complete)
		conn_request_done(c);
}

static void
written(uv_write_t *w, int status)
{
	out_write *o = (out_write *)w;
	hconn *c = o->conn;
	size_t was = c->out_pending;

	c->out_pending -= o->len;
	free(o);
	if (status < 0)
		conn_close(c);
	else if (c->state == C_OPEN && was > OUT_HIGH &&
		 c->out_pending <= OUT_HIGH)
		conn_drained(c);
	else if (c->state == C_OPEN && !c->out_pending && c->req &&
		 c->req->flushing)
		req_wake(c->req);	/* tunnel(): the earlier answers are out */
}

/* bytes of output the socket has taken so far (written ones, and the
 * taken part of a write under way) */
static uint64_t
conn_sent(const hconn *c)
{
	return c->out_total -
	       uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

/* send_timer, every quarter of send_timeout while output is queued: a
 * client that takes no byte of it for send_timeout is dropped */
static void
conn_send_check(uv_timer_t *t)
{
	hconn *c = t->data;
	uint64_t now = uv_now(c->srv->rt->loop), sent = conn_sent(c);

	if (!c->out_pending)
		uv_timer_stop(t);
	else if (sent != c->sent) {
		c->sent = sent;
		c->sent_at = now;
	} else if (now - c->sent_at >= c->srv->send_ms)
		conn_close(c);
}

/* output was queued: watch that it moves */
static void
conn_watch_send(hconn *c)
{
	uint64_t tick = c->srv->send_ms / 4 + 1;

	if (!c->srv->send_ms || uv_is_active((uv_handle_t *)&c->send_timer))
		return;
	c->sent = conn_sent(c);
	c->sent_at = uv_now(c->srv->rt->loop);
	uv_timer_start(&c->send_timer, conn_send_check, tick, tick);
}

/* queue the concatenation of `n` pieces in one write */
static int
send_pieces(hconn *c, const uv_buf_t *piece, int n)
{
	size_t len = 0, off = 0;
	out_write *o;
	uv_buf_t b;
	int i;

	if (c->state != C_OPEN)
		return -1;
	for (i = 0; i < n; i++)
		len += piece[i].len;
	if (len == 0)
		return 0;
	o = malloc(sizeof(*o) + len);
	if (!o) {
		conn_close(c);
		return -1;
	}
	o->conn = c;
	o->len = len;
	for (i = 0; i < n; i++) {
		if (piece[i].len)
			memcpy(o->data + off, piece[i].base, piece[i].len);
		off += piece[i].len;
	}
	b = uv_buf_init(o->data, (unsigned)len);
	if (uv_write(&o->req, (uv_stream_t *)&c->tcp, &b, 1, written)) {
		free(o);
		conn_close(c);
		return -1;
	}
	c->out_pending += len;
	c->out_total += len;
	conn_watch_send(c);
	return 0;
}

static int
send_bytes(hconn *c, const char *p, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);

	return send_pieces(c, &b, 1);
}

/* a JSON error answer C gives by itself, with `extra` header lines and
 * `Connection: close`, in out[ERROR_MAX]: its length (0: too long) */
static size_t
error_response(char *out, int status, const char *msg, const char *id,
	       const char *extra)
{
	char rid[ID_MAX + 1];
	int n;

	if (!id) {
		new_request_id(rid, sizeof(rid));
		id = rid;
	}
	n = snprintf(out, ERROR_MAX, "HTTP/1.1 %d %s\r\n"
		     "Content-Type: application/json\r\n"
		     "Content-Length: %zu\r\nX-Request-Id: %s\r\n%s"
		     "Connection: close\r\n\r\n{\"error\":\"%s\"}", status,
		     reason(status), strlen(msg) + 12, id, extra ? extra : "",
		     msg);
	return n > 0 && n < ERROR_MAX ? (size_t)n : 0;
}

/* send error_response(); the connection closes after it */
static void
send_error(hconn *c, int status, const char *msg, const char *id,
	   const char *extra)
{
	char out[ERROR_MAX];
	size_t n = error_response(out, status, msg, id, extra);

	if (n)
		send_bytes(c, out, n);
	c->close_after = 1;
}

/* the 503 to a connection over the cap, in out[ERROR_MAX]: its length */
static size_t
refusal(char *out)
{
	char extra[40];

	snprintf(extra, sizeof(extra), "Retry-After: %d\r\n", RETRY_AFTER);
	return error_response(out, 503, "too many connections", NULL, extra);
}

/* ------------------------------------------------------------------ */
/* the connection's state                                             */

static void
conn_unlink(hconn *c)
{
	hconn **pp;

	for (pp = &c->srv->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			c->srv->nconns--;
			return;
		}
}

static void server_maybe_free(server *s);

/* the socket's or a timer's close callback: freed after all three */
static void
conn_handle_closed(uv_handle_t *h)
{
	hconn *c = h->data;
	server *s = c->srv;

	if (--c->handles)
		return;
	conn_unlink(c);
	buf_free(&c->in);
	free(c);
	server_maybe_free(s);
}

/* close at once; a request still attached learns the client is gone */
static void
conn_close(hconn *c)
{
	if (c->state == C_DEAD)
		return;
	c->state = C_DEAD;
	c->reading = 0;
	if (c->req)
		req_detach(c->req, "client closed the connection");
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	uv_close((uv_handle_t *)&c->send_timer, conn_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void
shut_down(uv_shutdown_t *sh, int status)
{
	hconn *c = sh->data;

	if (status < 0 || c->eof)
		conn_close(c);
}

/* close gracefully: FIN once the queued output is written, then drain
 * what the client still sends until it closes */
static void
conn_linger(hconn *c)
{
	if (c->state != C_OPEN)
		return;
	if (c->req)
		req_detach(c->req, "client closed the connection");
	c->state = C_LINGER;
	c->in.len = 0;
	c->shut.data = c;
	if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, shut_down)) {
		conn_close(c);
		return;
	}
	conn_sync_reading(c);
}

/* read when there is room for what comes */
static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	hconn *c = h->data;

	(void)hint;
	if (c->in.cap - c->in.len < READ_SIZE) {
		size_t ncap = c->in.len + READ_SIZE;
		char *np = realloc(c->in.p, ncap);

		if (!np) {
			*b = uv_buf_init(NULL, 0);
			return;
		}
		c->in.p = np;
		c->in.cap = ncap;
	}
	*b = uv_buf_init(c->in.p + c->in.len,
			 (unsigned)(c->in.cap - c->in.len));
}

/* which timeout applies: none while the handler has the request and
 * waits for nothing from the client (its body is in, or held back for a
 * slow reader) */
static int
conn_phase(const hconn *c)
{
	const hreq *r = c->req;

	if (c->state == C_LINGER)
		return T_LINGER;
	if (c->state != C_OPEN || c->h1.state == H1_UPGRADED)
		return T_NONE;
	if (r)
		return r->body_done || r->body_full ||
		       (r->expect_continue && !r->continue_sent) ?
		       T_NONE : T_BODY;
	if (c->h1.state == H1_HEAD || c->h1.state == H1_DONE)
		return c->in.len ? T_HEAD : T_IDLE;
	return T_BODY;		/* the unread body of an answered request */
}

static void conn_timed_out(uv_timer_t *t);

/* (re)start the timer of the current phase, counted from when the phase
 * began (or the body last moved) */
static void
conn_arm(hconn *c)
{
	uint64_t now = uv_now(c->srv->rt->loop), ms, spent;
	int phase = conn_phase(c);

	if (phase != c->phase) {
		c->phase = phase;
		c->since = now;
	}
	ms = c->srv->timeout[phase];
	if (phase == T_NONE || ms == 0) {
		uv_timer_stop(&c->timer);
		return;
	}
	spent = now - c->since;
	uv_timer_start(&c->timer, conn_timed_out, spent < ms ? ms - spent : 0,
		       0);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

/* read when there is room and reason to; arm the phase's timeout */
static void
conn_sync_reading(hconn *c)
{
	int want;

	if (c->state == C_LINGER)
		want = !c->eof;
	else
		want = c->state == C_OPEN && c->h1.state != H1_UPGRADED &&
		       !c->eof && c->in.len < IN_HIGH &&
		       !(c->req && c->req->body_full);
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read))
			conn_close(c);
		else
			c->reading = 1;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
	if (c->state != C_DEAD)
		conn_arm(c);
}

/* the client sent FIN */
static void
conn_client_eof(hconn *c)
{
	hreq *r = c->req;

	c->eof = 1;
	c->reading = 0;		/* libuv stopped reading */
	if (c->state == C_LINGER) {
		if (!c->out_pending)
			conn_close(c);	/* else shut_down() closes */
		return;
	}
	if (r && !r->body_done && c->h1.state != H1_UPGRADED) {
		conn_close(c);	/* the body can never complete */
		return;
	}
	/* a request being answered goes on: the client may have shut down
	 * only its sending side; conn_request_done closes afterwards */
	if (!r)
		conn_linger(c);
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	hconn *c = s->data;

	(void)b;
	if (n == 0 || c->state == C_DEAD)
		return;
	if (n < 0) {
		if (n == UV_EOF)
			conn_client_eof(c);
		else
			conn_close(c);
		return;
	}
	if (c->state == C_LINGER) {
		c->dropped += (uint64_t)n;
		if (c->dropped > LINGER_MAX)
			conn_close(c);
		return;		/* alloc_cb gave space past c->in.len */
	}
	c->in.len += (size_t)n;
	conn_parse(c);
}

/* the response to the current request is complete and mostly written:
 * move on to the next request, or close */
static void
conn_request_done(hconn *c)
{
	hreq *r = c->req;

	if (r) {
		if (!r->body_done) {
			c->discarding = 1;
			c->dropped = 0;
		}
		chunks_free(r->body_head);
		r->body_head = r->body_tail = NULL;
		r->body_queued = 0;
		r->body_full = 0;
		req_detach(r, NULL);
	}
	if (c->state != C_OPEN)
		return;
	if (c->close_after) {
		conn_linger(c);
		return;
	}
	if (c->h1.state == H1_DONE)
		http1_next(&c->h1);
	conn_parse(c);
	if (c->state == C_OPEN && !c->req && c->eof)
		conn_linger(c);
}

/* ------------------------------------------------------------------ */
/* parsing (http1.c frames and checks; these callbacks keep what it found) */

/* copy the target and the fields out of the head: one allocation of
 * NUL-terminated strings, names in lower case */
static int
req_copy_head(hreq *r, const http1_head *h)
{
	size_t i, k, size = h->target.len + 1 + 2 * (size_t)h->nfields;
	char *s;

	for (i = 0; i < (size_t)h->nfields; i++)
		size += h->name[i].len + h->value[i].len;
	r->url = s = malloc(size);
	r->hn = malloc((2 * (size_t)h->nfields + 1) * sizeof(char *));
	if (!s || !r->hn)
		return -1;
	r->hv = r->hn + h->nfields;
	memcpy(s, h->base + h->target.off, h->target.len);
	s += h->target.len;
	*s++ = '\0';
	for (i = 0; i < (size_t)h->nfields; i++) {
		const char *n = h->base + h->name[i].off;

		r->hn[i] = s;
		for (k = 0; k < h->name[i].len; k++)
			*s++ = (char)tolower((unsigned char)n[k]);
		*s++ = '\0';
		r->hv[i] = s;
		memcpy(s, h->base + h->value[i].off, h->value[i].len);
		s += h->value[i].len;
		*s++ = '\0';
	}
	r->nh = h->nfields;
	r->path_off = h->path.off - h->target.off;
	r->path_len = h->path.len;
	r->query_off = h->query.len ? h->query.off - h->target.off : 0;
	r->query_len = h->query.len;
	return 0;
}

static void
queue_ready(server *s, hreq *r)
{
	int t = s->task;

	r->queued = 1;
	r->next_ready = NULL;
	if (s->ready_tail)
		s->ready_tail->next_ready = r;
	else
		s->ready_head = r;
	s->ready_tail = r;
	if (t != LUA_NOREF) {
		s->task = LUA_NOREF;
		ocl_wake(s->rt, NULL, t);
	}
}

static int
on_head(http1 *h, const http1_head *head)
{
	hconn *c = h->data;
	hreq *r = calloc(1, sizeof(*r));
	const char *v;

	if (!r || req_copy_head(r, head)) {
		if (r) {
			free(r->url);
			free(r->hn);
			free(r);
		}
		return -1;
	}
	r->rt = c->srv->rt;
	r->task = LUA_NOREF;
	r->method = head->method;
	r->minor = head->minor;
	r->body_length = head->length;
	r->upgrade = head->upgrade;
	r->keep_alive = head->keep_alive;
	r->head_only = head->method == HTTP_HEAD;
	v = req_header(r, "expect");
	r->expect_continue = v && !strcasecmp(v, "100-continue") &&
			     r->minor >= 1 && r->body_length != 0;
	v = req_header(r, "x-request-id");
	if (v && usable_request_id(v))
		snprintf(r->id, sizeof(r->id), "%s", v);
	else
		new_request_id(r->id, sizeof(r->id));
	r->length = -1;
	r->conn = c;
	c->req = r;
	queue_ready(c->srv, r);
	return 0;
}

static int
on_body(http1 *h, const char *at, size_t n)
{
	hconn *c = h->data;
	hreq *r = c->req;
	chunk *ch;

	if (!r || r->complete) {	/* nobody will read it */
		c->dropped += n;
		return 0;
	}
	ch = malloc(sizeof(*ch) + n);
	if (!ch)
		return -1;
	ch->next = NULL;
	ch->len = n;
	memcpy(ch->data, at, n);
	if (r->body_tail)
		r->body_tail->next = ch;
	else
		r->body_head = ch;
	r->body_tail = ch;
	r->body_queued += n;
	r->body_seen += n;
	if (r->body_queued > BODY_HIGH)
		r->body_full = 1;
	req_wake(r);
	return 0;
}

/* one request at a time: after its end the parser waits in H1_DONE
 * until the request is answered (conn_request_done) */
static int
on_end(http1 *h)
{
	hconn *c = h->data;
	hreq *r = c->req;

	if (!r) {		/* the end of a discarded body */
		c->discarding = 0;
		return 0;
	}
	r->body_done = 1;
	req_wake(r);
	return 0;
}

static const http1_settings settings = { on_head, on_body, on_end };

/* the request cannot go on (malformed, timed out): `status` with `msg`
 * and close, without involving Lua; a handler reading its body gets
 * `why` and `msg` from read(). The close is graceful (conn_linger), so
 * the client reads the answer rather than a reset, except when a
 * response has begun: it is cut short, and a reset says so where a FIN
 * could pass for the end of a body delimited by the close. */
static void
conn_fail(hconn *c, int status, const char *why, const char *msg)
{
	hreq *r = c->req;
	const char *id = NULL;

	if (r) {
		r->body_error = why;
		r->body_why = msg;
		if (r->started) {
			conn_close(c);
			return;
		}
		id = r->id;
		req_detach(r, why);
	}
	if (c->discarding) {	/* its request was answered already */
		conn_linger(c);
		return;
	}
	send_error(c, status, msg, id, NULL);
	conn_linger(c);
}

/* a phase lasted too long: 408 to a head or body begun, else close */
static void
conn_timed_out(uv_timer_t *t)
{
	hconn *c = t->data;

	if (c->phase == T_HEAD)
		conn_fail(c, 408, NULL, "request head not complete within "
			  "the header timeout");
	else if (c->phase == T_BODY)
		conn_fail(c, 408, "request body timed out", "no body byte "
			  "within the body timeout");
	else
		conn_close(c);
}

static void
conn_consume(hconn *c, size_t n)
{
	if (n == 0)
		return;		/* a head still coming: nothing moves */
	if (n < c->in.len)
		memmove(c->in.p, c->in.p + n, c->in.len - n);
	c->in.len -= n;
	if (c->in.len == 0 && c->in.cap > 4 * READ_SIZE)
		buf_free(&c->in);	/* a burst is over */
}

/* feed what was read to the parser, as far as the current state allows */
static void
conn_parse(hconn *c)
{
	while (c->state == C_OPEN && c->in.len) {
		size_t n;

		if (c->h1.state == H1_DONE && !c->req)
			http1_next(&c->h1);	/* a discarded body ended */
		if (c->h1.state == H1_DONE || c->h1.state == H1_UPGRADED)
			break;
		n = http1_execute(&c->h1, c->in.p, c->in.len);
		if (n && c->phase == T_BODY)	/* data or chunked framing */
			c->since = uv_now(c->srv->rt->loop);
		conn_consume(c, n);
		if (c->state != C_OPEN)
			return;
		if (c->h1.state == H1_ERROR) {
			conn_fail(c, c->h1.status, "malformed request body",
				  c->h1.error);
			return;
		}
		if (c->discarding && c->dropped > DISCARD_MAX) {
			conn_linger(c);		/* not worth draining */
			return;
		}
		if (n == 0)
			break;
	}
	conn_sync_reading(c);
}

/* over the cap: 503 at once, and close gracefully */
static void
conn_refuse(hconn *c)
{
	char out[ERROR_MAX];
	size_t n = refusal(out);

	if (n)
		send_bytes(c, out, n);
	conn_linger(c);
}

/* far over the cap (a flood): the same 503, but no descriptor is held
 * for it. The answer goes straight into the socket buffer (it is far
 * smaller than any), our FIN follows, and the bytes the client has sent
 * by now (its request, usually: it was waiting in the accept queue) are
 * read off, at most SHED_DRAIN, so that the close is not a reset that
 * destroys the answer (RFC 9112 9.6, RFC 9293 3.10.7.4). Bytes that
 * arrive after the close still draw a reset: the price of not lingering. */
static void
conn_shed(hconn *c)
{
	char out[ERROR_MAX], sink[4096];
	uv_buf_t b = uv_buf_init(out, (unsigned)refusal(out));
	uv_os_fd_t fd;
	size_t drained = 0;
	ssize_t got;

	if (b.len &&
	    uv_try_write((uv_stream_t *)&c->tcp, &b, 1) == (int)b.len &&
	    uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 &&
	    shutdown(fd, SHUT_WR) == 0)
		while (drained < SHED_DRAIN &&
		       (got = recv(fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
			drained += (size_t)got;
	conn_close(c);
}

static void
on_connection(uv_stream_t *ls, int status)
{
	server *s = ls->data;
	hconn *c;

	if (status < 0 || !s->listening)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->srv = s;
	uv_tcp_init(s->rt->loop, &c->tcp);
	uv_timer_init(s->rt->loop, &c->timer);
	uv_timer_init(s->rt->loop, &c->send_timer);
	c->tcp.data = c->timer.data = c->send_timer.data = c;
	c->handles = 3;
	c->next = s->conns;
	s->conns = c;
	s->nconns++;
	http1_init(&c->h1, &settings, c);
	if (uv_accept(ls, (uv_stream_t *)&c->tcp)) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	if (s->nconns > s->max_conns + s->max_conns / 4 + 8)
		conn_shed(c);
	else if (s->nconns > s->max_conns)
		conn_refuse(c);
	else
		conn_sync_reading(c);
}

/* ------------------------------------------------------------------ */
/* the server object                                                  */

static void
server_maybe_free(server *s)
{
	if (s->gone && !s->handle_open && !s->conns) {
		ocl_pending_del(&s->pending);
		free(s);
	}
}

static void
listener_closed(uv_handle_t *h)
{
	server *s = h->data;

	s->handle_open = 0;
	server_maybe_free(s);
}

/* stop listening; requests not yet accepted get 503, idle connections
 * close, requests being answered finish and then close */
static void
server_stop(server *s)
{
	hconn *c, *next;
	hreq *r;
	int t = s->task;

	if (s->listening) {
		s->listening = 0;
		s->rt->active--;
		uv_close((uv_handle_t *)&s->tcp, listener_closed);
	}
	while ((r = s->ready_head)) {
		s->ready_head = r->next_ready;
		r->queued = 0;
		if ((c = r->conn)) {
			send_error(c, 503, "server is closing", r->id, NULL);
			req_detach(r, NULL);
			conn_linger(c);
		} else
			req_maybe_free(r);
	}
	s->ready_tail = NULL;
	for (c = s->conns; c; c = next) {
		next = c->next;
		if (c->req)
			c->close_after = 1;
		else if (c->state == C_OPEN && !c->out_pending && !c->in.len)
			conn_close(c);
		else
			conn_linger(c);
	}
	if (t != LUA_NOREF) {
		s->task = LUA_NOREF;
		ocl_wake(s->rt, NULL, t);
	}
}

/* the runtime closes: everything goes now */
static void
server_cancel(ocl_pending *p)
{
	server *s = (server *)p;
	hconn *c, *next;

	server_stop(s);
	for (c = s->conns; c; c = next) {
		next = c->next;
		conn_close(c);
	}
}

static int
bound_port(uv_tcp_t *t)
{
	struct sockaddr_storage a;
	int n = sizeof(a);

	if (uv_tcp_getsockname(t, (struct sockaddr *)&a, &n))
		return -1;
	if (a.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
	return ntohs(((struct sockaddr_in *)&a)->sin_port);
}

/* connections allowed by default: half of the descriptors the soft
 * limit leaves after FD_RESERVE (the loop's own, sandboxes' pipes and
 * sockets, files being served), at least 16 */
static lua_Integer
default_max_conns(void)
{
	struct rlimit r;
	rlim_t n = 1024;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0)
		n = r.rlim_cur < (1u << 20) ? r.rlim_cur : (1u << 20);
	return n > FD_RESERVE + 32 ? (lua_Integer)(n - FD_RESERVE) / 2 : 16;
}

/* opts[name]: seconds (0: no timeout) as ms, or `def` ms */
static uint64_t
opt_timeout(lua_State *L, const char *name, uint64_t def)
{
	lua_Number v;

	if (lua_getfield(L, 3, name) == LUA_TNIL) {
		lua_pop(L, 1);
		return def;
	}
	v = lua_tonumber(L, -1);
	if (!lua_isnumber(L, -1) || !(v >= 0 && v <= 86400 * 365))
		luaL_error(L, "http_listen: %s must be seconds (0: none), "
			   "not %s", name, luaL_tolstring(L, -1, NULL));
	lua_pop(L, 1);
	return (uint64_t)(v * 1000 + 0.5);
}

/* the options table (3), checked before anything is allocated */
static void
listen_options(lua_State *L, server *s)
{
	lua_Integer max = default_max_conns();

	if (!lua_isnoneornil(L, 3))
		luaL_checktype(L, 3, LUA_TTABLE);
	else {
		lua_settop(L, 2);
		lua_newtable(L);
	}
	s->timeout[T_HEAD] = opt_timeout(L, "header_timeout", HEAD_TIMEOUT);
	s->timeout[T_IDLE] = opt_timeout(L, "idle_timeout", IDLE_TIMEOUT);
	s->timeout[T_BODY] = opt_timeout(L, "body_timeout", BODY_TIMEOUT);
	s->send_ms = opt_timeout(L, "send_timeout", SEND_TIMEOUT);
	s->timeout[T_LINGER] = s->timeout[T_IDLE] &&
			       s->timeout[T_IDLE] < LINGER_TIMEOUT ?
			       s->timeout[T_IDLE] : LINGER_TIMEOUT;
	if (lua_getfield(L, 3, "max_connections") != LUA_TNIL) {
		int ok;

		max = lua_tointegerx(L, -1, &ok);
		if (!ok || max < 1 || max > INT_MAX)
			luaL_error(L, "http_listen: max_connections must be a "
				   "positive integer");
	}
	lua_pop(L, 1);
	s->max_conns = (int)max;
}

/* core.http_listen(host, port [, opts]) -> server; opts: header_timeout,
 * idle_timeout, body_timeout, send_timeout (seconds), max_connections */
static int
core_http_listen(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);
	const char *host = luaL_checkstring(L, 1);
	lua_Integer port = luaL_checkinteger(L, 2);
	struct sockaddr_storage addr;
	server **ud, *s, opts = { 0 };
	int rc;

	luaL_argcheck(L, port >= 0 && port <= 65535, 2, "bad port");
	listen_options(L, &opts);
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr) &&
	    uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr))
		return luaL_error(L, "cannot listen on %s:%d: not an IP "
				  "address", host, (int)port);
	ud = lua_newuserdatauv(L, sizeof(*ud), 0);
	*ud = NULL;
	luaL_setmetatable(L, SRV_MT);
	s = calloc(1, sizeof(*s));
	if (!s)
		return luaL_error(L, "out of memory");
	*s = opts;
	s->rt = rt;
	s->task = LUA_NOREF;
	uv_tcp_init(rt->loop, &s->tcp);
	s->tcp.data = s;
	s->handle_open = 1;
	rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&addr, 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&s->tcp, 511, on_connection);
	if (rc) {
		s->gone = 1;
		uv_close((uv_handle_t *)&s->tcp, listener_closed);
		/* libuv's codes are negated errno values */
		return luaL_error(L, "cannot listen on %s:%d: %s", host,
				  (int)port, strerror(-rc));
	}
	*ud = s;
	s->port = bound_port(&s->tcp);
	s->listening = 1;
	rt->active++;
	s->pending.cancel = server_cancel;
	ocl_pending_add(rt, &s->pending);
	return 1;
}

static server *
check_srv(lua_State *L)
{
	return ocl_check_open(L, SRV_MT, "server");
}

static int
srv_port(lua_State *L)
{
	lua_pushinteger(L, check_srv(L)->port);
	return 1;
}

static int
srv_close(lua_State *L)
{
	server_stop(check_srv(L));
	return 0;
}

static void push_request(lua_State *L, hreq *r);

static int
srv_accept(lua_State *L)
{
	server *s = check_srv(L);
	hreq *r;

	lua_settop(L, 1);
	while ((r = s->ready_head)) {
		s->ready_head = r->next_ready;
		if (!s->ready_head)
			s->ready_tail = NULL;
		r->queued = 0;
		if (!r->conn) {		/* the client left before we looked */
			req_maybe_free(r);
			continue;
		}
		push_request(L, r);
		return 1;
	}
	if (!s->listening) {
		lua_pushnil(L);
		return 1;
	}
	/* the listening server is counted in rt->active already */
	return ocl_wait_retry(L, &s->task, srv_accept);
}

static int
srv_gc(lua_State *L)
{
	server **ud = luaL_checkudata(L, 1, SRV_MT), *s = *ud;

	if (!s)
		return 0;
	*ud = NULL;
	if (s->task != LUA_NOREF && !s->rt->closing)
		luaL_unref(L, LUA_REGISTRYINDEX, s->task);
	s->task = LUA_NOREF;
	server_stop(s);
	s->gone = 1;
	server_maybe_free(s);
	return 0;
}

/* ------------------------------------------------------------------ */
/* the request object: fields                                         */

static hreq *
check_req(lua_State *L)
{
	return ocl_check_open(L, REQ_MT, "request");
}

/* req.query: name=value pairs split on '&', first value wins */
static void
push_query(lua_State *L, const char *q, size_t n)
{
	const char *end = q + n;

	lua_newtable(L);
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *e = amp ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(e - q));
		const char *ke = eq ? eq : e;

		if (ke > q) {
			push_decoded(L, q, (size_t)(ke - q), 1);
			lua_pushvalue(L, -1);
			if (lua_rawget(L, -3) == LUA_TNIL) {
				lua_pop(L, 1);
				if (eq)
					push_decoded(L, eq + 1,
						     (size_t)(e - eq - 1), 1);
				else
					lua_pushliteral(L, "");
				lua_rawset(L, -3);
			} else
				lua_pop(L, 2);
		}
		q = e + 1;
	}
}

/* req.headers: lower-case names, repeated headers joined with ", " */
static void
push_headers(lua_State *L, const hreq *r)
{
	int i;

	lua_createtable(L, 0, r->nh);
	for (i = 0; i < r->nh; i++) {
		lua_pushstring(L, r->hn[i]);
		lua_pushvalue(L, -1);
		if (lua_rawget(L, -3) == LUA_TSTRING) {
			lua_pushliteral(L, ", ");
			lua_pushstring(L, r->hv[i]);
			lua_concat(L, 3);
		} else {
			lua_pop(L, 1);
			lua_pushstring(L, r->hv[i]);
		}
		lua_rawset(L, -3);
	}
}

static void
push_request(lua_State *L, hreq *r)
{
	hreq **ud = lua_newuserdatauv(L, sizeof(*ud), 1);
	const char *path = r->path_len ? r->url + r->path_off : "/";
	size_t plen = r->path_len ? r->path_len : 1;

	*ud = r;
	r->lua = 1;
	luaL_setmetatable(L, REQ_MT);
	lua_createtable(L, 0, 7);		/* the fields */
	lua_pushstring(L, http_method_str((enum http_method)r->method));
	lua_setfield(L, -2, "method");
	lua_pushstring(L, r->url);
	lua_setfield(L, -2, "target");
	lua_pushlstring(L, path, plen);
	lua_setfield(L, -2, "raw_path");
	push_decoded(L, path, plen, 0);
	lua_setfield(L, -2, "path");
	push_query(L, r->url + r->query_off, r->query_len);
	lua_setfield(L, -2, "query");
	push_headers(L, r);
	lua_setfield(L, -2, "headers");
	lua_pushboolean(L, r->upgrade);
	lua_setfield(L, -2, "upgrade");
	lua_setiuservalue(L, -2, 1);
}

static int
req_index(lua_State *L)
{
	lua_getiuservalue(L, 1, 1);
	lua_pushvalue(L, 2);
	if (lua_rawget(L, -2) != LUA_TNIL)
		return 1;
	luaL_getmetafield(L, 1, "methods");
	lua_pushvalue(L, 2);
	lua_rawget(L, -2);
	return 1;
}

/* ------------------------------------------------------------------ */
/* the request object: the body                                       */

/* everything queued, as one string */
static void
take_body(lua_State *L, hreq *r)
{
	luaL_Buffer b;
	chunk *ch;
	char *p = luaL_buffinitsize(L, &b, r->body_queued);

	while ((ch = r->body_head)) {
		r->body_head = ch->next;
		memcpy(p, ch->data, ch->len);
		p += ch->len;
		free(ch);
	}
	r->body_tail = NULL;
	luaL_pushresultsize(&b, r->body_queued);
	r->body_queued = 0;
	if (r->body_full) {
		r->body_full = 0;
		if (r->conn)
			conn_sync_reading(r->conn);
	}
}

static int req_read(lua_State *L);

static int
read_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status; (void)ctx;
	lua_settop(L, 1);
	return req_read(L);
}

static int
req_read(lua_State *L)
{
	hreq *r = check_req(L);
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	lua_settop(L, 1);
	if (r->body_queued) {
		take_body(L, r);
		return 1;
	}
	if (r->body_error)
		return luaL_error(L, "%s%s%s", r->body_error, r->body_why ?
				  ": " : "", r->body_why ? r->body_why : "");
	if (r->body_done || r->complete || !r->conn) {
		lua_pushnil(L);
		return 1;
	}
	if (r->expect_continue && !r->continue_sent && !r->started &&
	    r->body_seen == 0) {
		r->continue_sent = 1;
		send_bytes(r->conn, cont, sizeof(cont) - 1);
	}
	return req_wait(L, r, read_k);
}

/* ------------------------------------------------------------------ */
/* the request object: the response                                   */

/* raise on a header table C cannot send, before anything is allocated */
static void
check_headers(lua_State *L, int idx)
{
	if (lua_isnoneornil(L, idx))
		return;
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		size_t kl, vl, i;
		const char *k, *v;

		if (lua_type(L, -2) != LUA_TSTRING ||
		    (lua_type(L, -1) != LUA_TSTRING &&
		     lua_type(L, -1) != LUA_TNUMBER))
			luaL_error(L, "headers: want string names and string "
				   "values");
		k = lua_tolstring(L, -2, &kl);
		lua_pushvalue(L, -1);	/* tolstring on a copy */
		v = lua_tolstring(L, -1, &vl);
		for (i = 0; i < kl; i++)
			if (k[i] <= 0x20 || k[i] >= 0x7f || k[i] == ':')
				luaL_error(L, "bad header name '%s'", k);
		for (i = 0; i < vl; i++)
			if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0')
				luaL_error(L, "bad value for header '%s'", k);
		lua_pop(L, 2);
	}
}

static int
status_has_body(int status)
{
	return status >= 200 && status != 204 && status != 304;
}

/* the body's framing forces a close: the rest of the request body is
 * too big to drain, or the client still waits to be told to send it */
static int
body_forces_close(const hreq *r)
{
	if (r->body_done)
		return 0;
	if (r->expect_continue && !r->continue_sent)
		return 1;
	return r->body_length >= 0 &&
	       (uint64_t)r->body_length - r->body_seen > DISCARD_MAX;
}

/* append the handler's headers; a Connection: close among them is kept
 * in mind; returns whether an X-Request-Id was given */
static int
add_user_headers(lua_State *L, hreq *r, int idx, buf *b)
{
	int has_id = 0;

	if (lua_isnoneornil(L, idx))
		return 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		size_t kl, vl;
		const char *k = lua_tolstring(L, -2, &kl), *v;

		lua_pushvalue(L, -1);
		v = lua_tolstring(L, -1, &vl);
		if (!strcasecmp(k, "connection")) {
			if (http1_list_has(v, vl, "close") && r->conn)
				r->conn->close_after = 1;
		} else if (strcasecmp(k, "content-length") &&
			   strcasecmp(k, "transfer-encoding")) {
			has_id |= !strcasecmp(k, "x-request-id");
			buf_add(b, k, kl);
			buf_add(b, ": ", 2);
			buf_add(b, v, vl);
			buf_add(b, "\r\n", 2);
		}
		lua_pop(L, 2);
	}
	return has_id;
}

/* the response head: `length` >= 0 for Content-Length, else chunked
 * (HTTP/1.1) or delimited by closing (HTTP/1.0) */
static int
head_block(lua_State *L, hreq *r, int status, int hidx, int64_t length,
	   buf *b)
{
	hconn *c = r->conn;
	char line[256];
	int n;

	n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status,
		     reason(status));
	buf_add(b, line, (size_t)n);
	if (!add_user_headers(L, r, hidx, b)) {
		n = snprintf(line, sizeof(line), "X-Request-Id: %s\r\n", r->id);
		buf_add(b, line, (size_t)n);
	}
	r->no_body = r->head_only || !status_has_body(status);
	if (status_has_body(status)) {
		if (length >= 0)
			n = snprintf(line, sizeof(line),
				     "Content-Length: %lld\r\n",
				     (long long)length);
		else if (r->minor >= 1)
			n = snprintf(line, sizeof(line),
				     "Transfer-Encoding: chunked\r\n");
		else
			n = 0;
		buf_add(b, line, (size_t)n);
		r->chunked = length < 0 && r->minor >= 1;
		if (length < 0 && r->minor < 1)
			c->close_after = 1;	/* the close ends the body */
	}
	if (!r->keep_alive || r->upgrade || body_forces_close(r))
		c->close_after = 1;
	if (c->close_after)
		buf_add(b, "Connection: close\r\n", 19);
	else if (r->minor == 0)
		buf_add(b, "Connection: keep-alive\r\n", 24);
	return buf_add(b, "\r\n", 2);
}

/* after respond() or finish(): wait while the socket has too much */
static int
drain_k(lua_State *L, int status, lua_KContext ctx)
{
	hreq *r = check_req(L);

	(void)status; (void)ctx;
	if (r->conn && r->conn->out_pending > OUT_HIGH)
		return req_wait(L, r, drain_k);
	return 0;
}

/* every byte of the response is queued */
static void
req_complete(hreq *r)
{
	r->complete = 1;
	if (r->conn && r->conn->out_pending <= OUT_HIGH)
		conn_request_done(r->conn);
}

/* the status argument of respond and start */
static int
check_status(lua_State *L, hreq *r)
{
	lua_Integer status = luaL_checkinteger(L, 2);

	luaL_argcheck(L, status >= 200 && status <= 599, 2,
		      "status must be 200 to 599");
	if (r->started)
		luaL_error(L, "response already started");
	check_headers(L, 3);
	return (int)status;
}

static int
req_respond(lua_State *L)
{
	hreq *r = check_req(L);
	int status = check_status(L, r);
	size_t n = 0;
	const char *body = luaL_optlstring(L, 4, "", &n);
	buf b = { 0 };

	r->started = 1;
	if (!r->conn) {			/* the client has gone */
		r->complete = 1;
		return 0;
	}
	head_block(L, r, status, 3, status_has_body(status) ?
		   (int64_t)n : 0, &b);
	if (b.p) {
		uv_buf_t piece[2];

		piece[0] = uv_buf_init(b.p, (unsigned)b.len);
		piece[1] = uv_buf_init((char *)body,
				       r->no_body ? 0 : (unsigned)n);
		send_pieces(r->conn, piece, 2);
	} else
		conn_close(r->conn);	/* out of memory */
	buf_free(&b);
	req_complete(r);
	lua_settop(L, 1);
	return drain_k(L, LUA_OK, 0);
}

static int
req_start(lua_State *L)
{
	hreq *r = check_req(L);
	int status = check_status(L, r);
	lua_Integer length = luaL_optinteger(L, 4, -1);
	buf b = { 0 };

	r->started = 1;
	r->length = length >= 0 ? length : -1;
	if (!r->conn)
		return 0;
	head_block(L, r, status, 3, r->length, &b);
	if (b.p)
		send_bytes(r->conn, b.p, b.len);
	else
		conn_close(r->conn);
	buf_free(&b);
	return 0;
}

static int
write_k(lua_State *L, int status, lua_KContext ctx)
{
	hreq *r = check_req(L);

	(void)status; (void)ctx;
	if (!r->conn)
		return luaL_error(L, "client closed the connection");
	if (r->conn->out_pending > OUT_HIGH)
		return req_wait(L, r, write_k);
	return 0;
}

static int
req_write(lua_State *L)
{
	hreq *r = check_req(L);
	size_t n;
	const char *p = luaL_checklstring(L, 2, &n);

	if (!r->started || r->complete)
		return luaL_error(L, "write: no streamed response is open");
	if (!r->conn)
		return luaL_error(L, "client closed the connection");
	if (r->length >= 0 && r->sent + n > (uint64_t)r->length)
		return luaL_error(L, "write: more bytes than the Content-Length "
				  "of %I", (lua_Integer)r->length);
	r->sent += n;
	if (n == 0 || r->no_body)
		return 0;
	if (r->chunked) {
		char size[24];
		uv_buf_t piece[3];

		piece[0] = uv_buf_init(size, (unsigned)snprintf(size,
				       sizeof(size), "%zx\r\n", n));
		piece[1] = uv_buf_init((char *)p, (unsigned)n);
		piece[2] = uv_buf_init("\r\n", 2);
		send_pieces(r->conn, piece, 3);
	} else
		send_bytes(r->conn, p, n);
	lua_settop(L, 1);
	return write_k(L, LUA_OK, 0);
}

static int
req_finish(lua_State *L)
{
	hreq *r = check_req(L);

	if (!r->started)
		return luaL_error(L, "finish: no streamed response is open");
	if (r->complete)
		return 0;
	if (r->conn && !r->no_body) {
		if (r->chunked)
			send_bytes(r->conn, "0\r\n\r\n", 5);
		else if (r->length >= 0 && r->sent < (uint64_t)r->length)
			r->conn->close_after = 1;	/* cut short */
	}
	req_complete(r);
	lua_settop(L, 1);
	return drain_k(L, LUA_OK, 0);
}

static int
req_closed(lua_State *L)
{
	lua_pushboolean(L, check_req(L)->client_gone);
	return 1;
}

/* ------------------------------------------------------------------ */
/* the request object: the WebSocket handover                         */

static int
req_accept_websocket(lua_State *L)
{
	hreq *r = check_req(L);
	hconn *c = r->conn;
	uv_os_fd_t ofd;
	int fd;

	if (!r->upgrade)
		return luaL_error(L, "not a WebSocket upgrade request");
	if (r->started)
		return luaL_error(L, "response already started");
	if (!c)
		return luaL_error(L, "client closed the connection");
	lua_settop(L, 1);
	/* a bad handshake gets its refusal (status, headers, body: 2-4) and
	 * the caller nil; a good one, the connection object and its 101
	 * answer (2, 3), before the socket is ours to lose: these may raise */
	if (ocl_httpd_ws_prepare(L, r->minor, r->hn, r->hv, r->nh))
		return req_respond(L);
	if (uv_fileno((uv_handle_t *)&c->tcp, &ofd) ||
	    (fd = fcntl(ofd, F_DUPFD_CLOEXEC, 0)) < 0)
		return luaL_error(L, "cannot hand the connection over: %s",
				  strerror(errno));
	lua_pushlstring(L, c->in.p ? c->in.p : "", c->in.len);	/* 4 */
	r->started = r->complete = 1;
	req_detach(r, NULL);
	conn_close(c);	/* closes our fd; the dup keeps the socket */
	return ocl_httpd_ws_handover(L, 2, fd);
}

/* ------------------------------------------------------------------ */
/* the request object: the tunnel handover                            */

/* chunk-size line of `n` bytes into b; 0 or -1 */
static int
add_chunk_size(buf *b, uint64_t n)
{
	char line[24];

	return buf_add(b, line, (size_t)snprintf(line, sizeof(line),
		       "%llx\r\n", (unsigned long long)n));
}

/* the body bytes queued, in b, freed; 0 or -1 */
static int
add_queued_body(hreq *r, buf *b)
{
	chunk *ch;
	int rc = 0;

	while ((ch = r->body_head)) {
		r->body_head = ch->next;
		rc |= buf_add(b, ch->data, ch->len);
		free(ch);
	}
	r->body_tail = NULL;
	r->body_queued = 0;
	return rc;
}

/* What the backend must read to see the request as the client sent it,
 * in b: the head again (method, target, version, every field in order;
 * names in lower case), the body so far, then the bytes read and not yet
 * parsed (the rest of the body, pipelined requests, a WebSocket's first
 * frames). A Content-Length body is passed as it came; a chunked one was
 * decoded as it was parsed, so what was parsed goes as one chunk, then
 * the framing the parser was in the middle of: the size line of the rest
 * of the current chunk, the part of a size or trailer line read so far,
 * the CRLF after chunk data, or the last chunk (trailer fields already
 * parsed are dropped). -1 when out of memory. */
static int
tunnel_preface(hreq *r, hconn *c, buf *b)
{
	const http1 *h = &c->h1;
	size_t q = r->body_queued;
	char line[32];
	int i, rc = 0;

	rc |= buf_add(b, http_method_str((enum http_method)r->method),
		      strlen(http_method_str((enum http_method)r->method)));
	rc |= buf_add(b, " ", 1);
	rc |= buf_add(b, r->url, strlen(r->url));
	rc |= buf_add(b, line, (size_t)snprintf(line, sizeof(line),
		      " HTTP/1.%d\r\n", r->minor));
	for (i = 0; i < r->nh; i++) {
		rc |= buf_add(b, r->hn[i], strlen(r->hn[i]));
		rc |= buf_add(b, ": ", 2);
		rc |= buf_add(b, r->hv[i], strlen(r->hv[i]));
		rc |= buf_add(b, "\r\n", 2);
	}
	rc |= buf_add(b, "\r\n", 2);
	if (r->body_length >= 0 || r->upgrade) {
		rc |= add_queued_body(r, b);
	} else {
		if (q)
			rc |= add_chunk_size(b, q);
		rc |= add_queued_body(r, b);
		switch (h->state) {
		case H1_CHUNK_CR:	/* its CRLF comes next */
			break;
		case H1_CHUNK_LF:
			rc |= buf_add(b, "\r", 1);
			break;
		default:
			if (q)
				rc |= buf_add(b, "\r\n", 2);
			if (h->state == H1_CHUNK_LINE)
				rc |= buf_add(b, h->lbuf, h->llen);
			else if (h->state == H1_CHUNK_DATA)
				rc |= add_chunk_size(b, h->left);
			else if (h->state == H1_TRAILER) {
				rc |= buf_add(b, "0\r\n", 3);
				rc |= buf_add(b, h->lbuf, h->llen);
			} else	/* H1_DONE */
				rc |= buf_add(b, "0\r\n\r\n", 5);
		}
	}
	if (c->in.len)
		rc |= buf_add(b, c->in.p, c->in.len);
	return rc ? -1 : 0;
}

static int req_tunnel(lua_State *L);

static int
tunnel_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status; (void)ctx;
	return req_tunnel(L);
}

/* req:tunnel(fd) -> tunnel: this request's connection and the connected
 * socket `fd` (ours from the call on: closed if anything fails) become a
 * tunnel (tunnel.c); the backend first reads the request as the client
 * sent it (tunnel_preface). Waits until the answers to earlier requests
 * on the connection are written. Raises when a response was started or
 * the body was read, or the client has gone. */
static int
req_tunnel(lua_State *L)
{
	hreq *r = check_req(L);
	lua_Integer fdi = luaL_checkinteger(L, 2);
	int fd = (int)fdi, cfd;
	hconn *c = r->conn;
	uv_os_fd_t ofd;
	buf b = { 0 };
	const char *why = NULL;

	luaL_argcheck(L, fdi >= 0 && fdi <= INT32_MAX, 2, "a descriptor");
	lua_settop(L, 2);
	r->flushing = 0;
	if (r->started)
		why = "response already started";
	else if (r->body_seen != r->body_queued)
		why = "the request body was read already";
	else if (!c || r->body_error)
		why = "client closed the connection";
	else if (c->out_pending) {
		r->flushing = 1;
		return req_wait(L, r, tunnel_k);
	} else if (tunnel_preface(r, c, &b))
		why = "out of memory";
	else if (uv_fileno((uv_handle_t *)&c->tcp, &ofd) ||
		 (cfd = fcntl(ofd, F_DUPFD_CLOEXEC, 0)) < 0)
		why = "cannot take the connection";
	if (why) {
		buf_free(&b);
		close(fd);
		return luaL_error(L, "tunnel: %s", why);
	}
	r->started = r->complete = 1;
	req_detach(r, NULL);
	c->in.len = 0;
	conn_close(c);	/* closes our fd; the dup keeps the socket */
	ocl_tunnel_new(L, cfd, fd, b.p, b.len);
	buf_free(&b);
	return 1;
}

/* ------------------------------------------------------------------ */
/* a request left without a complete response                          */

static void
req_abandon(hreq *r)
{
	static const char body[] = "{\"error\":\"internal error\"}";
	hconn *c = r->conn;
	char head[256];
	int n;

	if (!c || r->complete)
		return;
	if (r->started) {
		conn_close(c);	/* the client sees a cut-short response */
		return;
	}
	n = snprintf(head, sizeof(head), "HTTP/1.1 500 Internal Server "
		     "Error\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\nX-Request-Id: %s\r\n"
		     "Connection: close\r\n\r\n", sizeof(body) - 1, r->id);
	r->started = 1;
	c->close_after = 1;
	send_bytes(c, head, (size_t)n);
	if (!r->head_only)
		send_bytes(c, body, sizeof(body) - 1);
	req_complete(r);
}

/* __close: `local req <close> = srv:accept()` answers 500 if the handler
 * did not */
static int
req_close(lua_State *L)
{
	req_abandon(check_req(L));
	return 0;
}

static int
req_gc(lua_State *L)
{
	hreq **ud = luaL_checkudata(L, 1, REQ_MT), *r = *ud;

	if (!r)
		return 0;
	*ud = NULL;
	if (r->task != LUA_NOREF) {
		r->rt->active--;
		if (!r->rt->closing)
			luaL_unref(L, LUA_REGISTRYINDEX, r->task);
		r->task = LUA_NOREF;
	}
	req_abandon(r);
	r->lua = 0;
	req_maybe_free(r);
	return 0;
}

int
ocl_open_httpd(lua_State *L)
{
	static const luaL_Reg srv_m[] = {
		{ "accept", srv_accept }, { "port", srv_port },
		{ "close", srv_close }, { NULL, NULL }
	};
	static const luaL_Reg srv_mm[] = {
		{ "__gc", srv_gc }, { NULL, NULL }
	};
	static const luaL_Reg req_m[] = {
		{ "read", req_read }, { "respond", req_respond },
		{ "start", req_start }, { "write", req_write },
		{ "finish", req_finish }, { "closed", req_closed },
		{ "accept_websocket", req_accept_websocket },
		{ "tunnel", req_tunnel }, { NULL, NULL }
	};
	static const luaL_Reg req_mm[] = {
		{ "__gc", req_gc }, { "__close", req_close }, { NULL, NULL }
	};

	ocl_newclass(L, SRV_MT, srv_m, srv_mm);
	lua_pop(L, 1);
	ocl_newclass(L, REQ_MT, req_m, req_mm);
	lua_getfield(L, -1, "__index");
	lua_setfield(L, -2, "methods");
	lua_pushcfunction(L, req_index);
	lua_setfield(L, -2, "__index");
	lua_pop(L, 1);
	ocl_open_tunnel(L);
	lua_pushcfunction(L, core_http_listen);
	lua_setfield(L, -2, "http_listen");
	return 0;
}
