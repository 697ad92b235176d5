/*
 * http.c - the HTTP client primitive: libcurl's multi interface on the
 * runtime's loop (one uv_poll_t per curl socket, one uv_timer_t for curl's
 * timeout), and a request object that a task pulls events from:
 *
 *     req = core.http_request(method, url, headers, body, opts)
 *     ev, ... = req:next()     yields until there is something:
 *       "data", chunk          a piece of a streamed response body
 *       "need"                 the streamed upload wants its next chunk:
 *                              answer with req:feed(chunk or nil for EOF)
 *       "done", status, headers, body, reused
 *                              (body is nil when streamed, except for a
 *                              status of 400 or more: then no "data"
 *                              came, and body holds up to 64 KiB for the
 *                              error; reused is true when no new
 *                              connection was opened)
 *       "error", kind, message, sent    kind: timeout, resolve, connect,
 *                              transport (the connection failed under
 *                              way), other (TLS verification, a bad
 *                              URL...: sending again does not help);
 *                              sent is false when no byte of
 *                              the request went out (nothing reached the
 *                              server: safe to send again), true when
 *                              some may have
 *
 * Memory stays bounded on streamed transfers: the upload holds one chunk,
 * and a streamed download pauses the transfer when more than STREAM_HIGH
 * bytes wait for the task.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "runtime/buf.h"
#include "client/client.h"
#include "runtime/runtime.h"

#define REQ_MT		"oclua.http_request"
#define STREAM_HIGH	(1u << 20)
#define ERROR_BODY_MAX	(64u << 10)	/* of a streamed error response */
#define POOL_MAX	32

struct ocl_http {
	CURLM		*multi;
	uv_timer_t	timer;
	CURL		*pool[POOL_MAX];
	int		npool;
};

typedef struct curl_sock {
	uv_poll_t	poll;
	curl_socket_t	fd;
	oclua_runtime	*rt;
} curl_sock;


typedef struct http_req {
	ocl_pending	pending;	/* linked while in the multi */
	oclua_runtime	*rt;
	CURL		*easy;
	struct curl_slist *hdrs;
	int		task;		/* waiting task, or LUA_NOREF */
	int		in_multi;
	int		done;
	CURLcode	result;
	char		errbuf[CURL_ERROR_SIZE];
	buf		head;		/* header block of the last response */
	buf		body;		/* whole body, or chunks not yet taken */
	int		stream;
	int		error_body;	/* streamed, but the status is >= 400:
					 * the body is kept for the error */
	int		recv_paused;
	int		upload;		/* body comes from req:feed() */
	buf		up;
	size_t		up_off;
	int		up_eof, up_need, send_paused;
} http_req;

static void check_done(oclua_runtime *rt);

/* ------------------------------------------------------------------ */
/* curl multi on the uv loop                                          */

static void
sock_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
sock_ready(uv_poll_t *h, int status, int events)
{
	curl_sock *cs = h->data;
	oclua_runtime *rt = cs->rt;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(rt->http->multi, cs->fd, flags, &running);
	check_done(rt);
}

static int
on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	oclua_runtime *rt = userp;
	curl_sock *cs = socketp;
	int ev = 0;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (cs) {
			/* close at once: the fd number may be reused next */
			uv_poll_stop(&cs->poll);
			uv_close((uv_handle_t *)&cs->poll, sock_closed);
			curl_multi_assign(rt->http->multi, s, NULL);
		}
		return 0;
	}
	if (!cs) {
		cs = calloc(1, sizeof(*cs));
		if (!cs)
			return -1;
		cs->fd = s;
		cs->rt = rt;
		if (uv_poll_init_socket(rt->loop, &cs->poll, s)) {
			free(cs);
			return -1;
		}
		cs->poll.data = cs;
		curl_multi_assign(rt->http->multi, s, cs);
	}
	if (what & CURL_POLL_IN)
		ev |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		ev |= UV_WRITABLE;
	uv_poll_start(&cs->poll, ev, sock_ready);
	return 0;
}

static void
timer_fired(uv_timer_t *t)
{
	oclua_runtime *rt = t->data;
	int running;

	curl_multi_socket_action(rt->http->multi, CURL_SOCKET_TIMEOUT, 0,
				 &running);
	check_done(rt);
}

/* curl asks for a timeout: only (re)arm the uv timer from here */
static int
on_timer(CURLM *m, long ms, void *userp)
{
	oclua_runtime *rt = userp;

	(void)m;
	if (ms < 0)
		uv_timer_stop(&rt->http->timer);
	else
		uv_timer_start(&rt->http->timer, timer_fired, (uint64_t)ms, 0);
	return 0;
}

