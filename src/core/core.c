/*
 * core.c - the assembly of oclua: which parts a runtime has. It builds
 * `opencomputer.core` from the runtime's task primitives and the openers
 * of each component (runtime/, sandbox/, and the network half: client/,
 * server/, term/editor.c, which the binary loads from oclua-net.so on first
 * use), installs the embedded Lua half as a package searcher, and holds
 * the public entry points that create a runtime (oclua_new,
 * luaopen_opencomputer). It is the one file that knows every component;
 * none of them knows it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
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

static int
luaopen_opencomputer_core(lua_State *L)
{
	lua_newtable(L);
	ocl_open_tasks(L);
	lua_pushliteral(L, OCLUA_VERSION);
	lua_setfield(L, -2, "version");
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
	lua_pushcfunction(L, luaopen_opencomputer_core);
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


int
luaopen_opencomputer(lua_State *L)
{
	if (!oclua_from_state(L) && !ocl_attach(L, NULL, 0, install))
		return luaL_error(L, "cannot start the oclua runtime");
	lua_getglobal(L, "require");
	lua_pushliteral(L, "opencomputer.init");
	lua_call(L, 1, 1);
	return 1;
}

