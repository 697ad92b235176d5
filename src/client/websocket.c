/*
 * websocket.c - the WebSocket client primitive: ws:// on ws_raw.c's own
 * transport, wss:// on the runtime's lws context; and the connection
 * object the local server's WebSockets (httpd_ws.c) share:
 *
 *     conn = core.ws_connect(url, headers)   yields until open; raises
 *     msg, binary = conn:receive()          yields until a message; at the
 *                                           end: nil, reason, code, text
 *     msg, binary, kind = conn:receive(true)  the same, a message's first
 *                                           byte split off: kind is it as
 *                                           an integer (nil for an empty
 *                                           message), msg the rest (the
 *                                           exec frames' stream byte,
 *                                           protocol.md 3.4.1: no copy of
 *                                           the output in Lua to drop it)
 *     conn:send(data [, text])              queues; yields only while more
 *                                           than TX_HIGH bytes are queued
 *     conn:close([code [, reason]])         starts the closing handshake
 *
 * The local server's connections (httpd_ws.c) ride ws_raw.c's server
 * role (ocl_ws_accept).
 *
 * Incoming messages are assembled whole and queued in C. When more than
 * RX_HIGH bytes wait for the task, reading from the socket stops
 * (ws_raw_pause, lws_rx_flow_control) until the queue drains below
 * RX_LOW: memory stays bounded and nothing is dropped.
 *
 * A connection's memory (ws_conn) outlives its userdata: it is freed when
 * both the userdata is collected and its transport has ended.
 */
#include <stdlib.h>
#include <string.h>
#include <libwebsockets.h>

#include "runtime/buf.h"
#include "client/lws.h"
#include "client/client.h"
#include "runtime/runtime.h"
#include "client/websocket.h"
#include "client/ws_frame.h"
#include "client/ws_raw.h"

#define CONN_MT		"oclua.websocket"
#define RX_HIGH		(64u << 10)
#define RX_LOW		(16u << 10)
#define POOL_HIGH	(8u << 20)	/* input held, all connections */
#define POOL_LOW	(4u << 20)
#define TX_HIGH		(256u << 10)
#define TX_FRAGMENT	(64u << 10)
#define MSG_MAX		(64u << 20)
#define RX_BUFFER	16384

enum { WS_CLOSED, WS_CONNECTING, WS_OPEN };	/* calloc: closed */

typedef struct ws_msg {
	struct ws_msg	*next;
	size_t		len;
	int		binary;
	unsigned char	data[];	/* LWS_PRE bytes of headroom on tx */
} ws_msg;

struct ws_conn {
	oclua_runtime	*rt;
	struct lws	*wsi;		/* wss:// clients */
	ws_raw		*raw;		/* ws:// clients, the server's side */
	int		state;
	int		opened;		/* was open once: messages and the end
					 * reach receive() */
	int		task;		/* task waiting to receive or for the
					 * handshake, or LUA_NOREF */
	int		send_task;	/* task waiting for room to send */
	int		gone;		/* userdata collected */
	int		counted;	/* counted in rt->active */

	ws_msg		*rx;		/* the message being assembled, in */
	size_t		rx_cap;		/* ... room for this many bytes */
	ws_msg		*in_head, *in_tail;
	size_t		in_bytes;
	int		rx_paused;
	int		starved;	/* paused for the pool: in the list */
	struct ws_conn	*next_starved;

	ws_msg		*out_head, *out_tail;
	size_t		out_bytes, out_off;

	int		close_requested, close_code;
	char		close_reason[124];
	int		peer_code;
	char		peer_reason[124];
	char		*error;
	int		http_status;	/* of a refused client handshake */
	char		retry_after[64];	/* its Retry-After, or "" */
	int		untrusted;	/* wss://: the server's certificate
					 * did not verify */

	char		**hdrs;		/* name:, value, ..., NULL */
};

static void
msgs_free(ws_msg *m)
{
	while (m) {
		ws_msg *n = m->next;

		free(m);
		m = n;
	}
}

/* Input held by all the connections of this thread (assembling and
 * queued): past POOL_HIGH, ws:// connections stop reading (the bytes wait
 * in the kernel) until it falls below POOL_LOW. With a thousand sessions
 * streaming at once, per-connection marks alone would let each hold a
 * message or two: a hundred MiB or more. */
