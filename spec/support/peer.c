/*
 * peer.c - HTTP/1.1 + WebSocket test peer for the oclua specs.
 *
 *   oclua-testpeer [--port N]
 *
 * Listens on 127.0.0.1 (port 0 = the kernel picks one), prints "PORT <n>"
 * on stdout once listening, and serves until SIGTERM / SIGINT or until its
 * parent process dies.
 *
 * HTTP (keep-alive, pipelining, Content-Length or chunked request bodies,
 * "Expect: 100-continue" answered; routes accept any method unless noted):
 *   /status/<200..599>        {"status":code}  (no body for 204 / 304)
 *   /echo                     request body back; Content-Type copied
 *                             (default application/octet-stream);
 *                             X-Method, X-Query, X-Got-Test headers
 *   PUT|POST /sink            checks the body against the pattern unbuffered:
 *                             {"length":n,"pattern_ok":bool}
 *   /bytes?n=N                N pattern bytes (default 0)
 *   /slow?ms=M                "slow" after M ms (default 1000)
 *   /drip?chunks=N&ms=M&size=S  chunked: N chunks of S pattern bytes, M ms
 *                             apart (defaults 5, 100, 10)
 *   /hang                     never answers;  /close  drops the connection
 *   /headers                  JSON object of all request headers
 *   /stats                    {"ws_open":n,"http_requests":n}
 *   /flaky/KEY/F/S/A[/...]    the first F requests naming KEY (any path
 *                             after it, any method) get status S with
 *                             Retry-After A: "-" none, "dN" an HTTP-date
 *                             N s ahead, else A as it is; later ones 200
 *                             {"sandboxID":"KEY","status":"running",
 *                             "requests":n} (n: requests with KEY so far);
 *                             a WebSocket upgrade of /flaky/KEY/F/S/A/ws/..
 *                             is refused so, then goes to /ws/..
 *   /flaky-count/KEY          {"requests":n}, itself not counted
 *   anything else             404 {"error":"not found"}
 * WebSocket (with or without a subprotocol; other paths get a 404):
 *   /ws/echo, /ws/hold        echo every message whole, same type
 *   /ws/stream?bytes=N&frame=F  N pattern bytes as binary messages of F
 *                             bytes (defaults 1 MiB, 65536), then text
 *                             {"done":true,"bytes":N}, then close 1000
 *   /ws/close?code=C          close at once with C (default 1000), "bye"
 *   /ws/frames                a ping; once answered, the text "fragmented"
 *                             in three frames, an empty binary message,
 *                             then close 1000 "frames done"
 *   /ws/raw?send=HEX          the handshake answered here, then the bytes
 *                             HEX as they are (frames a server must not
 *                             send, say); the first close frame the client
 *                             sends back is kept for GET /ws/raw-close:
 *                             {"code":n} (0: none yet, 1005: no code), and
 *                             the connection is closed (after 2 s without)
 *
 * Design
 * ------
 * Everything runs on libwebsockets' default poll() loop, one thread.
 *
 * HTTP/1.1 is parsed here, on lws "raw-skt" connections: the listening
 * vhost binds every accepted socket to the raw protocol "peer-http".  lws
 * 4.1's own h1 server cannot be used for the upload routes: it gives a
 * POST/PUT without Content-Length a fixed 100 MiB body, does not decode
 * chunked request bodies, and never answers "Expect: 100-continue".
 * Parsing here gives exact keep-alive, chunked-upload, Expect and
 * pipelining behaviour.
 *
 * A WebSocket upgrade request is handed over to lws's own ws server: the
 * socket is dup()ed, the raw connection is dropped (raw-skt close does no
 * shutdown(), so the dup keeps the TCP connection intact) and the dup is
 * adopted with lws_adopt_socket_vhost_readbuf() on a non-listening vhost,
 * passing the request bytes already read.  lws then does the handshake.
 * lws binds an upgrade to the vhost protocol named by the client's
 * Sec-WebSocket-Protocol, or to protocols[0] when there is none.  The ws
 * vhost therefore has protocols[0] plus MAX_SUBPROTOS spare protocol slots,
 * all with the same callback; the first subprotocol a client offers is
 * written into a free slot's name before the handover (lws keeps pointers
 * to the names), so any offered subprotocol is accepted and echoed back.
 * (One vhost per subprotocol does not work: lws re-selects the vhost from
 * the Host header, and non-listening vhosts all share "port" -2.)
 *
 * Byte pattern: stream offset i carries (uint8_t)(i * 7 + 3).
 */

#define _GNU_SOURCE
#include <libwebsockets.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define PIECE		(64u * 1024u)	/* bytes per HTTP socket write */
#define MAX_HEAD	(64u * 1024u)	/* request line + headers */
#define MAX_HDRS	128
#define MAX_ECHO_BODY	(1024ull * 1024u * 1024u)
#define IN_HIGH_WATER	(1024u * 1024u)	/* unprocessed input: stop reading */
#define BIG_BUF		(1024u * 1024u)	/* release idle buffers above this */
#define MAX_DRIP_SIZE	(64u * 1024u * 1024u)

#define WS_MAX_MSG	(64u * 1024u * 1024u)
#define WS_MAX_FRAME	(64u * 1024u * 1024u)
#define WS_Q_HIGH	(64u * 1024u * 1024u)
#define WS_Q_LOW	(16u * 1024u * 1024u)
#define WS_RX_BUF	(64u * 1024u)
#define MAX_SUBPROTOS	64

#ifndef PEER_LOG_LEVEL
#define PEER_LOG_LEVEL	LLL_ERR		/* -DPEER_LOG_LEVEL=... to debug */
#endif

#define DEF_SLOW_MS	1000
#define DEF_DRIP_CHUNKS	5
#define DEF_DRIP_MS	100
#define DEF_DRIP_SIZE	10
#define DEF_STREAM_N	(1024u * 1024u)
#define DEF_STREAM_F	65536u

/* pattab[k] == pattern byte of any offset congruent to k mod 256 */
static uint8_t pattab[256 + PIECE];
static uint8_t txbuf[LWS_PRE + PIECE];

static uint8_t *scratch;	/* ws stream frames, grows to largest frame */
static size_t scratch_cap;

/* ---------------------------------------------------------------------- */

struct handover;

static struct {
	struct lws_context	*ctx;
	struct lws_vhost	*vh_http;
	struct lws_vhost	*vh_ws;
	int			nsp;		/* subprotocol slots in use */
	struct handover		*pending;
	long			ws_open;
	uint64_t		http_requests;
	int			raw_close;	/* /ws/raw's client's close code */
} G;

static volatile sig_atomic_t stop_flag;

/* ---------------------------------------------------------------------- */
/* growable byte buffer with a read offset */

struct buf {
	uint8_t	*p;
	size_t	off, len, cap;
};

static size_t buf_avail(const struct buf *b) { return b->len - b->off; }
static uint8_t *buf_data(const struct buf *b) { return b->p + b->off; }

static void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void
buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

static int
buf_reserve(struct buf *b, size_t extra)
{
	size_t nc;
	uint8_t *np;

	if (b->len + extra <= b->cap)
		return 0;
	if (b->off) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + extra <= b->cap)
			return 0;
	}
	nc = b->cap ? b->cap : 4096;
	while (nc < b->len + extra)
		nc *= 2;
	np = realloc(b->p, nc);
	if (!np)
		return -1;
	b->p = np;
	b->cap = nc;

	return 0;
}

