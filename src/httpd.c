/*
 * httpd.c - the HTTP/1.1 server primitive of the local sandbox server, on
 * the runtime's loop: libuv TCP, requests parsed by http-parser (Debian's
 * libhttp-parser: chunked bodies, keep-alive, pipelining and upgrades done
 * right, which lws 4.1's own h1 server does not do for uploads), and
 * WebSocket upgrades handed to lws's WebSocket server (the socket is
 * dup()ed and adopted with the request head, lws does the handshake; the
 * connection is then an ordinary websocket.c connection object).
 *
 *     srv = core.http_listen(host, port)     raises when it cannot listen
 *     srv:port() ; srv:close()
 *     req = srv:accept()       yields for the next request (headers read);
 *                              nil once the server is closed
 *     req.method, req.path (decoded), req.raw_path, req.query (decoded
 *     table), req.headers (lower-case names), req.upgrade
 *     req:read()               next body chunk, nil at the end (yields)
 *     req:respond(status, headers, body)
 *     req:start(status, headers [, length])   chunked without a length
 *     req:write(chunk) ; req:finish() ; req:closed()
 *     ws = req:accept_websocket()             yields until open
 *
 * A connection serves one request at a time: the next pipelined request is
 * parsed once the response to the previous one is complete. A body not read
 * by the handler is discarded (the connection closes after the response if
 * more than 1 MiB of it is left). `Expect: 100-continue` is answered when
 * the handler first reads the body. Every response carries X-Request-Id.
 * Request body and response bytes are bounded: past 1 MiB buffered, the
 * socket is not read (body) or the writer waits (response).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <strings.h>
#include <http_parser.h>

#include "buf.h"
#include "httpd.h"
#include "runtime.h"

#define SRV_MT		"oclua.http_server"
#define REQ_MT		"oclua.http_server_request"
#define BODY_HIGH	(1u << 20)
#define BODY_LOW	(256u << 10)
#define OUT_HIGH	(1u << 20)
#define HEAD_MAX	(64u << 10)
#define MAX_HEADERS	100
#define DISCARD_MAX	(1u << 20)

typedef struct hreq hreq;
typedef struct hconn hconn;

typedef struct server {
	ocl_pending	pending;
	oclua_runtime	*rt;
	uv_tcp_t	tcp;
	int		listening;
	hreq		*ready_head, *ready_tail;	/* parsed, not accepted */
	int		task;				/* in accept() */
	hconn		*conns;
	int		gone, closed;
} server;

struct hconn {
	server		*srv;
	hconn		*next;
	uv_tcp_t	tcp;
	int		handle_open;
	http_parser	parser;
	buf		pending;	/* read, not yet parsed */
	int		reading;
	int		paused;		/* a request is being answered */
	int		dead;		/* closing or closed */
	int		close_after;
	hreq		*req;		/* the request being read/answered */
	/* header parsing */
	buf		url;
	buf		hname[MAX_HEADERS], hvalue[MAX_HEADERS];
	int		nh, in_value;
	size_t		head_bytes;
	size_t		out_pending;	/* bytes queued in uv_write */
	int		upgraded;
};

typedef struct chunk {
	struct chunk	*next;
	size_t		len;
	char		data[];
} chunk;

struct hreq {
	hconn		*conn;		/* NULL once the connection is gone */
	hreq		*next_ready;
	int		method;
	int		upgrade, keep_alive, head_only;
	int		expect_continue, continue_sent;
	char		*url;
	char		**hn, **hv;
	int		nh;
	chunk		*body_head, *body_tail;
	size_t		body_queued;
	int		body_done;
	int		task;		/* in read(), write() or accept_websocket */
	int		started, finished, chunked;
	int		gone;		/* userdata collected */
	char		request_id[40];
};

static void conn_close(hconn *c);
static void conn_resume(hconn *c);

/* ------------------------------------------------------------------ */
/* small helpers                                                      */

