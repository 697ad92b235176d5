/*
 * httpd.c - the HTTP/1.1 server primitive of the local sandbox server, on
 * the runtime's loop: libuv TCP, requests parsed by http-parser (Debian's
 * libhttp-parser: chunked bodies, keep-alive, pipelining and upgrades done
 * right, which lws 4.1's own h1 server does not do for uploads), and
 * WebSocket upgrades handed to httpd_ws.c (it answers the opening
 * handshake; the socket is dup()ed and adopted with the bytes read after
 * the request head, and the connection is then an ordinary websocket.c
 * connection object).
 *
 *     srv = core.http_listen(host, port)     raises when it cannot listen
 *     srv:port() ; srv:close()
 *     req = srv:accept()       yields for the next request (head parsed);
 *                              nil once the server is closed
 *     req.method, req.path (decoded), req.raw_path, req.query (decoded
 *     table, first value wins), req.headers (lower-case names, repeats
 *     joined with ", "), req.upgrade (a WebSocket upgrade)
 *     req:read()               next body piece, nil at the end (yields);
 *                              raises if the body was cut short
 *     req:respond(status, headers, body)
 *     req:start(status, headers [, length])   chunked without a length
 *     req:write(chunk) ; req:finish() ; req:closed()
 *     ws = req:accept_websocket()             yields until open; nil when
 *                              the handshake was bad (refused with 400/426)
 *
 * A connection serves one request at a time: the next pipelined request is
 * parsed once the response to the previous one is complete. Memory is
 * bounded both ways: past BODY_HIGH bytes of request body waiting for
 * read(), the socket is not read until read() has taken them; past
 * OUT_HIGH response bytes queued, respond/write/finish wait.
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <http_parser.h>

#include "runtime/buf.h"
#include "server/httpd.h"
#include "runtime/runtime.h"

#define SRV_MT		"oclua.http_server"
#define REQ_MT		"oclua.http_server_request"
#define BODY_HIGH	(1u << 20)	/* body waiting for read(): stop reading */
#define BODY_LOW	(256u << 10)	/* ... and read again below this */
#define OUT_HIGH	(1u << 20)	/* response bytes queued: writers wait */
#define IN_HIGH		(1u << 20)	/* unparsed (pipelined) bytes: stop */
#define HEAD_MAX	(64u << 10)	/* request line and headers */
#define MAX_HEADERS	100
#define DISCARD_MAX	(1u << 20)	/* unread body dropped to keep alive */
#define LINGER_MAX	(4u << 20)	/* drained after our FIN, at most */
#define READ_SIZE	(64u << 10)
#define ID_MAX		128		/* longest X-Request-Id echoed */

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
};

enum { C_OPEN, C_LINGER, C_DEAD };

struct hconn {
	server		*srv;
	hconn		*next;
	uv_tcp_t	tcp;
	uv_shutdown_t	shut;
	http_parser	parser;
	int		state;		/* C_OPEN, C_LINGER (shut down), C_DEAD */
	int		reading;	/* uv_read_start in effect */
	int		paused;		/* parser stopped after a message */
	int		upgraded;	/* what follows the head is a WebSocket */
	int		eof;		/* the client will send nothing more */
	int		close_after;	/* close once this response is done */
	int		discarding;	/* dropping a finished request's body */
	uint64_t	dropped;	/* bytes discarded or drained */
	size_t		out_pending;	/* bytes handed to uv_write */
	const char	*error;		/* why a parser callback failed */
	hreq		*req;		/* the request being read or answered */
	buf		in;		/* read, not yet parsed */
	/* the head being parsed: the URL, then names and values back to
	 * back in `hdr` (value i spans voff[i] to noff[i + 1]) */
	buf		url, hdr;
	size_t		noff[MAX_HEADERS + 1], voff[MAX_HEADERS];
	int		nh, in_value;
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
	int64_t		body_length;	/* -1: chunked */
	uint64_t	body_seen;
	/* the response */
	int		started, complete, chunked, no_body;
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
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
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

/* does the comma-separated list contain `token` (case-insensitive)? */
static int
list_has(const char *list, const char *token)
{
	size_t n = strlen(token);

	while (list && *list) {
		while (*list == ' ' || *list == '\t' || *list == ',')
			list++;
		if (!strncasecmp(list, token, n)) {
			const char *e = list + n;

			while (*e == ' ' || *e == '\t')
				e++;
			if (*e == ',' || *e == '\0')
				return 1;
		}
		list = strchr(list, ',');
	}
	return 0;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* every '%' of [p, p+n) starts a valid escape that is not %00 */
static int
pct_valid(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] == '%') {
			if (i + 2 >= n)
				return 0;
			if (hexval((unsigned char)p[i + 1]) < 0 ||
			    hexval((unsigned char)p[i + 2]) < 0 ||
			    (p[i + 1] == '0' && p[i + 2] == '0'))
				return 0;
			i += 2;
		}
	return 1;
}

