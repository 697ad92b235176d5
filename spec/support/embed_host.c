/*
 * embed_host.c - a C program embedding oclua through oclua.h, for
 * spec/embed_spec.lua:
 *
 *   embed-host task 'chunk'     run the chunk as a task, drive the loop
 *   embed-host plain 'chunk'    run the chunk with a plain lua_pcall on the
 *                               main thread: no task, so yielding calls
 *                               must raise a clear error
 *   embed-host own-loop 'chunk' like task, on a loop the host made
 *
 * Prints "status N" at the end; exits 0 unless the host itself failed.
 */
#include <stdio.h>
#include <string.h>
#include <lauxlib.h>

#include "oclua.h"

int
main(int argc, char **argv)
{
	uv_loop_t loop;
	oclua_runtime *rt;
	int status, own = argc == 3 && !strcmp(argv[1], "own-loop");

	if (argc != 3)
		return 2;
	if (own)
		uv_loop_init(&loop);
	rt = oclua_new(own ? &loop : NULL);
	if (!rt || oclua_from_state(oclua_state(rt)) != rt ||
	    oclua_loop(rt) != (own ? &loop : oclua_loop(rt)))
		return 1;
	if (!strcmp(argv[1], "plain")) {
		lua_State *L = oclua_state(rt);

		status = luaL_dostring(L, argv[2]);
		if (status)
			printf("error: %s\n", lua_tostring(L, -1));
	} else {
		status = oclua_run_string(rt, argv[2], "=host");
		if (!status)
			status = oclua_run(rt);
	}
	oclua_close(rt);
	if (own && uv_loop_close(&loop))
		return 1;
	printf("status %d\n", status);
	return 0;
}