static int
buf_add(struct buf *b, const void *d, size_t n)
{
	if (!n)
		return 0;
	if (buf_reserve(b, n))
		return -1;
	memcpy(b->p + b->len, d, n);
	b->len += n;

	return 0;
}

static int
buf_str(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

static int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[512];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return buf_add(b, small, (size_t)n);

	if (buf_reserve(b, (size_t)n + 1))
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;

	return 0;
}

/* JSON string literal, quotes included */
static int
buf_json_str(struct buf *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	if (buf_add(b, "\"", 1))
		return -1;
	for (; *u; u++) {
		if (*u == '"' || *u == '\\') {
			char e[2] = { '\\', (char)*u };
			if (buf_add(b, e, 2))
				return -1;
		} else if (*u < 0x20 || *u == 0x7f) {
			if (buf_printf(b, "\\u%04x", *u))
				return -1;
		} else if (buf_add(b, u, 1))
			return -1;
	}

	return buf_add(b, "\"", 1);
}

static void
fill_pattern(uint8_t *dst, uint64_t off, size_t n)
{
	size_t k = 0, c;

	while (k < n) {
		c = n - k < PIECE ? n - k : PIECE;
		memcpy(dst + k, pattab + ((off + k) & 255u), c);
		k += c;
	}
}

/* ---------------------------------------------------------------------- */
/* small parsing helpers */

/* value of query parameter name in query (raw, not decoded) */
static int
qparam(const char *query, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	const char *p = query;

	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t seg = amp ? (size_t)(amp - p) : strlen(p);

		if (seg > nl && !strncmp(p, name, nl) && p[nl] == '=') {
			size_t vl = seg - nl - 1;

			if (vl >= outlen)
				vl = outlen - 1;
			memcpy(out, p + nl + 1, vl);
			out[vl] = '\0';
			return 1;
		}
		p = amp ? amp + 1 : NULL;
	}

	return 0;
}

/* strict unsigned decimal; returns 0 if ok */
static int
parse_u64(const char *s, uint64_t *v)
{
	uint64_t r = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (r > (UINT64_MAX - 9) / 10)
			return -1;
		r = r * 10 + (uint64_t)(*s - '0');
	}
	*v = r;

	return 0;
}

static uint64_t
qparam_u64(const char *query, const char *name, uint64_t def)
{
	char v[32];
	uint64_t r;

	if (!qparam(query, name, v, sizeof(v)) || parse_u64(v, &r))
		return def;

	return r;
}

/* case-insensitive "does the comma list s contain token tok" */
static int
list_has(const char *s, const char *tok)
{
	size_t tl = strlen(tok);

	while (s && *s) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (!strncasecmp(s, tok, tl)) {
			const char *e = s + tl;

			while (*e == ' ' || *e == '\t')
				e++;
			if (!*e || *e == ',' || *e == ';')
				return 1;
		}
		s = strchr(s, ',');
	}

	return 0;
}

static const char *
reason_phrase(int code)
{
	switch (code) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 418: return "I'm a teapot";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default:  return "Status";
	}
}

/* ---------------------------------------------------------------------- */
/* WebSocket routes */

enum { WS_ECHO = 1, WS_STREAM, WS_CLOSE, WS_HOLD, WS_FRAMES };

/* the path after "/flaky/KEY/F/S/A" (see the /flaky route), or `path` */
static const char *
flaky_rest(const char *path)
{
	const char *p = path;
	int i;

	if (strncmp(path, "/flaky/", 7))
		return path;
	for (i = 0; i < 5 && p; i++)
		p = strchr(p + 1, '/');
	return p ? p : "";
}

static int
ws_kind(const char *path)
{
	path = flaky_rest(path);
	if (!strcmp(path, "/ws/echo"))
		return WS_ECHO;
	if (!strcmp(path, "/ws/stream"))
		return WS_STREAM;
	if (!strcmp(path, "/ws/close"))
		return WS_CLOSE;
	if (!strcmp(path, "/ws/hold"))
		return WS_HOLD;
	if (!strcmp(path, "/ws/frames"))
		return WS_FRAMES;

	return -1;
}

struct wsmsg {
	struct wsmsg	*next;
	uint8_t		*buf;		/* LWS_PRE headroom, then payload */
	size_t		len;
	int		text;
};

struct wsconn {
	int		kind;
	int		established;
	int		frames_step;	/* /ws/frames: what was sent */
	/* message being received */
	uint8_t		*rx;
	size_t		rxlen, rxcap;
	int		rxtext, assembling;
	/* echo queue */
	struct wsmsg	*qh, *qt;
	size_t		qbytes;
	int		flow_off;
	/* stream */
	uint64_t	total, sent, frame;
	int		done_sent;
	/* close */
	int		close_code;
};

static void
ws_free(struct wsconn *w)
{
	struct wsmsg *m;

	while ((m = w->qh)) {
		w->qh = m->next;
		free(m->buf);
		free(m);
	}
	w->qt = NULL;
	w->qbytes = 0;
	free(w->rx);
	w->rx = NULL;
	w->rxlen = w->rxcap = 0;
}

static uint64_t
ws_arg_u64(struct lws *wsi, const char *name_eq, uint64_t def)
{
	char buf[64];
	const char *v = lws_get_urlarg_by_name(wsi, name_eq, buf, sizeof(buf));
	uint64_t r;

	if (!v || parse_u64(v, &r))
		return def;

	return r;
}

static int
ws_receive(struct lws *wsi, struct wsconn *w, const void *in, size_t len)
{
	struct wsmsg *m;

	if (w->kind != WS_ECHO && w->kind != WS_HOLD)
		return 0;	/* stream / close: input ignored */

	if (!w->assembling) {
		w->assembling = 1;
		w->rxtext = !lws_frame_is_binary(wsi);
		w->rxlen = 0;
	}
	if (w->rxlen + len > WS_MAX_MSG) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
				 (unsigned char *)"too big", 7);
		return -1;
	}
	if (!w->rx || LWS_PRE + w->rxlen + len > w->rxcap) {
		size_t nc = w->rxcap ? w->rxcap : LWS_PRE + 4096;
		uint8_t *nb;

		while (nc < LWS_PRE + w->rxlen + len)
			nc *= 2;
		nb = realloc(w->rx, nc);
		if (!nb)
			return -1;
		w->rx = nb;
		w->rxcap = nc;
	}
	if (len)
		memcpy(w->rx + LWS_PRE + w->rxlen, in, len);
	w->rxlen += len;

	if (!lws_is_final_fragment(wsi))
		return 0;

	/* whole message: queue it for echo */
	m = calloc(1, sizeof(*m));
	if (!m)
		return -1;
	m->buf = w->rx;
	m->len = w->rxlen;
	m->text = w->rxtext;
	w->rx = NULL;
	w->rxcap = w->rxlen = 0;
	w->assembling = 0;

	if (w->qt)
		w->qt->next = m;
	else
		w->qh = m;
	w->qt = m;
	w->qbytes += m->len;
	if (w->qbytes > WS_Q_HIGH && !w->flow_off) {
		w->flow_off = 1;
		lws_rx_flow_control(wsi, 0);
	}
	lws_callback_on_writable(wsi);

	return 0;
}

