/*
 * netns.c - a TCP connection to a port inside a sandbox's network
 * namespace: how the local server reaches what a sandbox serves on its
 * own loopback (its 127.0.0.1 and 0.0.0.0 listeners, and ::1 ones), for
 * preview URLs (lua/opencomputer/server/preview.lua).
 *
 *     fd = core.netns_connect(netns_fd, port [, timeout])
 *                         yields; netns_fd is box:netns() (box.c), port
 *                         1..65535, timeout in seconds (default 10).
 *                         Returns the descriptor of a connected,
 *                         non-blocking TCP socket (the caller owns it:
 *                         req:tunnel takes it), or nil, a message and
 *                         the errno name ("ECONNREFUSED": nothing listens,
 *                         "ETIMEDOUT": no answer within the timeout)
 *
 * The socket is made by a thread of our own that joins the namespace
 * (setns(2) with CLONE_NEWNET changes the calling thread only, and a
 * socket belongs to the namespace it was made in for its whole life),
 * connects to 127.0.0.1:port, and when that is refused to [::1]:port
 * (servers that listen on "localhost" may bind ::1 only), then ends. The
 * loop's thread never changes namespace, and nothing inside the sandbox
 * takes part: the init is not asked, no descriptor comes from inside.
 * The namespace is the one the sandbox's init was cloned into, opened at
 * boot (box.c); a sandbox cannot make another (seccomp.c).
 *
 * The thread waits for the connection with poll(2) on the socket and on
 * an eventfd that the runtime's teardown writes to, so that closing the
 * runtime never waits for a connect.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "runtime/runtime.h"
#include "sandbox/err.h"
#include "sandbox/sandbox.h"

#define CONNECT_TIMEOUT	10.0	/* s, by default */
#define THREAD_STACK	(64u << 10)

typedef struct op {
	ocl_pending	pending;
	oclua_runtime	*rt;
	uv_async_t	async;		/* the thread is done */
	pthread_t	thread;
	int		joined;		/* the thread was joined */
	int		closed;		/* async's close callback ran */
	int		consumed;	/* the answer was taken (or never will be) */
	int		task;		/* the task waiting, or LUA_NOREF */
	int		netns;		/* our own dup of the box's */
	int		port, cancel;	/* cancel: an eventfd */
	int		timeout_ms;
	/* the thread's answer */
	int		fd;		/* connected, or -1 */
	int		err;		/* errno when fd is -1 */
	const char	*what;		/* the step that failed */
} op;

/* connect `fd` to `sa`, waiting at most `*ms` (decreased by the time
 * spent) or until `cancel` is readable; 0 or an errno value */
static int
connect_wait(int fd, const struct sockaddr *sa, socklen_t len, int cancel,
	     int *ms)
{
	struct pollfd pf[2];
	struct timespec t0, t1;
	socklen_t elen = sizeof(int);
	int err = 0, n;

	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return errno;
	pf[0].fd = fd;
	pf[0].events = POLLOUT;
	pf[1].fd = cancel;
	pf[1].events = POLLIN;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		n = poll(pf, 2, *ms);
	while (n < 0 && errno == EINTR);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*ms -= (int)((t1.tv_sec - t0.tv_sec) * 1000 +
		     (t1.tv_nsec - t0.tv_nsec) / 1000000);
	if (*ms < 0)
		*ms = 0;
	if (n < 0)
		return errno;
	if (n == 0)
		return ETIMEDOUT;
	if (pf[1].revents)
		return ECANCELED;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen))
		return errno;
	return err;
}

/* the thread: into the namespace, then 127.0.0.1, then ::1 */
static void *
run(void *arg)
{
	op *o = arg;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
	int ms = o->timeout_ms, i, fd, err, rc;

	rc = setns(o->netns, CLONE_NEWNET);
	close(o->netns);
	if (rc) {
		o->err = errno;
		o->what = "join the sandbox's network namespace";
		goto out;
	}
	memset(&v4, 0, sizeof(v4));
	v4.sin_family = AF_INET;
	v4.sin_port = htons((uint16_t)o->port);
	v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(&v6, 0, sizeof(v6));
	v6.sin6_family = AF_INET6;
	v6.sin6_port = htons((uint16_t)o->port);
	v6.sin6_addr = in6addr_loopback;
	o->what = "connect";
	for (i = 0; i < 2; i++) {
		fd = socket(i ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
			    SOCK_CLOEXEC, 0);
		if (fd < 0) {
			if (i == 0) {
				o->err = errno;
				o->what = "make a socket";
			}
			break;	/* no IPv6: the IPv4 answer stands */
		}
		err = i ? connect_wait(fd, (struct sockaddr *)&v6, sizeof(v6),
				       o->cancel, &ms) :
			  connect_wait(fd, (struct sockaddr *)&v4, sizeof(v4),
				       o->cancel, &ms);
		if (!err) {
			o->fd = fd;
			o->err = 0;
			break;
		}
		close(fd);
		/* only "refused" on 127.0.0.1 leads to ::1; an IPv6
		 * failure other than refused leaves the IPv4 answer */
		if (i == 0)
			o->err = err;
		if (err != ECONNREFUSED)
			break;
	}
out:
	uv_async_send(&o->async);
	return NULL;
}