/* push the decoding of [p, p+n) (checked by pct_valid); '+' is a space
 * when `plus` */
static void
push_decoded(lua_State *L, const char *p, size_t n, int plus)
{
	luaL_Buffer b;
	size_t i;

	luaL_buffinit(L, &b);
	for (i = 0; i < n; i++) {
		int ch = (unsigned char)p[i];

		if (ch == '%' && i + 2 < n) {
			ch = hexval((unsigned char)p[i + 1]) << 4 |
			     hexval((unsigned char)p[i + 2]);
			i += 2;
		} else if (ch == '+' && plus)
			ch = ' ';
		luaL_addchar(&b, (char)ch);
	}
	luaL_pushresult(&b);
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
	return 0;
}

static int
send_bytes(hconn *c, const char *p, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);

	return send_pieces(c, &b, 1);
}

/* a JSON error answer C gives by itself; the connection closes after it */
static void
send_error(hconn *c, int status, const char *msg, const char *id)
{
	char out[512], rid[ID_MAX + 1];
	int n;

	if (!id) {
		new_request_id(rid, sizeof(rid));
		id = rid;
	}
	n = snprintf(out, sizeof(out), "HTTP/1.1 %d %s\r\n"
		     "Content-Type: application/json\r\n"
		     "Content-Length: %zu\r\nX-Request-Id: %s\r\n"
		     "Connection: close\r\n\r\n{\"error\":\"%s\"}", status,
		     reason(status), strlen(msg) + 12, id, msg);
	if (n > 0 && (size_t)n < sizeof(out))
		send_bytes(c, out, (size_t)n);
	c->close_after = 1;
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
			return;
		}
}

static void server_maybe_free(server *s);

static void
tcp_closed(uv_handle_t *h)
{
	hconn *c = h->data;
	server *s = c->srv;

	conn_unlink(c);
	buf_free(&c->in);
	buf_free(&c->url);
	buf_free(&c->hdr);
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
	uv_close((uv_handle_t *)&c->tcp, tcp_closed);
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

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void
conn_sync_reading(hconn *c)
{
	int want;

	if (c->state == C_LINGER)
		want = !c->eof;
	else
		want = c->state == C_OPEN && !c->upgraded && !c->eof &&
		       c->in.len < IN_HIGH && !(c->req && c->req->body_full);
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read))
			conn_close(c);
		else
			c->reading = 1;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
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
	if (r && !r->body_done && !c->upgraded) {
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
	c->paused = 0;
	http_parser_pause(&c->parser, 0);
	conn_parse(c);
	if (c->state == C_OPEN && !c->req && c->eof)
		conn_linger(c);
}

/* ------------------------------------------------------------------ */
/* parsing                                                            */

static hconn *
conn_of(http_parser *p)
{
	return p->data;
}

static int
on_message_begin(http_parser *p)
{
	hconn *c = conn_of(p);

	c->url.len = c->hdr.len = 0;
	c->nh = c->in_value = 0;
	c->error = NULL;
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t n)
{
	return buf_add(&conn_of(p)->url, at, n);
}

/* the previous header's value ends (it may have had no value bytes) */
static void
end_value(hconn *c)
{
	if (c->nh && !c->in_value)
		c->voff[c->nh - 1] = c->hdr.len;
	c->noff[c->nh] = c->hdr.len;
}

