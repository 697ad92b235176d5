/*
 * runtime.c - the runtime context: creation and teardown, the task ready
 * queue and its drain loop, the yield template, running main tasks, and
 * the task primitives of `opencomputer.core` (ocl_open_tasks). Which
 * modules a runtime has is not its business: ocl_attach takes the
 * installer (src/core/core.c).
 *
 * Tasks are coroutines. A task suspended by a primitive is held by exactly
 * one registry ref: the primitive's while it waits, then the ready queue's
 * once woken. The drain loop resumes queued tasks one at a time; a finished
 * task goes to the Lua hook set by opencomputer.runtime.task.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

static const char RT_KEY = 'r';		/* registry: lightuserdata rt */
static const char CURRENT_KEY = 'c';	/* registry: running task thread */
static const char DONE_KEY = 'd';	/* registry: task-finished hook */
static const char SUSPEND = 's';	/* the runtime's own yield value */
static const char REFUSED_KEY = 'y';	/* registry: last refused yield's
					 * message, for core.xpcall */

#define NOT_IN_TASK "call from a task: wrap it in oc.run or oc.spawn, " \
	"or run it with oclua"

oclua_runtime *
oclua_from_state(lua_State *L)
{
	oclua_runtime *rt;

	lua_rawgetp(L, LUA_REGISTRYINDEX, &RT_KEY);
	rt = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return rt;
}

oclua_runtime *
ocl_rt(lua_State *L)
{
	oclua_runtime *rt = oclua_from_state(L);

	if (!rt)
		luaL_error(L, "no oclua runtime in this Lua state");
	return rt;
}

lua_State *oclua_state(oclua_runtime *rt) { return rt->L; }
uv_loop_t *oclua_loop(oclua_runtime *rt) { return rt->loop; }

void
ocl_report(oclua_runtime *rt, const char *what, const char *msg)
{
	(void)rt;
	fprintf(stderr, "oclua: %s: %s\n", what, msg ? msg : "(no message)");
	fflush(stderr);
}

void *
ocl_check_open(lua_State *L, const char *tname, const char *what)
{
	void **slot = luaL_checkudata(L, 1, tname);

	if (!*slot)
		luaL_error(L, "%s is closed", what);
	return *slot;
}

void
ocl_newclass(lua_State *L, const char *tname, const luaL_Reg *m,
	     const luaL_Reg *mm)
{
	luaL_newmetatable(L, tname);
	luaL_setfuncs(L, mm, 0);
	lua_newtable(L);
	luaL_setfuncs(L, m, 0);
	lua_setfield(L, -2, "__index");
}

/* ------------------------------------------------------------------ */
/* pending operations                                                 */

void
ocl_pending_add(oclua_runtime *rt, ocl_pending *p)
{
	p->prev = &rt->pending;
	p->next = rt->pending.next;
	rt->pending.next->prev = p;
	rt->pending.next = p;
}

void
ocl_pending_del(ocl_pending *p)
{
	if (!p->next)
		return;
	p->prev->next = p->next;
	p->next->prev = p->prev;
	p->next = p->prev = NULL;
}

/* ------------------------------------------------------------------ */
/* the yield template                                                 */

/* Is the C function of the frame `ar` one that lets a yield through (it
 * calls Lua with a continuation)? pcall and xpcall; dofile. */
