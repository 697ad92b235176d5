/*
 * client.h - what the client half (HTTP over libcurl, WebSocket over
 * libwebsockets) offers the module assembly in src/core/: its openers
 * and its teardown.
 */
#ifndef OCLUA_CLIENT_H
#define OCLUA_CLIENT_H

#include "runtime/runtime.h"

/* Add core.http_* and core.ws_* to the table on top of the stack. */
int ocl_open_http(lua_State *L);
int ocl_open_websocket(lua_State *L);

/* Teardown of the lazily started curl multi and lws context; safe when
 * never started. lws closes in two steps around the loop's last turns. */
void ocl_http_close(oclua_runtime *rt);
void ocl_lws_close_begin(oclua_runtime *rt);
void ocl_lws_close_end(oclua_runtime *rt);

#endif
