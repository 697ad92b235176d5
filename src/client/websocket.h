/*
 * websocket.h - WebSocket connection objects shared by the client
 * (websocket.c) and the local server: one Lua object type, one message
 * queue with backpressure, one lws protocol callback for both roles.
 */
#ifndef OCLUA_WEBSOCKET_H
#define OCLUA_WEBSOCKET_H

#include <libwebsockets.h>

#include "runtime/runtime.h"

typedef struct ws_conn ws_conn;

/* Push a new connection object (closed, no wsi) onto L. */
ws_conn *ocl_ws_push(lua_State *L, oclua_runtime *rt);

/* The connection's handshake is under way on `wsi` (NULL when lws sets it
 * later through the connect info's pwsi and opaque_user_data); it now
 * keeps the runtime alive until it ends. */
void ocl_ws_connecting(ws_conn *c, struct lws *wsi);

/* Tie a connection whose handshake was under way without a wsi (an
 * adopted server socket) to its wsi, at the wsi's first callback. */
void ocl_ws_bind(ws_conn *c, struct lws *wsi);

/* The handshake could not start: the connection is closed with `error`. */
void ocl_ws_failed(ws_conn *c, const char *error);

/* Yield until the connection object on top of L's stack is open, and
 * return it (1 result); raise if the handshake fails. */
int ocl_ws_wait_open(lua_State *L, ws_conn *c);

/* The lws protocol callback for these connections, client or server side:
 * a wsi's opaque user data is its ws_conn. */
int ocl_ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len);

#endif
