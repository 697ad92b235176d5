/*
 * core.h - the module assembly's own declarations: the network half's
 * opener (net.c, the entry point of oclua-net.so) and the embedded Lua
 * sources (generated at build time by src/tools/embed.c).
 */
#ifndef OCLUA_CORE_H
#define OCLUA_CORE_H

#include <stddef.h>
#include <lua.h>

/* Add the network functions (client/, server/, term/editor.c) to the core
 * table on top of the stack, and hook their teardown into the runtime. */
int ocl_net_open(lua_State *L);

struct ocl_embedded {
	const char	*name;	/* module name, e.g. "opencomputer.runtime.task" */
	const char	*file;	/* path below lua/ */
	const char	*src;
	size_t		len;
};
extern const struct ocl_embedded ocl_embedded_lua[];

#endif