static void
wake(oclua_runtime *rt, int *task)
{
	int t = *task;

	if (t != LUA_NOREF) {
		*task = LUA_NOREF;
		ocl_wake(rt, NULL, t);
	}
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

static void
req_free(hreq *r)
{
	int i;

	chunks_free(r->body_head);
	free(r->url);
	for (i = 0; i < r->nh; i++) {
		free(r->hn[i]);
		free(r->hv[i]);
	}
	free(r->hn);
	free(r->hv);
	free(r);
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

typedef struct out_write {
	uv_write_t	req;
	hconn		*conn;
	size_t		len;
	char		data[];
} out_write;

static void
written(uv_write_t *w, int status)
{
	out_write *o = (out_write *)w;
	hconn *c = o->conn;

	c->out_pending -= o->len;
	free(o);
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (c->req && c->out_pending <= OUT_HIGH)
		wake(c->srv->rt, &c->req->task);
	if (c->out_pending == 0 && !c->req && c->close_after)
		conn_close(c);
}

static int
send_bytes(hconn *c, const char *p, size_t n)
{
	out_write *o;
	uv_buf_t b;

	if (c->dead || n == 0)
		return c->dead ? -1 : 0;
	o = malloc(sizeof(*o) + n);
	if (!o)
		return -1;
	o->conn = c;
	o->len = n;
	memcpy(o->data, p, n);
	b = uv_buf_init(o->data, (unsigned)n);
	if (uv_write(&o->req, (uv_stream_t *)&c->tcp, &b, 1, written)) {
		free(o);
		conn_close(c);
		return -1;
	}
	c->out_pending += n;
	return 0;
}

static const char *
reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	default: return "Status";
	}
}

/* answer a request C can refuse by itself, then close */
static void
refuse(hconn *c, int status, const char *msg)
{
	char out[512];
	int n = snprintf(out, sizeof(out), "HTTP/1.1 %d %s\r\nContent-Type: "
			 "application/json\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n{\"error\":\"%s\"}", status,
			 reason(status), strlen(msg) + 12, msg);

	send_bytes(c, out, (size_t)n);
	c->close_after = 1;
	c->paused = 1;
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
	if (!c->out_pending)
		conn_close(c);
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
	int i;

	c->url.len = 0;
	for (i = 0; i < c->nh; i++)
		c->hname[i].len = c->hvalue[i].len = 0;
	c->nh = 0;
	c->in_value = 0;
	c->head_bytes = 0;
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t n)
{
	hconn *c = conn_of(p);

	c->head_bytes += n;
	if (c->head_bytes > HEAD_MAX)
		return -1;
	return buf_add(&c->url, at, n);
}

static int
on_header_field(http_parser *p, const char *at, size_t n)
{
	hconn *c = conn_of(p);

	c->head_bytes += n;
	if (c->head_bytes > HEAD_MAX)
		return -1;
	if (c->in_value || c->nh == 0) {
		if (c->nh == MAX_HEADERS)
			return -1;
		c->nh++;
		c->in_value = 0;
	}
	return buf_add(&c->hname[c->nh - 1], at, n);
}

static int
on_header_value(http_parser *p, const char *at, size_t n)
{
	hconn *c = conn_of(p);

	c->head_bytes += n;
	if (c->head_bytes > HEAD_MAX || c->nh == 0)
		return -1;
	c->in_value = 1;
	return buf_add(&c->hvalue[c->nh - 1], at, n);
}

static char *
dup_buf(const buf *b)
{
	char *s = malloc(b->len + 1);

	if (s) {
		if (b->len)
			memcpy(s, b->p, b->len);
		s[b->len] = '\0';
	}
	return s;
}

static void
queue_ready(server *s, hreq *r)
{
	r->next_ready = NULL;
	if (s->ready_tail)
		s->ready_tail->next_ready = r;
	else
		s->ready_head = r;
	s->ready_tail = r;
	wake(s->rt, &s->task);
}

