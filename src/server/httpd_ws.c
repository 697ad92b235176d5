/*
 * httpd_ws.c - the local server's side of the WebSocket opening handshake
 * (RFC 6455 4.2): httpd.c hands over an upgrade request's headers; this
 * checks them, refuses a bad handshake with an HTTP error (400, or 426
 * for a version other than 13) or makes the 101 answer, and the accepted
 * socket then becomes a websocket.c connection object on ws_raw.c's
 * server role.
 *
 * What httpd.c has already checked when it calls here (req.upgrade): a
 * GET, an Upgrade header with the token "websocket", a Connection header
 * with the token "Upgrade" (http-parser's upgrade flag) and no body
 * (4.2.1 items 1, 3, 4).
 *
 * Subprotocols: the first one a client offers in Sec-WebSocket-Protocol
 * is accepted and echoed, whatever it is (the server speaks one protocol;
 * the official SDKs offer none, some clients insist on one); an offer
 * with no valid token is refused (400).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "server/httpd.h"
#include "runtime/runtime.h"
#include "client/websocket.h"
#include "client/ws_raw.h"

#define TOKEN_MAX	64

/* the one value of header `name`; NULL when absent, *twice when repeated */
static const char *
header(char *const *names, char *const *values, int n, const char *name,
       int *twice)
{
	const char *v = NULL;
	int i;

	*twice = 0;
	for (i = 0; i < n; i++)
		if (!strcmp(names[i], name)) {
			if (v)
				*twice = 1;
			else
				v = values[i];
		}
	return v;
}

/* a Sec-WebSocket-Key that decodes to 16 bytes: 22 base64 digits, "=="
 * (4.2.1 item 5) */
static int
key_ok(const char *key)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";

	return strlen(key) == 24 && strspn(key, b64) == 22 &&
	       !strcmp(key + 22, "==");
}

/* the first token of a Sec-WebSocket-Protocol list into out (RFC 7230
 * 3.2.6 token characters); -1 when there is none */
static int
first_subprotocol(const char *list, char *out, size_t size)
{
	const char *s = list;

	while (*s) {
		const char *t, *e, *k;
		int ok = 1;

		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		t = s;
		while (*s && *s != ',')
			s++;
		e = s;
		while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == t || (size_t)(e - t) >= size)
			continue;
		for (k = t; k < e; k++)
			if (!isalnum((unsigned char)*k) &&
			    !strchr("-._~!#$%&'*+^`|", *k))
				ok = 0;
		if (!ok)
			continue;
		memcpy(out, t, (size_t)(e - t));
		out[e - t] = '\0';
		return 0;
	}
	return -1;
}

/* push a refusal: status, headers, body; returns the status */
static int
refuse(lua_State *L, int status, const char *why)
{
	lua_pushinteger(L, status);
	lua_createtable(L, 0, 3);
	lua_pushliteral(L, "application/json");
	lua_setfield(L, -2, "Content-Type");
	if (status == 426) {		/* RFC 6455 4.4, RFC 7231 6.5.15 */
		lua_pushliteral(L, "13");
		lua_setfield(L, -2, "Sec-WebSocket-Version");
		lua_pushliteral(L, "websocket");
		lua_setfield(L, -2, "Upgrade");
	}
	lua_pushfstring(L, "{\"error\":\"%s\"}", why);
	return status;
}

int
ocl_httpd_ws_prepare(lua_State *L, int minor, char *const *names,
		     char *const *values, int n)
{
	const char *key, *version, *offered;
	char accept[29], proto[TOKEN_MAX];
	int twice;
	luaL_Buffer b;

	if (minor < 1)
		return refuse(L, 400, "a WebSocket handshake needs HTTP/1.1");
	if (!header(names, values, n, "host", &twice) || twice)
		return refuse(L, 400, "a WebSocket handshake needs one Host "
			      "header");
	version = header(names, values, n, "sec-websocket-version", &twice);
	if (!version || twice)
		return refuse(L, 400, "a WebSocket handshake needs one "
			      "Sec-WebSocket-Version header (13)");
	if (strcmp(version, "13"))
		return refuse(L, 426, "unsupported Sec-WebSocket-Version: "
			      "this server speaks 13 (RFC 6455)");
	key = header(names, values, n, "sec-websocket-key", &twice);
	if (!key || twice || !key_ok(key))
		return refuse(L, 400, "a WebSocket handshake needs one "
			      "Sec-WebSocket-Key: 16 bytes in base64");
	offered = header(names, values, n, "sec-websocket-protocol", &twice);
	if (offered && first_subprotocol(offered, proto, sizeof(proto)))
		return refuse(L, 400, "no usable subprotocol in "
			      "Sec-WebSocket-Protocol");
	ws_raw_accept_value(key, strlen(key), accept);
	ocl_ws_push(L, ocl_rt(L));
	luaL_buffinit(L, &b);
	luaL_addstring(&b, "HTTP/1.1 101 Switching Protocols\r\n"
		       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Accept: ");
	luaL_addstring(&b, accept);
	if (offered) {
		luaL_addstring(&b, "\r\nSec-WebSocket-Protocol: ");
		luaL_addstring(&b, proto);
	}
	luaL_addstring(&b, "\r\n\r\n");
	luaL_pushresult(&b);
	return 0;
}

int
ocl_httpd_ws_handover(lua_State *L, int conn, int fd)
{
	size_t alen, rlen;
	const char *answer = lua_tolstring(L, conn + 1, &alen);
	const char *rest = lua_tolstring(L, conn + 2, &rlen);

	return ocl_ws_accept(L, conn, fd, answer, alen, rest, rlen);
}