static int
ws_writeable(struct lws *wsi, struct wsconn *w)
{
	switch (w->kind) {
	case WS_CLOSE:
		lws_close_reason(wsi, (enum lws_close_status)w->close_code,
				 (unsigned char *)"bye", 3);
		return -1;

	case WS_FRAMES: {	/* step by step, one write per callback */
		static const char *const parts[] = { "frag", "ment", "ed" };
		uint8_t b[LWS_PRE + 16];
		int step = w->frames_step++, flags;

		if (step == 0) {		/* a ping; the rest after the pong */
			memcpy(b + LWS_PRE, "are you there", 13);
			return lws_write(wsi, b + LWS_PRE, 13, LWS_WRITE_PING) < 13
				? -1 : 0;
		}
		if (step <= 3) {		/* one text message, 3 frames */
			size_t n = strlen(parts[step - 1]);

			flags = lws_write_ws_flags(LWS_WRITE_TEXT, step == 1,
						   step == 3);
			memcpy(b + LWS_PRE, parts[step - 1], n);
			if (lws_write(wsi, b + LWS_PRE, n,
				      (enum lws_write_protocol)flags) < (int)n)
				return -1;
		} else if (step == 4) {		/* an empty binary message */
			if (lws_write(wsi, b + LWS_PRE, 0, LWS_WRITE_BINARY) < 0)
				return -1;
		} else {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL,
					 (unsigned char *)"frames done", 11);
			return -1;
		}
		lws_callback_on_writable(wsi);
		return 0;
	}

	case WS_STREAM:
		if (w->sent < w->total) {
			size_t n = (size_t)(w->total - w->sent < w->frame ?
					    w->total - w->sent : w->frame);

			if (LWS_PRE + n > scratch_cap) {
				uint8_t *nb = realloc(scratch, LWS_PRE + n);

				if (!nb)
					return -1;
				scratch = nb;
				scratch_cap = LWS_PRE + n;
			}
			fill_pattern(scratch + LWS_PRE, w->sent, n);
			if (lws_write(wsi, scratch + LWS_PRE, n,
				      LWS_WRITE_BINARY) < (int)n)
				return -1;
			w->sent += n;
			lws_callback_on_writable(wsi);
			return 0;
		}
		if (!w->done_sent) {
			uint8_t b[LWS_PRE + 96];
			int n = snprintf((char *)b + LWS_PRE, 96,
					 "{\"done\":true,\"bytes\":%" PRIu64 "}",
					 w->total);

			if (lws_write(wsi, b + LWS_PRE, (size_t)n,
				      LWS_WRITE_TEXT) < n)
				return -1;
			w->done_sent = 1;
			lws_callback_on_writable(wsi);
			return 0;
		}
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;

	default: {	/* echo, hold */
		struct wsmsg *m = w->qh;

		if (!m)
			return 0;
		if (lws_write(wsi, m->buf + LWS_PRE, m->len,
			      m->text ? LWS_WRITE_TEXT : LWS_WRITE_BINARY) <
							(int)m->len)
			return -1;
		w->qh = m->next;
		if (!w->qh)
			w->qt = NULL;
		w->qbytes -= m->len;
		free(m->buf);
		free(m);
		if (w->flow_off && w->qbytes < WS_Q_LOW) {
			w->flow_off = 0;
			lws_rx_flow_control(wsi, 1);
		}
		if (w->qh)
			lws_callback_on_writable(wsi);
		return 0;
	}
	}
}

static int
ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
      void *in, size_t len)
{
	struct wsconn *w = (struct wsconn *)user;
	char uri[256];

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* lws routes upgrades by subprotocol: check the path here */
		if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
		    ws_kind(uri) < 0)
			return 1;
		return 0;

	case LWS_CALLBACK_ESTABLISHED:
		if (!w)
			return -1;
		memset(w, 0, sizeof(*w));
		if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
			return -1;
		w->kind = ws_kind(uri);
		if (w->kind < 0)
			return -1;
		w->established = 1;
		G.ws_open++;
		switch (w->kind) {
		case WS_STREAM:
			w->total = ws_arg_u64(wsi, "bytes=", DEF_STREAM_N);
			w->frame = ws_arg_u64(wsi, "frame=", DEF_STREAM_F);
			if (!w->frame)
				w->frame = DEF_STREAM_F;
			if (w->frame > WS_MAX_FRAME)
				w->frame = WS_MAX_FRAME;
			lws_callback_on_writable(wsi);
			break;
		case WS_FRAMES:
			lws_callback_on_writable(wsi);	/* the ping */
			break;
		case WS_CLOSE:
			w->close_code = (int)ws_arg_u64(wsi, "code=", 1000);
			if (w->close_code < 1000 || w->close_code > 4999)
				w->close_code = 1000;
			lws_callback_on_writable(wsi);
			break;
		}
		return 0;

	case LWS_CALLBACK_RECEIVE:
		if (!w || !w->established)
			return 0;
		return ws_receive(wsi, w, in, len);

	case LWS_CALLBACK_RECEIVE_PONG:	/* /ws/frames goes on */
		if (w && w->kind == WS_FRAMES && len == 13 &&
		    !memcmp(in, "are you there", 13))
			lws_callback_on_writable(wsi);
		return 0;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!w || !w->established)
			return 0;
		return ws_writeable(wsi, w);

	case LWS_CALLBACK_CLOSED:
		if (w) {
			if (w->established) {
				w->established = 0;
				G.ws_open--;
			}
			ws_free(w);
		}
		return 0;

	case LWS_CALLBACK_HTTP:
		/* a non-upgrade request can't reach this vhost */
		return -1;

	default:
		return 0;
	}
}

/*
 * ws vhost protocols: [0] for clients without a subprotocol, then spare
 * slots that get a client's subprotocol name on first use.  An unused
 * slot's name contains a space, which no subprotocol token can.
 */
static char sp_names[1 + MAX_SUBPROTOS][64];
static struct lws_protocols ws_protocols[1 + MAX_SUBPROTOS + 1];

static void
ws_protocols_init(void)
{
	int i;

	snprintf(sp_names[0], sizeof(sp_names[0]), "oclua-testpeer");
	for (i = 0; i <= MAX_SUBPROTOS; i++) {
		if (i)
			snprintf(sp_names[i], sizeof(sp_names[i]),
				 "unused slot %d", i);
		ws_protocols[i].name = sp_names[i];
		ws_protocols[i].callback = ws_cb;
		ws_protocols[i].per_session_data_size = sizeof(struct wsconn);
		ws_protocols[i].rx_buffer_size = WS_RX_BUF;
	}
	/* ws_protocols[1 + MAX_SUBPROTOS] stays zeroed: the terminator */
}

/* make sure the ws vhost has a protocol called sp ("" = none needed) */
static int
ws_register_subprotocol(const char *sp)
{
	int i;

	if (!sp[0])
		return 0;
	for (i = 0; i <= G.nsp; i++)
		if (!strcmp(sp_names[i], sp))
			return 0;
	if (G.nsp == MAX_SUBPROTOS)
		return -1;
	G.nsp++;
	snprintf(sp_names[G.nsp], sizeof(sp_names[G.nsp]), "%s", sp);

	return 0;
}

/* ---------------------------------------------------------------------- */
/* upgrade handover: raw connection -> lws http/ws server wsi */

struct handover {
	lws_sorted_usec_list_t	sul;
	struct handover		*next;
	int			fd;
	size_t			len;
	char			data[];
};