static _Thread_local struct {
	size_t	bytes;
	ws_conn	*starved;	/* paused for the pool */
} pool;

static void
unstarve(ws_conn *c)
{
	ws_conn **pp;

	if (!c->starved)
		return;
	for (pp = &pool.starved; *pp; pp = &(*pp)->next_starved)
		if (*pp == c) {
			*pp = c->next_starved;
			break;
		}
	c->starved = 0;
}

/* read the socket again, whatever stopped it */
static void
resume_reading(ws_conn *c)
{
	c->rx_paused = 0;
	unstarve(c);
	if (c->raw)
		ws_raw_pause(c->raw, 0);
	else if (c->wsi)
		lws_rx_flow_control(c->wsi, 1);
}

/* resume a paused connection when it and the pool have room again; one
 * with a message under way resumes whatever the pool holds: a part of a
 * message is in the pool, and only its own connection can finish it, so
 * stopped connections holding parts could keep the pool from ever
 * draining (1,000 sessions streaming at once stalled for good) */
static void
maybe_resume(ws_conn *c)
{
	if (!c->rx_paused || c->in_bytes >= RX_LOW)
		return;
	if (pool.bytes >= POOL_LOW && !c->rx) {	/* wait for the pool */
		if (!c->starved) {
			c->starved = 1;
			c->next_starved = pool.starved;
			pool.starved = c;
		}
		return;
	}
	resume_reading(c);
}

/* the pool has room again: resume those it stopped that have room too */
static void
resume_starved(void)
{
	ws_conn **pp = &pool.starved;

	while (*pp) {
		ws_conn *c = *pp;

		if (c->in_bytes < RX_LOW) {
			*pp = c->next_starved;
			c->starved = 0;
			maybe_resume(c);
		} else
			pp = &c->next_starved;
	}
}

/* input leaves the pool (taken by a task, dropped, freed): below
 * POOL_LOW, the connections it stopped go on. Every decrease comes here:
 * one that did not resume them could leave them stopped for good. */
static void
pool_release(size_t n)
{
	pool.bytes -= n;
	if (pool.bytes < POOL_LOW && pool.starved)
		resume_starved();
}

static void
conn_free(ws_conn *c)
{
	char **h;
	ws_msg *m;
	size_t held = c->rx ? c->rx->len : 0;

	unstarve(c);
	for (m = c->in_head; m; m = m->next)
		held += m->len;
	pool_release(held);
	msgs_free(c->in_head);
	msgs_free(c->out_head);
	free(c->rx);
	free(c->error);
	for (h = c->hdrs; h && *h; h++)
		free(*h);
	free(c->hdrs);
	free(c);
}

static void
conn_wake(ws_conn *c)
{
	int task = c->task, sender = c->send_task;

	/* both look again at what they wait for */
	c->task = c->send_task = LUA_NOREF;
	if (task != LUA_NOREF)
		ocl_wake(c->rt, NULL, task);
	if (sender != LUA_NOREF)
		ocl_wake(c->rt, NULL, sender);
}

/* the wsi is gone: no more callbacks for this connection */
static void
conn_ended(ws_conn *c, const char *error)
{
	if (c->wsi)
		lws_set_opaque_user_data(c->wsi, NULL);
	c->wsi = NULL;
	c->state = WS_CLOSED;
	if (error && !c->error)
		c->error = strdup(error);
	if (c->counted) {
		c->counted = 0;
		c->rt->active--;
	}
	if (c->gone) {
		conn_free(c);
		return;
	}
	conn_wake(c);
}

/* Add a piece to the message being assembled: in its own block, grown as
 * pieces come (a message that arrives whole is allocated once, exactly),
 * so a connection keeps no buffer between messages. */
static int
rx_add(ws_conn *c, const void *p, size_t n, int final, size_t expect)
{
	size_t have = c->rx ? c->rx->len : 0;

	if (!c->rx || have + n > c->rx_cap) {
		/* the frame's size when known (ws_raw.c), exact when whole */
		size_t cap = final ? have + n : expect > n ? have + expect :
			     2 * (have + n);
		ws_msg *m;

		if (cap < 4096 && !final && !expect)
			cap = 4096;
		m = realloc(c->rx, sizeof(*m) + cap);
		if (!m)
			return -1;
		if (!c->rx) {
			m->len = 0;
			m->next = NULL;
		}
		c->rx = m;
		c->rx_cap = cap;
	}
	if (n)
		memcpy(c->rx->data + have, p, n);
	c->rx->len = have + n;
	pool.bytes += n;
	return 0;
}

