/*
 * tunnel.c - two TCP sockets joined: whatever one sends goes to the
 * other, both ways, until both have finished. What a preview URL becomes
 * once its request head is read (httpd.c's req:tunnel hands over the
 * client's connection; lua/opencomputer/server/preview.lua decides whose
 * and where to): HTTP with keep-alive and chunked bodies, and WebSocket
 * upgrades, pass through untouched, with no buffering of whole bodies.
 *
 *     t = req:tunnel(fd)     (httpd.c) the client's connection and a
 *                            connected socket, joined
 *     t:wait()               yields until both sockets are closed; the
 *                            bytes moved client -> backend, backend ->
 *                            client
 *     t:bytes()              the same, now
 *     t:close()              close both at once (a waiting task wakes)
 *
 * Bounded: past HIGH bytes queued towards one side, the other is not
 * read until they fall below LOW, so a slow reader slows the writer and
 * a tunnel holds at most about 2 x (HIGH + 2 x READ_SIZE) bytes (a read
 * of less than a quarter of READ_SIZE is shrunk to its size before it
 * is queued: small messages to a slow reader hold what they carry).
 *
 * Ends: the client's end of input (FIN) is passed on to the backend once
 * what came before it is written, and the backend is heard to its own
 * end (a request sent, then an answer awaited, is HTTP/1.0's way). The
 * backend's end of input means it is done with the connection: what it
 * sent goes on to the client, then our FIN, and from then on what the
 * client still sends is read and dropped (never written to a closed
 * backend, whose error would reset the client's connection before it
 * read the answer) until the client ends too, or for at most LINGER ms;
 * then the tunnel closes. Any error on either socket closes it at once.
 * A tunnel that is collected is closed: keep a reference while it runs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/runtime.h"
#include "server/httpd.h"

#define TUNNEL_MT	"oclua.tunnel"
#define READ_SIZE	(256u << 10)
#define HIGH		(256u << 10)	/* queued towards a side: stop */
#define LOW		(64u << 10)	/* ... and read again below this */
#define LINGER		5000	/* ms the client is drained after our FIN */

typedef struct tunnel tunnel;

typedef struct side {
	uv_tcp_t	tcp;
	tunnel		*t;
	int		reading;	/* uv_read_start in effect */
	int		eof;		/* it sent FIN */
	int		shut;		/* our FIN to it is sent, after all else */
	size_t		queued;		/* bytes being written to it */
	uint64_t	moved;		/* bytes read from it and passed on */
	uv_shutdown_t	sh;
} side;

struct tunnel {
	ocl_pending	pending;	/* until both handles are closed */
	oclua_runtime	*rt;
	side		s[2];		/* 0: the client, 1: the backend */
	uv_timer_t	linger;		/* the client drained, at most LINGER */
	int		opened;		/* handles initialised */
	int		closing;	/* uv_close called */
	int		closed;		/* ... and both callbacks ran */
	int		lua;		/* a userdata holds it */
	int		task;		/* waiting in wait() */
};

typedef struct twrite {
	uv_write_t	req;
	side		*to;
	size_t		len;		/* bytes of data to write */
	size_t		size;		/* bytes data[] has room for */
	struct twrite	*next;		/* in the pool */
	char		data[];
} twrite;

/* READ_SIZE buffers kept for the next reads (of any tunnel of this
 * thread's loop): a malloc of that size is an mmap, and each read would
 * fault its pages in again (a sixth of the server's CPU per byte); freed
 * when the thread's last tunnel has closed */
#define POOL_MAX	16
static _Thread_local twrite *pool;
static _Thread_local int pooled, tunnels;

static twrite *
buf_get(void)
{
	twrite *o = pool;

	if (o) {
		pool = o->next;
		pooled--;
		return o;
	}
	o = malloc(sizeof(*o) + READ_SIZE);
	if (o)
		o->size = READ_SIZE;
	return o;
}

static void
buf_put(twrite *o)
{
	if (o && o->size == READ_SIZE && pooled < POOL_MAX) {
		o->next = pool;
		pool = o;
		pooled++;
	} else
		free(o);
}

static void side_sync(side *s);

static side *
other(side *s)
{
	tunnel *t = s->t;

	return s == &t->s[0] ? &t->s[1] : &t->s[0];
}

static void
tunnel_maybe_free(tunnel *t)
{
	if (t->closed && !t->lua)
		free(t);
}