static void
handover_unlink(struct handover *h)
{
	struct handover **pp;

	for (pp = &G.pending; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
}

static void
handover_cb(lws_sorted_usec_list_t *sul)
{
	struct handover *h = lws_container_of(sul, struct handover, sul);

	handover_unlink(h);
	/* on failure lws closes the fd itself */
	lws_adopt_socket_vhost_readbuf(G.vh_ws, h->fd, h->data, h->len);
	free(h);
}

/* ---------------------------------------------------------------------- */
/* HTTP/1.1 on raw sockets */

enum { H_HEAD, H_BODY, H_WAIT, H_UPGRADE, H_CLOSING, H_RAWWS };

enum { R_NONE, R_STATUS, R_ECHO, R_SINK, R_BYTES, R_SLOW, R_DRIP, R_HANG,
       R_HEADERS, R_STATS, R_NOTFOUND, R_WS, R_RAWCLOSE, R_FLAKY,
       R_FLAKYCOUNT };

enum { B_NONE, B_LENGTH, B_CHUNKED };

enum { C_SIZE, C_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF, C_TRAILER };

struct hconn {
	struct lws	*wsi;
	int		state;
	struct buf	in, out;
	size_t		scan;		/* header terminator search resume */
	int		flow_off;

	/* request */
	char		*raw;		/* exact request head bytes */
	size_t		rawlen;
	char		*work;		/* parsed copy of raw */
	const char	*method, *path, *query;
	int		minor;
	int		nh;
	const char	*hn[MAX_HDRS], *hv[MAX_HDRS];
	int		route, head_only, keepalive, close_after, status;
	char		sp[64];		/* ws subprotocol chosen */

	/* request body */
	int		bmode, cstate, cdigits;
	uint64_t	bremain, csize, blen;
	unsigned int	cline;
	struct buf	echo;
	int		too_big, sink_ok;

	/* response */
	int		resp_final;	/* nothing more to queue */
	uint64_t	gen_off, gen_rem;
	uint64_t	drip_off;
	unsigned int	drip_left, drip_size, drip_ms, slow_ms;
};

static const char *
hdr(const struct hconn *c, const char *name)
{
	int i;

	for (i = 0; i < c->nh; i++)
		if (!strcmp(c->hn[i], name))
			return c->hv[i];

	return NULL;
}

static void
set_flow(struct hconn *c, int on)
{
	if (on == !c->flow_off)
		return;
	c->flow_off = !on;
	lws_rx_flow_control(c->wsi, on);
}

static void
req_reset(struct hconn *c)
{
	free(c->raw);
	free(c->work);
	c->raw = c->work = NULL;
	c->rawlen = 0;
	c->method = c->path = c->query = NULL;
	c->nh = 0;
	c->route = R_NONE;
	c->head_only = c->keepalive = c->close_after = c->status = 0;
	c->sp[0] = '\0';
	c->bmode = c->cstate = c->cdigits = 0;
	c->bremain = c->csize = c->blen = 0;
	c->cline = 0;
	buf_free(&c->echo);
	c->too_big = 0;
	c->sink_ok = 1;
	c->resp_final = 0;
	c->gen_off = c->gen_rem = c->drip_off = 0;
	c->drip_left = c->drip_size = c->drip_ms = c->slow_ms = 0;
}

static void
want_write(struct hconn *c)
{
	lws_callback_on_writable(c->wsi);
}

/* status line + common headers; the caller adds its own, then finish_head */
static int
begin_head(struct hconn *c, int status, const char *ctype)
{
	c->status = status;
	if (buf_printf(&c->out, "HTTP/1.1 %d %s\r\nServer: oclua-testpeer\r\n",
		       status, reason_phrase(status)))
		return -1;
	if (ctype && buf_printf(&c->out, "Content-Type: %s\r\n", ctype))
		return -1;
	return buf_printf(&c->out, "Connection: %s\r\n",
			  c->close_after ? "close" : "keep-alive");
}

static int
status_has_body(int status)
{
	return !(status < 200 || status == 204 || status == 304);
}

/* Content-Length (if the status allows one) and the blank line */
static int
finish_head_len(struct hconn *c, uint64_t len)
{
	if (status_has_body(c->status) &&
	    buf_printf(&c->out, "Content-Length: %" PRIu64 "\r\n", len))
		return -1;
	return buf_str(&c->out, "\r\n");
}

static int
add_body(struct hconn *c, const void *body, size_t len)
{
	if (c->head_only || !status_has_body(c->status))
		return 0;
	return buf_add(&c->out, body, len);
}

static int
respond(struct hconn *c, int status, const char *ctype, const char *extra,
	const void *body, size_t len)
{
	if (begin_head(c, status, ctype) ||
	    (extra && buf_str(&c->out, extra)) ||
	    finish_head_len(c, len) ||
	    add_body(c, body, len))
		return -1;
	c->resp_final = 1;
	want_write(c);

	return 0;
}

static int
respond_json(struct hconn *c, int status, const char *json)
{
	return respond(c, status, "application/json", NULL, json, strlen(json));
}

static int
respond_error(struct hconn *c, int status, const char *msg)
{
	char j[160];

	/* after a framing error the connection can't be reused */
	c->close_after = 1;
	snprintf(j, sizeof(j), "{\"error\":\"%s\"}", msg);
	c->state = H_WAIT;
	buf_consume(&c->in, buf_avail(&c->in));

	return respond_json(c, status, j);
}

static int
drip_next(struct hconn *c)
{
	/* one chunk now; with ms=0 all of them at once */
	do {
		size_t n = c->drip_size;

		if (!c->drip_left)
			break;
		if (buf_printf(&c->out, "%zx\r\n", n) ||
		    buf_reserve(&c->out, n + 2))
			return -1;
		fill_pattern(c->out.p + c->out.len, c->drip_off, n);
		c->out.len += n;
		c->drip_off += n;
		if (buf_str(&c->out, "\r\n"))
			return -1;
		c->drip_left--;
	} while (c->drip_left && !c->drip_ms);

	if (c->drip_left)
		lws_set_timer_usecs(c->wsi, (lws_usec_t)c->drip_ms * 1000);
	else {
		if (buf_str(&c->out, "0\r\n\r\n"))
			return -1;
		c->resp_final = 1;
	}
	want_write(c);

	return 0;
}

static int
respond_headers(struct hconn *c)
{
	struct buf j;
	int i, k, first = 1, r;

	memset(&j, 0, sizeof(j));
	buf_str(&j, "{");
	for (i = 0; i < c->nh; i++) {
		int seen = 0;

		for (k = 0; k < i; k++)
			if (!strcmp(c->hn[k], c->hn[i]))
				seen = 1;
		if (seen)
			continue;
		if (!first)
			buf_str(&j, ",");
		first = 0;
		buf_json_str(&j, c->hn[i]);
		buf_str(&j, ":");
		if (i + 1 < c->nh) {
			/* repeated header: join the values with ", " */
			struct buf v;
			int more = 0;

			memset(&v, 0, sizeof(v));
			buf_str(&v, c->hv[i]);
			for (k = i + 1; k < c->nh; k++)
				if (!strcmp(c->hn[k], c->hn[i])) {
					buf_str(&v, ", ");
					buf_str(&v, c->hv[k]);
					more = 1;
				}
			buf_add(&v, "", 1);
			buf_json_str(&j, more ? (char *)v.p : c->hv[i]);
			buf_free(&v);
		} else
			buf_json_str(&j, c->hv[i]);
	}
	if (buf_str(&j, "}")) {
		buf_free(&j);
		return -1;
	}
	r = respond(c, 200, "application/json", NULL, j.p, j.len);
	buf_free(&j);

	return r;
}

/* request body fully read: produce (or schedule) the response */
/* /flaky's request counters, by key */
#define FLAKY_KEYS	256
#define FLAKY_KEYLEN	32
static struct {
	char		key[FLAKY_KEYLEN];
	unsigned long	n;
} flaky[FLAKY_KEYS];
static int nflaky;

/* the counter of `key`, made when `make`; NULL when full or unknown */
static unsigned long *
flaky_counter(const char *key, int make)
{
	int i;

	for (i = 0; i < nflaky; i++)
		if (!strcmp(flaky[i].key, key))
			return &flaky[i].n;
	if (!make || nflaky == FLAKY_KEYS)
		return NULL;
	snprintf(flaky[nflaky].key, FLAKY_KEYLEN, "%s", key);
	return &flaky[nflaky++].n;
}

/* A request on /flaky/KEY/F/S/A (an upgrade too, `upgrade`): counted;
 * answered with S while KEY has failures left, else with 200 unless it
 * is an upgrade. 1: no answer yet (go on with the upgrade), 0: answered,
 * -1: failed */
static int
respond_flaky(struct hconn *c, int upgrade)
{
	char key[FLAKY_KEYLEN], after[16], extra[96], j[160];
	unsigned int fails;
	int status;
	unsigned long *n;

	if (sscanf(c->path, "/flaky/%31[^/]/%u/%d/%15[^/]", key, &fails,
		   &status, after) != 4 || status < 200 || status > 599 ||
	    !(n = flaky_counter(key, 1)))
		return respond_error(c, 400, "bad /flaky path");
	if (++*n > fails) {
		if (upgrade)
			return 1;
		snprintf(j, sizeof(j), "{\"sandboxID\":\"%s\",\"status\":"
			 "\"running\",\"requests\":%lu}", key, *n);
		return respond_json(c, 200, j);
	}
	if (upgrade) {
		c->close_after = 1;
		c->state = H_WAIT;
	}
	extra[0] = 0;
	if (after[0] == 'd') {
		time_t t = time(NULL) + atoi(after + 1);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(extra, sizeof(extra),
			 "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
	} else if (strcmp(after, "-"))
		snprintf(extra, sizeof(extra), "Retry-After: %s\r\n", after);
	snprintf(j, sizeof(j), "{\"error\":\"flaky %s: %d, request %lu\"}",
		 key, status, *n);
	return respond(c, status, "application/json", extra, j, strlen(j));
}

static int
body_done(struct hconn *c)
{
	char j[160], *extra;
	const char *ct, *xt;
	int r;

	c->state = H_WAIT;

	switch (c->route) {
	case R_STATUS:
		snprintf(j, sizeof(j), "{\"status\":%d}", c->status);
		return respond_json(c, c->status, j);

	case R_ECHO:
		if (c->too_big)
			return respond_error(c, 413, "body too large");
		ct = hdr(c, "content-type");
		xt = hdr(c, "x-test");
		if (asprintf(&extra, "X-Method: %s\r\nX-Query: %s\r\n"
			     "X-Got-Test: %s\r\n", c->method, c->query,
			     xt ? xt : "") < 0)
			return -1;
		r = respond(c, 200, ct ? ct : "application/octet-stream", extra,
			    buf_data(&c->echo), buf_avail(&c->echo));
		free(extra);
		buf_free(&c->echo);
		return r;

	case R_SINK:
		snprintf(j, sizeof(j), "{\"length\":%" PRIu64
			 ",\"pattern_ok\":%s}", c->blen,
			 c->sink_ok ? "true" : "false");
		return respond_json(c, 200, j);

	case R_BYTES:
		if (begin_head(c, 200, "application/octet-stream") ||
		    finish_head_len(c, c->gen_rem))
			return -1;
		if (c->head_only)
			c->gen_rem = 0;
		c->resp_final = 1;
		want_write(c);
		return 0;

	case R_SLOW:
		if (!c->slow_ms)
			return respond(c, 200, "text/plain", NULL, "slow", 4);
		lws_set_timer_usecs(c->wsi, (lws_usec_t)c->slow_ms * 1000);
		return 0;

	case R_DRIP:
		if (begin_head(c, 200, "application/octet-stream"))
			return -1;
		if (c->head_only) {
			if (buf_str(&c->out, "Transfer-Encoding: chunked\r\n\r\n"))
				return -1;
			c->resp_final = 1;
			want_write(c);
			return 0;
		}
		if (buf_str(&c->out, "Transfer-Encoding: chunked\r\n\r\n"))
			return -1;
		return drip_next(c);

	case R_HANG:
		return 0;

	case R_HEADERS:
		return respond_headers(c);

	case R_STATS:
		snprintf(j, sizeof(j), "{\"ws_open\":%ld,\"http_requests\":%"
			 PRIu64 "}", G.ws_open, G.http_requests);
		return respond_json(c, 200, j);

	case R_RAWCLOSE:
		snprintf(j, sizeof(j), "{\"code\":%d}", G.raw_close);
		return respond_json(c, 200, j);

	case R_FLAKY:
		return respond_flaky(c, 0);

	case R_FLAKYCOUNT: {
		unsigned long *n = flaky_counter(c->path + 13, 0);

		snprintf(j, sizeof(j), "{\"requests\":%lu}", n ? *n : 0);
		return respond_json(c, 200, j);
	}

	default:
		return respond_json(c, 404, "{\"error\":\"not found\"}");
	}
}

static int
body_data(struct hconn *c, const uint8_t *d, size_t n)
{
	switch (c->route) {
	case R_ECHO:
		if (c->too_big)
			break;
		if (buf_avail(&c->echo) + n > MAX_ECHO_BODY) {
			c->too_big = 1;
			buf_free(&c->echo);
			break;
		}
		if (buf_add(&c->echo, d, n))
			return -1;
		break;

	case R_SINK:
		if (c->sink_ok) {
			size_t k = 0, part;

			while (k < n) {
				part = n - k < PIECE ? n - k : PIECE;
				if (memcmp(d + k, pattab +
					   ((c->blen + k) & 255u), part)) {
					c->sink_ok = 0;
					break;
				}
				k += part;
			}
		}
		break;
	}
	c->blen += n;

	return 0;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;

	return -1;
}

/*
 * Consume body bytes from c->in.  Returns 1 when the body is complete,
 * 0 when more input is needed, -1 on a malformed chunked body.
 */
static int
body_feed(struct hconn *c)
{
	uint8_t *d = buf_data(&c->in);
	size_t av = buf_avail(&c->in), i = 0, take;
	int ch, v, done = 0;

	if (c->bmode == B_LENGTH) {
		take = av < c->bremain ? av : (size_t)c->bremain;
		if (body_data(c, d, take))
			return -2;
		c->bremain -= take;
		buf_consume(&c->in, take);
		return !c->bremain;
	}

	while (i < av && !done) {
		ch = d[i];
		switch (c->cstate) {
		case C_SIZE:
			v = hexval(ch);
			if (v >= 0) {
				if (++c->cdigits > 15)
					return -1;
				c->csize = c->csize * 16 + (uint64_t)v;
				i++;
			} else if (!c->cdigits) {
				return -1;
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				c->cstate = C_EXT;
				c->cline = 0;
				i++;
			} else if (ch == '\r') {
				c->cstate = C_SIZE_LF;
				i++;
			} else if (ch == '\n') {
				c->cstate = C_SIZE_LF;
			} else
				return -1;
			break;

		case C_EXT:
			if (ch == '\n') {
				c->cstate = C_SIZE_LF;
				break;
			}
			if (++c->cline > 4096)
				return -1;
			i++;
			break;

		case C_SIZE_LF:
			if (ch != '\n')
				return -1;
			i++;
			c->cline = 0;
			c->cstate = c->csize ? C_DATA : C_TRAILER;
			break;

		case C_DATA:
			take = av - i < c->csize ? av - i : (size_t)c->csize;
			if (body_data(c, d + i, take))
				return -2;
			c->csize -= take;
			i += take;
			if (!c->csize)
				c->cstate = C_DATA_CR;
			break;

		case C_DATA_CR:
			if (ch == '\r') {
				c->cstate = C_DATA_LF;
				i++;
				break;
			}
			c->cstate = C_DATA_LF;
			/* fallthrough */
		case C_DATA_LF:
			if (d[i] != '\n')
				return -1;
			i++;
			c->cstate = C_SIZE;
			c->csize = 0;
			c->cdigits = 0;
			break;

		case C_TRAILER:
			/* trailer lines until an empty line */
			if (ch == '\n') {
				if (!c->cline)
					done = 1;
				c->cline = 0;
			} else if (ch != '\r') {
				if (++c->cline > 8192)
					return -1;
			}
			i++;
			break;
		}
	}
	buf_consume(&c->in, i);

	return done;
}

/* parse c->raw into c->work; returns 0, or an HTTP error status */
static int
parse_head(struct hconn *c)
{
	char *p, *line, *nl, *sp1, *sp2, *target, *q, *colon, *e;

	c->work = malloc(c->rawlen + 1);
	if (!c->work)
		return 500;
	memcpy(c->work, c->raw, c->rawlen);
	c->work[c->rawlen] = '\0';

	p = c->work;
	nl = strchr(p, '\n');
	if (!nl)
		return 400;
	*nl = '\0';
	if (nl > p && nl[-1] == '\r')
		nl[-1] = '\0';
	line = p;
	p = nl + 1;

	/* request line */
	sp1 = strchr(line, ' ');
	if (!sp1 || sp1 == line)
		return 400;
	*sp1 = '\0';
	target = sp1 + 1;
	sp2 = strchr(target, ' ');
	if (!sp2 || sp2 == target)
		return 400;
	*sp2 = '\0';
	if (!strcmp(sp2 + 1, "HTTP/1.1"))
		c->minor = 1;
	else if (!strcmp(sp2 + 1, "HTTP/1.0"))
		c->minor = 0;
	else
		return 400;
	c->method = line;

	/* absolute-form: http://host[:port]/path */
	if (!strncasecmp(target, "http://", 7) ||
	    !strncasecmp(target, "https://", 8)) {
		char *s = strstr(target, "://") + 3;

		target = strchr(s, '/');
		if (!target)
			target = (char *)"/";
	}
	if (target[0] != '/')
		return 400;
	q = strchr(target, '?');
	if (q) {
		*q = '\0';
		c->query = q + 1;
	} else
		c->query = "";
	c->path = target;

	/* header fields */
	while (*p) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		line = p;
		p = nl + 1;
		if (!*line)
			break;
		if (*line == ' ' || *line == '\t')
			return 400;	/* obsolete line folding */
		colon = strchr(line, ':');
		if (!colon || colon == line)
			return 400;
		*colon = '\0';
		for (e = line; *e; e++) {
			if (*e == ' ' || *e == '\t')
				return 400;
			*e = (char)tolower((unsigned char)*e);
		}
		e = colon + 1;
		while (*e == ' ' || *e == '\t')
			e++;
		{
			char *t = e + strlen(e);

			while (t > e && (t[-1] == ' ' || t[-1] == '\t'))
				*--t = '\0';
		}
		if (c->nh == MAX_HDRS)
			return 431;
		c->hn[c->nh] = line;
		c->hv[c->nh] = e;
		c->nh++;
	}

	return 0;
}

/* first acceptable token of a Sec-WebSocket-Protocol list */
static int
pick_subprotocol(const char *list, char *out, size_t outlen)
{
	const char *s = list;

	out[0] = '\0';
	while (*s) {
		const char *t, *e;
		int ok = 1;

		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		t = s;
		while (*s && *s != ',')
			s++;
		e = s;
		while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == t)
			continue;
		if ((size_t)(e - t) >= outlen)
			continue;
		for (const char *k = t; k < e; k++)
			if (!isalnum((unsigned char)*k) && !strchr("-._~!#$%&'*+^`|", *k))
				ok = 0;
		/* lws would read an all-digit token as an integer */
		if (ok && strspn(t, "0123456789") >= (size_t)(e - t))
			ok = 0;
		if (!ok)
			continue;
		memcpy(out, t, (size_t)(e - t));
		out[e - t] = '\0';
		return 0;
	}

	return -1;
}