static int
yields_through(lua_State *L, lua_Debug *ar)
{
	static const char *const through[] = { "pcall", "xpcall", "dofile" };
	lua_CFunction f;
	size_t i;
	int yes = 0;

	lua_getinfo(L, "f", ar);
	f = lua_tocfunction(L, -1);
	lua_pop(L, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
	for (i = 0; i < sizeof(through) / sizeof(*through) && !yes; i++) {
		lua_getfield(L, -1, through[i]);
		yes = f && lua_tocfunction(L, -1) == f;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return yes;
}

/* If the table at index `t` has a string key whose value is the value at
 * index `v`, push that key and return 1; else push nothing, return 0. */
static int
key_of(lua_State *L, int t, int v)
{
	lua_pushnil(L);
	while (lua_next(L, t)) {
		if (lua_rawequal(L, -1, v) && lua_type(L, -2) == LUA_TSTRING) {
			lua_pop(L, 1);
			return 1;
		}
		lua_pop(L, 1);
	}
	return 0;
}

/* Push onto L the name of the function of frame `ar` of thread `T` as a
 * traceback gives it: a global ("require"), else the field of a loaded
 * module holding it ("string.gsub"), else "ipairs" for the iterator
 * ipairs returns, else "a C function" (and return 0). */
static int
push_func_name(lua_State *L, lua_State *T, lua_Debug *ar)
{
	int fn, loaded;

	lua_getinfo(T, "f", ar);
	lua_xmove(T, L, 1);
	fn = lua_gettop(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
	if (key_of(L, fn + 1, fn)) {
		lua_replace(L, fn);
		lua_settop(L, fn);
		return 1;
	}
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	loaded = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, loaded)) {		/* name module */
		if (lua_type(L, -1) == LUA_TTABLE && lua_type(L, -2) ==
		    LUA_TSTRING && key_of(L, loaded + 2, fn)) {
			lua_pushfstring(L, "%s.%s", lua_tostring(L, -3),
					lua_tostring(L, -1));
			lua_replace(L, fn);
			lua_settop(L, fn);
			return 1;
		}
		lua_pop(L, 1);
	}
	lua_settop(L, fn + 1);
	/* ipairs' iterator is no global: compare with the one it returns */
	if (lua_getfield(L, fn + 1, "ipairs") == LUA_TFUNCTION) {
		lua_newtable(L);
		if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_tocfunction(L, -1) &&
		    lua_tocfunction(L, -1) == lua_tocfunction(L, fn)) {
			lua_settop(L, fn - 1);
			lua_pushliteral(L, "ipairs");
			return 1;
		}
	}
	lua_settop(L, fn - 1);
	lua_pushliteral(L, "a C function");
	return 0;
}

/* Push " (called at FILE:LINE)" for frame `level` of `T`, or "". */
static void
push_called_at(lua_State *L, lua_State *T, int level)
{
	lua_Debug at;

	if (lua_getstack(T, level, &at) && lua_getinfo(T, "Sl", &at) &&
	    at.currentline > 0)
		lua_pushfstring(L, " (called at %s:%d)", at.short_src,
				at.currentline);
	else
		lua_pushliteral(L, "");
}

/* The stack of the coroutine `L` ran out without a C function: its
 * bottom frame was called from another thread without a resume, which
 * is coroutine.close running a __close handler. Walk from the task's
 * thread down the chain of resumes (a C frame whose first argument is a
 * running coroutine) to the frame whose first argument is `L`, and push
 * its name and the line that called it; 0 (nothing pushed) if none. */
static int
push_closer(lua_State *L)
{
	lua_State *T, *next;
	lua_Debug ar;
	int depth;

	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &CURRENT_KEY) != LUA_TTHREAD) {
		lua_pop(L, 1);
		return 0;
	}
	T = lua_tothread(L, -1);
	lua_pop(L, 1);
	for (depth = 0; depth < 200 && T != L; depth++) {
		if (!lua_getstack(T, 0, &ar) || !lua_getinfo(T, "S", &ar) ||
		    *ar.what != 'C' || !lua_getlocal(T, &ar, 1))
			return 0;
		next = lua_tothread(T, -1);
		lua_pop(T, 1);
		if (next == L) {
			push_func_name(L, T, &ar);
			push_called_at(L, T, 1);
			return 1;
		}
		T = next;
	}
	return 0;
}

/* Raise `msg` with the position of `L`'s level 1, keeping the first such
 * message since core.xpcall began in the registry: where Lua replaces the
 * error (a message handler's, by "error in error handling", after calling
 * the handler again on each of its own errors) xpcall can still name the
 * cause.
 * In a __gc finalizer, whose error Lua turns into a warning (off by
 * default), print it too. */
static int
refuse(lua_State *L, int in_gc, const char *msg)
{
	luaL_where(L, 1);
	lua_pushstring(L, msg);
	lua_concat(L, 2);
	if (in_gc)
		ocl_report(oclua_from_state(L), "error in a __gc finalizer",
			   lua_tostring(L, -1));
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &REFUSED_KEY) == LUA_TNIL) {
		lua_pushvalue(L, -2);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &REFUSED_KEY);
	}
	lua_pop(L, 1);
	return lua_error(L);
}