static int
on_headers_complete(http_parser *p)
{
	hconn *c = conn_of(p);
	hreq *r = calloc(1, sizeof(*r));
	static unsigned long counter;
	const char *expect, *rid;
	int i;

	if (!r)
		return -1;
	r->conn = c;
	r->task = LUA_NOREF;
	r->method = p->method;
	r->upgrade = p->upgrade;
	r->keep_alive = http_should_keep_alive(p);
	r->head_only = p->method == HTTP_HEAD;
	r->url = dup_buf(&c->url);
	r->hn = calloc((size_t)c->nh + 1, sizeof(char *));
	r->hv = calloc((size_t)c->nh + 1, sizeof(char *));
	if (!r->url || !r->hn || !r->hv) {
		req_free(r);
		return -1;
	}
	for (i = 0; i < c->nh; i++) {
		char *k = dup_buf(&c->hname[i]), *q;

		r->hv[i] = dup_buf(&c->hvalue[i]);
		r->hn[i] = k;
		r->nh = i + 1;
		if (!k || !r->hv[i])
			return -1;
		for (q = k; *q; q++)
			*q = (char)tolower((unsigned char)*q);
	}
	expect = req_header(r, "expect");
	r->expect_continue = expect && !strcasecmp(expect, "100-continue");
	rid = req_header(r, "x-request-id");
	if (rid && strlen(rid) < sizeof(r->request_id) &&
	    !strpbrk(rid, "\r\n"))
		strcpy(r->request_id, rid);
	else
		snprintf(r->request_id, sizeof(r->request_id), "%08lx%08lx",
			 (unsigned long)uv_hrtime() & 0xffffffffUL, ++counter);
	c->req = r;
	queue_ready(c->srv, r);
	/* an upgrade has no body for us: http-parser stops after the head */
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t n)
{
	hconn *c = conn_of(p);
	hreq *r = c->req;
	chunk *ch;

	if (!r || r->gone || r->finished) {
		/* nobody will read it: discard, and give up past a bound */
		if (r && (r->body_queued += n) > DISCARD_MAX)
			c->close_after = 1;
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
	if (r->body_queued > BODY_HIGH && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
	wake(c->srv->rt, &r->task);
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	hconn *c = conn_of(p);

	if (c->req) {
		c->req->body_done = 1;
		wake(c->srv->rt, &c->req->task);
	}
	/* one request at a time: parse the next once this one is answered */
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

/* feed what is pending to the parser */
static void
parse_pending(hconn *c)
{
	size_t n;

	while (c->pending.len && !c->dead && !c->upgraded &&
	       HTTP_PARSER_ERRNO(&c->parser) == HPE_OK) {
		n = http_parser_execute(&c->parser, &settings, c->pending.p,
					c->pending.len);
		memmove(c->pending.p, c->pending.p + n, c->pending.len - n);
		c->pending.len -= n;
		if (c->parser.upgrade) {
			/* the rest belongs to the WebSocket */
			c->upgraded = 1;
			c->paused = 1;
			break;
		}
		if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED)
			break;
		if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
			refuse(c, 400, "malformed HTTP request");
			return;
		}
		if (n == 0)
			break;
	}
	if (!c->dead && (c->paused || c->upgraded) && c->reading &&
	    (c->upgraded || c->pending.len > BODY_HIGH)) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	(void)h; (void)hint;
	b->base = malloc(65536);
	b->len = b->base ? 65536 : 0;
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	hconn *c = s->data;

	if (n > 0) {
		if (buf_add(&c->pending, b->base, (size_t)n))
			conn_close(c);
		else if (!c->paused)
			parse_pending(c);
		else if (c->req && !c->req->body_done && !c->upgraded) {
			/* body bytes of the request being answered */
			http_parser_pause(&c->parser, 0);
			parse_pending(c);
		}
	} else if (n < 0) {
		if (c->req && !c->req->body_done) {
			c->req->body_done = 1;
			wake(c->srv->rt, &c->req->task);
		}
		conn_close(c);
	}
	free(b->base);
}

/* ------------------------------------------------------------------ */
/* connections                                                        */

static void
conn_unlink(hconn *c)
{
	hconn **pp;

	if (!c->srv)
		return;
	for (pp = &c->srv->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
}

static void
conn_free(hconn *c)
{
	int i;

	buf_free(&c->pending);
	buf_free(&c->url);
	for (i = 0; i < MAX_HEADERS; i++) {
		buf_free(&c->hname[i]);
		buf_free(&c->hvalue[i]);
	}
	free(c);
}

static void
tcp_closed(uv_handle_t *h)
{
	conn_free(h->data);
}

static void
conn_close(hconn *c)
{
	hreq *r = c->req;

	if (c->dead)
		return;
	c->dead = 1;
	conn_unlink(c);
	if (r) {
		r->conn = NULL;
		r->body_done = 1;
		wake(c->srv->rt, &r->task);
		if (r->gone)
			req_free(r);
		c->req = NULL;
	}
	if (c->handle_open) {
		c->handle_open = 0;
		uv_close((uv_handle_t *)&c->tcp, tcp_closed);
	} else
		conn_free(c);
}

/* the response to the current request is complete */
static void
conn_request_done(hconn *c)
{
	hreq *r = c->req;

	c->req = NULL;
	if (r) {
		r->conn = NULL;
		if (!r->keep_alive || !r->body_done)
			c->close_after = 1;
		if (r->gone)
			req_free(r);
	}
	if (c->close_after) {
		if (!c->out_pending)
			conn_close(c);
		return;
	}
	conn_resume(c);
}

static void
conn_resume(hconn *c)
{
	if (c->dead)
		return;
	c->paused = 0;
	http_parser_pause(&c->parser, 0);
	parse_pending(c);
	if (!c->dead && !c->paused && !c->reading) {
		uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
		c->reading = 1;
	}
}

static void
on_connection(uv_stream_t *ls, int status)
{
	server *s = ls->data;
	hconn *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->srv = s;
	uv_tcp_init(s->rt->loop, &c->tcp);
	c->tcp.data = c;
	c->handle_open = 1;
	if (uv_accept(ls, (uv_stream_t *)&c->tcp)) {
		c->handle_open = 0;
		uv_close((uv_handle_t *)&c->tcp, tcp_closed);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->next = s->conns;
	s->conns = c;
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
	c->reading = 1;
}

/* ------------------------------------------------------------------ */
/* the server object                                                  */

static void
server_handle_closed(uv_handle_t *h)
{
	server *s = h->data;

	s->listening = 0;
	if (s->gone)
		free(s);
}

static void
server_stop(server *s)
{
	hconn *c, *next;

	if (s->closed)
		return;
	s->closed = 1;
	ocl_pending_del(&s->pending);
	s->rt->active--;
	uv_close((uv_handle_t *)&s->tcp, server_handle_closed);
	for (c = s->conns; c; c = next) {
		next = c->next;
		if (!c->req)
			conn_close(c);	/* idle keep-alive connections */
		else
			c->close_after = 1;
	}
	wake(s->rt, &s->task);
}

static void
server_cancel(ocl_pending *p)
{
	server *s = (server *)p;
	hconn *c;

	server_stop(s);
	while ((c = s->conns))
		conn_close(c);
}

/* core.http_listen(host, port) -> server */
static int
core_http_listen(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);
	const char *host = luaL_checkstring(L, 1);
	int port = (int)luaL_checkinteger(L, 2), rc;
	struct sockaddr_storage addr;
	server **ud, *s;

	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr))
		return luaL_error(L, "bad listen address %s:%d", host, port);
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
	rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&addr, 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&s->tcp, 511, on_connection);
	if (rc) {
		s->gone = 1;
		uv_close((uv_handle_t *)&s->tcp, server_handle_closed);
		return luaL_error(L, "cannot listen on %s:%d: %s", host, port,
				  uv_strerror(rc));
	}
	*ud = s;
	s->listening = 1;
	s->pending.cancel = server_cancel;
	ocl_pending_add(rt, &s->pending);
	rt->active++;
	return 1;
}

