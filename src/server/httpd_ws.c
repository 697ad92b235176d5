/*
 * httpd_ws.c - the WebSocket side of the local server's HTTP primitive
 * (httpd.c): an upgrade's socket is adopted by lws's WebSocket server on
 * the runtime's lws context (a non-listening vhost) together with the
 * request bytes httpd.c already read; lws does the handshake, and the
 * connection is a websocket.c connection object (callback ocl_ws_callback,
 * the wsi's opaque user data is its ws_conn). Apart from httpd.c because
 * <http_parser.h> and <libwebsockets.h> both define `enum http_status`.
 *
 * Subprotocols: lws binds an upgrade to the vhost protocol named by the
 * client's Sec-WebSocket-Protocol, or to protocols[0] when it sends none
 * (browsers, Node, Python). The vhost has protocols[0] plus spare slots
 * with the same callback; the first subprotocol a client offers is
 * written into a free slot's name before the handover (lws keeps pointers
 * to the names), so any offered subprotocol is accepted and echoed. An
 * unused slot's name has a space, which no subprotocol token can.
 *
 * Tagging the wsi: lws serves the adopted bytes, handshake and all, from
 * inside lws_adopt_socket_vhost_readbuf(), before a wsi is returned to
 * tag, and 4.1's adopt-with-opaque call takes no read buffer. So the
 * connection being adopted is noted first and tied to its wsi at the
 * wsi's first callback (SERVER_NEW_CLIENT_INSTANTIATED), found by fd:
 * from then on every callback, failures included, reaches it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libwebsockets.h>

#include "server/httpd.h"
#include "client/lws.h"
#include "runtime/runtime.h"
#include "client/websocket.h"

#define MAX_SUBPROTOS	64
#define NAME_MAX_LEN	64
#define RX_BUFFER	16384

static int server_ws_cb(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len);

/* the protocol table of every runtime's server vhost (the names only
 * grow, from the loop's thread) */
static char names[1 + MAX_SUBPROTOS][NAME_MAX_LEN];
static struct lws_protocols protocols[1 + MAX_SUBPROTOS + 1];
static int nslots;		/* spare slots named so far */

/* the connection being adopted on this thread, until its wsi shows up */
static _Thread_local struct {
	ws_conn	*conn;
	int	fd;
} adopting;

static void
protocols_init(void)
{
	int i;

	if (protocols[0].callback)
		return;
	snprintf(names[0], sizeof(names[0]), "oclua-ws-server");
	for (i = 0; i <= MAX_SUBPROTOS; i++) {
		if (i)
			snprintf(names[i], sizeof(names[i]), "unused slot %d",
				 i);
		protocols[i].name = names[i];
		protocols[i].callback = server_ws_cb;
		protocols[i].rx_buffer_size = RX_BUFFER;
	}
	/* protocols[1 + MAX_SUBPROTOS] stays zero: the terminator */
}

static int
server_ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	     void *in, size_t len)
{
	if (adopting.conn && wsi && reason != LWS_CALLBACK_PROTOCOL_INIT &&
	    reason != LWS_CALLBACK_PROTOCOL_DESTROY &&
	    !lws_get_opaque_user_data(wsi) &&
	    (int)lws_get_socket_fd(wsi) == adopting.fd) {
		ocl_ws_bind(adopting.conn, wsi);
		adopting.conn = NULL;
	}
	return ocl_ws_callback(wsi, reason, user, in, len);
}

/* the first usable token of a Sec-WebSocket-Protocol list into out */
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
		/* lws would read an all-digit token as a number */
		if (!ok || strspn(t, "0123456789") >= (size_t)(e - t))
			continue;
		memcpy(out, t, (size_t)(e - t));
		out[e - t] = '\0';
		return 0;
	}
	return -1;
}

/* make sure a vhost protocol is called `name` */
static int
name_slot(const char *name)
{
	int i;

	for (i = 0; i <= nslots; i++)
		if (!strcmp(names[i], name))
			return 0;
	if (nslots == MAX_SUBPROTOS)
		return -1;
	nslots++;
	snprintf(names[nslots], sizeof(names[nslots]), "%s", name);
	return 0;
}

static struct lws_vhost *
server_vhost(lua_State *L, oclua_runtime *rt)
{
	struct lws_context_creation_info vi;
	struct lws_context *ctx = ocl_lws_context(L, rt);

	if (rt->lws->server)
		return rt->lws->server;
	protocols_init();
	memset(&vi, 0, sizeof(vi));
	vi.vhost_name = "oclua-server";
	vi.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	vi.protocols = protocols;
	rt->lws->server = lws_create_vhost(ctx, &vi);
	if (!rt->lws->server)
		luaL_error(L, "cannot create the WebSocket server vhost");
	return rt->lws->server;
}

struct ws_conn *
ocl_httpd_ws_prepare(lua_State *L, const char *offered)
{
	oclua_runtime *rt = ocl_rt(L);
	char name[NAME_MAX_LEN];

	server_vhost(L, rt);
	if (offered) {
		if (first_subprotocol(offered, name, sizeof(name)))
			luaL_error(L, "no usable WebSocket subprotocol in '%s'",
				   offered);
		if (name_slot(name))
			luaL_error(L, "too many different WebSocket "
				   "subprotocols");
	}
	return ocl_ws_push(L, rt);
}

int
ocl_httpd_ws_handover(lua_State *L, struct ws_conn *c, int fd,
		      const char *head, size_t len)
{
	oclua_runtime *rt = ocl_rt(L);
	struct lws *wsi;

	ocl_ws_connecting(c, NULL);
	adopting.conn = c;
	adopting.fd = fd;
	/* on failure lws closes the fd itself */
	wsi = lws_adopt_socket_vhost_readbuf(rt->lws->server, fd, head, len);
	if (adopting.conn) {		/* no callback reached a wsi */
		adopting.conn = NULL;
		if (wsi)
			ocl_ws_bind(c, wsi);
		else
			ocl_ws_failed(c, "WebSocket handshake failed");
	}
	return ocl_ws_wait_open(L, c);
}