static void
wake_waiter(tunnel *t)
{
	int task = t->task;

	if (task != LUA_NOREF) {
		t->task = LUA_NOREF;
		t->rt->active--;
		ocl_wake(t->rt, NULL, task);
	}
}

static void
handle_gone(tunnel *t)
{
	if (--t->opened)
		return;
	t->closed = 1;
	if (--tunnels == 0)
		while (pool) {
			twrite *o = pool;

			pool = o->next;
			free(o);
			pooled--;
		}
	ocl_pending_del(&t->pending);
	wake_waiter(t);
	tunnel_maybe_free(t);
}

static void
side_closed(uv_handle_t *h)
{
	handle_gone(((side *)h->data)->t);
}

static void
timer_closed(uv_handle_t *h)
{
	handle_gone(h->data);
}

/* close both sockets at once (what is queued is dropped) */
static void
tunnel_close(tunnel *t)
{
	int i;

	if (t->closing)
		return;
	t->closing = 1;
	for (i = 0; i < 2; i++) {
		t->s[i].reading = 0;
		uv_close((uv_handle_t *)&t->s[i].tcp, side_closed);
	}
	uv_close((uv_handle_t *)&t->linger, timer_closed);
}

static void
lingered(uv_timer_t *tm)
{
	tunnel_close(tm->data);
}

/* done when the backend's FIN reached the client (and the client's the
 * backend, or the client ended after it, or LINGER passed) */
static void
maybe_done(tunnel *t)
{
	if (!t->s[0].shut)
		return;
	if (t->s[0].eof)
		tunnel_close(t);
	else if (!uv_is_active((uv_handle_t *)&t->linger))
		uv_timer_start(&t->linger, lingered, LINGER, 0);
}

/* what `s` was sent is written, and then our FIN */
static void
shut_done(uv_shutdown_t *sh, int status)
{
	side *s = sh->data;

	if (s->t->closing)
		return;
	if (status < 0) {
		tunnel_close(s->t);
		return;
	}
	s->shut = 1;
	maybe_done(s->t);
}

static void
written(uv_write_t *w, int status)
{
	twrite *o = (twrite *)w;
	side *to = o->to;
	tunnel *t = to->t;

	to->queued -= o->len;
	buf_put(o);
	if (t->closing)
		return;
	if (status < 0) {
		tunnel_close(t);
		return;
	}
	side_sync(other(to));
}

/* queue `n` bytes at `data` (a malloc'd twrite's, ours to give) to `to` */
static int
send_to(side *to, twrite *o, size_t n)
{
	uv_buf_t b = uv_buf_init(o->data, (unsigned)n);

	o->to = to;
	o->len = n;
	if (uv_write(&o->req, (uv_stream_t *)&to->tcp, &b, 1, written)) {
		buf_put(o);
		return -1;
	}
	to->queued += n;
	return 0;
}

static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	twrite *o = buf_get();

	(void)h; (void)hint;
	*b = o ? uv_buf_init(o->data, READ_SIZE) : uv_buf_init(NULL, 0);
}

static void
on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	side *s = st->data, *to = other(st->data);
	tunnel *t = s->t;
	twrite *o = b->base ? (twrite *)(b->base - offsetof(twrite, data)) :
		    NULL;

	if (n <= 0 || t->closing) {
		buf_put(o);
		if (n == 0 || t->closing)
			return;
		if (n != UV_EOF) {
			tunnel_close(t);
			return;
		}
		/* FIN: pass it on once what came before is written; the
		 * client's after the backend's only ends the drain */
		s->eof = 1;
		s->reading = 0;
		if (s == &t->s[0] && to->eof) {
			maybe_done(t);
			return;
		}
		to->sh.data = to;
		if (uv_shutdown(&to->sh, (uv_stream_t *)&to->tcp, shut_done))
			tunnel_close(t);
		return;
	}
	if (to->eof && s == &t->s[0]) {	/* the backend has ended */
		buf_put(o);
		return;
	}
	s->moved += (uint64_t)n;
	if ((size_t)n < READ_SIZE / 4) {	/* queued writes hold what they carry */
		twrite *small = realloc(o, sizeof(*o) + (size_t)n);

		if (small) {
			o = small;
			o->size = (size_t)n;
		}
	}
	if (send_to(to, o, (size_t)n)) {
		tunnel_close(t);
		return;
	}
	side_sync(s);
}