static int
on_header_field(http_parser *p, const char *at, size_t n)
{
	hconn *c = conn_of(p);

	if (c->in_value || c->nh == 0) {
		end_value(c);
		if (c->nh == MAX_HEADERS) {
			c->error = "too many headers";
			return -1;
		}
		c->noff[c->nh++] = c->hdr.len;
		c->in_value = 0;
	}
	return buf_add(&c->hdr, at, n);
}

static int
on_header_value(http_parser *p, const char *at, size_t n)
{
	hconn *c = conn_of(p);

	if (c->nh == 0)
		return -1;
	if (!c->in_value) {
		c->voff[c->nh - 1] = c->hdr.len;
		c->in_value = 1;
	}
	return buf_add(&c->hdr, at, n);
}

/* copy the URL and the headers out of the connection's buffers: one
 * allocation of NUL-terminated strings, names in lower case */
static int
req_copy_head(hreq *r, hconn *c)
{
	size_t i, size = c->url.len + 1 + c->hdr.len + 2 * (size_t)c->nh;
	char *s;

	end_value(c);
	r->url = s = malloc(size);
	r->hn = malloc((2 * (size_t)c->nh + 1) * sizeof(char *));
	if (!s || !r->hn)
		return -1;
	r->hv = r->hn + c->nh;
	memcpy(s, c->url.p ? c->url.p : "", c->url.len);
	s += c->url.len;
	*s++ = '\0';
	for (i = 0; i < (size_t)c->nh; i++) {
		size_t nl = c->voff[i] - c->noff[i];
		size_t vl = c->noff[i + 1] - c->voff[i], k;

		r->hn[i] = s;
		for (k = 0; k < nl; k++)
			*s++ = (char)tolower((unsigned char)c->hdr.p[c->noff[i] + k]);
		*s++ = '\0';
		r->hv[i] = s;
		memcpy(s, c->hdr.p + c->voff[i], vl);
		s += vl;
		*s++ = '\0';
	}
	r->nh = c->nh;
	return 0;
}

/* the request target: a parsable URL whose escapes are valid; note
 * where its path and query are */
static int
url_ok(hreq *r, int is_connect)
{
	struct http_parser_url u;

	http_parser_url_init(&u);
	if (http_parser_parse_url(r->url, strlen(r->url), is_connect, &u))
		return 0;
	if (u.field_set & (1 << UF_PATH)) {
		r->path_off = u.field_data[UF_PATH].off;
		r->path_len = u.field_data[UF_PATH].len;
	}
	if (u.field_set & (1 << UF_QUERY)) {
		r->query_off = u.field_data[UF_QUERY].off;
		r->query_len = u.field_data[UF_QUERY].len;
	}
	return pct_valid(r->url + r->path_off, r->path_len) &&
	       pct_valid(r->url + r->query_off, r->query_len);
}

/* a WebSocket upgrade: GET, Upgrade: websocket, Connection: upgrade, no
 * body; any other upgrade (h2c, CONNECT) is served as a plain request */
