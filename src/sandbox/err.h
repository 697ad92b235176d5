/*
 * err.h - how the sandbox engine's C modules report a failure: a message
 * in the caller's buffer, saying what failed and, where it can, how to
 * get what is missing.
 */
#ifndef OCLUA_SANDBOX_ERR_H
#define OCLUA_SANDBOX_ERR_H

#include <stddef.h>

/* Write the message (printf format) into err, at most errlen bytes,
 * NUL-terminated; nothing when err is NULL or errlen 0. Returns -1, so
 * that `return sandbox_err(err, errlen, "...")` fails the caller. */
int sandbox_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The name of errno value `e` ("ENOENT", "EACCES", ...): the code the
 * engine's Lua calls return beside a message, for the server's one table
 * of statuses (lua/opencomputer/server/http.lua); "EIO" for one it does
 * not name. */
const char *sandbox_errno_name(int e);

#endif
