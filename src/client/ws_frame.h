/*
 * ws_frame.h - the WebSocket framing of RFC 6455 section 5 as a pure
 * codec: no I/O, no allocation. A parser (ws_parser) reads the frames a
 * peer sends, in either role, from bytes split in any way, and checks
 * every rule the RFC sets for a receiving endpoint; the writer makes
 * frame headers and masks payloads. ws_raw.c drives both on libuv; the
 * fuzz targets drive them alone.
 *
 * Failing the connection (RFC 6455 7.1.7) is the caller's: the parser
 * says which close code to send (WS_CLOSE_PROTOCOL 1002, WS_CLOSE_INVALID
 * 1007, WS_CLOSE_TOO_BIG 1009) and why, and reports nothing more.
 */
#ifndef OCLUA_WS_FRAME_H
#define OCLUA_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* opcodes (RFC 6455 5.2) */
enum { WS_OP_CONT = 0, WS_OP_TEXT = 1, WS_OP_BINARY = 2, WS_OP_CLOSE = 8,
       WS_OP_PING = 9, WS_OP_PONG = 10 };

/* close codes (RFC 6455 7.4.1) */
enum { WS_CLOSE_NORMAL = 1000, WS_CLOSE_GOING_AWAY = 1001,
       WS_CLOSE_PROTOCOL = 1002, WS_CLOSE_NO_CODE = 1005,
       WS_CLOSE_INVALID = 1007, WS_CLOSE_TOO_BIG = 1009 };

/* the role of the endpoint that reads: a server reads a client's frames */
enum { WS_CLIENT, WS_SERVER };

/* what ws_parse found */
enum {
	WS_EV_NONE,	/* every byte taken, nothing to report yet */
	WS_EV_DATA,	/* a piece of a text or binary message */
	WS_EV_PING, WS_EV_PONG, WS_EV_CLOSE,	/* a whole control frame */
	WS_EV_ERROR	/* the peer broke a rule: fail the connection */
};

#define WS_CONTROL_MAX	125	/* RFC 6455 5.5 */
#define WS_HEADER_MAX	14	/* 2 + 8 of length + 4 of mask key */

typedef struct ws_event {
	int		type;		/* WS_EV_* */
	/* DATA: the piece, unmasked in place in the caller's bytes (n may
	 * be 0 for an empty message); PING, PONG, CLOSE: the payload (for
	 * CLOSE, the reason only), in the parser, valid until the next call */
	unsigned char	*p;
	size_t		n;
	int		first, final;	/* DATA: first / last piece of the message */
	int		binary;		/* DATA: an OP_BINARY message */
	uint64_t	frame_left;	/* DATA: this frame's bytes from p on */
	int		code;		/* CLOSE: the peer's code (1005: none);
					 * ERROR: the code to close with */
	const char	*why;		/* ERROR: what the peer did wrong */
} ws_event;

typedef struct ws_parser {
	int		role;		/* WS_CLIENT or WS_SERVER */
	uint64_t	max_message;	/* bytes of a message; 0: no bound */
	int		state;
	/* the frame being read */
	unsigned char	hdr[WS_HEADER_MAX];
	int		hlen, hneed;
	int		op, fin;
	int		masked;
	unsigned char	mask[4];
	unsigned	mpos;		/* payload bytes unmasked so far, mod 4 */
	uint64_t	left;		/* payload bytes still to come */
	/* the data message under way */
	int		in_msg, msg_binary, msg_first;
	uint64_t	msg_len;
	uint32_t	utf8;		/* UTF-8 decoder state of a text message */
	/* a control frame's payload */
	unsigned char	ctrl[WS_CONTROL_MAX];
	size_t		clen;
	int		err_code;
	const char	*err_why;
} ws_parser;

/* Start reading frames as `role` (WS_SERVER: the peer is a client, whose
 * frames must be masked; WS_CLIENT: they must not be), with messages of
 * at most max_message bytes (0: any size). */
void ws_parser_init(ws_parser *ps, int role, uint64_t max_message);

/* Read from data[0..n) (masked payloads are unmasked in place) until
 * there is something to report; returns the bytes taken, and ev says
 * what (WS_EV_NONE when all n were taken with nothing to report). Call
 * again with the rest. Checks, failing with ev->type WS_EV_ERROR:
 *   1002  a server got an unmasked frame, a client a masked one (5.1);
 *         RSV1-3 set: no extension is ever negotiated (5.2); a reserved
 *         opcode (5.2); a control frame over 125 bytes or fragmented
 *         (5.5); a continuation with no message under way, or a new
 *         message inside one (5.4); a 64-bit length with its top bit set
 *         (5.2); a close payload of 1 byte, or a code that may not be
 *         sent (5.5.1, 7.4)
 *   1007  a text message or a close reason that is not UTF-8 (8.1),
 *         checked as the pieces come, across fragments
 *   1009  a message over max_message (7.4.1), at the header that makes
 *         it so, before any of that frame is reported
 * After WS_EV_ERROR every call reports the same error and takes nothing.
 * After WS_EV_CLOSE the bytes that follow are taken and ignored (5.5.1). */
size_t ws_parse(ws_parser *ps, unsigned char *data, size_t n, ws_event *ev);

/* Write the header of one frame into out (WS_HEADER_MAX bytes of room):
 * FIN when `fin`, opcode `op`, payload length `len` in the shortest form
 * (5.2), and the masking key `key` when not NULL (a client's frames,
 * 5.3). Returns the header's length in bytes. */
size_t ws_frame_header(unsigned char *out, int fin, int op, uint64_t len,
		       const unsigned char key[4]);

/* XOR p[0..n) with `key`, as bytes at offset `at` of a payload (5.3). */
void ws_frame_mask(unsigned char *p, size_t n, const unsigned char key[4],
		   uint64_t at);

/* Whether a close frame may carry `code` (7.4): 1000-1003, 1007-1014
 * and 3000-4999; 1004, 1005, 1006 and 1015 are never sent. */
int ws_close_code_ok(int code);

#endif