static server *
check_srv(lua_State *L)
{
	server **ud = luaL_checkudata(L, 1, SRV_MT);

	if (!*ud)
		luaL_error(L, "server is closed");
	return *ud;
}

static int
srv_port(lua_State *L)
{
	server *s = check_srv(L);
	struct sockaddr_storage a;
	int n = sizeof(a);

	if (uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&a, &n))
		return luaL_error(L, "server is not listening");
	lua_pushinteger(L, ntohs(((struct sockaddr_in *)&a)->sin_port));
	return 1;
}

static int
srv_close(lua_State *L)
{
	server_stop(check_srv(L));
	return 0;
}

/* push a decoded copy of [p, p+n); '+' is a space when `plus`; -1 on a
 * bad escape or a NUL byte */
static int
push_decoded(lua_State *L, const char *p, size_t n, int plus)
{
	luaL_Buffer b;
	size_t i;

	luaL_buffinit(L, &b);
	for (i = 0; i < n; i++) {
		int ch = (unsigned char)p[i];

		if (ch == '%') {
			char hex[3];

			if (i + 2 >= n || !isxdigit((unsigned char)p[i + 1]) ||
			    !isxdigit((unsigned char)p[i + 2]))
				goto bad;
			hex[0] = p[i + 1];
			hex[1] = p[i + 2];
			hex[2] = '\0';
			ch = (int)strtol(hex, NULL, 16);
			i += 2;
		} else if (ch == '+' && plus)
			ch = ' ';
		if (ch == 0)
			goto bad;
		luaL_addchar(&b, (char)ch);
	}
	luaL_pushresult(&b);
	return 0;
bad:
	luaL_pushresult(&b);	/* leave the stack as it was */
	lua_pop(L, 1);
	return -1;
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
		if (!r->conn) {		/* the client left before we looked */
			req_free(r);
			continue;
		}
		push_request(L, r);
		return 1;
	}
	if (s->closed) {
		lua_pushnil(L);
		return 1;
	}
	return ocl_wait_retry(L, &s->task, srv_accept);
}