/* drop a message cut short by a new one */
static void
rx_drop(ws_conn *c)
{
	if (c->rx) {
		pool_release(c->rx->len);
		free(c->rx);
		c->rx = NULL;
		c->rx_cap = 0;
	}
}

/* the assembled message goes to the queue */
static void
queue_in(ws_conn *c)
{
	ws_msg *m = c->rx;

	c->rx = NULL;
	c->rx_cap = 0;
	if (!m)
		return;
	if (c->in_tail)
		c->in_tail->next = m;
	else
		c->in_head = m;
	c->in_tail = m;
	c->in_bytes += m->len;
	if (c->in_bytes > RX_HIGH && !c->rx_paused && (c->wsi || c->raw)) {
		c->rx_paused = 1;
		if (c->raw)
			ws_raw_pause(c->raw, 1);
		else
			lws_rx_flow_control(c->wsi, 0);
	}
	conn_wake(c);
}

/* write the next piece of the first queued message */
static int
write_some(ws_conn *c, struct lws *wsi)
{
	ws_msg *m = c->out_head;
	size_t n = m->len - c->out_off;
	int start = c->out_off == 0, end, flags;

	if (n > TX_FRAGMENT)
		n = TX_FRAGMENT;
	end = c->out_off + n == m->len;
	flags = lws_write_ws_flags(m->binary ? LWS_WRITE_BINARY :
				   LWS_WRITE_TEXT, start, end);
	/* lws needs LWS_PRE bytes of headroom before what it writes: for a
	 * later fragment those are bytes already sent, free to overwrite */
	if (lws_write(wsi, m->data + LWS_PRE + c->out_off, n,
		      (enum lws_write_protocol)flags) < (int)n)
		return -1;
	c->out_off += n;
	if (end) {
		c->out_head = m->next;
		if (!c->out_head)
			c->out_tail = NULL;
		c->out_bytes -= m->len;
		c->out_off = 0;
		free(m);
		if (c->out_bytes <= TX_HIGH)
			conn_wake(c);	/* a sender may wait for room */
	}
	return 0;
}

/* the lws protocol callback of wss:// connections: a wsi's opaque user
 * data is its ws_conn */
static int
lws_callback(struct lws *wsi, enum lws_callback_reasons reason,
	     void *user, void *in, size_t len)
{
	ws_conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char **p = in, *end = *p + len;
		char **h;

		for (h = c ? c->hdrs : NULL; h && h[0]; h += 2)
			if (lws_add_http_header_by_name(wsi,
					(const unsigned char *)h[0],
					(const unsigned char *)h[1],
					(int)strlen(h[1]), p, end))
				return -1;
		break;
	}
	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
		/* len: OpenSSL's verdict on the chain; lws decides */
		if (c && !len)
			c->untrusted = 1;
		break;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c) {
			/* a server that answered the upgrade with, say, a
			 * 404: its status tells the caller what went wrong */
			if (wsi) {
				c->http_status =
					(int)lws_http_client_http_response(wsi);
				if (lws_hdr_copy(wsi, c->retry_after,
						 sizeof(c->retry_after),
						 WSI_TOKEN_HTTP_RETRY_AFTER) <= 0)
					c->retry_after[0] = 0;
			}
			/* lws's own words for a refused certificate say
			 * nothing of it ("connect SSL err 1: ...") */
			conn_ended(c, c->untrusted ? "TLS handshake failed: "
				   "the server's certificate did not verify "
				   "(a CA not trusted, or another host's; "
				   "SSL_CERT_FILE can name a CA file)" :
				   in && len ? (const char *)in :
				   "connection failed");
		}
		break;

	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (!c)
			return -1;
		c->state = WS_OPEN;
		c->opened = 1;
		if (c->close_requested || c->out_head)
			lws_callback_on_writable(wsi);
		conn_wake(c);
		break;

	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (!c)
			return -1;
		if ((c->rx ? c->rx->len : 0) + len > MSG_MAX) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
					 (unsigned char *)"message too big", 15);
			if (!c->error)
				c->error = strdup("message larger than 64 MiB");
			return -1;
		}
		{
			int first = lws_is_first_fragment(wsi);
			int final = lws_is_final_fragment(wsi);

			if (first)	/* a message cut short, if any */
				rx_drop(c);
			if (rx_add(c, in, len, final, 0))
				return -1;
			if (first)
				c->rx->binary = lws_frame_is_binary(wsi);
			if (final)
				queue_in(c);
		}
		break;

	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!c)
			return -1;
		if (c->out_head) {
			if (write_some(c, wsi))
				return -1;
			if (c->out_head || c->close_requested)
				lws_callback_on_writable(wsi);
			break;
		}
		if (c->close_requested) {
			lws_close_reason(wsi, (enum lws_close_status)
					 c->close_code,
					 (unsigned char *)c->close_reason,
					 strlen(c->close_reason));
			/* close from the timer, not by returning -1 here:
			 * Debian's lws 4.1 is a _DEBUG build whose service
			 * loop then closes the wsi a second time ("uv repeat
			 * test"), killing it before the close frame is sent
			 * (the peer saw 1006); the timer path closes once */
			lws_set_timer_usecs(wsi, 1);
		}
		break;

	case LWS_CALLBACK_TIMER:
		if (c && c->close_requested)
			return -1;	/* lws sends the close frame */
		break;

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (c && len >= 2) {
			const unsigned char *b = in;
			size_t n = len - 2;

			c->peer_code = b[0] << 8 | b[1];
			if (n >= sizeof(c->peer_reason))
				n = sizeof(c->peer_reason) - 1;
			memcpy(c->peer_reason, b + 2, n);
			c->peer_reason[n] = '\0';
		}
		break;

	case LWS_CALLBACK_CLIENT_CLOSED:
	case LWS_CALLBACK_WSI_DESTROY:
		if (c)
			conn_ended(c, NULL);
		break;

	default:
		break;
	}
	return 0;
}

