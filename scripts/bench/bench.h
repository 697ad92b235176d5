/*
 * bench.h - what the C programs of scripts/bench/ share (floor.c,
 * stream_floor.c): a monotonic clock and the way they give up.
 */
#ifndef BENCH_H
#define BENCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* seconds on CLOCK_MONOTONIC */
static inline double
bench_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* prints "PROG: WHAT[: strerror(errno)]" to stderr and exits 1 */
static inline void
bench_die(const char *prog, const char *what)
{
	fprintf(stderr, "%s: %s%s%s\n", prog, what, errno ? ": " : "",
		errno ? strerror(errno) : "");
	exit(1);
}

#endif
