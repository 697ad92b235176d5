/*
 * core.c - the assembly of oclua: which parts a runtime has. It builds
 * `opencomputer.core` from the runtime's task primitives and the openers
 * of each component (runtime/, sandbox/, and the network half: client/,
 * server/, term/editor.c, which the binary loads from oclua-net.so on first
 * use), installs the embedded Lua half as a package searcher, and holds
 * the public entry points that create a runtime (oclua_new,
 * luaopen_opencomputer). It is the one file that knows every component;
 * none of them knows it.
 *
 * Built three ways: with OCLUA_NET_PLUGIN for the binary; plain for
 * liboclua.a; with OCLUA_LUA_MODULE as the Lua C module opencomputer.core
 * of the rock (build/opencomputer/core.so, loaded by a stock lua5.4): the
 * network half linked in, no embedded Lua (the rock installs lua/ as it
 * is), and a runtime attached to the interpreter's state when it loads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>
#include <lualib.h>

#include "core/core.h"
#include "runtime/runtime.h"
#include "sandbox/sandbox.h"

int luaopen_cjson(lua_State *L);

/* ------------------------------------------------------------------ */
/* opencomputer.core                                                  */

#ifdef OCLUA_NET_PLUGIN
/* The plugin next to the binary: $OCLUA_NET_PLUGIN, else the build tree
 * (./oclua beside build/), else the installed layout (bin/../lib/oclua). */
static void *
open_plugin(lua_State *L)
{
	static const char *const rel[] = {
		"/" OCLUA_NET_PLUGIN, "/../lib/oclua/oclua-net.so", NULL
	};
	const char *env = getenv("OCLUA_NET_PLUGIN");
	char exe[4096];
	ssize_t n;
	int i;
	void *h;

	if (env && *env) {
		if (!(h = dlopen(env, RTLD_NOW | RTLD_LOCAL)))
			lua_pushstring(L, dlerror());
		return h;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		lua_pushliteral(L, "cannot read /proc/self/exe");
		return NULL;
	}
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	lua_pushliteral(L, "");		/* what each candidate said */
	for (i = 0; rel[i]; i++) {
		lua_pushfstring(L, "%s%s", exe, rel[i]);
		h = dlopen(lua_tostring(L, -1), RTLD_NOW | RTLD_LOCAL);
		lua_pop(L, 1);
		if (h) {
			lua_pop(L, 1);
			return h;
		}
		lua_pushfstring(L, "%s%s", i ? "; " : "", dlerror());
		lua_concat(L, 2);
	}
	return NULL;
}

/* __index of the core table until the plugin is in: load it, let it add
 * its functions, then answer the lookup */
static int
load_net(lua_State *L)
{
	static void *plugin;
	lua_CFunction open;

	if (!plugin && !(plugin = open_plugin(L)))
		return luaL_error(L, "cannot load the network plugin "
				  "oclua-net.so (%s): set OCLUA_NET_PLUGIN to "
				  "its path", lua_tostring(L, -1));
	open = (lua_CFunction)(uintptr_t)dlsym(plugin, "ocl_net_open");
	if (!open)
		return luaL_error(L, "oclua-net.so: %s", dlerror());
	lua_pushnil(L);
	lua_setmetatable(L, 1);
	lua_pushvalue(L, 1);
	lua_pushcfunction(L, open);
	lua_insert(L, -2);
	lua_call(L, 1, 0);	/* open(core) */
	lua_rawget(L, 1);	/* the key */
	return 1;
}
#endif

/* the core table, on top of the stack */
static int
open_core(lua_State *L)
{
	lua_newtable(L);
	ocl_open_tasks(L);
	lua_pushliteral(L, OCLUA_VERSION);
	lua_setfield(L, -2, "version");
	/* who runs this state: the binary, a C host (liboclua.a), or a Lua
	 * interpreter that loaded the rock's module (sdk/config.lua starts
	 * the embedded server accordingly) */
#if defined(OCLUA_NET_PLUGIN)
	lua_pushliteral(L, "oclua");
#elif defined(OCLUA_LUA_MODULE)
	lua_pushliteral(L, "lua");
#else
	lua_pushliteral(L, "embedded");
#endif
	lua_setfield(L, -2, "host");
	ocl_open_timer(L);
	ocl_open_fs(L);
	ocl_open_box(L);
	ocl_open_netns(L);
	ocl_open_template(L);
	ocl_open_process(L);
#ifdef OCLUA_NET_PLUGIN
	/* the network functions arrive with the plugin, on first use */
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, load_net);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
#else
	ocl_net_open(L);
#endif
	return 1;
}


#ifndef OCLUA_LUA_MODULE
/* ------------------------------------------------------------------ */
/* the embedded Lua half                                              */

