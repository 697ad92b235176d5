/*
 * ws_raw.h - a ws:// (plain TCP) WebSocket client transport on libuv, used
 * by websocket.c instead of libwebsockets for unencrypted connections:
 * libwebsockets 4.1's client parses every frame a byte at a time, which
 * capped a stream at about 200 MiB/s; this one copies payloads in bulk.
 * wss:// stays on libwebsockets (TLS).
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
	 * of this frame still to come, this piece's included */
	int (*piece)(void *ud, const char *p, size_t n, int first, int final,
		     int binary, size_t frame_left);
	void (*peer_close)(void *ud, int code, const char *reason, size_t n);
	void (*drained)(void *ud, size_t queued);	/* a write completed */
	/* the connection is over: error NULL for a clean close; http_status
	 * of a refused upgrade, else 0 */
	void (*ended)(void *ud, const char *error, int http_status);
} ws_raw_events;

/* Start connecting to host:port and upgrading `path`; `hdrs` are extra
 * handshake headers as "name:", "value" pairs ending with NULL (copied).
 * NULL with *err set when it cannot start. */
ws_raw *ws_raw_connect(oclua_runtime *rt, const char *host, int port,
		       const char *path, char **hdrs,
		       const ws_raw_events *ev, void *ud, const char **err);

/* Queue a message (one frame, masked); bytes queued so far. */
size_t ws_raw_send(ws_raw *r, const void *p, size_t n, int binary);

/* Stop (1) or resume (0) reading: flow control for a slow consumer. */
void ws_raw_pause(ws_raw *r, int pause);

/* Start the closing handshake (or drop a connection not yet open). */
void ws_raw_close(ws_raw *r, int code, const char *reason);

/* The owner goes away: no more events; the connection is closed. */
void ws_raw_detach(ws_raw *r);

#endif
