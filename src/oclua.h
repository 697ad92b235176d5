/*
 * oclua.h - the public C interface of the oclua runtime.
 *
 * A runtime is one libuv loop, one Lua state with the `opencomputer` module
 * loaded, and the machinery that runs Lua code as tasks (coroutines) on that
 * loop. A host creates a runtime, runs a chunk or a file as a task, and then
 * drives the loop until nothing is pending:
 *
 *     oclua_runtime *rt = oclua_new(NULL);
 *     if (oclua_run_file(rt, "script.lua", argc, argv) == 0)
 *         status = oclua_run(rt);
 *     oclua_close(rt);
 *
 * Every function returns 0 on success. Errors raised by Lua code are printed
 * to stderr with their traceback; they never unwind through the host.
 */
#ifndef OCLUA_H
#define OCLUA_H

#include <lua.h>
#include <uv.h>

#define OCLUA_VERSION "0.1.0"

typedef struct oclua_runtime oclua_runtime;

/* A new runtime on `loop`, or on a loop of its own when `loop` is NULL.
 * Returns NULL when out of memory. */
oclua_runtime *oclua_new(uv_loop_t *loop);

/* The runtime's main Lua state (its main thread). */
lua_State *oclua_state(oclua_runtime *rt);

/* The runtime's loop. */
uv_loop_t *oclua_loop(oclua_runtime *rt);

/* The runtime a Lua state belongs to, or NULL. */
oclua_runtime *oclua_from_state(lua_State *L);

/* Load a chunk and start it as a task. `name` is the chunk name shown in
 * tracebacks (e.g. "=(command line)"). The task starts at once and runs until
 * its first yield; the loop does the rest. Returns non-zero when the chunk
 * does not compile (the message is printed). */
int oclua_run_string(oclua_runtime *rt, const char *chunk, const char *name);

/* Like oclua_run_string, with argv[0..argc-1] as the chunk's `...`. */
int oclua_run_chunk(oclua_runtime *rt, const char *chunk, const char *name,
		    int argc, char **argv);

/* Load a file (NULL for standard input) and start it as the main task, with
 * `argv[0..argc-1]` as its arguments (`...`). */
int oclua_run_file(oclua_runtime *rt, const char *path, int argc,
		   char **argv);

/* Drive the loop until no task, timer, request or connection is pending.
 * Returns 0, or 1 when a main task (one started by oclua_run_*) raised an
 * error or never finished. */
int oclua_run(oclua_runtime *rt);

/* Run one loop iteration: wait for events when `wait` is non-zero, else only
 * handle what is ready. Returns the number of pending operations. */
long oclua_step(oclua_runtime *rt, int wait);

/* Close every connection and handle, then free the runtime and its Lua
 * state. A loop given to oclua_new is left open. */
void oclua_close(oclua_runtime *rt);

/* The `opencomputer` module, for hosts that build their own lua_State: it
 * attaches a runtime with a loop of its own to `L` on first use, and sets
 * SIGPIPE to be ignored unless the host set a handler (a peer that goes
 * away must not kill the process). Drive the loop with oclua_run, or from
 * Lua with oc.run. */
int luaopen_opencomputer(lua_State *L);

#endif