static int
srv_gc(lua_State *L)
{
	server **ud = luaL_checkudata(L, 1, SRV_MT), *s = *ud;
	hreq *r;

	if (!s)
		return 0;
	*ud = NULL;
	if (s->task != LUA_NOREF && !s->rt->closing)
		luaL_unref(L, LUA_REGISTRYINDEX, s->task);
	s->task = LUA_NOREF;
	server_cancel(&s->pending);
	while ((r = s->ready_head)) {
		s->ready_head = r->next_ready;
		if (r->conn)
			r->conn->req = NULL;
		req_free(r);
	}
	s->gone = 1;
	if (!s->listening)
		free(s);
	return 0;
}

/* ------------------------------------------------------------------ */
/* requests                                                           */

static hreq *
check_req(lua_State *L)
{
	hreq **ud = luaL_checkudata(L, 1, REQ_MT);

	if (!*ud)
		luaL_error(L, "request is closed");
	return *ud;
}

static void
push_request(lua_State *L, hreq *r)
{
	hreq **ud = lua_newuserdatauv(L, sizeof(*ud), 1);
	const char *q = strchr(r->url, '?');
	size_t plen = q ? (size_t)(q - r->url) : strlen(r->url);
	int i, bad = 0;

	*ud = r;
	luaL_setmetatable(L, REQ_MT);
	lua_createtable(L, 0, 8);		/* the fields */
	lua_pushstring(L, http_method_str((enum http_method)r->method));
	lua_setfield(L, -2, "method");
	lua_pushlstring(L, r->url, plen);
	lua_setfield(L, -2, "raw_path");
	if (push_decoded(L, r->url, plen, 0)) {
		bad = 1;
		lua_pushlstring(L, r->url, plen);
	}
	lua_setfield(L, -2, "path");
	lua_newtable(L);
	if (q) {
		const char *p = q + 1, *end = r->url + strlen(r->url);

		while (p < end) {
			const char *amp = memchr(p, '&', (size_t)(end - p));
			const char *e = amp ? amp : end;
			const char *eq = memchr(p, '=', (size_t)(e - p));
			const char *ke = eq ? eq : e;

			if (ke > p) {
				if (push_decoded(L, p, (size_t)(ke - p), 1))
					bad = 1, lua_pushliteral(L, "");
				if (lua_rawget(L, -2) != LUA_TNIL) {
					lua_pop(L, 1);	/* first value wins */
				} else {
					lua_pop(L, 1);
					if (push_decoded(L, p, (size_t)(ke - p),
							 1))
						bad = 1,
						lua_pushliteral(L, "");
					if (eq) {
						if (push_decoded(L, eq + 1,
						    (size_t)(e - eq - 1), 1))
							bad = 1,
							lua_pushliteral(L, "");
					} else
						lua_pushliteral(L, "");
					lua_rawset(L, -3);
				}
			}
			p = e + 1;
		}
	}
	lua_setfield(L, -2, "query");
	lua_newtable(L);
	for (i = 0; i < r->nh; i++) {
		lua_pushstring(L, r->hn[i]);
		if (lua_rawget(L, -2) == LUA_TSTRING) {
			lua_pushliteral(L, ", ");
			lua_pushstring(L, r->hv[i]);
			lua_concat(L, 3);
		} else {
			lua_pop(L, 1);
			lua_pushstring(L, r->hv[i]);
		}
		lua_pushstring(L, r->hn[i]);
		lua_insert(L, -2);
		lua_rawset(L, -3);
	}
	lua_setfield(L, -2, "headers");
	lua_pushboolean(L, r->upgrade);
	lua_setfield(L, -2, "upgrade");
	lua_pushboolean(L, bad);
	lua_setfield(L, -2, "bad_encoding");
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

/* a task waiting on the request's connection */
static int
req_wait(lua_State *L, hreq *r, lua_CFunction again)
{
	return ocl_wait_retry(L, &r->task, again);
}

static int
req_read(lua_State *L)
{
	hreq *r = check_req(L);
	hconn *c = r->conn;
	chunk *ch = r->body_head;

	lua_settop(L, 1);
	if (ch) {
		r->body_head = ch->next;
		if (!r->body_head)
			r->body_tail = NULL;
		r->body_queued -= ch->len;
		lua_pushlstring(L, ch->data, ch->len);
		free(ch);
		if (c && !c->reading && !c->dead && !c->upgraded &&
		    r->body_queued < BODY_LOW && !r->body_done) {
			uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
			c->reading = 1;
		}
		return 1;
	}
	if (r->body_done || !c) {
		lua_pushnil(L);
		return 1;
	}
	if (r->expect_continue && !r->continue_sent) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		r->continue_sent = 1;
		send_bytes(c, cont, sizeof(cont) - 1);
	}
	if (!c->reading && !c->dead) {
		uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
		c->reading = 1;
	}
	return req_wait(L, r, req_read);
}