static const struct lws_protocols client_protocols[] = {
	{ "oclua-ws-client", lws_callback, 0, RX_BUFFER, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* the vhost of wss:// clients (ws:// ones use ws_raw.c), made on the
 * first: it loads the system's CA bundle, about 30 ms here, or the file
 * SSL_CERT_FILE names (a private CA; read once per runtime) */
static struct lws_vhost *
client_vhost(lua_State *L, oclua_runtime *rt)
{
	struct lws_context_creation_info vi;
	struct lws_context *ctx = ocl_lws_context(L, rt);
	const char *ca = getenv("SSL_CERT_FILE");

	if (rt->lws->client)
		return rt->lws->client;
	memset(&vi, 0, sizeof(vi));
	vi.vhost_name = "oclua-client";
	vi.port = CONTEXT_PORT_NO_LISTEN;
	vi.protocols = client_protocols;
	vi.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (ca && *ca)
		vi.client_ssl_ca_filepath = ca;
	rt->lws->client = lws_create_vhost(ctx, &vi);
	if (!rt->lws->client)
		luaL_error(L, "cannot create the WebSocket client vhost");
	return rt->lws->client;
}

/* ------------------------------------------------------------------ */
/* Lua side                                                           */

static ws_conn *
check_conn(lua_State *L)
{
	ws_conn **box = luaL_checkudata(L, 1, CONN_MT);

	return *box;
}

/* copy the headers table into c->hdrs as "name:", "value" pairs */
static void
copy_headers(lua_State *L, ws_conn *c, int idx)
{
	size_t n = 0, i = 0;

	if (lua_isnoneornil(L, idx))
		return;
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		n++;
		lua_pop(L, 1);
	}
	c->hdrs = calloc(2 * n + 1, sizeof(char *));
	if (!c->hdrs)
		luaL_error(L, "out of memory");
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		const char *k = luaL_checkstring(L, -2);
		const char *v = luaL_checkstring(L, -1);

		if (strpbrk(k, "\r\n:") || strpbrk(v, "\r\n"))
			luaL_error(L, "bad header '%s'", k);
		lua_pushfstring(L, "%s:", k);
		c->hdrs[i++] = strdup(lua_tostring(L, -1));
		c->hdrs[i++] = strdup(v);
		lua_pop(L, 2);
	}
}