/* a complete request head is in c->raw: route it */
/* /ws/raw: the handshake answered here, then the bytes of ?send=HEX as
 * they are, whatever they break */
static int
raw_ws_open(struct hconn *c)
{
	static char hex[8192];
	const char *key = hdr(c, "sec-websocket-key");
	char both[128], accept[32];
	unsigned char sha[20];
	size_t i, n;

	if (!key || strlen(key) > 64)
		return respond_error(c, 400, "no Sec-WebSocket-Key");
	snprintf(both, sizeof(both), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
		 key);
	lws_SHA1((const unsigned char *)both, strlen(both), sha);
	lws_b64_encode_string((const char *)sha, sizeof(sha), accept,
			      sizeof(accept));
	if (!qparam(c->query, "send", hex, sizeof(hex)))
		hex[0] = '\0';
	if (buf_printf(&c->out, "HTTP/1.1 101 Switching Protocols\r\n"
		       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Accept: %s\r\n\r\n", accept))
		return -1;
	n = strlen(hex) / 2;
	for (i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		uint8_t b = (uint8_t)(hi << 4 | lo);

		if (hi < 0 || lo < 0 || buf_add(&c->out, &b, 1))
			return -1;
	}
	G.raw_close = 0;
	c->state = H_RAWWS;
	buf_consume(&c->in, buf_avail(&c->in));
	want_write(c);
	/* a client that takes it all and waits is dropped after 2 s */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 2);
	return 0;
}

static int
raw_ws_write(struct hconn *c)
{
	size_t n = buf_avail(&c->out);

	if (n > PIECE)
		n = PIECE;
	if (!n)
		return 0;
	memcpy(txbuf + LWS_PRE, buf_data(&c->out), n);
	if (lws_write(c->wsi, txbuf + LWS_PRE, n, LWS_WRITE_RAW) < (int)n)
		return -1;
	buf_consume(&c->out, n);
	if (buf_avail(&c->out))
		want_write(c);
	return 0;
}

/* the client's frames (masked, short): keep the first close's code and
 * end the connection there */
static int
raw_ws_read(struct hconn *c)
{
	for (;;) {
		const uint8_t *d = buf_data(&c->in);
		size_t av = buf_avail(&c->in), len, need;

		if (av < 2)
			return 0;
		len = d[1] & 0x7f;
		if (len > 125 || !(d[1] & 0x80))
			return -1;	/* not what a client sends here */
		need = 6 + len;
		if (av < need)
			return 0;
		if ((d[0] & 0x0f) == 8) {
			G.raw_close = len < 2 ? 1005 :
				(d[6] ^ d[2]) << 8 | (d[7] ^ d[3]);
			return -1;
		}
		buf_consume(&c->in, need);
	}
}

static int
on_head(struct hconn *c)
{
	const char *te, *cl, *cn, *up, *ex, *p;
	uint64_t v;
	int st;

	st = parse_head(c);
	if (st)
		return respond_error(c, st, st == 431 ? "too many headers" :
				     "bad request");

	cn = hdr(c, "connection");
	if (c->minor == 1)
		c->keepalive = !(cn && list_has(cn, "close"));
	else
		c->keepalive = cn && list_has(cn, "keep-alive");
	c->close_after = !c->keepalive;
	c->head_only = !strcmp(c->method, "HEAD");

	/* body framing */
	te = hdr(c, "transfer-encoding");
	cl = hdr(c, "content-length");
	if (te) {
		if (!list_has(te, "chunked"))
			return respond_error(c, 501, "unsupported transfer-encoding");
		c->bmode = B_CHUNKED;
		c->cstate = C_SIZE;
	} else if (cl) {
		if (parse_u64(cl, &c->bremain))
			return respond_error(c, 400, "bad content-length");
		c->bmode = c->bremain ? B_LENGTH : B_NONE;
	} else
		c->bmode = B_NONE;

	/* websocket upgrade? */
	up = hdr(c, "upgrade");
	if (up && list_has(up, "websocket") && !strcmp(c->path, "/ws/raw"))
		return raw_ws_open(c);
	if (up && list_has(up, "websocket")) {
		const char *spl = hdr(c, "sec-websocket-protocol");

		if (ws_kind(c->path) < 0 || strcmp(c->method, "GET") ||
		    c->bmode != B_NONE)
			return respond_error(c, 404, "not found");
		if (!strncmp(c->path, "/flaky/", 7)) {
			int r = respond_flaky(c, 1);

			if (r <= 0)
				return r;
		}
		if (spl && (pick_subprotocol(spl, c->sp, sizeof(c->sp)) ||
			    ws_register_subprotocol(c->sp)))
			return respond_error(c, 400, "bad subprotocol");
		c->route = R_WS;
		c->state = H_UPGRADE;
		want_write(c);
		return 0;
	}

	G.http_requests++;
	p = c->path;
	if (!strcmp(p, "/echo"))
		c->route = R_ECHO;
	else if (!strncmp(p, "/status/", 8)) {
		if (parse_u64(p + 8, &v) || v < 200 || v > 599)
			c->route = R_NOTFOUND;
		else {
			c->route = R_STATUS;
			c->status = (int)v;
		}
	} else if (!strcmp(p, "/sink") && (!strcmp(c->method, "PUT") ||
					   !strcmp(c->method, "POST")))
		c->route = R_SINK;
	else if (!strcmp(p, "/bytes")) {
		c->route = R_BYTES;
		c->gen_rem = qparam_u64(c->query, "n", 0);
	} else if (!strcmp(p, "/slow")) {
		c->route = R_SLOW;
		v = qparam_u64(c->query, "ms", DEF_SLOW_MS);
		c->slow_ms = (unsigned int)(v > 3600000 ? 3600000 : v);
	} else if (!strcmp(p, "/drip")) {
		c->route = R_DRIP;
		v = qparam_u64(c->query, "chunks", DEF_DRIP_CHUNKS);
		c->drip_left = (unsigned int)(v > 1000000 ? 1000000 : v);
		v = qparam_u64(c->query, "ms", DEF_DRIP_MS);
		c->drip_ms = (unsigned int)(v > 3600000 ? 3600000 : v);
		v = qparam_u64(c->query, "size", DEF_DRIP_SIZE);
		if (!v)
			v = DEF_DRIP_SIZE;
		c->drip_size = (unsigned int)(v > MAX_DRIP_SIZE ?
					      MAX_DRIP_SIZE : v);
	} else if (!strcmp(p, "/hang"))
		c->route = R_HANG;
	else if (!strcmp(p, "/close"))
		return -1;	/* drop the connection, no answer */
	else if (!strcmp(p, "/headers"))
		c->route = R_HEADERS;
	else if (!strcmp(p, "/stats"))
		c->route = R_STATS;
	else if (!strcmp(p, "/ws/raw-close"))
		c->route = R_RAWCLOSE;
	else if (!strncmp(p, "/flaky/", 7))
		c->route = R_FLAKY;
	else if (!strncmp(p, "/flaky-count/", 13))
		c->route = R_FLAKYCOUNT;
	else
		c->route = R_NOTFOUND;

	if (c->bmode == B_NONE)
		return body_done(c);

	ex = hdr(c, "expect");
	if (ex && list_has(ex, "100-continue") && c->minor == 1) {
		if (buf_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n"))
			return -1;
		want_write(c);
	}
	c->state = H_BODY;

	return 0;
}

/* process buffered input as far as the connection state allows */
static int
drive(struct hconn *c)
{
	for (;;) {
		if (c->state == H_HEAD) {
			uint8_t *d;
			size_t av, i, start, end = 0;

			/* tolerate empty lines before a request line */
			while (!c->scan && buf_avail(&c->in) &&
			       (buf_data(&c->in)[0] == '\r' ||
				buf_data(&c->in)[0] == '\n'))
				buf_consume(&c->in, 1);
			av = buf_avail(&c->in);
			d = buf_data(&c->in);
			if (!av)
				break;
			start = c->scan > 3 ? c->scan - 3 : 0;
			for (i = start; i < av; i++)
				if (d[i] == '\n') {
					if (i + 1 < av && d[i + 1] == '\n') {
						end = i + 2;
						break;
					}
					if (i + 2 < av && d[i + 1] == '\r' &&
					    d[i + 2] == '\n') {
						end = i + 3;
						break;
					}
				}
			if (!end) {
				c->scan = av;
				if (av > MAX_HEAD)
					return respond_error(c, 431,
						"request head too large");
				break;
			}
			c->scan = 0;
			c->raw = malloc(end);
			if (!c->raw)
				return -1;
			memcpy(c->raw, d, end);
			c->rawlen = end;
			buf_consume(&c->in, end);
			if (on_head(c))
				return -1;
			continue;
		}
		if (c->state == H_BODY) {
			int r;

			if (!buf_avail(&c->in))
				break;
			r = body_feed(c);
			if (r == -2)
				return -1;
			if (r < 0)
				return respond_error(c, 400,
						     "bad chunked encoding");
			if (!r)
				break;
			if (body_done(c))
				return -1;
			continue;
		}
		break;	/* H_WAIT, H_UPGRADE, H_CLOSING */
	}

	if ((c->state == H_WAIT || c->state == H_UPGRADE) &&
	    buf_avail(&c->in) > IN_HIGH_WATER)
		set_flow(c, 0);

	return 0;
}

/* response fully written (and flushed by lws) */
static int
finish(struct hconn *c)
{
	int close_after = c->close_after;

	req_reset(c);
	if (c->out.cap > BIG_BUF)
		buf_free(&c->out);
	if (close_after) {
		/* graceful: FIN now, then wait for the peer's close */
		shutdown(lws_get_socket_fd(c->wsi), SHUT_WR);
		c->state = H_CLOSING;
		buf_free(&c->in);
		set_flow(c, 1);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 5);
		return 0;
	}
	if (buf_avail(&c->in) == 0 && c->in.cap > BIG_BUF)
		buf_free(&c->in);
	c->state = H_HEAD;
	set_flow(c, 1);

	return drive(c);
}

static int
do_handover(struct hconn *c)
{
	size_t extra = buf_avail(&c->in);
	struct handover *h;
	int fd;

	fd = fcntl(lws_get_socket_fd(c->wsi), F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	h = malloc(sizeof(*h) + c->rawlen + extra);
	if (!h) {
		close(fd);
		return -1;
	}
	memset(h, 0, sizeof(*h));
	h->fd = fd;
	memcpy(h->data, c->raw, c->rawlen);
	if (extra)
		memcpy(h->data + c->rawlen, buf_data(&c->in), extra);
	h->len = c->rawlen + extra;
	h->next = G.pending;
	G.pending = h;
	/* adopt from the loop, outside any wsi callback */
	lws_sul_schedule(G.ctx, 0, &h->sul, handover_cb, 1);

	return -1;	/* lws drops the raw wsi; the dup keeps the socket */
}

static int
http_writeable(struct hconn *c)
{
	size_t n;

	if (c->state == H_UPGRADE && !buf_avail(&c->out))
		return do_handover(c);

	if (buf_avail(&c->out)) {
		n = buf_avail(&c->out);
		if (n > PIECE)
			n = PIECE;
		memcpy(txbuf + LWS_PRE, buf_data(&c->out), n);
		if (lws_write(c->wsi, txbuf + LWS_PRE, n, LWS_WRITE_RAW) <
								(int)n)
			return -1;
		buf_consume(&c->out, n);
		want_write(c);
		return 0;
	}
	if (c->gen_rem) {
		n = c->gen_rem < PIECE ? (size_t)c->gen_rem : PIECE;
		memcpy(txbuf + LWS_PRE, pattab + (c->gen_off & 255u), n);
		if (lws_write(c->wsi, txbuf + LWS_PRE, n, LWS_WRITE_RAW) <
								(int)n)
			return -1;
		c->gen_off += n;
		c->gen_rem -= n;
		want_write(c);
		return 0;
	}
	if (c->state == H_WAIT && c->resp_final)
		return finish(c);

	return 0;
}

static int
http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	void *in, size_t len)
{
	struct hconn *c = (struct hconn *)user;

	switch (reason) {
	case LWS_CALLBACK_RAW_ADOPT:
		if (!c)
			return -1;
		memset(c, 0, sizeof(*c));
		c->wsi = wsi;
		c->state = H_HEAD;
		c->sink_ok = 1;
		return 0;

	case LWS_CALLBACK_RAW_RX:
		if (!c || c->state == H_CLOSING)
			return 0;
		if (buf_add(&c->in, in, len))
			return -1;
		if (c->state == H_RAWWS)
			return raw_ws_read(c);
		return drive(c) ? -1 : 0;

	case LWS_CALLBACK_RAW_WRITEABLE:
		if (!c || c->state == H_CLOSING)
			return 0;
		if (c->state == H_RAWWS)
			return raw_ws_write(c);
		return http_writeable(c) ? -1 : 0;

	case LWS_CALLBACK_TIMER:
		if (!c || c->state != H_WAIT)
			return 0;
		if (c->route == R_SLOW)
			return respond(c, 200, "text/plain", NULL, "slow", 4) ?
									-1 : 0;
		if (c->route == R_DRIP)
			return drip_next(c) ? -1 : 0;
		return 0;

	case LWS_CALLBACK_RAW_CLOSE:
		if (c) {
			req_reset(c);
			buf_free(&c->in);
			buf_free(&c->out);
		}
		return 0;

	default:
		return 0;
	}
}

static const struct lws_protocols http_protocols[] = {
	{
		.name			= "peer-http",
		.callback		= http_cb,
		.per_session_data_size	= sizeof(struct hconn),
	},
	{ .name = NULL }
};

/* ---------------------------------------------------------------------- */

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
	if (G.ctx)
		lws_cancel_service(G.ctx);
}