static int core_xpcall(lua_State *L);
static int core_run(lua_State *L);

/* Is the function of frame `level` the message handler of the nearest
 * core.xpcall below it? Its level when so, else 0. */
static int
msgh_of(lua_State *L, int level)
{
	lua_Debug ar;
	int l, found = 0;

	if (!lua_getstack(L, level, &ar))
		return 0;
	lua_getinfo(L, "f", &ar);
	for (l = level + 1; !found && lua_getstack(L, l, &ar); l++) {
		lua_getinfo(L, "f", &ar);
		if (lua_tocfunction(L, -1) == core_xpcall) {
			found = -1;
			if (lua_getlocal(L, &ar, 2)) {
				if (lua_rawequal(L, -1, -3))
					found = l;
				lua_pop(L, 1);
			}
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return found > 0 ? found : 0;
}

/* Raise the error of a yield that cannot be made: outside any task, or
 * in a task but under a call that Lua cannot suspend, which the message
 * names with the line that made it: a C function running Lua without a
 * continuation (a string.gsub or load callback, a table.sort comparator,
 * ipairs over a yielding __index, a metamethod called from C such as
 * tostring's __tostring), xpcall's message handler, coroutine.close running a __close handler, a
 * __gc finalizer (printed too: Lua would only warn), a debug hook. Level
 * 1 is the yielding call's caller. */
static int
yield_error(lua_State *L, int in_task)
{
	lua_Debug ar, up;
	int level, xp;

	for (level = 1; lua_getstack(L, level, &ar); level++) {
		lua_getinfo(L, "Sn", &ar);
		if (ar.namewhat && strcmp(ar.namewhat, "hook") == 0)
			return refuse(L, 0, "cannot yield inside a debug hook: "
				      "start the work with oc.spawn instead");
		if (ar.name && strcmp(ar.namewhat, "metamethod") == 0 &&
		    strcmp(ar.name, "__gc") == 0)
			return refuse(L, 1, "cannot yield inside a __gc "
				      "finalizer: Lua runs finalizers where no "
				      "task can be suspended, and the "
				      "finalizer stops here; start the work "
				      "with oc.spawn instead");
		if (in_task && *ar.what == 'C' && !yields_through(L, &ar))
			break;
	}
	if (!in_task)
		return refuse(L, 0, NOT_IN_TASK);
	if ((xp = msgh_of(L, level - 1)) != 0) {
		lua_pushliteral(L, "xpcall's message handler");
		push_called_at(L, L, xp + 1);
	} else if (lua_getstack(L, level, &ar)) {
		/* a stock function behind a wrapper of the same name (the
		 * load of task.lua): name the wrapper and its caller */
		if (!push_func_name(L, L, &ar) &&
		    lua_getstack(L, level + 1, &up)) {
			lua_pop(L, 1);
			if (push_func_name(L, L, &up))
				level++;
		}
		push_called_at(L, L, level + 1);
	} else if (!push_closer(L)) {
		return refuse(L, 0, "cannot yield here: a C function runs "
			      "this code and Lua cannot suspend a task "
			      "across it");
	}
	lua_pushfstring(L, "cannot yield inside %s%s: Lua cannot suspend a "
			"task while a C function runs Lua code (a callback, "
			"a metamethod); make this call before or after it, "
			"or start it with oc.spawn", lua_tostring(L, -2),
			lua_tostring(L, -1));
	return refuse(L, 0, lua_tostring(L, -1));
}

int
ocl_task_pin(lua_State *L)
{
	int in_task = lua_rawgetp(L, LUA_REGISTRYINDEX, &CURRENT_KEY) ==
		LUA_TTHREAD;

	if (!in_task || !lua_isyieldable(L)) {
		lua_pop(L, 1);
		return yield_error(L, in_task);
	}
	return luaL_ref(L, LUA_REGISTRYINDEX);
}

int
ocl_suspend(lua_State *L, lua_KContext ctx, lua_KFunction k)
{
	lua_pushlightuserdata(L, (void *)&SUSPEND);
	return lua_yieldk(L, 1, ctx, k);
}

static int
retry_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status;
	lua_settop(L, 1);
	return ((lua_CFunction)ctx)(L);
}

/* again(L) with the arguments as they were (resumed with none) */
static int
retry_args_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status;
	return ((lua_CFunction)ctx)(L);
}

