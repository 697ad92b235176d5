/*
 * httpd_ws.c - the WebSocket side of the local server's HTTP primitive
 * (httpd.c): an upgrade's socket is adopted by lws's WebSocket server
 * with the request head, lws does the handshake, and the connection is a
 * websocket.c connection object. Apart from httpd.c because
 * <http_parser.h> and <libwebsockets.h> both define `enum http_status`.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libwebsockets.h>

#include "httpd.h"
#include "lws.h"
#include "runtime.h"
#include "websocket.h"

static int server_ws_cb(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len);

/* Clients that offer no subprotocol (browsers, Node, Python) bind to the
 * first protocol; a client that insists on a subprotocol is refused. */
static const struct lws_protocols ws_protocols[] = {
	{ "oclua-ws-server", server_ws_cb, 0, 16384, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* adopted sockets waiting for their first lws callback: fd -> ws_conn */
typedef struct adoption {
	struct adoption	*next;
	int		fd;
	ws_conn		*conn;
} adoption;

static adoption *adoptions;

static void
adoption_forget(adoption *a)
{
	adoption **pp;

	for (pp = &adoptions; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			free(a);
			return;
		}
}

static ws_conn *
adopted(struct lws *wsi)
{
	int fd = (int)lws_get_socket_fd(wsi);
	adoption *a;

	for (a = adoptions; a; a = a->next)
		if (a->fd == fd) {
			ws_conn *c = a->conn;

			adoption_forget(a);
			return c;
		}
	return NULL;
}

static int
server_ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	     void *in, size_t len)
{
	if (wsi && !lws_get_opaque_user_data(wsi) &&
	    (reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION ||
	     reason == LWS_CALLBACK_ESTABLISHED)) {
		ws_conn *c = adopted(wsi);

		if (!c)
			return -1;
		ocl_ws_bind(c, wsi);
	}
	if (reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION)
		return 0;
	return ocl_ws_callback(wsi, reason, user, in, len);
}

static struct lws_vhost *
ws_vhost(lua_State *L, oclua_runtime *rt)
{
	struct lws_context_creation_info vi;
	struct lws_context *ctx = ocl_lws_context(L, rt);

	if (rt->lws->server)
		return rt->lws->server;
	memset(&vi, 0, sizeof(vi));
	vi.vhost_name = "oclua-server";
	vi.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	vi.protocols = ws_protocols;
	rt->lws->server = lws_create_vhost(ctx, &vi);
	if (!rt->lws->server)
		luaL_error(L, "cannot create the WebSocket server vhost");
	return rt->lws->server;
}

int
ocl_httpd_websocket(lua_State *L, int fd, const char *head, size_t len)
{
	oclua_runtime *rt = ocl_rt(L);
	struct lws_vhost *vh = ws_vhost(L, rt);
	adoption *a = calloc(1, sizeof(*a));
	ws_conn *wc = ocl_ws_push(L, rt);

	if (!a) {
		close(fd);
		return luaL_error(L, "out of memory");
	}
	ocl_ws_connecting(wc, NULL);
	a->fd = fd;
	a->conn = wc;
	a->next = adoptions;
	adoptions = a;
	if (!lws_adopt_socket_vhost_readbuf(vh, fd, head, len)) {
		adoption_forget(a);	/* lws closed the fd */
		ocl_ws_failed(wc, "WebSocket handshake failed");
	}
	return ocl_ws_wait_open(L, wc);
}
