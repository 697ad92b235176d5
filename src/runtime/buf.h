/*
 * buf.h - a growable byte buffer, the one the C modules share.
 */
#ifndef OCLUA_BUF_H
#define OCLUA_BUF_H

#include <stddef.h>

typedef struct buf {
	char	*p;
	size_t	len, cap;
} buf;

/* Append n bytes; returns -1 when out of memory (b is unchanged). */
int buf_add(buf *b, const void *p, size_t n);

/* Free the storage and empty the buffer. */
void buf_free(buf *b);

#endif