static int
open_k(lua_State *L, int status, lua_KContext ctx)
{
	ws_conn *c = (ws_conn *)ctx;

	(void)status;
	if (c->state == WS_CONNECTING) {
		c->task = ocl_task_pin(L);
		return ocl_suspend(L, ctx, open_k);
	}
	if (c->state == WS_CLOSED && !c->opened) {
		const char *why = c->error ? c->error :
			"connection closed during the handshake";

		if (c->http_status <= 0)
			return luaL_error(L, "%s", why);
		/* a refused upgrade: raise {message=, status=,
		 * retry_after= (its Retry-After header, if any)} */
		lua_createtable(L, 0, 3);
		lua_pushstring(L, why);
		lua_setfield(L, -2, "message");
		lua_pushinteger(L, c->http_status);
		lua_setfield(L, -2, "status");
		if (c->retry_after[0]) {
			lua_pushstring(L, c->retry_after);
			lua_setfield(L, -2, "retry_after");
		}
		return lua_error(L);
	}
	return 1;	/* the userdata, left on top */
}

ws_conn *
ocl_ws_push(lua_State *L, oclua_runtime *rt)
{
	ws_conn **box = lua_newuserdatauv(L, sizeof(*box), 0), *c;

	*box = NULL;
	luaL_setmetatable(L, CONN_MT);
	c = calloc(1, sizeof(*c));
	if (!c)
		luaL_error(L, "out of memory");
	*box = c;
	c->rt = rt;
	c->task = c->send_task = LUA_NOREF;
	c->close_code = LWS_CLOSE_STATUS_NORMAL;
	return c;
}

/* the handshake is under way: the connection keeps the runtime alive
 * until it ends */
static void
conn_connecting(ws_conn *c)
{
	c->state = WS_CONNECTING;
	c->counted = 1;
	c->rt->active++;
}

/* yield until the connection object on top of L's stack is open, and
 * return it (1 result); raise if the handshake fails */
static int
wait_open(lua_State *L, ws_conn *c)
{
	return open_k(L, LUA_OK, (lua_KContext)c);
}

/* ------------------------------------------------------------------ */
/* ws:// connections: the events of ws_raw.c                          */

static void
raw_open(void *ud)
{
	ws_conn *c = ud;

	c->state = WS_OPEN;
	c->opened = 1;
	if (c->close_requested)
		ws_raw_close(c->raw, c->close_code, c->close_reason);
	conn_wake(c);
}

static int
raw_full(void *ud)
{
	ws_conn *c = ud;

	/* a message under way is always finished: stopping it for the pool
	 * could stop every connection short of a whole message; one closing
	 * by our request drops what comes (raw_piece) */
	if (c->close_requested)
		return 0;
	if (c->in_bytes <= RX_HIGH && (pool.bytes <= POOL_HIGH || c->rx))
		return 0;
	c->rx_paused = 1;
	if (!c->starved && pool.bytes > POOL_HIGH) {
		c->starved = 1;
		c->next_starved = pool.starved;
		pool.starved = c;
	}
	return 1;
}

static int
raw_piece(void *ud, const char *p, size_t n, int first, int final,
	  int binary, size_t frame_left)
{
	ws_conn *c = ud;

	if (c->close_requested)
		return 0;	/* closing: what the peer still sends is dropped */
	if (first)
		rx_drop(c);
	if (rx_add(c, p, n, final, frame_left))
		return -1;
	if (first)
		c->rx->binary = binary;
	if (final)
		queue_in(c);
	return 0;
}

static void
raw_peer_close(void *ud, int code, const char *reason, size_t n)
{
	ws_conn *c = ud;

	c->peer_code = code;
	if (n >= sizeof(c->peer_reason))
		n = sizeof(c->peer_reason) - 1;
	memcpy(c->peer_reason, reason, n);
	c->peer_reason[n] = '\0';
}

static void
raw_drained(void *ud, size_t queued)
{
	ws_conn *c = ud;

	c->out_bytes = queued;
	if (queued <= TX_HIGH && c->send_task != LUA_NOREF)
		conn_wake(c);
}

static void
raw_ended(void *ud, const char *error, int http_status,
	  const char *retry_after)
{
	ws_conn *c = ud;

	c->raw = NULL;
	c->out_bytes = 0;
	c->http_status = http_status;
	snprintf(c->retry_after, sizeof(c->retry_after), "%s",
		 retry_after ? retry_after : "");
	conn_ended(c, error);
}

static const ws_raw_events raw_events = {
	raw_open, raw_full, raw_piece, raw_peer_close, raw_drained, raw_ended
};

