/*
 * http1.c - HTTP/1.1 request framing and validation (RFC 9112), with no
 * sockets (http1.h says how to drive it).
 *
 * The head and the body framing are parsed here, not by http-parser:
 * Debian's libhttp-parser is built with HTTP_PARSER_STRICT=0, and then
 * accepts obsolete line folding, whitespace before a field's colon, bare
 * LF line ends, any bytes in place of the CRLF after chunk data, any
 * chunk extension, "Transfer-Encoding: gzip, chunked" as plain chunked,
 * and HTTP/2.0 or 1.2 request lines. http-parser still parses the
 * request-target (http_parser_parse_url) and names the methods.
 *
 * What is refused, and with which status (each rule names its section of
 * RFC 9112, or of RFC 9110 where 9112 points there):
 *   400  a request line that is not method SP request-target SP
 *        HTTP-version (3), a control, space or non-ASCII byte in the
 *        target (3.2), a target form the method may not use (3.2), a
 *        fragment (3.2.1), an escape other than %XX or %00; a line ending
 *        in a bare LF or holding a bare CR (2.2); a field line starting
 *        with whitespace (obs-fold, 5.2), whitespace before the colon
 *        (5.1), a name that is not a token, CR, NUL or another control
 *        byte in a value (RFC 9110 5.5); an HTTP/1.1 request without Host
 *        or with two, or an invalid Host (3.2); a Content-Length that is
 *        not 1*DIGIT, or two of them even if equal (RFC 9110 8.6, 6.3);
 *        both Content-Length and Transfer-Encoding (6.1), Transfer-
 *        Encoding in HTTP/1.0 (6.1), chunked not last or twice (6.1,
 *        6.3); a chunk-size that is not 1*HEXDIG or is 2^63 or more, a
 *        chunk extension that is not `;name[=token|quoted-string]` with
 *        optional whitespace around `;` and `=` (7.1.1), chunk data not
 *        followed by CRLF (7.1), a trailer line that is not a field line
 *        (7.1.2); a WebSocket upgrade (GET with Connection: upgrade and
 *        Upgrade: websocket) with a body, Content-Length other than 0 or
 *        chunked (RFC 6455 4.1, RFC 9110 7.8): served, its body would be
 *        read as frames
 *   414  a request-target longer than HTTP1_TARGET_MAX (3)
 *   431  a head longer than HTTP1_HEAD_MAX, more than HTTP1_FIELDS_MAX
 *        fields, a trailer section or line too long (RFC 6585 5)
 *   501  a method http-parser does not know (RFC 9110 9.1), a transfer
 *        coding other than chunked before the final chunked (6.1: "a
 *        server that receives a request message with a transfer coding it
 *        does not understand SHOULD respond with 501"); a final coding
 *        other than chunked is 400 instead, as 6.3 requires, because the
 *        body's length cannot be known
 *   505  an HTTP major version other than 1 (RFC 9110 2.5, 15.6.6)
 * Accepted leniencies: empty lines before the request line (2.2), HTTP/1
 * minor versions above 1 served as 1.1 (RFC 9110 2.5), empty list
 * elements (RFC 9110 5.6.1), bytes 0x80-0xff in values (obs-text).
 * Trailer fields are checked and dropped (RFC 9110 6.5.1).
 */
#include <string.h>
#include <strings.h>
#include <http_parser.h>

#include "server/http1.h"

static const char *const method_names[] = {
#define XX(num, name, string) [num] = #string,
	HTTP_METHOD_MAP(XX)
#undef XX
};

static int
fail(http1 *h, int status, const char *why)
{
	h->state = H1_ERROR;
	h->status = status;
	h->error = why;
	return -1;
}

/* a callback refused to go on */
static int
callback_failed(http1 *h)
{
	return fail(h, 500, h->error ? h->error : "out of memory");
}

/* tchar (RFC 9110 5.6.2): "!#$%&'*+-.^_`|~", digits, letters; a bit
 * per byte value */
static int
is_tchar(int c)
{
	static const uint64_t set[4] = {
		0x03ff6cfa00000000u, 0x57ffffffc7fffffeu, 0, 0
	};

	return (int)(set[(c >> 6) & 3] >> (c & 63) & 1);
}

static int
is_ws(int c)
{
	return c == ' ' || c == '\t';
}

