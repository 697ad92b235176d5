/*
 * process.c - host processes and signals for the runtime: a child
 * process on the host (the embedded default's server, helpers in tests)
 * with its stdout read by a task, and waiting for a signal.
 *
 *     proc = core.process_spawn(argv [, env_list [, opts]])  stdout piped,
 *                               stderr and stdin inherited; opts.session:
 *                               in a session of its own (setsid), out of
 *                               the terminal's process group, so that a
 *                               Ctrl-C meant for this program (the REPL
 *                               clears its line) does not reach it
 *     line = proc:read_line()   yields; nil at the end of its stdout
 *     proc:kill([signal]) ; proc:wait() -> exit code (yields)
 *     core.signal_wait(signum)  yields until the signal arrives
 *     core.exit_with_parent()   SIGTERM this process when its parent dies
 *     core.environ(), core.executable()   this process's environment and
 *                               program path
 *
 * A host process does not keep the runtime alive: a script that started
 * the local server exits when its own work is done, and the server,
 * started with exit_with_parent, follows.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "runtime/buf.h"
#include "runtime/runtime.h"

#define PROC_MT	"oclua.host_process"

typedef struct host_proc {
	oclua_runtime	*rt;
	uv_process_t	proc;
	uv_pipe_t	out;
	int		handles;	/* open uv handles */
	int		running, exit_code, out_open;
	buf		data;		/* stdout not yet taken */
	int		task;
	int		gone;
} host_proc;

static void
maybe_free(host_proc *p)
{
	if (p->gone && !p->handles) {
		buf_free(&p->data);
		free(p);
	}
}

static void
handle_closed(uv_handle_t *h)
{
	host_proc *p = h->data;

	p->handles--;
	maybe_free(p);
}

/* the handles keep the loop running only while a task waits on them */
static void
keep_loop(host_proc *p, int on)
{
	void (*f)(uv_handle_t *) = on ? uv_ref : uv_unref;

	if (p->running)
		f((uv_handle_t *)&p->proc);
	if (p->out_open)
		f((uv_handle_t *)&p->out);
}

/* a task waiting on the process keeps the runtime alive meanwhile */
static int
wait_for(lua_State *L, host_proc *p, lua_CFunction again)
{
	if (p->task != LUA_NOREF)
		return luaL_error(L, "another task waits on this process");
	p->rt->active++;
	keep_loop(p, 1);
	return ocl_wait_retry(L, &p->task, again);	/* yields: no return */
}

static void
wake(host_proc *p)
{
	int t = p->task;

	if (t != LUA_NOREF) {
		p->task = LUA_NOREF;
		p->rt->active--;
		keep_loop(p, 0);
		ocl_wake(p->rt, NULL, t);
	}
}

static void
on_exit_cb(uv_process_t *h, int64_t status, int sig)
{
	host_proc *p = h->data;

	p->running = 0;
	p->exit_code = sig ? -1 : (int)status;
	uv_close((uv_handle_t *)h, handle_closed);
	wake(p);
}

static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	(void)h; (void)hint;
	b->base = malloc(16384);
	b->len = b->base ? 16384 : 0;
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	host_proc *p = s->data;

	if (n > 0)
		buf_add(&p->data, b->base, (size_t)n);
	else if (n < 0 && p->out_open) {
		p->out_open = 0;
		uv_close((uv_handle_t *)s, handle_closed);
	}
	free(b->base);
	if (n != 0)
		wake(p);
}

