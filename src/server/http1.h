/*
 * http1.h - HTTP/1.1 request framing and validation (RFC 9112), with no
 * sockets: bytes in, a parsed head, body pieces and the end of each
 * message out, or the status code and reason of the first thing wrong.
 * httpd.c drives it for each connection; fuzz/http_request.c feeds it
 * random splits.
 *
 * The caller owns the input buffer. http1_execute() returns how many
 * bytes it consumed; the bytes it did not consume must be presented
 * again, at the start of the next call's buffer, followed by new ones (a
 * head is consumed only once it is complete, and its fields are offsets
 * into those bytes).
 */
#ifndef OCLUA_HTTP1_H
#define OCLUA_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#define HTTP1_HEAD_MAX		(64u << 10)	/* request line + fields: 431 */
#define HTTP1_TARGET_MAX	(8u << 10)	/* request-target: 414 */
#define HTTP1_FIELDS_MAX	100		/* field lines: 431 */
#define HTTP1_CHUNK_LINE_MAX	1024		/* chunk-size line, extensions in */

enum http1_state {
	H1_HEAD,		/* reading a request head */
	H1_BODY,		/* a body of Content-Length bytes */
	H1_CHUNK_LINE,		/* a chunk-size line */
	H1_CHUNK_DATA,		/* chunk data */
	H1_CHUNK_CR,		/* the CRLF after chunk data */
	H1_CHUNK_LF,
	H1_TRAILER,		/* trailer field lines */
	H1_DONE,		/* a message is complete: http1_next() */
	H1_UPGRADED,		/* what follows the head is a WebSocket */
	H1_ERROR		/* status and error say what was wrong */
};

typedef struct http1_span {
	uint32_t	off, len;	/* in http1_head.base */
} http1_span;

/* a request head; valid during the on_head callback only */
typedef struct http1_head {
	const char	*base;		/* the head's bytes */
	int		method;		/* enum http_method */
	int		minor;		/* 0: HTTP/1.0; 1: HTTP/1.1 (or 1.x) */
	int		keep_alive;	/* another request may follow */
	int		upgrade;	/* a WebSocket upgrade (GET, no body) */
	int64_t		length;		/* body bytes; -1: chunked */
	http1_span	target, path, query;	/* query.len 0: none */
	int		nfields;
	http1_span	name[HTTP1_FIELDS_MAX], value[HTTP1_FIELDS_MAX];
} http1_head;

typedef struct http1 http1;

/* Each returns 0, or -1 to stop the parser with status 500 (out of
 * memory, say; `error` may be set first). */
typedef struct http1_settings {
	int	(*on_head)(http1 *h, const http1_head *head);
	int	(*on_body)(http1 *h, const char *p, size_t n);
	int	(*on_end)(http1 *h);
} http1_settings;

struct http1 {
	const http1_settings *settings;
	void		*data;		/* the caller's */
	enum http1_state state;
	int		status;		/* H1_ERROR: 400, 414, 431, 501, 505;
					 * 500 when a callback failed */
	const char	*error;		/* H1_ERROR: what was wrong */
	uint64_t	left;		/* body or chunk bytes to come */
	size_t		scan;		/* H1_HEAD: bytes looked at */
	size_t		line;		/* H1_HEAD: where the current line starts */
	int		lines;		/* H1_HEAD: lines of the head so far */
	size_t		trailers;	/* trailer section bytes so far */
	size_t		llen;		/* bytes in lbuf */
	char		lbuf[HTTP1_CHUNK_LINE_MAX];	/* a chunk or trailer line */
	http1_head	head;
};

/* Start parsing requests (or the next one after H1_DONE). */
void http1_init(http1 *h, const http1_settings *settings, void *data);
void http1_next(http1 *h);

/* Parse what [p, p+n) allows; returns the bytes consumed. Afterwards
 * h->state tells whether more input is wanted (H1_HEAD to H1_TRAILER),
 * the message is complete (H1_DONE), the rest is a WebSocket
 * (H1_UPGRADED) or the input was refused (H1_ERROR). */
size_t http1_execute(http1 *h, const char *p, size_t n);

/* Whether every '%' of [p, p+n) starts an escape of two hex digits that
 * is not %00. */
int http1_escapes_ok(const char *p, size_t n);

/* Decode [p, p+n) (checked by http1_escapes_ok) into `out` (room for n
 * bytes); '+' is a space when `plus`. Returns the decoded length. */
size_t http1_unescape(char *out, const char *p, size_t n, int plus);

/* Whether the comma-separated list (RFC 9110 5.6.1) contains `token`,
 * case-insensitively. */
int http1_list_has(const char *list, size_t n, const char *token);

#endif