static int
wait_retry(lua_State *L, int *task, lua_CFunction again, lua_KFunction k)
{
	if (*task != LUA_NOREF)
		return luaL_error(L, "another task is already waiting on this %s",
				  luaL_typename(L, 1));
	*task = ocl_task_pin(L);
	return ocl_suspend(L, (lua_KContext)again, k);
}

int
ocl_wait_retry(lua_State *L, int *task, lua_CFunction again)
{
	return wait_retry(L, task, again, retry_k);
}

int
ocl_wait_retry_args(lua_State *L, int *task, lua_CFunction again)
{
	return wait_retry(L, task, again, retry_args_k);
}

static int
ready_push(oclua_runtime *rt, int ref)
{
	if (rt->ready_len == rt->ready_cap) {
		size_t ncap = rt->ready_cap ? rt->ready_cap * 2 : 64, i;
		int *n = malloc(ncap * sizeof(*n));

		if (!n)
			return -1;
		for (i = 0; i < rt->ready_len; i++)
			n[i] = rt->ready[(rt->ready_head + i) % rt->ready_cap];
		free(rt->ready);
		rt->ready = n;
		rt->ready_cap = ncap;
		rt->ready_head = 0;
	}
	rt->ready[(rt->ready_head + rt->ready_len) % rt->ready_cap] = ref;
	rt->ready_len++;
	return 0;
}

static int
ready_pop(oclua_runtime *rt)
{
	int ref = rt->ready[rt->ready_head];

	rt->ready_head = (rt->ready_head + 1) % rt->ready_cap;
	rt->ready_len--;
	return ref;
}

/* Hand a finished task's results (or its error) to the Lua hook. */
static void
task_finished(oclua_runtime *rt, lua_State *L, lua_State *co, int status,
	      int nres)
{
	if (status != LUA_OK) {
		/* the task body runs under xpcall: only a failure of the
		 * runtime's own wrapper (out of memory) lands here */
		ocl_report(rt, "task failed", lua_tostring(co, -1));
		lua_pop(co, 1);
		return;
	}
	lua_rawgetp(L, LUA_REGISTRYINDEX, &DONE_KEY);
	lua_pushvalue(L, -2);	/* the thread */
	lua_xmove(co, L, nres);
	if (lua_pcall(L, nres + 1, 0, 0) != LUA_OK) {
		ocl_report(rt, "task hook failed", lua_tostring(L, -1));
		lua_pop(L, 1);
	}
}

static void
drain(oclua_runtime *rt, lua_State *L)
{
	rt->draining = 1;
	while (rt->ready_len && !rt->closing) {
		int ref = ready_pop(rt), nres, status;
		lua_State *co;

		lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
		luaL_unref(L, LUA_REGISTRYINDEX, ref);
		co = lua_tothread(L, -1);
		if (!co || (lua_status(co) == LUA_OK && lua_gettop(co) == 0)) {
			lua_pop(L, 1);	/* dead: a stray wake-up */
			continue;
		}
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &CURRENT_KEY);
		status = lua_resume(co, L, 0, &nres);
		lua_pushnil(L);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &CURRENT_KEY);
		if (status == LUA_YIELD) {
			int ours = nres >= 1 &&
				lua_touserdata(co, -nres) == &SUSPEND;

			lua_pop(co, nres);
			if (!ours) {
				/* a plain coroutine.yield at the top of a
				 * task: let the others run, then go on */
				lua_pushvalue(L, -1);
				ready_push(rt, luaL_ref(L, LUA_REGISTRYINDEX));
			}
		} else
			task_finished(rt, L, co, status, nres);
		lua_pop(L, 1);
	}
	rt->draining = 0;
}