/* header block of a response into b; `length` < 0: chunked */
static int
head_block(lua_State *L, hreq *r, int status, int hidx, long long length,
	   buf *b)
{
	char line[256];
	int n;

	n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status,
		     reason(status));
	buf_add(b, line, (size_t)n);
	if (lua_istable(L, hidx)) {
		lua_pushnil(L);
		while (lua_next(L, hidx)) {
			size_t kl, vl;
			const char *k = luaL_checklstring(L, -2, &kl);
			const char *v = luaL_checklstring(L, -1, &vl);

			if (strpbrk(k, "\r\n:") || strpbrk(v, "\r\n"))
				return luaL_error(L, "bad header '%s'", k);
			if (strcasecmp(k, "content-length") &&
			    strcasecmp(k, "transfer-encoding")) {
				buf_add(b, k, kl);
				buf_add(b, ": ", 2);
				buf_add(b, v, vl);
				buf_add(b, "\r\n", 2);
			}
			lua_pop(L, 1);
		}
	}
	if (status >= 200 && status != 204 && status != 304) {
		if (length >= 0)
			n = snprintf(line, sizeof(line),
				     "Content-Length: %lld\r\n", length);
		else
			n = snprintf(line, sizeof(line),
				     "Transfer-Encoding: chunked\r\n");
		buf_add(b, line, (size_t)n);
	}
	n = snprintf(line, sizeof(line), "X-Request-Id: %s\r\n",
		     r->request_id);
	buf_add(b, line, (size_t)n);
	if (!r->keep_alive || (r->conn && r->conn->close_after) || r->upgrade)
		buf_add(b, "Connection: close\r\n", 19);
	return buf_add(b, "\r\n", 2);
}

static int
write_k(lua_State *L, int status, lua_KContext ctx)
{
	hreq *r = check_req(L);

	(void)status; (void)ctx;
	if (r->conn && r->conn->out_pending > OUT_HIGH) {
		if (r->task != LUA_NOREF)
			return luaL_error(L, "another task writes this "
					  "response");
		r->task = ocl_task_pin(L);
		return ocl_suspend(L, 0, write_k);
	}
	return 0;
}

/* after the last byte of a response: the connection moves on */
static void
req_finished(hreq *r)
{
	r->finished = 1;
	if (r->conn) {
		if (r->upgrade)
			r->conn->close_after = 1;
		conn_request_done(r->conn);
	}
}

static int
req_respond(lua_State *L)
{
	hreq *r = check_req(L);
	int status = (int)luaL_checkinteger(L, 2);
	size_t n = 0;
	const char *body = luaL_optlstring(L, 4, "", &n);
	buf b = { 0 };

	luaL_argcheck(L, status >= 100 && status < 600, 2, "bad status");
	if (r->started)
		return luaL_error(L, "response already started");
	r->started = 1;
	head_block(L, r, status, 3, (long long)n, &b);
	if (!r->head_only && status != 204 && status != 304)
		buf_add(&b, body, n);
	if (r->conn)
		send_bytes(r->conn, b.p, b.len);
	buf_free(&b);
	req_finished(r);
	lua_settop(L, 1);
	return write_k(L, LUA_OK, 0);
}

static int
req_start(lua_State *L)
{
	hreq *r = check_req(L);
	int status = (int)luaL_checkinteger(L, 2);
	lua_Integer length = luaL_optinteger(L, 4, -1);
	buf b = { 0 };

	luaL_argcheck(L, status >= 200 && status < 600, 2, "bad status");
	if (r->started)
		return luaL_error(L, "response already started");
	r->started = 1;
	r->chunked = length < 0;
	head_block(L, r, status, 3, (long long)length, &b);
	if (r->conn)
		send_bytes(r->conn, b.p, b.len);
	buf_free(&b);
	return 0;
}