int
ocl_ws_accept(lua_State *L, int idx, int fd, const char *answer,
	      size_t alen, const char *rest, size_t rlen)
{
	ws_conn *c = *(ws_conn **)luaL_checkudata(L, idx, CONN_MT);
	const char *err;

	conn_connecting(c);
	c->raw = ws_raw_accept(c->rt, fd, answer, alen, rest, rlen, MSG_MAX,
			       &raw_events, c, &err);
	if (!c->raw)
		conn_ended(c, err);
	lua_pushvalue(L, idx);
	return wait_open(L, c);
}

/* core.ws_connect(url, headers) -> connection; raises when it fails */
static int
core_ws_connect(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);
	size_t ulen;
	const char *url = luaL_checklstring(L, 1, &ulen);
	struct lws_client_connect_info i;
	const char *prot, *ads, *path;
	char *copy, *fullpath, hostport[300];
	int port;
	ws_conn *c;

	lua_settop(L, 2);
	memset(&i, 0, sizeof(i));

	c = ocl_ws_push(L, rt);				/* index 3 */
	copy_headers(L, c, 2);

	copy = lua_newuserdatauv(L, ulen + 1, 0);	/* scratch for the parser */
	memcpy(copy, url, ulen + 1);
	if (lws_parse_uri(copy, &prot, &ads, &port, &path) ||
	    (strcmp(prot, "ws") && strcmp(prot, "wss")))
		return luaL_error(L, "bad WebSocket URL '%s' (want ws:// or "
				  "wss://)", url);
	/* the port is lws_parse_uri's: the URL's, else 80 or 443 */
	if (!strcmp(prot, "wss"))
		i.ssl_connection = LCCSCF_USE_SSL;
	/* lws_parse_uri gives the path without its leading '/', or "/"
	 * alone for a URL without one */
	fullpath = lua_newuserdatauv(L, strlen(path) + 2, 0);
	fullpath[0] = '/';
	strcpy(fullpath + 1, path[0] == '/' ? path + 1 : path);
	if (!i.ssl_connection) {	/* ws://: our own transport */
		const char *err;
		ws_raw *r;

		conn_connecting(c);
		r = ws_raw_connect(rt, ads, port, fullpath, c->hdrs, MSG_MAX,
				   &raw_events, c, &err);
		if (!r)
			conn_ended(c, err);
		else if (c->state != WS_CLOSED)	/* not ended at once */
			c->raw = r;
		lua_settop(L, 3);
		return wait_open(L, c);
	}
	i.context = ocl_lws_context(L, rt);
	i.vhost = client_vhost(L, rt);
	snprintf(hostport, sizeof(hostport), "%s:%d", ads, port);

	i.address = ads;
	i.port = port;
	i.path = fullpath;
	i.host = hostport;
	i.origin = hostport;
	i.local_protocol_name = client_protocols[0].name;
	i.opaque_user_data = c;
	i.pwsi = &c->wsi;
	conn_connecting(c);
	if (!lws_client_connect_via_info(&i) && c->state != WS_CLOSED)
		conn_ended(c, "cannot start the connection");
	lua_settop(L, 3);
	return wait_open(L, c);
}

static int
conn_receive(lua_State *L)
{
	ws_conn *c = check_conn(L);
	ws_msg *m = c->in_head;

	if (m) {
		int split = lua_toboolean(L, 2) && m->len > 0;

		c->in_head = m->next;
		if (!c->in_head)
			c->in_tail = NULL;
		c->in_bytes -= m->len;
		lua_pushlstring(L, (const char *)m->data + split,
				m->len - (size_t)split);
		lua_pushboolean(L, m->binary);
		if (split)
			lua_pushinteger(L, m->data[0]);
		pool_release(m->len);
		free(m);
		maybe_resume(c);
		return 2 + split;
	}
	if (c->state == WS_CLOSED) {
		lua_pushnil(L);
		lua_pushstring(L, c->error ? c->error : "closed");
		lua_pushinteger(L, c->peer_code);
		lua_pushstring(L, c->peer_reason);
		return 4;
	}
	lua_settop(L, 2);
	return ocl_wait_retry_args(L, &c->task, conn_receive);
}

static int
send_k(lua_State *L, int status, lua_KContext ctx)
{
	ws_conn *c = check_conn(L);

	(void)status; (void)ctx;
	if (c->out_bytes > TX_HIGH && c->state != WS_CLOSED) {
		c->send_task = ocl_task_pin(L);
		return ocl_suspend(L, 0, send_k);
	}
	return 0;
}

