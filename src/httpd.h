/*
 * httpd.h - between the local server's HTTP primitive (httpd.c) and its
 * WebSocket handover (httpd_ws.c).
 */
#ifndef OCLUA_HTTPD_H
#define OCLUA_HTTPD_H

#include <stddef.h>
#include <lua.h>

/* Hand the accepted socket `fd` (ours to give) and the request head to
 * lws's WebSocket server; yields until the handshake is done and returns
 * the connection object (1 result), or raises. */
int ocl_httpd_websocket(lua_State *L, int fd, const char *head, size_t len);

#endif