static int
core_process_spawn(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);
	uv_process_options_t o;
	uv_stdio_container_t io[3];
	char *argv[64], *env[256];
	int i, n, rc;
	host_proc **ud, *p;

	luaL_checktype(L, 1, LUA_TTABLE);
	n = (int)lua_rawlen(L, 1);
	luaL_argcheck(L, n > 0 && n < 64, 1, "1 to 63 arguments");
	for (i = 0; i < n; i++) {
		lua_rawgeti(L, 1, i + 1);
		argv[i] = (char *)luaL_checkstring(L, -1);
		lua_pop(L, 1);	/* the table keeps the string alive */
	}
	argv[n] = NULL;
	memset(&o, 0, sizeof(o));
	if (lua_istable(L, 3)) {
		lua_getfield(L, 3, "session");
		if (lua_toboolean(L, -1))
			o.flags |= UV_PROCESS_DETACHED;
		lua_pop(L, 1);
	}
	if (!lua_isnoneornil(L, 2)) {
		int ne = (int)lua_rawlen(L, 2);

		luaL_argcheck(L, ne < 256, 2, "at most 255 variables");
		for (i = 0; i < ne; i++) {
			lua_rawgeti(L, 2, i + 1);
			env[i] = (char *)luaL_checkstring(L, -1);
			lua_pop(L, 1);
		}
		env[ne] = NULL;
		o.env = env;
	}
	ud = lua_newuserdatauv(L, sizeof(*ud), 0);
	*ud = NULL;
	luaL_setmetatable(L, PROC_MT);
	p = calloc(1, sizeof(*p));
	if (!p)
		return luaL_error(L, "out of memory");
	p->rt = rt;
	p->task = LUA_NOREF;
	uv_pipe_init(rt->loop, &p->out, 0);
	p->out.data = p;
	p->handles = 1;
	io[0].flags = UV_INHERIT_FD;
	io[0].data.fd = 0;
	io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	io[1].data.stream = (uv_stream_t *)&p->out;
	io[2].flags = UV_INHERIT_FD;
	io[2].data.fd = 2;
	o.file = argv[0];
	o.args = argv;
	o.stdio = io;
	o.stdio_count = 3;
	o.exit_cb = on_exit_cb;
	p->proc.data = p;
	rc = uv_spawn(rt->loop, &p->proc, &o);
	if (rc) {
		uv_close((uv_handle_t *)&p->out, handle_closed);
		p->gone = 1;
		*ud = NULL;
		return luaL_error(L, "cannot start %s: %s", argv[0],
				  uv_strerror(rc));
	}
	*ud = p;
	p->handles++;
	p->running = 1;
	p->out_open = 1;
	uv_unref((uv_handle_t *)&p->proc);
	uv_unref((uv_handle_t *)&p->out);
	uv_read_start((uv_stream_t *)&p->out, alloc_cb, on_read);
	return 1;
}

static host_proc *
check(lua_State *L)
{
	return ocl_check_open(L, PROC_MT, "process object");
}

static int
proc_read_line(lua_State *L)
{
	host_proc *p = check(L);
	char *nl = p->data.len ? memchr(p->data.p, '\n', p->data.len) : NULL;

	if (nl || (!p->out_open && p->data.len)) {
		size_t n = nl ? (size_t)(nl - p->data.p) : p->data.len;
		size_t used = nl ? n + 1 : n;

		lua_pushlstring(L, p->data.p, n);
		memmove(p->data.p, p->data.p + used, p->data.len - used);
		p->data.len -= used;
		return 1;
	}
	if (!p->out_open) {
		lua_pushnil(L);
		return 1;
	}
	return wait_for(L, p, proc_read_line);
}

static int
proc_wait(lua_State *L)
{
	host_proc *p = check(L);

	lua_settop(L, 1);
	if (p->running)
		return wait_for(L, p, proc_wait);
	lua_pushinteger(L, p->exit_code);
	return 1;
}

static int
proc_kill(lua_State *L)
{
	host_proc *p = check(L);

	if (p->running)
		uv_process_kill(&p->proc, (int)luaL_optinteger(L, 2, SIGTERM));
	return 0;
}

static int
proc_pid(lua_State *L)
{
	lua_pushinteger(L, check(L)->proc.pid);
	return 1;
}