/* field-vchar: VCHAR or obs-text (RFC 9110 5.5) */
static int
is_fvchar(int c)
{
	return c > 0x20 && c != 0x7f;
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
hexval(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t
skip_ws(const unsigned char *p, size_t i, size_t n)
{
	while (i < n && is_ws(p[i]))
		i++;
	return i;
}

static size_t
skip_token(const unsigned char *p, size_t i, size_t n)
{
	while (i < n && is_tchar(p[i]))
		i++;
	return i;
}

/* the end of the quoted-string at p[i] == '"' (RFC 9110 5.6.4), or 0 */
static size_t
skip_quoted(const unsigned char *p, size_t i, size_t n)
{
	for (i++; i < n; i++) {
		if (p[i] == '"')
			return i + 1;
		if (p[i] == '\\' && ++i == n)
			return 0;
		if (!is_ws(p[i]) && !is_fvchar(p[i]))
			return 0;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* the head                                                           */

static http1_span
span(size_t off, size_t len)
{
	http1_span s = { (uint32_t)off, (uint32_t)len };

	return s;
}

static int
name_is(const http1_head *hd, int i, const char *name)
{
	size_t n = strlen(name);

	return hd->name[i].len == n &&
	       !strncasecmp(hd->base + hd->name[i].off, name, n);
}

/* request-line = method SP request-target SP HTTP-version (3), in
 * [s, e) of the head */
static int
request_line(http1 *h, const unsigned char *p, size_t s, size_t e)
{
	http1_head *hd = &h->head;
	size_t i = skip_token(p, s, e), t, m;

	if (i == s || i == e || p[i] != ' ')
		return fail(h, 400, "malformed request line (RFC 9112 3)");
	m = i - s;
	for (t = ++i; i < e && p[i] > 0x20 && p[i] < 0x7f; i++)
		;
	if (i - t > HTTP1_TARGET_MAX)
		return fail(h, 414, "request-target longer than 8 KiB");
	if (i == t || i == e || p[i] != ' ')
		return fail(h, 400, "malformed request-target: a space, control "
			    "or non-ASCII byte, or a missing version (RFC 9112 3)");
	hd->target = span(t, i - t);
	i++;
	/* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (2.3) */
	if (e - i != 8 || memcmp(p + i, "HTTP/", 5) || !is_digit(p[i + 5]) ||
	    p[i + 6] != '.' || !is_digit(p[i + 7]))
		return fail(h, 400, "malformed HTTP version (RFC 9112 2.3)");
	if (p[i + 5] != '1')
		return fail(h, 505, "HTTP version not supported: this server "
			    "speaks HTTP/1.0 and HTTP/1.1");
	hd->minor = p[i + 7] != '0';
	for (hd->method = 0; hd->method < (int)(sizeof(method_names) /
	     sizeof(*method_names)); hd->method++) {
		const char *name = method_names[hd->method];

		if (name && strlen(name) == m && !memcmp(name, p + s, m))
			return 0;
	}
	return fail(h, 501, "unknown method (RFC 9110 9.1)");
}

/* field-line = field-name ":" OWS field-value OWS (5), in [s, e) of p */
static int
field_line(http1 *h, const unsigned char *p, size_t s, size_t e,
	   http1_span *name, http1_span *value)
{
	size_t ne = skip_token(p, s, e), i = ne, v, ve;

	if (s < e && is_ws(p[s]))
		return fail(h, 400, "obsolete line folding, or whitespace "
			    "before a field (RFC 9112 5.2)");
	if (i < e && is_ws(p[i]) && (v = skip_ws(p, i, e)) < e && p[v] == ':')
		return fail(h, 400, "whitespace between a field name and its "
			    "colon (RFC 9112 5.1)");
	if (i == s || i == e || p[i] != ':')
		return fail(h, 400, "malformed field line: want a token name "
			    "and a colon (RFC 9112 5)");
	v = skip_ws(p, i + 1, e);
	for (ve = e; ve > v && is_ws(p[ve - 1]); ve--)
		;
	for (i = v; i < ve; i++)
		if (!is_ws(p[i]) && !is_fvchar(p[i]))
			return fail(h, 400, p[i] == '\r' ? "bare CR in a field "
				    "value (RFC 9112 2.2)" : p[i] == '\0' ?
				    "NUL in a field value (RFC 9110 5.5)" :
				    "control character in a field value "
				    "(RFC 9110 5.5)");
	*name = span(s, ne - s);
	*value = span(v, ve - v);
	return 0;
}

/* Host = uri-host [ ":" port ] (RFC 9110 7.2; RFC 3986 3.2.2): an
 * IP-literal in brackets or reg-name characters, then digits; may be
 * empty */
static int
host_ok(const unsigned char *p, size_t n)
{
	size_t i = 0;

	if (n && p[0] == '[') {
		for (i = 1; i < n && (hexval(p[i]) >= 0 || p[i] == ':' ||
		     p[i] == '.'); i++)
			;
		if (i == n || p[i] != ']')
			return 0;
		i++;
	} else
		while (i < n && ((p[i] >= 'a' && p[i] <= 'z') ||
		       (p[i] >= 'A' && p[i] <= 'Z') || is_digit(p[i]) ||
		       (p[i] && strchr("-._~!$&'()*+,;=%", p[i]))))
			i++;
	if (i < n && p[i] == ':')
		for (i++; i < n && is_digit(p[i]); i++)
			;
	return i == n;
}

/* Content-Length = 1*DIGIT (RFC 9110 8.6), below 10^18; else -1 */
static int64_t
content_length(const unsigned char *p, size_t n)
{
	int64_t v = 0;
	size_t i;

	if (n == 0 || n > 18)
		return -1;
	for (i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* what the Transfer-Encoding lines said, in order */
typedef struct codings {
	int	seen, chunked, last_chunked, other;
} codings;

/* Transfer-Encoding = #transfer-coding (RFC 9112 6.1) */
static void
add_codings(codings *te, const unsigned char *v, size_t n)
{
	size_t i = 0;

	te->seen = 1;
	while (i < n) {
		size_t s = skip_ws(v, i, n), e;

		for (i = s; i < n && v[i] != ','; i++)
			;
		for (e = i; e > s && is_ws(v[e - 1]); e--)
			;
		if (i < n)
			i++;
		if (e == s)
			continue;	/* an empty element (RFC 9110 5.6.1) */
		te->last_chunked = e - s == 7 &&
				   !strncasecmp((const char *)v + s, "chunked", 7);
		te->chunked += te->last_chunked;
		te->other |= !te->last_chunked;
	}
}

/* the body's length from Content-Length or Transfer-Encoding (6.1, 6.3) */
static int
body_framing(http1 *h, const codings *te, int lengths)
{
	if (!te->seen)
		return 0;
	if (lengths)
		return fail(h, 400, "both Transfer-Encoding and Content-Length "
			    "(RFC 9112 6.1)");
	if (h->head.minor == 0)
		return fail(h, 400, "Transfer-Encoding in an HTTP/1.0 request "
			    "(RFC 9112 6.1)");
	if (!te->last_chunked)
		return fail(h, 400, "chunked is not the final transfer coding "
			    "(RFC 9112 6.3)");
	if (te->chunked > 1)
		return fail(h, 400, "chunked applied more than once "
			    "(RFC 9112 6.1)");
	if (te->other)
		return fail(h, 501, "transfer codings other than chunked are "
			    "not implemented (RFC 9112 6.1)");
	h->head.length = -1;
	return 0;
}

/* request-target (3.2): origin-form or absolute-form for any method,
 * authority-form for CONNECT only, asterisk-form for OPTIONS only; no
 * fragment; escapes well formed */
static int
target_ok(http1 *h)
{
	http1_head *hd = &h->head;
	const char *t = hd->base + hd->target.off;
	size_t n = hd->target.len;
	struct http_parser_url u;

	hd->query = span(0, 0);
	if (n == 1 && t[0] == '*') {
		if (hd->method != HTTP_OPTIONS)
			return fail(h, 400, "asterisk-form target without "
				    "OPTIONS (RFC 9112 3.2.4)");
		hd->path = hd->target;
		return 0;
	}
	http_parser_url_init(&u);
	if (http_parser_parse_url(t, n, hd->method == HTTP_CONNECT, &u) ||
	    (hd->method != HTTP_CONNECT && t[0] != '/' &&
	     !(u.field_set & (1 << UF_SCHEMA))))
		return fail(h, 400, "invalid request-target (RFC 9112 3.2)");
	if (u.field_set & (1 << UF_FRAGMENT))
		return fail(h, 400, "a fragment in the request-target "
			    "(RFC 9112 3.2.1)");
	hd->path = span(hd->target.off + u.field_data[UF_PATH].off,
			u.field_set & (1 << UF_PATH) ?
			u.field_data[UF_PATH].len : 0);
	if (u.field_set & (1 << UF_QUERY))
		hd->query = span(hd->target.off + u.field_data[UF_QUERY].off,
				 u.field_data[UF_QUERY].len);
	if (!http1_escapes_ok(hd->base + hd->path.off, hd->path.len) ||
	    !http1_escapes_ok(hd->base + hd->query.off, hd->query.len))
		return fail(h, 400, "invalid percent-encoding in the "
			    "request-target");
	return 0;
}

/* the fields together: Host, framing, persistence, upgrade */
static int
head_semantics(http1 *h)
{
	http1_head *hd = &h->head;
	const unsigned char *b = (const unsigned char *)hd->base;
	int i, hosts = 0, lengths = 0, close = 0, keep = 0, up = 0, ws = 0;
	codings te = { 0, 0, 0, 0 };

	hd->length = 0;
	for (i = 0; i < hd->nfields; i++) {
		const unsigned char *v = b + hd->value[i].off;
		const char *cv = (const char *)v;
		size_t n = hd->value[i].len;

		if (name_is(hd, i, "host")) {
			if (++hosts > 1)
				return fail(h, 400, "more than one Host field "
					    "(RFC 9112 3.2)");
			if (!host_ok(v, n))
				return fail(h, 400, "invalid Host field "
					    "(RFC 9112 3.2)");
		} else if (name_is(hd, i, "content-length")) {
			if (++lengths > 1)
				return fail(h, 400, "more than one "
					    "Content-Length (RFC 9110 8.6)");
			if ((hd->length = content_length(v, n)) < 0)
				return fail(h, 400, "invalid Content-Length "
					    "(RFC 9112 6.3)");
		} else if (name_is(hd, i, "transfer-encoding"))
			add_codings(&te, v, n);
		else if (name_is(hd, i, "connection")) {
			close |= http1_list_has(cv, n, "close");
			keep |= http1_list_has(cv, n, "keep-alive");
			up |= http1_list_has(cv, n, "upgrade");
		} else if (name_is(hd, i, "upgrade"))
			ws |= http1_list_has(cv, n, "websocket");
	}
	if (hd->minor >= 1 && !hosts)
		return fail(h, 400, "an HTTP/1.1 request without Host "
			    "(RFC 9112 3.2)");
	if (body_framing(h, &te, lengths))
		return -1;
	hd->keep_alive = !close && (hd->minor >= 1 || keep);
	hd->upgrade = ws && up && hd->method == HTTP_GET && hd->minor >= 1;
	if (hd->upgrade && hd->length != 0)
		return fail(h, 400, "a WebSocket upgrade request carries no "
			    "body (RFC 6455 4.1, RFC 9110 7.8)");
	return target_ok(h);
}

/* a complete line [s, e) of the head, CRLF excluded: 1 at its end */
static int
head_line(http1 *h, const unsigned char *p, size_t s, size_t e)
{
	http1_head *hd = &h->head;

	if (h->lines == 0) {
		if (s == e)
			return 0;	/* before the request line (2.2) */
		h->lines = 1;
		return request_line(h, p, s, e);
	}
	if (s == e)
		return 1;
	if (hd->nfields == HTTP1_FIELDS_MAX)
		return fail(h, 431, "more than 100 header fields");
	if (field_line(h, p, s, e, &hd->name[hd->nfields],
		       &hd->value[hd->nfields]))
		return -1;
	hd->nfields++;
	h->lines++;
	return 0;
}

static int
end_message(http1 *h)
{
	h->state = H1_DONE;
	return h->settings->on_end(h) ? callback_failed(h) : 0;
}

/* the head ends at `end`: check it, hand it on, and frame the body */
static size_t
head_done(http1 *h, size_t end)
{
	http1_head *hd = &h->head;

	if (head_semantics(h))
		return 0;
	if (h->settings->on_head(h, hd)) {
		callback_failed(h);
		return 0;
	}
	h->scan = h->line = 0;
	h->lines = 0;
	if (hd->upgrade) {
		if (!end_message(h))
			h->state = H1_UPGRADED;
	} else if (hd->length < 0) {
		h->state = H1_CHUNK_LINE;
		h->llen = 0;
	} else if (hd->length > 0) {
		h->state = H1_BODY;
		h->left = (uint64_t)hd->length;
	} else
		end_message(h);
	return end;
}

/* Whether the line starting at s, with no LF before n, is too long to
 * wait for its end: a request line past HTTP1_TARGET_MAX + 64 bytes (414
 * when a space came before that point, else 400), a head past
 * HTTP1_HEAD_MAX (431). Decided by the bytes before the limit only, so
 * that it is the same whether the line came whole or in pieces. */
static int
too_long(http1 *h, const char *p, size_t s, size_t n)
{
	size_t rl = h->lines == 0 ? s + HTTP1_TARGET_MAX + 65 : SIZE_MAX;
	size_t limit = rl < HTTP1_HEAD_MAX + 1 ? rl : HTTP1_HEAD_MAX + 1;

	if (n < limit)
		return 0;
	if (limit == rl)
		return fail(h, memchr(p + s, ' ', rl - s) ? 414 : 400,
			    "request line longer than 8 KiB");
	return fail(h, 431, "request head larger than 64 KiB");
}

/* look at the head's lines as far as they came; the head's length once
 * it is complete, else 0 */
static size_t
head(http1 *h, const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t s, e;
	int rc;

	h->head.base = p;
	while (h->scan < n) {
		const unsigned char *lf = memchr(u + h->scan, '\n', n - h->scan);

		if (!lf) {
			h->scan = n;
			break;
		}
		s = h->line;
		e = (size_t)(lf - u);
		h->scan = h->line = e + 1;
		if (too_long(h, p, s, e))
			return 0;
		if (e == s || u[e - 1] != '\r') {
			fail(h, 400, "a line ends in a bare LF, not CRLF "
			     "(RFC 9112 2.2)");
			return 0;
		}
		rc = head_line(h, u, s, e - 1);
		if (rc < 0)
			return 0;
		if (rc > 0)
			return head_done(h, e + 1);
	}
	too_long(h, p, h->line, n);
	return 0;
}

/* ------------------------------------------------------------------ */
/* the chunked body (7.1)                                             */

/* chunk-size [ chunk-ext ] (7.1), chunk-ext = *( BWS ";" BWS
 * chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) (7.1.1) */
static int
chunk_line(http1 *h, const unsigned char *p, size_t n)
{
	uint64_t size = 0;
	size_t i, k;

	for (i = 0; i < n && hexval(p[i]) >= 0; i++) {
		if (size >> 59)
			return fail(h, 400, "chunk size of 2^63 bytes or more");
		size = size << 4 | (uint64_t)hexval(p[i]);
	}
	if (i == 0)
		return fail(h, 400, "chunk size missing or not hexadecimal "
			    "(RFC 9112 7.1)");
	while (i < n) {
		i = skip_ws(p, i, n);
		if (i == n || p[i] != ';')
			return fail(h, 400, "bytes after a chunk size that are "
				    "not a chunk extension (RFC 9112 7.1.1)");
		k = skip_ws(p, i + 1, n);
		i = skip_token(p, k, n);
		if (i == k)
			return fail(h, 400, "chunk extension without a name "
				    "(RFC 9112 7.1.1)");
		k = skip_ws(p, i, n);
		if (k == n || p[k] != '=')
			continue;
		k = skip_ws(p, k + 1, n);
		i = k < n && p[k] == '"' ? skip_quoted(p, k, n) :
		    skip_token(p, k, n);
		if (i <= k)
			return fail(h, 400, "chunk extension value that is "
				    "not a token or quoted-string "
				    "(RFC 9112 7.1.1)");
	}
	h->left = size;
	h->state = size ? H1_CHUNK_DATA : H1_TRAILER;
	h->trailers = 0;
	return 0;
}

/* a chunk-size or trailer line in lbuf, its LF included */
static int
body_line(http1 *h)
{
	const unsigned char *p = (const unsigned char *)h->lbuf;
	size_t n = h->llen - 1;
	http1_span name, value;

	h->llen = 0;
	if (n == 0 || p[n - 1] != '\r')
		return fail(h, 400, "a line ends in a bare LF, not CRLF "
			    "(RFC 9112 2.2)");
	n--;
	if (h->state == H1_CHUNK_LINE)
		return chunk_line(h, p, n);
	if (n == 0)
		return end_message(h);
	h->trailers += n + 2;
	if (h->trailers > HTTP1_HEAD_MAX)
		return fail(h, 431, "trailer section larger than 64 KiB");
	return field_line(h, p, 0, n, &name, &value);
}

/* gather a line into lbuf; bytes taken */
static size_t
gather_line(http1 *h, const char *p, size_t n)
{
	const char *lf = memchr(p, '\n', n);
	size_t take = lf ? (size_t)(lf - p) + 1 : n;

	if (h->llen + take > sizeof(h->lbuf)) {
		if (h->state == H1_TRAILER)
			fail(h, 431, "trailer field line longer than 1 KiB");
		else
			fail(h, 400, "chunk-size line longer than 1 KiB");
		return 0;
	}
	memcpy(h->lbuf + h->llen, p, take);
	h->llen += take;
	if (lf)
		body_line(h);
	return take;
}

/* body bytes: at most what is left of the body or chunk */
static size_t
body_bytes(http1 *h, const char *p, size_t n)
{
	size_t k = h->left < n ? (size_t)h->left : n;

	if (h->settings->on_body(h, p, k)) {
		callback_failed(h);
		return 0;
	}
	h->left -= k;
	if (h->left == 0) {
		if (h->state == H1_BODY)
			end_message(h);
		else
			h->state = H1_CHUNK_CR;
	}
	return k;
}

/* the CRLF after chunk data (7.1) */
static void
chunk_crlf(http1 *h, int c)
{
	if (c != (h->state == H1_CHUNK_CR ? '\r' : '\n'))
		fail(h, 400, "chunk data not followed by CRLF (RFC 9112 7.1)");
	else
		h->state = h->state == H1_CHUNK_CR ? H1_CHUNK_LF : H1_CHUNK_LINE;
}

/* ------------------------------------------------------------------ */
/* the driver                                                         */

void
http1_init(http1 *h, const http1_settings *settings, void *data)
{
	memset(h, 0, sizeof(*h));
	h->settings = settings;
	h->data = data;
}

void
http1_next(http1 *h)
{
	h->state = H1_HEAD;
	h->scan = h->line = 0;
	h->lines = 0;
	h->head.nfields = 0;
}

size_t
http1_execute(http1 *h, const char *p, size_t n)
{
	size_t off = 0, k;

	for (;;) {
		switch (h->state) {
		case H1_HEAD:
			k = head(h, p + off, n - off);
			if (k == 0)
				return off;
			off += k;
			break;
		case H1_BODY:
		case H1_CHUNK_DATA:
			if (off == n)
				return off;
			off += body_bytes(h, p + off, n - off);
			break;
		case H1_CHUNK_LINE:
		case H1_TRAILER:
			if (off == n)
				return off;
			off += gather_line(h, p + off, n - off);
			break;
		case H1_CHUNK_CR:
		case H1_CHUNK_LF:
			if (off == n)
				return off;
			chunk_crlf(h, (unsigned char)p[off]);
			off += h->state != H1_ERROR;
			break;
		default:
			return off;
		}
	}
}

/* ------------------------------------------------------------------ */
/* URLs and lists                                                     */

int
http1_escapes_ok(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] == '%') {
			if (i + 2 >= n)
				return 0;
			if (hexval((unsigned char)p[i + 1]) < 0 ||
			    hexval((unsigned char)p[i + 2]) < 0 ||
			    (p[i + 1] == '0' && p[i + 2] == '0'))
				return 0;
			i += 2;
		}
	return 1;
}

size_t
http1_unescape(char *out, const char *p, size_t n, int plus)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)p[i];

		if (c == '%' && i + 2 < n) {
			c = hexval((unsigned char)p[i + 1]) << 4 |
			    hexval((unsigned char)p[i + 2]);
			i += 2;
		} else if (c == '+' && plus)
			c = ' ';
		out[o++] = (char)c;
	}
	return o;
}

int
http1_list_has(const char *list, size_t n, const char *token)
{
	size_t tn = strlen(token), i = 0, s, e;

	while (i < n) {
		while (i < n && (is_ws(list[i]) || list[i] == ','))
			i++;
		for (s = i; i < n && list[i] != ','; i++)
			;
		for (e = i; e > s && is_ws(list[e - 1]); e--)
			;
		if (e - s == tn && !strncasecmp(list + s, token, tn))
			return 1;
	}
	return 0;
}
