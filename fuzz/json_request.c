/*
 * json_request.c - the local server's request validation
 * (lua/opencomputer/server/request.lua) on arbitrary bytes: each input is
 * a request body, decoded once (strict RFC 8259 JSON, one object) and
 * checked against every route's schema. Each outcome must be one of:
 *
 * - a refusal: an http.abort answer of 400 or 413 (request.is_invalid);
 * - a checked table holding only the schema's fields, which encodes to
 *   JSON that decodes again (what the server stores and echoes is valid
 *   JSON, its strings valid UTF-8).
 *
 * Anything else (another Lua error, a table that breaks those rules, a
 * crash or a sanitizer report) aborts. One runtime (oclua_new) serves
 * every input; the Lua sources are the ones embedded in the library.
 *
 * The code under test is Lua, run by a Lua library libFuzzer cannot see
 * into: a line hook counts each (previous line, line) pair of the Lua
 * code into libFuzzer's extra counters, its coverage of the validator.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>

#include "oclua.h"

static const char check_chunk[] =
	"local request = require('opencomputer.server.request')\n"
	"local json = require('opencomputer.runtime.json')\n"
	"local names = {}\n"
	"for name in pairs(request.schemas) do names[#names + 1] = name end\n"
	"table.sort(names)\n"
	"-- nil when the outcome is allowed, else what is wrong\n"
	"local function outcome(ok, doc, schema)\n"
	"  if not ok then\n"
	"    if request.is_invalid(doc) then return nil end\n"
	"    return 'not a validation error: ' .. tostring(doc)\n"
	"  end\n"
	"  if type(doc) ~= 'table' then return 'not a table' end\n"
	"  for k in pairs(doc) do\n"
	"    if not schema[k] then return 'field ' .. tostring(k) .. ' kept' end\n"
	"  end\n"
	"  local text = json.encode(doc)\n"
	"  local again, err = pcall(request.decode, text)\n"
	"  if not again then\n"
	"    return 'checked fields do not encode as strict JSON: ' .. text\n"
	"      .. ': ' .. tostring(err)\n"
	"  end\n"
	"end\n"
	"return function(body)\n"
	"  local ok, doc = pcall(request.decode, body)\n"
	"  if not ok then return outcome(ok, doc, {}) end\n"
	"  for _, name in ipairs(names) do\n"
	"    local copy = {}\n"
	"    for k, v in pairs(doc) do copy[k] = v end\n"
	"    local schema = request.schemas[name]\n"
	"    local ok2, checked = pcall(request.check, copy, schema)\n"
	"    local why = outcome(ok2, checked, schema)\n"
	"    if why then return name .. ': ' .. why end\n"
	"  end\n"
	"end\n";

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

#define N_COUNTERS	(1 << 16)

__attribute__((section("__libfuzzer_extra_counters")))
static uint8_t counters[N_COUNTERS];

static oclua_runtime *rt;
static lua_State *L;
static int check_ref;
static uintptr_t prev_line;

/* count the edge from the previous Lua line to this one (by line number
 * alone: asking for the source on every line costs more than the
 * collisions of two files' equal numbers) */
static void
line_hook(lua_State *l, lua_Debug *ar)
{
	uintptr_t cur = (uintptr_t)ar->currentline;

	(void)l;
	counters[(cur * 2654435761u ^ prev_line) % N_COUNTERS]++;
	prev_line = cur << 3;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rt = oclua_new(NULL);
	if (!rt)
		abort();
	L = oclua_state(rt);
	if (luaL_loadbuffer(L, check_chunk, sizeof(check_chunk) - 1,
			    "=json_request") || lua_pcall(L, 0, 1, 0)) {
		fprintf(stderr, "json_request: %s\n", lua_tostring(L, -1));
		abort();
	}
	check_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_sethook(L, line_hook, LUA_MASKLINE, 0);
	return 0;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	prev_line = 0;
	lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
	lua_pushlstring(L, (const char *)data, size);
	if (lua_pcall(L, 1, 1, 0)) {
		fprintf(stderr, "json_request: %s\n", lua_tostring(L, -1));
		abort();
	}
	if (!lua_isnil(L, -1)) {
		fprintf(stderr, "json_request: %s\n", lua_tostring(L, -1));
		abort();
	}
	lua_pop(L, 1);
	return 0;
}