static void
kicked(uv_idle_t *h)
{
	oclua_runtime *rt = h->data;

	uv_idle_stop(h);
	if (!rt->draining)
		drain(rt, rt->L);
}

void
ocl_wake(oclua_runtime *rt, lua_State *L, int task)
{
	if (rt->closing)
		return;		/* lua_close is under way: refs are gone */
	if (ready_push(rt, task)) {
		ocl_report(rt, "wake", "out of memory");
		return;
	}
	if (rt->draining)
		return;
	if (L)
		drain(rt, L);
	else
		uv_idle_start(&rt->kick, kicked);
}

/* ------------------------------------------------------------------ */
/* opencomputer.core: the primitives the Lua half builds on            */

/* core.current() -> the running task's thread (raises outside a task) */
static int
core_current(lua_State *L)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &CURRENT_KEY) != LUA_TTHREAD)
		return luaL_error(L, NOT_IN_TASK);
	return 1;
}

/* core.suspend(): yield the running task until core.wake(thread) */
static int
core_suspend(lua_State *L)
{
	luaL_unref(L, LUA_REGISTRYINDEX, ocl_task_pin(L));
	return ocl_suspend(L, 0, NULL);
}

/* core.wake(thread): queue a task (new or suspended) and run the queue */
static int
core_wake(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTHREAD);
	lua_settop(L, 1);
	ocl_wake(ocl_rt(L), L, luaL_ref(L, LUA_REGISTRYINDEX));
	return 0;
}

/* core.on_task_done(fn): fn(thread, ...) gets each finished task's returns */
static int
core_on_task_done(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_settop(L, 1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &DONE_KEY);
	return 0;
}

/* core.main_done(ok): a main task (oclua_run_*) finished */
static int
core_main_done(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);

	rt->main_running--;
	if (!lua_toboolean(L, 1))
		rt->main_failed = 1;
	return 0;
}

static int
core_now(lua_State *L)
{
	lua_pushnumber(L, (lua_Number)uv_hrtime() / 1e9);
	return 1;
}

/* core.pending() -> operations keeping the runtime alive (for tests) */
static int
core_pending(lua_State *L)
{
	lua_pushinteger(L, ocl_rt(L)->active);
	return 1;
}

static int
xpcall_k(lua_State *L, int status, lua_KContext base)
{
	int refused;

	if (status == LUA_OK || status == LUA_YIELD)
		return lua_gettop(L) - (int)base;
	refused = lua_rawgetp(L, LUA_REGISTRYINDEX, &REFUSED_KEY) ==
		LUA_TSTRING;
	lua_pushnil(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &REFUSED_KEY);
	lua_pushboolean(L, 0);
	if (status == LUA_ERRERR && refused)
		lua_pushfstring(L, "error in error handling: the message "
				"handler made a call that yields (%s)",
				lua_tostring(L, -2));
	else
		lua_pushvalue(L, -3);	/* the error */
	return 2;
}

/* core.xpcall(f, msgh, ...): the stock xpcall (task.lua makes it the
 * global one), but where Lua gives only "error in error handling" because
 * the message handler made a call that yields, which Lua cannot suspend
 * there, the message also names that call and its line. */
static int
core_xpcall(lua_State *L)
{
	int n = lua_gettop(L);

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_pushnil(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &REFUSED_KEY);
	lua_pushboolean(L, 1);		/* first result */
	lua_pushvalue(L, 1);
	lua_rotate(L, 3, 2);		/* below f's arguments */
	return xpcall_k(L, lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2,
				      xpcall_k), 2);
}

int
ocl_open_tasks(lua_State *L)
{
	static const luaL_Reg f[] = {
		{ "current", core_current },
		{ "suspend", core_suspend },
		{ "wake", core_wake },
		{ "on_task_done", core_on_task_done },
		{ "main_done", core_main_done },
		{ "now", core_now },
		{ "pending", core_pending },
		{ "xpcall", core_xpcall },
		{ "run", core_run },
		{ NULL, NULL }
	};

	luaL_setfuncs(L, f, 0);
	lua_pushlightuserdata(L, (void *)&SUSPEND);
	lua_setfield(L, -2, "SUSPEND");
	return 0;
}

