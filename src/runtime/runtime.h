/*
 * runtime.h - what the C modules of oclua share: the runtime context (one
 * loop, the task ready queue, the lazily started curl and lws glue) and the
 * yield template every yielding primitive follows:
 *
 *     int task = ocl_task_pin(L);        raises outside a task
 *     ...start the I/O, remember `task`...
 *     return ocl_suspend(L, ctx, cont);  yields; `cont` runs on wake-up
 *
 * and on completion, from a loop callback:
 *
 *     ocl_wake(rt, task);                 queues the task and runs it
 *
 * A primitive whose answer is already there returns without yielding.
 */
#ifndef OCLUA_RUNTIME_H
#define OCLUA_RUNTIME_H

#include <stddef.h>
#include <lua.h>
#include <lauxlib.h>
#include <uv.h>

#include "oclua.h"

struct ocl_http;
struct ocl_lws;

/* Something the runtime must cancel and free when it closes. */
typedef struct ocl_pending {
	struct ocl_pending *prev, *next;
	void (*cancel)(struct ocl_pending *p);
} ocl_pending;

struct oclua_runtime {
	uv_loop_t	*loop;
	uv_loop_t	own_loop;
	int		owns_loop;
	lua_State	*L;		/* main thread */
	int		owns_state;
	int		closing;	/* no more Lua calls once set */

	long		active;		/* operations that keep oclua_run going */

	/* ready queue: registry refs of task threads, a ring buffer */
	int		*ready;
	size_t		ready_head, ready_len, ready_cap;
	int		draining;
	int		running;	/* core.run drives the loop */
	uv_idle_t	kick;		/* drains wake-ups made in callbacks */

	ocl_pending	pending;	/* list head of cancellable operations */

	int		main_failed;	/* a main task raised */
	long		main_running;	/* main tasks not finished */

	struct ocl_http	*http;		/* curl multi glue, NULL until used */
	struct ocl_lws	*lws;		/* lws context, NULL until used */

	/* teardown of the network half, set when it is opened (net.c) */
	void		(*net_close_begin)(oclua_runtime *rt);
	void		(*net_close_end)(oclua_runtime *rt);
};

/* The runtime of a state; raises when there is none. */
oclua_runtime *ocl_rt(lua_State *L);

/* Registry ref of the running task, for a primitive about to yield. Raises
 * "call from a task" when there is none, and "cannot yield inside F
 * (called at FILE:LINE)" when a C function F between the caller and its
 * task keeps Lua from suspending it (a string.gsub callback, a metamethod
 * called from C, ipairs, coroutine.close, xpcall's message handler, a __gc
 * finalizer, whose message is printed too...). The message is kept for
 * core.xpcall, which adds it to Lua's "error in error handling". */
int ocl_task_pin(lua_State *L);

/* Yield the running task until it is woken; `k` runs when it resumes
 * (with NULL the call returns nothing). Like lua_yieldk, it does not
 * return to its caller: use it as `return ocl_suspend(...)`, last. */
int ocl_suspend(lua_State *L, lua_KContext ctx, lua_KFunction k);

/* The pull-style wait (req:next, conn:receive, proc:read): pin the task
 * into *task (raising if another task already waits there), suspend, and
 * on wake-up call again(L) with only the object left at index 1. */
int ocl_wait_retry(lua_State *L, int *task, lua_CFunction again);

/* The same, again(L) called with the stack as it was at the wait (its
 * arguments: the caller leaves nothing else on it, settop to them). */
int ocl_wait_retry_args(lua_State *L, int *task, lua_CFunction again);

/* Queue the task held by registry ref `task` (the ref is consumed). With
 * `L`, a running thread of the state (or rt->L where no library is on the
 * C stack), the ready queue runs at once unless it already runs; with NULL
 * (from inside a libcurl or lws callback, where running Lua could re-enter
 * the library) it runs from an idle handle before the loop next polls. */
void ocl_wake(oclua_runtime *rt, lua_State *L, int task);

/* Track a cancellable operation for the runtime's teardown. */
void ocl_pending_add(oclua_runtime *rt, ocl_pending *p);
void ocl_pending_del(ocl_pending *p);

/* Print an error message from a loop callback; never raises. */
void ocl_report(oclua_runtime *rt, const char *what, const char *msg);

/* The object behind a boxed userdata (a slot holding a pointer) of type
 * `tname` at index 1; raises "<what> is closed" once the slot is NULL. */
void *ocl_check_open(lua_State *L, const char *tname, const char *what);

/* Open a module table with metatable `tname`, methods `m` and metamethods
 * `mm` registered; leaves the metatable on the stack. */
void ocl_newclass(lua_State *L, const char *tname, const luaL_Reg *m,
		  const luaL_Reg *mm);

/* The runtime's own parts of opencomputer.core (timer.c, process.c):
 * each adds its functions to the table on top of the stack. */
int ocl_open_timer(lua_State *L);
int ocl_open_process(lua_State *L);

/* Add the task primitives (current, suspend, wake, on_task_done,
 * main_done, now, pending, run, SUSPEND) to the table on top of the stack. */
int ocl_open_tasks(lua_State *L);

/* Attach a runtime to `L`: on `loop`, or a loop of its own when NULL;
 * `install` registers the modules the state can require (package.preload,
 * searchers) before opencomputer.runtime.task loads. NULL when out of
 * memory. */
oclua_runtime *ocl_attach(lua_State *L, uv_loop_t *loop, int owns_state,
			  void (*install)(lua_State *L));

#endif
