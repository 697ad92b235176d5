/*
 * err.c - the one message writer of the sandbox engine (err.h); linked
 * into the library and into oclua-init.
 */
#include <stdarg.h>
#include <stdio.h>

#include "sandbox/err.h"

int
sandbox_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}
