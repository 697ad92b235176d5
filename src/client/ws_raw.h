/*
 * ws_raw.h - the plain-TCP WebSocket transport on libuv, in both roles:
 * the ws:// client (websocket.c; libwebsockets 4.1's client parses every
 * frame a byte at a time, which capped a stream at about 200 MiB/s) and
 * the local server's connections (httpd_ws.c adopts an accepted socket
 * once it has answered the opening handshake). Frames are read and
 * written by the codec of ws_frame.c. wss:// stays on libwebsockets.
 */
#ifndef OCLUA_WS_RAW_H
#define OCLUA_WS_RAW_H

#include <stddef.h>

#include "runtime/runtime.h"

typedef struct ws_raw ws_raw;

/* What the transport tells its owner (`ud`); none is called after ended. */
typedef struct ws_raw_events {
	void (*open)(void *ud);
	/* nonzero when the owner can take no more input now: reading stops
	 * (the bytes wait in the kernel) until ws_raw_pause(r, 0) */
	int (*full)(void *ud);
	/* a piece of a message: the first piece carries `first`, the last
	 * `final`; `binary` is the message's type; `frame_left` the bytes
	 * of this frame still to come, this piece's included; nonzero when
	 * the owner cannot keep it (the connection fails with 1011) */
	int (*piece)(void *ud, const char *p, size_t n, int first, int final,
		     int binary, size_t frame_left);
	void (*peer_close)(void *ud, int code, const char *reason, size_t n);
	void (*drained)(void *ud, size_t queued);	/* a write completed */
	/* the connection is over for the owner: error NULL for a clean
	 * close; http_status of a refused upgrade, else 0; retry_after its
	 * Retry-After header's value, else NULL */
	void (*ended)(void *ud, const char *error, int http_status,
		      const char *retry_after);
} ws_raw_events;

/* Client role: start connecting to host:port and upgrading `path`;
 * `hdrs` are extra handshake headers as "name:", "value" pairs ending
 * with NULL (copied); messages over max_message bytes fail the
 * connection (1009). NULL with *err set when it cannot start. */
ws_raw *ws_raw_connect(oclua_runtime *rt, const char *host, int port,
		       const char *path, char **hdrs, size_t max_message,
		       const ws_raw_events *ev, void *ud, const char **err);

/* Server role: adopt the accepted socket `fd` (ours from now on, closed
 * on failure too), write `answer` (the handshake's 101 head) and read
 * frames, the first ones from `rest` (bytes the HTTP server read after
 * the request head). `open` comes on the next turn of the loop. NULL
 * with *err set when it cannot start. */
ws_raw *ws_raw_accept(oclua_runtime *rt, int fd, const char *answer,
		      size_t alen, const char *rest, size_t rlen,
		      size_t max_message, const ws_raw_events *ev, void *ud,
		      const char **err);

/* Queue a message (one frame; masked by a client); bytes queued so far. */
size_t ws_raw_send(ws_raw *r, const void *p, size_t n, int binary);

/* Stop (1) or resume (0) reading: flow control for a slow consumer. */
void ws_raw_pause(ws_raw *r, int pause);

/* Start the closing handshake (or drop a connection not yet open). */
void ws_raw_close(ws_raw *r, int code, const char *reason);

/* The owner goes away: no more events; the connection is closed. */
void ws_raw_detach(ws_raw *r);

/* Sec-WebSocket-Accept for the Sec-WebSocket-Key `key` (RFC 6455 4.2.2:
 * base64 of the SHA-1 of the key and the protocol's GUID) into out, 29
 * bytes with the NUL. */
void ws_raw_accept_value(const char *key, size_t n, char out[29]);

#endif