/* freed once its handle is closed and its answer taken (or never to be) */
static void
op_maybe_free(op *o)
{
	if (!o->closed || !o->consumed)
		return;
	if (o->fd >= 0)
		close(o->fd);
	close(o->cancel);
	free(o);
}

static void
op_closed(uv_handle_t *h)
{
	op *o = h->data;

	o->closed = 1;
	op_maybe_free(o);
}

/* the thread is done (on the loop's thread): wake the task */
static void
op_done(uv_async_t *a)
{
	op *o = a->data;
	int t = o->task;

	pthread_join(o->thread, NULL);
	o->joined = 1;
	uv_close((uv_handle_t *)&o->async, op_closed);
	o->task = LUA_NOREF;
	o->rt->active--;
	ocl_wake(o->rt, o->rt->L, t);
}

/* the runtime closes: a thread still connecting gives up at once; its
 * task will not run again */
static void
op_cancel(ocl_pending *p)
{
	op *o = (op *)p;
	uint64_t one = 1;

	if (!o->joined) {
		if (write(o->cancel, &one, sizeof(one)) < 0) {
			/* cannot fail: an eventfd far below its maximum */
		}
		pthread_join(o->thread, NULL);
		o->joined = 1;
		o->rt->active--;
		o->task = LUA_NOREF;
		uv_close((uv_handle_t *)&o->async, op_closed);
	}
	o->consumed = 1;
	op_maybe_free(o);
}

static int
connect_k(lua_State *L, int status, lua_KContext ctx)
{
	op *o = (op *)ctx;
	int n = 1;

	(void)status;
	ocl_pending_del(&o->pending);
	if (o->fd >= 0) {
		lua_pushinteger(L, o->fd);
		o->fd = -1;	/* the caller's now */
	} else {
		lua_pushnil(L);
		if (o->err == ECONNREFUSED)
			lua_pushfstring(L, "nothing listens on port %d in the "
					"sandbox (127.0.0.1 and ::1 refused)",
					o->port);
		else if (o->err == ETIMEDOUT)
			lua_pushfstring(L, "port %d in the sandbox did not "
					"accept the connection in time",
					o->port);
		else
			lua_pushfstring(L, "%s to port %d in the sandbox: %s",
					o->what, o->port, strerror(o->err));
		lua_pushstring(L, o->err == ECONNREFUSED ? "ECONNREFUSED" :
			       o->err == ETIMEDOUT ? "ETIMEDOUT" :
			       sandbox_errno_name(o->err));
		n = 3;
	}
	o->consumed = 1;
	op_maybe_free(o);
	return n;
}

static int
core_netns_connect(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);
	lua_Integer netns = luaL_checkinteger(L, 1);
	lua_Integer port = luaL_checkinteger(L, 2);
	double timeout = luaL_optnumber(L, 3, CONNECT_TIMEOUT);
	pthread_attr_t attr;
	op *o;
	int rc, task;

	luaL_argcheck(L, netns >= 0 && netns <= INT32_MAX, 1,
		      "a network namespace descriptor (box:netns())");
	luaL_argcheck(L, port >= 1 && port <= 65535, 2,
		      "port must be 1 to 65535");
	luaL_argcheck(L, timeout > 0 && timeout <= 3600, 3,
		      "timeout must be more than 0 and at most 3600 s");
	task = ocl_task_pin(L);		/* raises outside a task */
	o = calloc(1, sizeof(*o));
	if (!o) {
		luaL_unref(L, LUA_REGISTRYINDEX, task);
		return luaL_error(L, "out of memory");
	}
	o->rt = rt;
	o->task = task;
	o->port = (int)port;
	o->timeout_ms = (int)ceil(timeout * 1000);
	o->fd = -1;
	/* the thread's own descriptor: the box may close its own meanwhile,
	 * and its number go to another sandbox's namespace */
	o->netns = fcntl((int)netns, F_DUPFD_CLOEXEC, 0);
	o->cancel = eventfd(0, EFD_CLOEXEC);
	if (o->netns < 0 || o->cancel < 0) {
		rc = errno;
		if (o->netns >= 0)
			close(o->netns);
		if (o->cancel >= 0)
			close(o->cancel);
		luaL_unref(L, LUA_REGISTRYINDEX, task);
		free(o);
		return luaL_error(L, "cannot take the namespace: %s",
				  strerror(rc));
	}
	if (uv_async_init(rt->loop, &o->async, op_done)) {
		close(o->netns);
		close(o->cancel);
		luaL_unref(L, LUA_REGISTRYINDEX, o->task);
		free(o);
		return luaL_error(L, "uv_async_init failed");
	}
	o->async.data = o;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	rc = pthread_create(&o->thread, &attr, run, o);
	pthread_attr_destroy(&attr);
	if (rc) {
		close(o->netns);
		luaL_unref(L, LUA_REGISTRYINDEX, o->task);
		o->joined = o->consumed = 1;
		uv_close((uv_handle_t *)&o->async, op_closed);
		return luaL_error(L, "cannot start a thread: %s", strerror(rc));
	}
	o->pending.cancel = op_cancel;
	ocl_pending_add(rt, &o->pending);
	rt->active++;
	return ocl_suspend(L, (lua_KContext)o, connect_k);
}

int
ocl_open_netns(lua_State *L)
{
	lua_pushcfunction(L, core_netns_connect);
	lua_setfield(L, -2, "netns_connect");
	return 0;
}