static struct ocl_http *
http_get(lua_State *L, oclua_runtime *rt)
{
	struct ocl_http *h;

	if (rt->http)
		return rt->http;
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		luaL_error(L, "curl_global_init failed");
	h = calloc(1, sizeof(*h));
	if (!h || !(h->multi = curl_multi_init())) {
		free(h);
		luaL_error(L, "cannot start libcurl");
		return NULL;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, rt);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, rt);
	uv_timer_init(rt->loop, &h->timer);
	h->timer.data = rt;
	rt->http = h;
	return h;
}

void
ocl_http_close(oclua_runtime *rt)
{
	struct ocl_http *h = rt->http;

	if (!h)
		return;
	while (h->npool)
		curl_easy_cleanup(h->pool[--h->npool]);
	curl_multi_cleanup(h->multi);	/* closes cached connections */
	uv_timer_stop(&h->timer);
	h->timer.data = h;
	uv_close((uv_handle_t *)&h->timer, sock_closed);
	rt->http = NULL;
	curl_global_cleanup();
}

/* ------------------------------------------------------------------ */
/* requests                                                           */

static void
req_wake(http_req *r)
{
	int task = r->task;

	if (task != LUA_NOREF) {
		r->task = LUA_NOREF;
		ocl_wake(r->rt, NULL, task);
	}
}

/* leave the multi; the easy handle goes back to the pool */
static void
req_detach(http_req *r)
{
	struct ocl_http *h = r->rt->http;

	if (r->in_multi) {
		curl_multi_remove_handle(h->multi, r->easy);
		ocl_pending_del(&r->pending);
		r->in_multi = 0;
		r->rt->active--;
	}
	if (r->easy) {
		if (h && h->npool < POOL_MAX) {
			curl_easy_reset(r->easy);
			h->pool[h->npool++] = r->easy;
		} else
			curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
	buf_free(&r->up);
}

static void
check_done(oclua_runtime *rt)
{
	CURLMsg *m;
	int left;

	while (rt->http && (m = curl_multi_info_read(rt->http->multi, &left))) {
		http_req *r;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		r->result = m->data.result;
		r->done = 1;
		curl_multi_remove_handle(rt->http->multi, r->easy);
		ocl_pending_del(&r->pending);
		r->in_multi = 0;
		rt->active--;
		req_wake(r);
	}
}

static void
req_cancel(ocl_pending *p)
{
	http_req *r = (http_req *)p;

	r->in_multi = 1;	/* still counted: let req_detach undo it */
	req_detach(r);
}

static size_t
on_header(char *p, size_t size, size_t n, void *ud)
{
	http_req *r = ud;

	n *= size;
	if (n >= 5 && !memcmp(p, "HTTP/", 5))
		r->head.len = 0;	/* a new response (after 100, redirect) */
	return buf_add(&r->head, p, n) ? 0 : n;
}

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
	http_req *r = ud;

	n *= size;
	if (r->stream && !r->error_body && !r->body.len) {
		long status = 0;

		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		r->error_body = status >= 400;
	}
	if (r->error_body) {
		/* kept for the error up to ERROR_BODY_MAX, the rest dropped */
		if (r->body.len + n <= ERROR_BODY_MAX &&
		    buf_add(&r->body, p, n))
			return 0;
		return n;
	}
	if (r->stream && r->body.len >= STREAM_HIGH) {
		r->recv_paused = 1;	/* curl hands this data again later */
		return CURL_WRITEFUNC_PAUSE;
	}
	if (buf_add(&r->body, p, n))
		return 0;
	if (r->stream)
		req_wake(r);
	return n;
}

static size_t
on_read(char *p, size_t size, size_t n, void *ud)
{
	http_req *r = ud;
	size_t avail = r->up.len - r->up_off;

	n *= size;
	if (avail == 0) {
		if (r->up_eof)
			return 0;
		r->up.len = r->up_off = 0;
		r->up_need = 1;
		r->send_paused = 1;
		req_wake(r);
		return CURL_READFUNC_PAUSE;
	}
	if (n > avail)
		n = avail;
	memcpy(p, r->up.p + r->up_off, n);
	r->up_off += n;
	return n;
}

static void
req_unpause(http_req *r)
{
	if (r->easy && r->in_multi)
		curl_easy_pause(r->easy,
				(r->recv_paused ? CURLPAUSE_RECV : 0) |
				(r->send_paused ? CURLPAUSE_SEND : 0));
}

static void
add_header(lua_State *L, http_req *r, const char *line)
{
	struct curl_slist *n = curl_slist_append(r->hdrs, line);

	if (!n)
		luaL_error(L, "out of memory");
	r->hdrs = n;
}