/* ------------------------------------------------------------------ */
/* creation and teardown                                              */

static void
teardown(oclua_runtime *rt)
{
	ocl_pending *p;

	rt->closing = 1;
	while ((p = rt->pending.next) != &rt->pending) {
		ocl_pending_del(p);
		p->cancel(p);
	}
	if (rt->net_close_begin)
		rt->net_close_begin(rt);
	uv_idle_stop(&rt->kick);
	uv_close((uv_handle_t *)&rt->kick, NULL);
	if (rt->owns_loop)
		uv_run(rt->loop, UV_RUN_DEFAULT);
	else {
		int i;

		for (i = 0; i < 16; i++)	/* let close callbacks run */
			uv_run(rt->loop, UV_RUN_NOWAIT);
	}
	if (rt->net_close_end)
		rt->net_close_end(rt);
	if (rt->owns_loop) {
		uv_run(rt->loop, UV_RUN_NOWAIT);
		if (uv_loop_close(rt->loop))
			ocl_report(rt, "close", "handles still open at exit");
	}
	free(rt->ready);
	rt->ready = NULL;
}

/* __gc of the runtime anchor: runs when the state closes. The anchor is
 * the first object the runtime creates, so it is finalized last. */
static int
anchor_gc(lua_State *L)
{
	oclua_runtime **box = lua_touserdata(L, 1);
	oclua_runtime *rt = *box;

	if (rt) {
		*box = NULL;
		teardown(rt);
		free(rt);
	}
	return 0;
}

oclua_runtime *
ocl_attach(lua_State *L, uv_loop_t *loop, int owns_state,
	   void (*install)(lua_State *L))
{
	oclua_runtime *rt = calloc(1, sizeof(*rt)), **box;

	if (!rt)
		return NULL;
	if (loop)
		rt->loop = loop;
	else {
		rt->loop = &rt->own_loop;
		if (uv_loop_init(rt->loop)) {
			free(rt);
			return NULL;
		}
		rt->owns_loop = 1;
	}
	rt->L = L;
	rt->owns_state = owns_state;
	rt->pending.next = rt->pending.prev = &rt->pending;
	uv_idle_init(rt->loop, &rt->kick);
	rt->kick.data = rt;

	box = lua_newuserdatauv(L, sizeof(*box), 0);
	*box = rt;
	lua_newtable(L);
	lua_pushcfunction(L, anchor_gc);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	lua_rawsetp(L, LUA_REGISTRYINDEX, box);	/* keep the anchor alive */
	lua_pushlightuserdata(L, rt);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &RT_KEY);

	install(L);
	/* the scheduler installs the coroutine wrappers: load it now so a
	 * script's own coroutines work around SDK calls from the start */
	lua_getglobal(L, "require");
	lua_pushliteral(L, "opencomputer.runtime.task");
	if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
		ocl_report(rt, "init", lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	return rt;
}

void
oclua_close(oclua_runtime *rt)
{
	if (rt && rt->owns_state)
		lua_close(rt->L);	/* the anchor's __gc frees rt */
}

/* ------------------------------------------------------------------ */
/* running                                                            */

static int
msgh(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	if (!msg)
		msg = luaL_tolstring(L, 1, NULL);
	luaL_traceback(L, L, msg, 1);
	return 1;
}

/* Start the function on top of the stack, with `nargs` arguments above it,
 * as a main task: opencomputer.runtime.task.main(fn, ...). */
