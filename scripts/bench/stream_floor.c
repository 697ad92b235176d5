/*
 * stream_floor.c - the server's side of the stream benchmark alone: a C
 * client that does nothing but count, so that the server's distance from
 * the machine's floor (scripts/bench/floor.c) is seen without any SDK's
 * cost (scripts/bench/compare.sh runs it, report.lua prints it).
 *
 * One POST /api/sandboxes/ID/exec of `head -c MIB MiB /dev/zero` (protocol.md
 * 3.2), then its WebSocket (3.4, RFC 6455) read with plain read(2) into a
 * 256 KiB buffer: frame headers parsed, stdout (0x01) payload bytes
 * counted, until the exit frame (0x03). Timed from before the POST to the
 * exit frame, as the SDK workloads time theirs.
 *
 * Usage: stream_floor HOST PORT KEY SANDBOX_ID MIB
 *   -> one JSON line {"mib":..,"seconds":..,"mib_per_s":..}
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define BUF	(256 * 1024)

static unsigned char buf[BUF];

#define fail(what)	bench_die("stream_floor", what)
/* a failure that is no system call's: no stale errno in the message */
#define refuse(what)	(errno = 0, fail(what))
#define now()		bench_now()

static int
dial(const char *host, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)))
		fail("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void
send_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno != EINTR)
			fail("write");
		if (w > 0) {
			s += w;
			n -= (size_t)w;
		}
	}
}

/* Reads a response's head (to its blank line) into buf; the bytes read
 * in all (the head and what came after it), and *head its length. */
static size_t
read_head(int fd, size_t *head)
{
	size_t got = 0;
	char *end;

	for (;;) {
		ssize_t n = read(fd, buf + got, BUF - 1 - got);

		if (n <= 0)
			refuse("the server closed before its answer's head");
		got += (size_t)n;
		buf[got] = 0;
		if ((end = strstr((char *)buf, "\r\n\r\n"))) {
			*head = (size_t)(end + 4 - (char *)buf);
			return got;
		}
		if (got >= BUF - 1)
			refuse("an answer's head larger than 256 KiB");
	}
}

int
main(int argc, char **argv)
{
	char req[1024], sid[128];
	const char *host, *key, *id, *p;
	long long want, out = 0;
	size_t got, head, at;
	int port, fd, msg_stream = -1, done = 0;
	double t;

	if (argc != 6 || atoi(argv[2]) <= 0 || atoll(argv[5]) <= 0) {
		fprintf(stderr, "usage: stream_floor HOST PORT KEY SANDBOX_ID MIB\n");
		return 2;
	}
	host = argv[1], port = atoi(argv[2]), key = argv[3], id = argv[4];
	want = atoll(argv[5]) * 1048576LL;

	t = now();
	fd = dial(host, port);
	{
		char body[256];
		int blen = snprintf(body, sizeof(body),
		    "{\"cmd\":\"head\",\"args\":[\"-c\",\"%lld\",\"/dev/zero\"]}", want);
		int n = snprintf(req, sizeof(req),
		    "POST /api/sandboxes/%s/exec HTTP/1.1\r\nHost: %s:%d\r\n"
		    "X-API-Key: %s\r\nContent-Type: application/json\r\n"
		    "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
		    id, host, port, key, blen, body);

		send_all(fd, req, (size_t)n);
	}
	read_head(fd, &head);
	if (strncmp((char *)buf, "HTTP/1.1 20", 11))
		refuse("POST /exec was refused");
	/* the body may come after the head in later reads */
	for (;;) {
		if ((p = strstr((char *)buf + head, "\"sessionID\":\"")))
			break;
		got = strlen((char *)buf);
		ssize_t n = read(fd, buf + got, BUF - 1 - got);
		if (n <= 0)
			refuse("no sessionID in POST /exec's answer");
		buf[got + (size_t)n] = 0;
	}
	p += strlen("\"sessionID\":\"");
	for (at = 0; p[at] && p[at] != '"' && at < sizeof(sid) - 1; at++)
		sid[at] = p[at];
	sid[at] = 0;
	close(fd);

	fd = dial(host, port);
	{
		int n = snprintf(req, sizeof(req),
		    "GET /api/sandboxes/%s/exec/%s?api_key=%s HTTP/1.1\r\n"
		    "Host: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		    "Sec-WebSocket-Version: 13\r\n\r\n", id, sid, key, host, port);

		send_all(fd, req, (size_t)n);
	}
	got = read_head(fd, &head);
	if (strncmp((char *)buf, "HTTP/1.1 101", 12))
		refuse("the WebSocket upgrade was refused");
	memmove(buf, buf + head, got - head);
	got -= head;

	/* frames: server to client, unmasked (RFC 6455 5.2) */
	while (!done) {
		at = 0;
		for (;;) {
			size_t hl = 2;
			uint64_t len;
			int op;

			if (got - at < 2)
				break;
			op = buf[at] & 0x0f;
			len = buf[at + 1] & 0x7f;
			if (len == 126)
				hl = 4;
			else if (len == 127)
				hl = 10;
			if (got - at < hl)
				break;
			if (len == 126)
				len = (uint64_t)buf[at + 2] << 8 | buf[at + 3];
			else if (len == 127) {
				int i;

				for (len = 0, i = 2; i < 10; i++)
					len = len << 8 | buf[at + i];
			}
			if (len > BUF - hl)
				refuse("a frame larger than the buffer");
			if (got - at < hl + len)
				break;
			if (op == 8) {
				done = 1;
				break;
			}
			if ((op == 1 || op == 2) && len > 0) {
				/* a new message: its first byte is the stream */
				msg_stream = buf[at + hl];
				if (msg_stream == 1)
					out += (long long)len - 1;
				else if (msg_stream == 3) {
					done = 1;
					break;
				}
			} else if (op == 0 && msg_stream == 1)
				out += (long long)len;
			at += hl + len;
		}
		if (done)
			break;
		memmove(buf, buf + at, got - at);
		got -= at;
		{
			ssize_t n = read(fd, buf + got, BUF - got);

			if (n == 0)
				break;
			if (n < 0) {
				if (errno == EINTR)
					continue;
				fail("read");
			}
			got += (size_t)n;
		}
	}
	t = now() - t;
	close(fd);
	if (out != want) {
		fprintf(stderr, "stream_floor: %lld bytes of stdout, not %lld\n",
			out, want);
		return 1;
	}
	printf("{\"mib\":%lld,\"seconds\":%.4f,\"mib_per_s\":%.1f}\n",
	       want >> 20, t, want / 1048576.0 / t);
	return 0;
}