static int
req_write(lua_State *L)
{
	hreq *r = check_req(L);
	size_t n;
	const char *p = luaL_checklstring(L, 2, &n);

	if (!r->started || r->finished)
		return luaL_error(L, "write: no streamed response is open");
	if (!r->conn)
		return luaL_error(L, "client closed the connection");
	if (n == 0 || r->head_only)
		return 0;
	if (r->chunked) {
		char size[24];
		int k = snprintf(size, sizeof(size), "%zx\r\n", n);

		send_bytes(r->conn, size, (size_t)k);
		send_bytes(r->conn, p, n);
		send_bytes(r->conn, "\r\n", 2);
	} else
		send_bytes(r->conn, p, n);
	lua_settop(L, 1);
	return write_k(L, LUA_OK, 0);
}

static int
req_finish(lua_State *L)
{
	hreq *r = check_req(L);

	if (!r->started || r->finished)
		return 0;
	if (r->chunked && r->conn && !r->head_only)
		send_bytes(r->conn, "0\r\n\r\n", 5);
	req_finished(r);
	return 0;
}

static int
req_closed(lua_State *L)
{
	lua_pushboolean(L, check_req(L)->conn == NULL);
	return 1;
}

/* hand the connection to lws's WebSocket server (httpd_ws.c) */
static int
req_accept_websocket(lua_State *L)
{
	hreq *r = check_req(L);
	hconn *c = r->conn;
	buf head = { 0 };
	uv_os_fd_t ofd;
	int fd, i;

	if (!r->upgrade || r->started)
		return luaL_error(L, "not a WebSocket upgrade request");
	if (!c)
		return luaL_error(L, "client closed the connection");
	lua_settop(L, 1);
	/* the request head again, for lws's handshake */
	buf_add(&head, "GET ", 4);
	buf_add(&head, r->url, strlen(r->url));
	buf_add(&head, " HTTP/1.1\r\n", 11);
	for (i = 0; i < r->nh; i++) {
		buf_add(&head, r->hn[i], strlen(r->hn[i]));
		buf_add(&head, ": ", 2);
		buf_add(&head, r->hv[i], strlen(r->hv[i]));
		buf_add(&head, "\r\n", 2);
	}
	buf_add(&head, "\r\n", 2);
	buf_add(&head, c->pending.p, c->pending.len);
	fd = uv_fileno((uv_handle_t *)&c->tcp, &ofd) ? -1 : dup(ofd);
	r->started = r->finished = 1;
	c->req = NULL;
	r->conn = NULL;
	conn_close(c);		/* closes its fd; the dup keeps the socket */
	if (fd < 0 || !head.p) {
		buf_free(&head);
		if (fd >= 0)
			close(fd);
		return luaL_error(L, "cannot hand the connection over");
	}
	/* the bytes are copied by lws before the call returns */
	i = ocl_httpd_websocket(L, fd, head.p, head.len);
	buf_free(&head);
	return i;
}

static int
req_gc(lua_State *L)
{
	hreq **ud = luaL_checkudata(L, 1, REQ_MT), *r = *ud;

	if (!r)
		return 0;
	*ud = NULL;
	r->gone = 1;
	if (r->task != LUA_NOREF && !(r->conn && r->conn->srv->rt->closing))
		luaL_unref(L, LUA_REGISTRYINDEX, r->task);
	r->task = LUA_NOREF;
	if (!r->conn) {
		req_free(r);
		return 0;
	}
	/* the handler ended without a complete answer */
	if (!r->started) {
		static const char err[] = "HTTP/1.1 500 Internal Server Error"
			"\r\nContent-Type: application/json\r\nContent-Length:"
			" 28\r\nConnection: close\r\n\r\n{\"error\":\"internal "
			"error\"}";

		send_bytes(r->conn, err, sizeof(err) - 1);
		r->conn->close_after = 1;
		req_finished(r);
	} else if (!r->finished) {
		hconn *c = r->conn;

		c->req = NULL;
		r->conn = NULL;
		conn_close(c);
		req_free(r);
	}
	/* else: conn_request_done ran; r freed there when gone */
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
		{ "__gc", req_gc }, { NULL, NULL }
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
