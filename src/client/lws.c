/*
 * lws.c - the runtime's one libwebsockets context, on the runtime's libuv
 * loop (foreign loop, evlib_uv plugin), created on first use, for wss://
 * clients (websocket.c adds their vhost).
 *
 * Teardown follows what a foreign loop needs: lws_context_destroy() once
 * from the loop to start closing lws's handles, then again after the loop
 * has run their close callbacks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libwebsockets.h>

#include "client/client.h"
#include "runtime/runtime.h"
#include "client/lws.h"

struct lws_context *
ocl_lws_context(lua_State *L, oclua_runtime *rt)
{
	struct lws_context_creation_info info;
	void *foreign[1];
	struct ocl_lws *w;

	if (rt->lws)
		return rt->lws->ctx;
	w = calloc(1, sizeof(*w));
	if (!w)
		luaL_error(L, "out of memory");
	/* quiet by default: every failure reaches the script as an error
	 * that says what went wrong; lws's own lines are for debugging */
	lws_set_log_level(getenv("OCLUA_LWS_DEBUG") ? LLL_ERR | LLL_WARN |
			  LLL_NOTICE | LLL_INFO : 0, NULL);
	foreign[0] = rt->loop;
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBUV |
		       LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.foreign_loops = foreign;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.pt_serv_buf_size = 16384;
	/* a busy server may take seconds to answer an upgrade: lws's own
	 * default (5 s) failed 1,000 sessions started at once; a minute,
	 * like the SDK's HTTP calls (lws 4.1 reads this from the context) */
	info.timeout_secs = 60;
	w->ctx = lws_create_context(&info);
	if (!w->ctx) {
		free(w);
		luaL_error(L, "cannot start libwebsockets (is the package "
			   "libwebsockets-evlib-uv installed?)");
		return NULL;
	}
	rt->lws = w;
	return w->ctx;
}

void
ocl_lws_close_begin(oclua_runtime *rt)
{
	if (rt->lws)
		lws_context_destroy(rt->lws->ctx);
}

void
ocl_lws_close_end(oclua_runtime *rt)
{
	if (!rt->lws)
		return;
	lws_context_destroy(rt->lws->ctx);
	free(rt->lws);
	rt->lws = NULL;
}
