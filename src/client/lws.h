/*
 * lws.h - the runtime's libwebsockets context, for wss:// clients.
 */
#ifndef OCLUA_LWS_H
#define OCLUA_LWS_H

#include <libwebsockets.h>

#include "runtime/runtime.h"

struct ocl_lws {
	struct lws_context	*ctx;
	struct lws_vhost	*client;	/* websocket.c's, for wss:// */
};

/* The context, created on first use; raises when lws cannot start. */
struct lws_context *ocl_lws_context(lua_State *L, oclua_runtime *rt);

#endif
