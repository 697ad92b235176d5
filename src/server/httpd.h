/*
 * httpd.h - between the local server's HTTP primitive (httpd.c) and its
 * WebSocket handover to lws (httpd_ws.c; apart because <http_parser.h>
 * and <libwebsockets.h> both define `enum http_status`).
 */
#ifndef OCLUA_HTTPD_H
#define OCLUA_HTTPD_H

#include <stddef.h>
#include <lua.h>

struct ws_conn;

/* Add core.httpd_* to the table on top of the stack. */
int ocl_open_httpd(lua_State *L);

/* Push the connection object an upgrade will become, with lws's server
 * vhost ready to take the socket and the first subprotocol the client
 * offers (`offered`, the Sec-WebSocket-Protocol list, or NULL) accepted.
 * Raises when it cannot; nothing is handed over yet. */
struct ws_conn *ocl_httpd_ws_prepare(lua_State *L, const char *offered);

/* Hand the accepted socket `fd` (ours to give) and the request head plus
 * any bytes read after it to lws, which does the handshake; yields until
 * it is done and returns the connection object on top of the stack (1
 * result), or raises. */
int ocl_httpd_ws_handover(lua_State *L, struct ws_conn *c, int fd,
			  const char *head, size_t len);

#endif