static int
conn_send(lua_State *L)
{
	ws_conn *c = check_conn(L);
	size_t n;
	const char *p = luaL_checklstring(L, 2, &n);
	ws_msg *m;

	if (c->state == WS_CLOSED || c->close_requested)
		return luaL_error(L, "WebSocket is closed");
	if (c->raw) {		/* written at once; out_bytes: not yet sent */
		c->out_bytes = ws_raw_send(c->raw, p, n, !lua_toboolean(L, 3));
		m = NULL;
		goto wait;
	}
	m = malloc(sizeof(*m) + LWS_PRE + n);
	if (!m)
		return luaL_error(L, "out of memory");
	m->next = NULL;
	m->len = n;
	m->binary = !lua_toboolean(L, 3);
	memcpy(m->data + LWS_PRE, p, n);
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
	c->out_bytes += n;
	if (c->state == WS_OPEN)
		lws_callback_on_writable(c->wsi);
wait:
	if (c->out_bytes > TX_HIGH && c->send_task == LUA_NOREF) {
		lua_settop(L, 1);
		return send_k(L, LUA_OK, 0);
	}
	return 0;
}

static void
request_close(ws_conn *c, int code, const char *reason)
{
	if (c->state == WS_CLOSED || c->close_requested)
		return;
	c->close_requested = 1;
	c->close_code = code;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	if (c->raw) {
		if (c->state == WS_OPEN)	/* else: once open */
			ws_raw_close(c->raw, code, c->close_reason);
		/* the peer's answer comes after what it sent meanwhile: read on
		 * and drop that (raw_piece), so a stopped connection closes at
		 * once instead of at the close timeout */
		rx_drop(c);
		if (c->rx_paused)
			resume_reading(c);
	} else if (c->state == WS_OPEN)
		lws_callback_on_writable(c->wsi);
}

static int
conn_close(lua_State *L)
{
	ws_conn *c = check_conn(L);
	lua_Integer code = luaL_optinteger(L, 2, LWS_CLOSE_STATUS_NORMAL);
	const char *reason = luaL_optstring(L, 3, "");

	luaL_argcheck(L, code >= 1000 && code < 5000 &&
		      ws_close_code_ok((int)code), 2, "not a close code that "
		      "may be sent (1000-1003, 1007-1014, 3000-4999)");
	request_close(c, (int)code, reason);
	return 0;
}

/* conn:queued() -> bytes received but not yet taken, bytes not yet sent */
static int
conn_queued(lua_State *L)
{
	ws_conn *c = check_conn(L);

	lua_pushinteger(L, (lua_Integer)c->in_bytes);
	lua_pushinteger(L, (lua_Integer)c->out_bytes);
	return 2;
}

static int
conn_is_open(lua_State *L)
{
	lua_pushboolean(L, check_conn(L)->state == WS_OPEN);
	return 1;
}

static int
conn_gc(lua_State *L)
{
	ws_conn **box = luaL_checkudata(L, 1, CONN_MT), *c = *box;

	if (!c)
		return 0;
	*box = NULL;
	c->gone = 1;
	if (!c->rt->closing) {
		if (c->task != LUA_NOREF)
			luaL_unref(L, LUA_REGISTRYINDEX, c->task);
		if (c->send_task != LUA_NOREF)
			luaL_unref(L, LUA_REGISTRYINDEX, c->send_task);
	}
	c->task = c->send_task = LUA_NOREF;
	if (c->state == WS_CLOSED)
		conn_free(c);
	else if (c->rt->closing)
		;	/* lws_context_destroy ends the wsi and frees c */
	else
		request_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "");
	return 0;
}

int
ocl_open_websocket(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "receive", conn_receive },
		{ "send", conn_send },
		{ "close", conn_close },
		{ "queued", conn_queued },
		{ "is_open", conn_is_open },
		{ NULL, NULL }
	};
	static const luaL_Reg meta[] = {
		{ "__gc", conn_gc },
		{ NULL, NULL }
	};

	ocl_newclass(L, CONN_MT, methods, meta);
	lua_pop(L, 1);
	lua_pushcfunction(L, core_ws_connect);
	lua_setfield(L, -2, "ws_connect");
	return 0;
}