static int
is_websocket_upgrade(const hreq *r, const http_parser *p)
{
	const char *up = req_header(r, "upgrade");

	return p->upgrade && p->method == HTTP_GET && up &&
	       list_has(up, "websocket") && r->body_length == 0;
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
on_headers_complete(http_parser *p)
{
	hconn *c = conn_of(p);
	hreq *r = calloc(1, sizeof(*r));
	const char *v;

	if (!r || req_copy_head(r, c)) {
		c->error = "out of memory";
		goto fail;
	}
	r->rt = c->srv->rt;
	r->task = LUA_NOREF;
	r->method = p->method;
	r->minor = p->http_major > 1 ? 1 : p->http_major == 1 ? p->http_minor : 0;
	if (!url_ok(r, p->method == HTTP_CONNECT)) {
		c->error = "invalid request target or percent-encoding";
		goto fail;
	}
	if (p->flags & F_CHUNKED)
		r->body_length = -1;
	else if (p->content_length != ULLONG_MAX)
		r->body_length = (int64_t)p->content_length;
	r->upgrade = is_websocket_upgrade(r, p);
	if (!r->upgrade)
		p->upgrade = 0;		/* parse it as a plain request */
	r->keep_alive = http_should_keep_alive(p);
	r->head_only = p->method == HTTP_HEAD;
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
fail:
	if (r) {
		free(r->url);
		free(r->hn);
		free(r);
	}
	return -1;
}

static int
on_body(http_parser *p, const char *at, size_t n)
{
	hconn *c = conn_of(p);
	hreq *r = c->req;
	chunk *ch;

	if (!r || r->complete) {	/* nobody will read it */
		c->dropped += n;
		return 0;
	}
	ch = malloc(sizeof(*ch) + n);
	if (!ch) {
		c->error = "out of memory";
		return -1;
	}
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

static int
on_message_complete(http_parser *p)
{
	hconn *c = conn_of(p);
	hreq *r = c->req;

	if (!r) {		/* the end of a discarded body */
		c->discarding = 0;
		return 0;
	}
	r->body_done = 1;
	req_wake(r);
	/* one request at a time: the next is parsed once this one is
	 * answered (conn_request_done) */
	c->paused = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* malformed input: 400 and close, without involving Lua */
static void
conn_bad_request(hconn *c)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
	const char *msg = c->error ? c->error :
		e == HPE_HEADER_OVERFLOW ? "request head too large" :
		"malformed HTTP request";
	hreq *r = c->req;

	if (r) {
		/* broken in the middle of a body the handler may be reading */
		r->body_error = "malformed request body";
		if (r->started) {
			conn_close(c);
			return;
		}
		req_detach(r, r->body_error);
	}
	if (c->discarding) {
		conn_linger(c);
		return;
	}
	send_error(c, 400, msg, NULL);
	conn_linger(c);
}

static void
conn_consume(hconn *c, size_t n)
{
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
	while (c->state == C_OPEN && !c->paused && !c->upgraded &&
	       c->in.len) {
		size_t n = http_parser_execute(&c->parser, &settings,
					       c->in.p, c->in.len);
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

		conn_consume(c, n);
		if (c->state != C_OPEN)
			return;
		if (c->parser.upgrade && e == HPE_PAUSED) {
			c->upgraded = 1;	/* the rest is WebSocket */
			break;
		}
		if (e != HPE_OK && e != HPE_PAUSED) {
			conn_bad_request(c);
			return;
		}
		if (c->discarding && c->dropped > DISCARD_MAX) {
			conn_linger(c);		/* not worth draining */
			return;
		}
		if (n == 0 && e == HPE_OK)
			break;
	}
	conn_sync_reading(c);
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
	c->tcp.data = c;
	c->next = s->conns;
	s->conns = c;
	if (uv_accept(ls, (uv_stream_t *)&c->tcp)) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
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
			send_error(c, 503, "server is closing", r->id);
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

/* core.http_listen(host, port) -> server */
static int
core_http_listen(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);
	const char *host = luaL_checkstring(L, 1);
	lua_Integer port = luaL_checkinteger(L, 2);
	struct sockaddr_storage addr;
	server **ud, *s;
	int rc;

	luaL_argcheck(L, port >= 0 && port <= 65535, 2, "bad port");
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr) &&
	    uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr))
		return luaL_error(L, "cannot listen on %s:%d: not an IP "
				  "address", host, (int)port);
	/* longer heads fail with HPE_HEADER_OVERFLOW (a library global) */
	http_parser_set_max_header_size(HEAD_MAX);
	ud = lua_newuserdatauv(L, sizeof(*ud), 0);
	*ud = NULL;
	luaL_setmetatable(L, SRV_MT);
	s = calloc(1, sizeof(*s));
	if (!s)
		return luaL_error(L, "out of memory");
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
	lua_createtable(L, 0, 6);		/* the fields */
	lua_pushstring(L, http_method_str((enum http_method)r->method));
	lua_setfield(L, -2, "method");
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
		return luaL_error(L, "%s", r->body_error);
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
			if (list_has(v, "close") && r->conn)
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
		{ "accept_websocket", req_accept_websocket }, { NULL, NULL }
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
	lua_pushcfunction(L, core_http_listen);
	lua_setfield(L, -2, "http_listen");
	return 0;
}