/* headers table {name = value} -> the request's curl_slist */
static void
set_headers(lua_State *L, http_req *r, int idx)
{
	add_header(L, r, "Expect:");	/* never wait for 100-continue */
	if (lua_isnoneornil(L, idx))
		return;
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		const char *k = luaL_checkstring(L, -2);
		const char *v = luaL_checkstring(L, -1);

		if (strpbrk(k, "\r\n:") || strpbrk(v, "\r\n"))
			luaL_error(L, "bad header '%s'", k);
		lua_pushfstring(L, *v ? "%s: %s" : "%s;", k, v);
		add_header(L, r, lua_tostring(L, -1));
		lua_pop(L, 2);
	}
}

static lua_Number
opt_number(lua_State *L, int idx, const char *k, lua_Number dflt)
{
	lua_Number v = dflt;

	if (lua_getfield(L, idx, k) != LUA_TNIL)
		v = luaL_checknumber(L, -1);
	lua_pop(L, 1);
	return v;
}

static int
opt_bool(lua_State *L, int idx, const char *k)
{
	int v;

	lua_getfield(L, idx, k);
	v = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return v;
}

/* core.http_request(method, url, headers, body, opts) -> request
 * body: a string, or nil; opts.upload = true streams it from req:feed();
 * opts.length gives its size when known; opts.stream = true delivers the
 * response body as "data" events; opts.timeout in seconds (0: none). */
static int
core_http_request(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);
	const char *method = luaL_checkstring(L, 1);
	const char *url = luaL_checkstring(L, 2);
	size_t blen = 0;
	const char *body = luaL_optlstring(L, 4, NULL, &blen);
	struct ocl_http *h;
	http_req *r;
	lua_Number timeout, length;
	const char *ca;
	CURL *e;

	if (lua_isnoneornil(L, 5)) {
		lua_settop(L, 4);
		lua_newtable(L);
	}
	luaL_checktype(L, 5, LUA_TTABLE);
	timeout = opt_number(L, 5, "timeout", 0);
	length = opt_number(L, 5, "length", -1);
	h = http_get(L, rt);

	r = lua_newuserdatauv(L, sizeof(*r), 0);
	memset(r, 0, sizeof(*r));
	r->rt = rt;
	r->task = LUA_NOREF;
	luaL_setmetatable(L, REQ_MT);
	r->stream = opt_bool(L, 5, "stream");
	r->upload = opt_bool(L, 5, "upload");
	r->up_need = r->upload;
	set_headers(L, r, 3);

	e = r->easy = h->npool ? h->pool[--h->npool] : curl_easy_init();
	if (!e)
		return luaL_error(L, "out of memory");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	if (getenv("OCLUA_CURL_VERBOSE")) curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "oclua/" OCLUA_VERSION);
	/* a private CA, by OpenSSL's convention (libcurl has its own
	 * default bundle and does not read it) */
	if ((ca = getenv("SSL_CERT_FILE")) && *ca)
		curl_easy_setopt(e, CURLOPT_CAINFO, ca);
	if (timeout > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
				 (long)(timeout * 1000.0 + 0.5));
	if (r->upload) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, r);
		if (length >= 0)
			curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
					 (curl_off_t)length);
	} else if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)blen);
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
	}
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") || body || r->upload)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);

	if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
		return luaL_error(L, "cannot start the request");
	r->in_multi = 1;
	r->pending.cancel = req_cancel;
	ocl_pending_add(rt, &r->pending);
	rt->active++;
	return 1;
}

static http_req *
check_req(lua_State *L)
{
	return luaL_checkudata(L, 1, REQ_MT);
}

/* push the header block as {lower-case name = value} */
static void
push_headers(lua_State *L, const buf *b)
{
	const char *p = b->p, *end = b->p + b->len;

	lua_newtable(L);
	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *colon, *v, *ve;
		luaL_Buffer name;

		if (!eol)
			eol = end;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon && p[0] != ' ' && p[0] != '\t') {
			const char *k;

			luaL_buffinit(L, &name);
			for (k = p; k < colon; k++)
				luaL_addchar(&name, tolower((unsigned char)*k));
			luaL_pushresult(&name);
			for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t');)
				v++;
			for (ve = eol; ve > v && isspace((unsigned char)ve[-1]);)
				ve--;
			lua_pushvalue(L, -1);
			if (lua_rawget(L, -3) == LUA_TSTRING) {
				/* a repeated header: join with ", " */
				lua_pushliteral(L, ", ");
				lua_pushlstring(L, v, (size_t)(ve - v));
				lua_concat(L, 3);
			} else {
				lua_pop(L, 1);
				lua_pushlstring(L, v, (size_t)(ve - v));
			}
			lua_rawset(L, -3);
		}
		p = eol + 1;
	}
}