static void
log_emit(int level, const char *line)
{
	(void)level;
	/* lws 4.1 logs every readbuf adoption at error level: not an error */
	if (strstr(line, "adopt_socket_readbuf"))
		return;
	fputs(line, stderr);
}

static void
usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [--port N]\n", argv0);
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct sigaction sa;
	struct rlimit rl;
	pid_t ppid;
	int i, port = 0;

	for (i = 1; i < argc; i++) {
		const char *v = NULL;
		uint64_t p;

		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			v = argv[++i];
		else if (!strncmp(argv[i], "--port=", 7))
			v = argv[i] + 7;
		else {
			usage(argv[0]);
			return 2;
		}
		if (parse_u64(v, &p) || p > 65535) {
			usage(argv[0]);
			return 2;
		}
		port = (int)p;
	}

	/* die with the parent */
	ppid = getppid();
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != ppid)
		return 0;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: interrupt poll() */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (i = 0; i < (int)sizeof(pattab); i++)
		pattab[i] = (uint8_t)((unsigned int)i * 7u + 3u);

	lws_set_log_level(PEER_LOG_LEVEL, log_emit);

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.pt_serv_buf_size = PIECE;
	info.max_http_header_data = 16384;
	info.max_http_header_pool = 1024;
	info.gid = (gid_t)-1;
	info.uid = (uid_t)-1;
	G.ctx = lws_create_context(&info);
	if (!G.ctx) {
		fprintf(stderr, "oclua-testpeer: lws_create_context failed\n");
		return 1;
	}

	/* listening vhost: every connection is a raw socket for http_cb */
	memset(&info, 0, sizeof(info));
	info.vhost_name = "http";
	info.port = port;
	info.iface = "127.0.0.1";
	info.protocols = http_protocols;
	info.options = LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG |
		       LWS_SERVER_OPTION_DISABLE_IPV6;
	info.listen_accept_role = "raw-skt";
	info.listen_accept_protocol = "peer-http";
	G.vh_http = lws_create_vhost(G.ctx, &info);
	if (!G.vh_http) {
		fprintf(stderr, "oclua-testpeer: cannot listen on "
			"127.0.0.1:%d\n", port);
		lws_context_destroy(G.ctx);
		return 1;
	}

	/* non-listening vhost that upgrade requests are handed over to */
	ws_protocols_init();
	memset(&info, 0, sizeof(info));
	info.vhost_name = "ws";
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = ws_protocols;
	G.vh_ws = lws_create_vhost(G.ctx, &info);
	if (!G.vh_ws) {
		fprintf(stderr, "oclua-testpeer: ws vhost failed\n");
		lws_context_destroy(G.ctx);
		return 1;
	}

	printf("PORT %d\n", lws_get_vhost_listen_port(G.vh_http));
	fflush(stdout);

	while (!stop_flag)
		if (lws_service(G.ctx, 0) < 0)
			break;

	while (G.pending) {
		struct handover *h = G.pending;

		G.pending = h->next;
		lws_sul_cancel(&h->sul);
		close(h->fd);
		free(h);
	}
	lws_context_destroy(G.ctx);
	free(scratch);

	return 0;
}