/* package.searchers entry: OCLUA_LUA_DIR on disk first, then the copy
 * built into the binary */
static int
search_embedded(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1), *dir;
	const struct ocl_embedded *e;

	for (e = ocl_embedded_lua; e->name; e++)
		if (!strcmp(e->name, name))
			break;
	if (!e->name) {
		lua_pushfstring(L, "no embedded module '%s'", name);
		return 1;
	}
	dir = getenv("OCLUA_LUA_DIR");
	if (dir && *dir) {
		lua_pushfstring(L, "%s/%s", dir, e->file);
		if (luaL_loadfilex(L, lua_tostring(L, -1), "t") != LUA_OK)
			return lua_error(L);
		lua_insert(L, -2);	/* loader, path */
		return 2;
	}
	lua_pushfstring(L, "@%s", e->file);
	if (luaL_loadbufferx(L, e->src, e->len, lua_tostring(L, -1), "t"))
		return lua_error(L);
	lua_pushfstring(L, "=[embedded] %s", e->file);
	return 2;
}

/* what a runtime made here can require: opencomputer.core, cjson and the
 * embedded Lua half */
static void
install(lua_State *L)
{
	lua_Integer i, n;

	lua_getglobal(L, "package");
	lua_getfield(L, -1, "preload");
	lua_pushcfunction(L, open_core);
	lua_setfield(L, -2, "opencomputer.core");
	lua_pushcfunction(L, luaopen_cjson);
	lua_setfield(L, -2, "cjson");
	lua_pop(L, 1);
	lua_getfield(L, -1, "searchers");
	n = (lua_Integer)lua_rawlen(L, -1);
	for (i = n; i >= 2; i--) {	/* insert after the preload searcher */
		lua_rawgeti(L, -1, i);
		lua_rawseti(L, -2, i + 1);
	}
	lua_pushcfunction(L, search_embedded);
	lua_rawseti(L, -2, 2);
	lua_pop(L, 2);
}

#else
/* ------------------------------------------------------------------ */
/* the rock: opencomputer.core as a Lua C module                      */

/* package.searchers entry, last: "cjson" from the copy linked into this
 * module, for an interpreter whose paths have none of its own (the local
 * server's request.lua requires it); a cjson the paths find comes first */
static int
search_cjson(lua_State *L)
{
	if (strcmp(luaL_checkstring(L, 1), "cjson"))
		return 0;
	lua_pushcfunction(L, luaopen_cjson);
	lua_pushliteral(L, ":linked into opencomputer.core");
	return 2;
}

/* what a Lua interpreter that loaded the module can require besides its
 * paths: the core table (in package.loaded, so that
 * opencomputer.runtime.task, required while the interpreter still loads
 * this module, gets the same table) and cjson */
static void
install(lua_State *L)
{
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	open_core(L);
	lua_setfield(L, -2, "opencomputer.core");
	lua_pop(L, 1);
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "searchers");
	lua_pushcfunction(L, search_cjson);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	lua_pop(L, 2);
}
#endif


/* ------------------------------------------------------------------ */
/* creating a runtime                                                 */

oclua_runtime *
oclua_new(uv_loop_t *loop)
{
	lua_State *L = luaL_newstate();

	if (!L)
		return NULL;
	luaL_openlibs(L);
	if (!ocl_attach(L, loop, 1, install)) {
		lua_close(L);
		return NULL;
	}
	return oclua_from_state(L);
}


/* Attach a runtime to a state the host made (a C host's, or a Lua
 * interpreter's), once. Such a process may not ignore SIGPIPE as oclua
 * does, and a peer that closes a socket or pipe while we write would then
 * kill it (the local server, when a client goes away): SIGPIPE is ignored
 * unless the host set a handler of its own. */
static void
attach_foreign(lua_State *L)
{
	struct sigaction sa;

	if (oclua_from_state(L))
		return;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	if (!ocl_attach(L, NULL, 0, install))
		luaL_error(L, "cannot start the oclua runtime");
}

int
luaopen_opencomputer(lua_State *L)
{
	attach_foreign(L);
	lua_getglobal(L, "require");
	lua_pushliteral(L, "opencomputer.init");
	lua_call(L, 1, 1);
	return 1;
}


#ifdef OCLUA_LUA_MODULE
/* require "opencomputer.core" from a Lua interpreter's package.cpath (the
 * rock): attaches a runtime with a loop of its own to the interpreter's
 * state on first use, and returns the core table install() made */
int luaopen_opencomputer_core(lua_State *L);

int
luaopen_opencomputer_core(lua_State *L)
{
	attach_foreign(L);
	if (lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE) == LUA_TTABLE &&
	    lua_getfield(L, -1, "opencomputer.core") == LUA_TTABLE)
		return 1;
	return open_core(L);
}
#endif
