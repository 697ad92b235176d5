/*
 * timer.c - core.sleep(seconds): suspend the running task on a uv timer.
 * The timer handle is freed in its close callback, never before.
 */
#include <math.h>
#include <stdlib.h>

#include "runtime.h"

typedef struct sleep_op {
	ocl_pending	pending;
	uv_timer_t	timer;
	oclua_runtime	*rt;
	int		task;
	uint64_t	deadline;	/* uv_hrtime() ns */
} sleep_op;

static void
free_on_close(uv_handle_t *h)
{
	free(h->data);
}

static void
sleep_done(sleep_op *op, int wake)
{
	oclua_runtime *rt = op->rt;
	int task = op->task;

	ocl_pending_del(&op->pending);
	rt->active--;
	uv_close((uv_handle_t *)&op->timer, free_on_close);
	if (wake)
		ocl_wake(rt, rt->L, task);	/* no library on the stack */
}

/* the loop's clock is coarse: never wake a task before its deadline */
static void
sleep_fired(uv_timer_t *t)
{
	sleep_op *op = t->data;
	uint64_t now = uv_hrtime();

	if (now < op->deadline) {
		uv_timer_start(t, sleep_fired,
			       (op->deadline - now + 999999) / 1000000, 0);
		return;
	}
	sleep_done(op, 1);
}

static void
sleep_cancel(ocl_pending *p)
{
	sleep_done((sleep_op *)p, 0);
}

static int
core_sleep(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);
	double s = luaL_checknumber(L, 1);
	sleep_op *op;
	uint64_t ms;
	int task;

	luaL_argcheck(L, s >= 0 && s < 1e9, 1, "seconds must be from 0 to 1e9");
	ms = (uint64_t)ceil(s * 1000.0);
	task = ocl_task_pin(L);		/* raises outside a task */
	op = malloc(sizeof(*op));
	if (!op) {
		luaL_unref(L, LUA_REGISTRYINDEX, task);
		return luaL_error(L, "out of memory");
	}
	op->task = task;
	op->rt = rt;
	op->pending.cancel = sleep_cancel;
	uv_timer_init(rt->loop, &op->timer);
	op->timer.data = op;
	uv_update_time(rt->loop);	/* the cached loop time may be stale */
	op->deadline = uv_hrtime() + (uint64_t)(s * 1e9);
	uv_timer_start(&op->timer, sleep_fired, ms, 0);
	ocl_pending_add(rt, &op->pending);
	rt->active++;
	return ocl_suspend(L, 0, NULL);
}

int
ocl_open_timer(lua_State *L)
{
	lua_pushcfunction(L, core_sleep);
	lua_setfield(L, -2, "sleep");
	return 0;
}