static int
start_main(oclua_runtime *rt, int nargs)
{
	lua_State *L = rt->L;
	int base = lua_gettop(L) - nargs, rc;

	lua_pushcfunction(L, msgh);
	lua_getglobal(L, "require");
	lua_pushliteral(L, "opencomputer.runtime.task");
	lua_call(L, 1, 1);
	lua_getfield(L, -1, "main");
	lua_remove(L, -2);
	lua_insert(L, base);		/* main fn args... msgh */
	lua_insert(L, base);		/* msgh main fn args... */
	rt->main_running++;
	rc = lua_pcall(L, nargs + 1, 0, base);
	if (rc != LUA_OK) {
		rt->main_running--;
		rt->main_failed = 1;
		ocl_report(rt, "error", lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	lua_pop(L, 1);			/* msgh */
	return rc != LUA_OK;
}

/* the loaded chunk (or its load error) is on top: start it with args */
static int
start_loaded(oclua_runtime *rt, int status, int argc, char **argv)
{
	lua_State *L = rt->L;
	int i;

	if (status != LUA_OK) {
		fprintf(stderr, "oclua: %s\n", lua_tostring(L, -1));
		lua_pop(L, 1);
		rt->main_failed = 1;
		return 1;
	}
	luaL_checkstack(L, argc + 4, "too many arguments");
	for (i = 0; i < argc; i++)
		lua_pushstring(L, argv[i]);
	return start_main(rt, argc);
}

int
oclua_run_chunk(oclua_runtime *rt, const char *chunk, const char *name,
		int argc, char **argv)
{
	return start_loaded(rt, luaL_loadbuffer(rt->L, chunk, strlen(chunk),
						name), argc, argv);
}

int
oclua_run_string(oclua_runtime *rt, const char *chunk, const char *name)
{
	return oclua_run_chunk(rt, chunk, name, 0, NULL);
}

int
oclua_run_file(oclua_runtime *rt, const char *path, int argc, char **argv)
{
	return start_loaded(rt, luaL_loadfile(rt->L, path), argc, argv);
}

long
oclua_step(oclua_runtime *rt, int wait)
{
	if (rt->active > 0 || rt->ready_len > 0)
		uv_run(rt->loop, wait ? UV_RUN_ONCE : UV_RUN_NOWAIT);
	return rt->active + (long)rt->ready_len;
}

/* Drive the loop until no task, timer, request or connection is pending.
 * Returns 0, or 1 when it stalled: what is left waits for input that is
 * held back until someone reads (a connection nobody receives from, a
 * streamed response nobody consumes). */
static int
run_loop(oclua_runtime *rt)
{
	while (rt->active > 0 || rt->ready_len > 0)
		if (!uv_run(rt->loop, UV_RUN_ONCE) && rt->active > 0)
			return 1;
	return 0;
}

#define STALLED "every pending operation waits for input that no task " \
	"reads (a WebSocket or streamed response left unread?)"

int
oclua_run(oclua_runtime *rt)
{
	if (run_loop(rt)) {
		ocl_report(rt, "stalled", STALLED);
		rt->main_failed = 1;	/* exit status 1 */
	}
	if (rt->main_running > 0) {
		fprintf(stderr, "oclua: the main task never finished: it waits "
			"for a task or event that nothing can complete\n");
		rt->main_failed = 1;
	}
	return rt->main_failed;
}

/* core.run() -> true, or false and a message when the loop stalled:
 * oclua_run for oc.run (task.lua), from Lua outside any task. Raises in a
 * task (its loop runs already) and when the loop is being driven.
 *
 * Ctrl-C ends the process at once, as under oclua: SIGINT gets its default
 * action while the loop runs (unless ignored, or taken by a task's
 * core.signal_wait, whose libuv handler replaces it). lua.c's own handler
 * would only set a hook that raises "interrupted!" in whatever Lua code
 * runs next: a task, or the task-finished hook, losing that task's end. */
static int
core_run(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);
	struct sigaction old, dfl;
	int stalled, set;

	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &CURRENT_KEY) == LUA_TTHREAD)
		return luaL_error(L, "core.run: called from a task, whose "
				  "loop runs already");
	if (rt->running || rt->draining)
		return luaL_error(L, "core.run: the loop is running already "
				  "(called from one of its callbacks?)");
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	set = sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler != SIG_IGN &&
		sigaction(SIGINT, &dfl, NULL) == 0;
	rt->running = 1;
	stalled = run_loop(rt);
	rt->running = 0;
	if (set) {	/* restore it unless a task took SIGINT meanwhile */
		struct sigaction now;

		if (sigaction(SIGINT, NULL, &now) == 0 &&
		    now.sa_handler == SIG_DFL)
			sigaction(SIGINT, &old, NULL);
	}
	lua_pushboolean(L, !stalled);
	if (!stalled)
		return 1;
	lua_pushliteral(L, STALLED);
	return 2;
}