static const char *
error_kind(CURLcode c)
{
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT:
		return "timeout";
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return "resolve";
	case CURLE_COULDNT_CONNECT:
		return "connect";
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return "transport";	/* the connection failed under way */
	default:
		return "other";		/* TLS verification, a bad URL... */
	}
}

/* Whether a failed request may have reached the server: libcurl counts
 * the request's header bytes written to the socket (REQUEST_SIZE, across
 * its own resend on a reused connection that was closed), the body bytes
 * sent (SIZE_UPLOAD) and the response header bytes read (HEADER_SIZE).
 * All three 0: not one byte of the request went out. */
static int
req_sent(http_req *r)
{
	long reqsize = 0, hdrsize = 0;
	curl_off_t up = 0;

	if (!r->easy)
		return 1;
	curl_easy_getinfo(r->easy, CURLINFO_REQUEST_SIZE, &reqsize);
	curl_easy_getinfo(r->easy, CURLINFO_HEADER_SIZE, &hdrsize);
	curl_easy_getinfo(r->easy, CURLINFO_SIZE_UPLOAD_T, &up);
	return reqsize > 0 || hdrsize > 0 || up > 0;
}

static int
req_next(lua_State *L)
{
	http_req *r = check_req(L);

	if (r->stream && !r->error_body && r->body.len) {
		lua_pushliteral(L, "data");
		lua_pushlstring(L, r->body.p, r->body.len);
		r->body.len = 0;
		if (r->recv_paused) {
			r->recv_paused = 0;
			req_unpause(r);
		}
		return 2;
	}
	if (r->up_need && !r->done) {
		r->up_need = 0;
		lua_pushliteral(L, "need");
		return 1;
	}
	if (r->done) {
		long status = 0;

		if (r->result != CURLE_OK) {
			lua_pushliteral(L, "error");
			lua_pushstring(L, error_kind(r->result));
			lua_pushstring(L, r->errbuf[0] ? r->errbuf :
				       curl_easy_strerror(r->result));
			lua_pushboolean(L, req_sent(r));
			req_detach(r);
			return 4;
		}
		if (r->easy)
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE,
					  &status);
		long connects = 0;

		if (r->easy)
			curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS,
					  &connects);
		lua_pushliteral(L, "done");
		lua_pushinteger(L, status);
		push_headers(L, &r->head);
		if (r->stream && !r->error_body)
			lua_pushnil(L);
		else
			lua_pushlstring(L, r->body.p ? r->body.p : "",
					r->body.len);
		lua_pushboolean(L, connects == 0);	/* a reused connection */
		buf_free(&r->head);
		buf_free(&r->body);
		req_detach(r);
		return 5;
	}
	if (!r->in_multi)
		return luaL_error(L, "request is closed");
	return ocl_wait_retry(L, &r->task, req_next);
}

/* req:feed(chunk) gives the streamed upload its next chunk; nil ends it */
static int
req_feed(lua_State *L)
{
	http_req *r = check_req(L);
	size_t n = 0;
	const char *p = luaL_optlstring(L, 2, NULL, &n);

	if (!r->upload)
		return luaL_error(L, "request has no streamed body");
	if (!p)
		r->up_eof = 1;
	else if (n && buf_add(&r->up, p, n))
		return luaL_error(L, "out of memory");
	if (!p || n) {
		r->send_paused = 0;
		req_unpause(r);
	} else
		r->up_need = 1;	/* an empty chunk: ask again */
	return 0;
}

/* req:close() abandons the request (idempotent) */
static int
req_close(lua_State *L)
{
	http_req *r = check_req(L);

	req_detach(r);
	if (r->task != LUA_NOREF && !r->rt->closing)
		luaL_unref(L, LUA_REGISTRYINDEX, r->task);
	r->task = LUA_NOREF;
	buf_free(&r->head);
	buf_free(&r->body);
	return 0;
}

int
ocl_open_http(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "next", req_next },
		{ "feed", req_feed },
		{ "close", req_close },
		{ NULL, NULL }
	};
	static const luaL_Reg meta[] = {
		{ "__gc", req_close },
		{ "__close", req_close },
		{ NULL, NULL }
	};

	ocl_newclass(L, REQ_MT, methods, meta);
	lua_pop(L, 1);
	lua_pushcfunction(L, core_http_request);
	lua_setfield(L, -2, "http_request");
	return 0;
}