/* read `s` while the other side's queue has room */
static void
side_sync(side *s)
{
	tunnel *t = s->t;
	/* the client is drained (not passed on) once the backend ended */
	size_t q = s == &t->s[0] && t->s[1].eof ? 0 : other(s)->queued;
	int want = !s->eof && !t->closing &&
		   (s->reading ? q <= HIGH : q <= LOW);

	if (want && !s->reading) {
		if (uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, on_read)) {
			tunnel_close(t);
			return;
		}
		s->reading = 1;
	} else if (!want && s->reading) {
		uv_read_stop((uv_stream_t *)&s->tcp);
		s->reading = 0;
	}
}

static void
tunnel_cancel(ocl_pending *p)
{
	tunnel *t = (tunnel *)p;

	t->task = LUA_NOREF;	/* the runtime closes: no task runs */
	tunnel_close(t);
}

/* ------------------------------------------------------------------ */
/* Lua                                                                */

int
ocl_tunnel_new(lua_State *L, int client, int backend, const char *first,
	       size_t n)
{
	oclua_runtime *rt = ocl_rt(L);
	tunnel **ud = lua_newuserdatauv(L, sizeof(*ud), 0);
	tunnel *t = calloc(1, sizeof(*t));
	int fds[2] = { client, backend }, i, failed = 0;
	twrite *o;

	*ud = NULL;
	luaL_setmetatable(L, TUNNEL_MT);
	if (!t) {
		close(client);
		close(backend);
		return luaL_error(L, "out of memory");
	}
	t->rt = rt;
	t->task = LUA_NOREF;
	uv_timer_init(rt->loop, &t->linger);
	t->linger.data = t;
	t->opened++;
	for (i = 0; i < 2; i++) {
		side *s = &t->s[i];

		s->t = t;
		uv_tcp_init(rt->loop, &s->tcp);
		s->tcp.data = s;
		t->opened++;
		if (uv_tcp_open(&s->tcp, fds[i])) {
			close(fds[i]);
			failed = 1;
		} else
			uv_tcp_nodelay(&s->tcp, 1);
	}
	t->pending.cancel = tunnel_cancel;
	ocl_pending_add(rt, &t->pending);
	tunnels++;
	*ud = t;
	t->lua = 1;
	if (failed) {
		tunnel_close(t);
		return 1;
	}
	if (n) {
		o = malloc(sizeof(*o) + n);
		if (o)
			o->size = n;
		if (!o || (memcpy(o->data, first, n), send_to(&t->s[1], o, n)))
			tunnel_close(t);
		else
			t->s[0].moved += n;
	}
	side_sync(&t->s[0]);
	side_sync(&t->s[1]);
	return 1;
}

static tunnel *
check_tunnel(lua_State *L)
{
	return ocl_check_open(L, TUNNEL_MT, "tunnel");
}

static int
t_bytes(lua_State *L)
{
	tunnel *t = check_tunnel(L);

	lua_pushinteger(L, (lua_Integer)t->s[0].moved);
	lua_pushinteger(L, (lua_Integer)t->s[1].moved);
	return 2;
}

static int t_wait(lua_State *L);

static int
wait_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status; (void)ctx;
	lua_settop(L, 1);
	return t_wait(L);
}

static int
t_wait(lua_State *L)
{
	tunnel *t = check_tunnel(L);

	if (t->closed)
		return t_bytes(L);
	if (t->task != LUA_NOREF)
		return luaL_error(L, "another task waits on this tunnel");
	t->task = ocl_task_pin(L);
	t->rt->active++;
	return ocl_suspend(L, 0, wait_k);
}

static int
t_close(lua_State *L)
{
	tunnel_close(check_tunnel(L));
	return 0;
}

static int
t_gc(lua_State *L)
{
	tunnel **ud = luaL_checkudata(L, 1, TUNNEL_MT), *t = *ud;

	if (!t)
		return 0;
	*ud = NULL;
	if (t->task != LUA_NOREF) {
		t->rt->active--;
		if (!t->rt->closing)
			luaL_unref(L, LUA_REGISTRYINDEX, t->task);
		t->task = LUA_NOREF;
	}
	t->lua = 0;
	tunnel_close(t);
	tunnel_maybe_free(t);
	return 0;
}

int
ocl_open_tunnel(lua_State *L)
{
	static const luaL_Reg m[] = {
		{ "wait", t_wait }, { "bytes", t_bytes }, { "close", t_close },
		{ NULL, NULL }
	};
	static const luaL_Reg mm[] = {
		{ "__gc", t_gc }, { NULL, NULL }
	};

	ocl_newclass(L, TUNNEL_MT, m, mm);
	lua_pop(L, 1);
	return 0;
}
