/*
 * err.c - the one message writer of the sandbox engine (err.h); linked
 * into the library and into oclua-init.
 */
#include <errno.h>
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

/* the errno values the engine's calls meet, by name */
static const struct { int e; const char *name; } errno_names[] = {
	{ ENOENT, "ENOENT" }, { ENOTDIR, "ENOTDIR" }, { EISDIR, "EISDIR" },
	{ EEXIST, "EEXIST" }, { ELOOP, "ELOOP" }, { EACCES, "EACCES" },
	{ EPERM, "EPERM" }, { EROFS, "EROFS" }, { EXDEV, "EXDEV" },
	{ ENOSPC, "ENOSPC" }, { EDQUOT, "EDQUOT" }, { EFBIG, "EFBIG" },
	{ ENAMETOOLONG, "ENAMETOOLONG" }, { EINVAL, "EINVAL" },
	{ EBUSY, "EBUSY" }, { ENOTEMPTY, "ENOTEMPTY" }, { EAGAIN, "EAGAIN" },
	{ ENOMEM, "ENOMEM" }, { EMFILE, "EMFILE" }, { ENFILE, "ENFILE" },
	{ ETXTBSY, "ETXTBSY" }, { EBADF, "EBADF" }, { ENOEXEC, "ENOEXEC" }
};

const char *
sandbox_errno_name(int e)
{
	size_t i;

	for (i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++) {
		if (errno_names[i].e == e)
			return errno_names[i].name;
	}
	return "EIO";
}
