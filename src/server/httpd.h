/*
 * httpd.h - between the local server's HTTP primitive (httpd.c) and its
 * side of the WebSocket opening handshake (httpd_ws.c), and the digests
 * of the server's image manifests (digest.c).
 */
#ifndef OCLUA_HTTPD_H
#define OCLUA_HTTPD_H

#include <lua.h>

/* Add core.httpd_* to the table on top of the stack. */
int ocl_open_httpd(lua_State *L);

/* Add core.sha256, core.base64_encode and core.base64_decode (digest.c)
 * to the table on top of the stack. */
int ocl_open_digest(lua_State *L);

/* Read the opening handshake of an upgrade request (RFC 6455 4.2.1) in
 * its headers: names[i] (lower case) and values[i], n of them, of an
 * HTTP/1.`minor` request. A bad one: push the refusal's status, headers
 * table and body, and return the status (400; 426 for a version other
 * than 13, 4.4). A good one: push the connection object it becomes and
 * the 101 answer (4.2.2), and return 0. Raises when out of memory. */
int ocl_httpd_ws_prepare(lua_State *L, int minor, char *const *names,
			 char *const *values, int n);

/* Hand the accepted socket `fd` (ours to give) to the connection object
 * at stack index `conn`, the 101 answer at conn + 1 and the bytes read
 * after the request head at conn + 2: yields until it is open and
 * returns it (1 result), or raises. */
int ocl_httpd_ws_handover(lua_State *L, int conn, int fd);

#endif
