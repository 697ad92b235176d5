/*
 * timer.c - time on the loop: core.sleep(seconds) suspends the running
 * task on a uv timer; core.alarm() is a sleep another task can cut short:
 *
 *     a = core.alarm()
 *     a:wait(seconds)   yields; true when the time is up, false when
 *                       a:ring() ended the wait first (one waiter at once)
 *     a:ring()          ends a wait under way; no effect otherwise
 *
 * (task.condition's wait(timeout) is built on it.) Timer handles are freed
 * in their close callbacks, never before.
 */
#include <math.h>
#include <stdlib.h>

#include "runtime/runtime.h"

#define ALARM_MT	"oclua.alarm"

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

/* ------------------------------------------------------------------ */
/* alarms                                                             */

typedef struct alarm {
	ocl_pending	pending;	/* linked while a task waits */
	uv_timer_t	timer;
	oclua_runtime	*rt;
	int		task;		/* the waiting task, or LUA_NOREF */
	int		fired;		/* how the last wait ended */
	uint64_t	deadline;
} alarm;

/* end the wait under way; wake the task with L (see ocl_wake) */
static void
alarm_end(alarm *a, int fired, lua_State *L)
{
	int task = a->task;

	if (task == LUA_NOREF)
		return;
	a->task = LUA_NOREF;
	a->fired = fired;
	uv_timer_stop(&a->timer);
	ocl_pending_del(&a->pending);
	a->rt->active--;
	if (L)
		ocl_wake(a->rt, L, task);
}

static void
alarm_fired(uv_timer_t *t)
{
	alarm *a = t->data;
	uint64_t now = uv_hrtime();

	if (now < a->deadline) {
		uv_timer_start(t, alarm_fired,
			       (a->deadline - now + 999999) / 1000000, 0);
		return;
	}
	alarm_end(a, 1, a->rt->L);
}

static void
alarm_cancel(ocl_pending *p)
{
	alarm_end((alarm *)p, 0, NULL);
}

static alarm *
check_alarm(lua_State *L)
{
	alarm **box = luaL_checkudata(L, 1, ALARM_MT);

	return *box;
}

static int
alarm_wait_k(lua_State *L, int status, lua_KContext ctx)
{
	(void)status;
	lua_pushboolean(L, ((alarm *)ctx)->fired);
	return 1;
}

static int
alarm_wait(lua_State *L)
{
	alarm *a = check_alarm(L);
	double s = luaL_checknumber(L, 2);

	luaL_argcheck(L, s >= 0 && s < 1e9, 2, "seconds must be from 0 to 1e9");
	if (a->task != LUA_NOREF)
		return luaL_error(L, "another task waits on this alarm");
	a->task = ocl_task_pin(L);	/* raises outside a task */
	uv_update_time(a->rt->loop);
	a->deadline = uv_hrtime() + (uint64_t)(s * 1e9);
	uv_timer_start(&a->timer, alarm_fired, (uint64_t)ceil(s * 1000.0), 0);
	ocl_pending_add(a->rt, &a->pending);
	a->rt->active++;
	return ocl_suspend(L, (lua_KContext)a, alarm_wait_k);
}

static int
alarm_ring(lua_State *L)
{
	alarm_end(check_alarm(L), 0, L);
	return 0;
}

static int
alarm_gc(lua_State *L)
{
	alarm **box = luaL_checkudata(L, 1, ALARM_MT);

	if (*box) {
		alarm_end(*box, 0, NULL);	/* only at teardown: a waiter
						 * keeps its alarm alive */
		uv_close((uv_handle_t *)&(*box)->timer, free_on_close);
		*box = NULL;
	}
	return 0;
}

static int
core_alarm(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);
	alarm **box = lua_newuserdatauv(L, sizeof(*box), 0), *a;

	*box = NULL;
	luaL_setmetatable(L, ALARM_MT);
	a = calloc(1, sizeof(*a));
	if (!a)
		return luaL_error(L, "out of memory");
	a->rt = rt;
	a->task = LUA_NOREF;
	a->pending.cancel = alarm_cancel;
	uv_timer_init(rt->loop, &a->timer);
	a->timer.data = a;
	*box = a;
	return 1;
}

int
ocl_open_timer(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "wait", alarm_wait }, { "ring", alarm_ring }, { NULL, NULL }
	};
	static const luaL_Reg meta[] = {
		{ "__gc", alarm_gc }, { NULL, NULL }
	};

	ocl_newclass(L, ALARM_MT, methods, meta);
	lua_pop(L, 1);
	lua_pushcfunction(L, core_sleep);
	lua_setfield(L, -2, "sleep");
	lua_pushcfunction(L, core_alarm);
	lua_setfield(L, -2, "alarm");
	return 0;
}
