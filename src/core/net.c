/*
 * net.c - the network half of opencomputer.core (libcurl and
 * libwebsockets, with the terminal: the REPL's line editor on libedit,
 * standard input as a stream, raw mode): its opener and
 * its teardown. The `oclua` binary keeps it in a plugin (oclua-net.so)
 * loaded on first use, because loading libcurl and its dependencies costs
 * about 5 ms at every start; liboclua.a links it in.
 */
#include "term/editor.h"
#include "term/tty.h"
#include "client/client.h"
#include "core/core.h"
#include "runtime/runtime.h"
#include "server/httpd.h"

static void
net_close_begin(oclua_runtime *rt)
{
	ocl_http_close(rt);
	ocl_lws_close_begin(rt);
}

int
ocl_net_open(lua_State *L)
{
	oclua_runtime *rt = ocl_rt(L);

	rt->net_close_begin = net_close_begin;
	rt->net_close_end = ocl_lws_close_end;
	ocl_open_http(L);
	ocl_open_websocket(L);
	ocl_open_httpd(L);
	ocl_open_digest(L);
	ocl_open_editor(L);
	ocl_open_tty(L);
	return 0;
}
