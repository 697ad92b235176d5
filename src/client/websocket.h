/*
 * websocket.h - WebSocket connection objects shared by the client
 * (websocket.c) and the local server (httpd_ws.c): one Lua object type,
 * one message queue with backpressure, whatever carries the frames
 * (ws_raw.c in both roles, libwebsockets for wss:// clients).
 */
#ifndef OCLUA_WEBSOCKET_H
#define OCLUA_WEBSOCKET_H

#include "runtime/runtime.h"

typedef struct ws_conn ws_conn;

/* Push a new connection object (closed) onto L. */
ws_conn *ocl_ws_push(lua_State *L, oclua_runtime *rt);

/* The server's side of a connection whose opening handshake was read:
 * the connection object at stack index `idx` (closed, new) adopts the
 * accepted socket `fd` (ours from now on), writes `answer` (the 101
 * head) and reads frames, the first from rest[0..rlen) (bytes read after
 * the request head), on ws_raw.c's server role. Yields until it is open
 * and returns it (1 result); raises if it cannot start. */
int ocl_ws_accept(lua_State *L, int idx, int fd, const char *answer,
		  size_t alen, const char *rest, size_t rlen);

#endif