static int
proc_gc(lua_State *L)
{
	host_proc **ud = luaL_checkudata(L, 1, PROC_MT), *p = *ud;

	if (!p)
		return 0;
	*ud = NULL;
	p->gone = 1;
	if (p->task != LUA_NOREF) {
		p->rt->active--;
		if (!p->rt->closing)
			luaL_unref(L, LUA_REGISTRYINDEX, p->task);
	}
	p->task = LUA_NOREF;
	if (p->out_open) {
		p->out_open = 0;
		uv_close((uv_handle_t *)&p->out, handle_closed);
	}
	if (p->running) {
		/* nobody holds it: it ends with its owner */
		uv_process_kill(&p->proc, SIGTERM);
		p->running = 0;
		uv_close((uv_handle_t *)&p->proc, handle_closed);
	}
	maybe_free(p);
	return 0;
}

/* ------------------------------------------------------------------ */

typedef struct sig_op {
	ocl_pending	pending;
	uv_signal_t	sig;
	oclua_runtime	*rt;
	int		task;
} sig_op;

static void
sig_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
sig_end(sig_op *op)
{
	ocl_pending_del(&op->pending);
	uv_signal_stop(&op->sig);
	uv_close((uv_handle_t *)&op->sig, sig_closed);
}

static void
on_signal(uv_signal_t *h, int signum)
{
	sig_op *op = h->data;
	int task = op->task;
	oclua_runtime *rt = op->rt;

	(void)signum;
	sig_end(op);
	ocl_wake(rt, rt->L, task);	/* no library on the stack */
}

static void
sig_cancel(ocl_pending *pd)
{
	sig_end((sig_op *)pd);
}

/* core.signal_wait(signum): yields until the signal arrives. Waiting
 * does not keep the runtime alive on its own. */
static int
core_signal_wait(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);
	int signum = (int)luaL_checkinteger(L, 1);
	int task = ocl_task_pin(L);
	sig_op *op = malloc(sizeof(*op));

	if (!op) {
		luaL_unref(L, LUA_REGISTRYINDEX, task);
		return luaL_error(L, "out of memory");
	}
	op->rt = rt;
	op->task = task;
	uv_signal_init(rt->loop, &op->sig);
	op->sig.data = op;
	if (uv_signal_start(&op->sig, on_signal, signum)) {
		uv_close((uv_handle_t *)&op->sig, sig_closed);
		return luaL_error(L, "cannot wait for signal %d", signum);
	}
	uv_unref((uv_handle_t *)&op->sig);
	op->pending.cancel = sig_cancel;
	ocl_pending_add(rt, &op->pending);
	return ocl_suspend(L, 0, NULL);
}

/* core.environ() -> {"K=V", ...} of this process */
static int
core_environ(lua_State *L)
{
	extern char **environ;
	int i;

	lua_newtable(L);
	for (i = 0; environ && environ[i]; i++) {
		lua_pushstring(L, environ[i]);
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* core.executable() -> the path of this program (for re-running it) */
static int
core_executable(lua_State *L)
{
	char exe[4096];
	size_t n = sizeof(exe);

	if (uv_exepath(exe, &n))
		return luaL_error(L, "cannot find this program's path");
	lua_pushlstring(L, exe, n);
	return 1;
}

static int
core_exit_with_parent(lua_State *L)
{
	pid_t parent = getppid();

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent || parent == 1)
		kill(getpid(), SIGTERM);
	(void)L;
	return 0;
}

int
ocl_open_process(lua_State *L)
{
	static const luaL_Reg m[] = {
		{ "read_line", proc_read_line }, { "wait", proc_wait },
		{ "kill", proc_kill }, { "pid", proc_pid }, { NULL, NULL }
	};
	static const luaL_Reg mm[] = {
		{ "__gc", proc_gc }, { NULL, NULL }
	};

	ocl_newclass(L, PROC_MT, m, mm);
	lua_pop(L, 1);
	lua_pushcfunction(L, core_process_spawn);
	lua_setfield(L, -2, "process_spawn");
	lua_pushcfunction(L, core_signal_wait);
	lua_setfield(L, -2, "signal_wait");
	lua_pushcfunction(L, core_exit_with_parent);
	lua_setfield(L, -2, "exit_with_parent");
	lua_pushcfunction(L, core_environ);
	lua_setfield(L, -2, "environ");
	lua_pushcfunction(L, core_executable);
	lua_setfield(L, -2, "executable");
	return 0;
}
