/* Growing byte buffer. */
#include "mcr/buf.h"
#include "mcr/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mcr_buf_grow(mcr_buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1) {
		if (cap > ((size_t)-1) / 2)
			return mcr_error_set(MCR_ENOMEM, "buffer too large");
		cap *= 2;
	}
	char *p = realloc(b->ptr, cap);
	if (!p)
		return mcr_error_set(MCR_ENOMEM, "out of memory growing a buffer to %zu bytes", cap);
	b->ptr = p;
	b->cap = cap;
	return 0;
}

int mcr_buf_put_slow(mcr_buf *b, const void *data, size_t len)
{
	int rc = mcr_buf_grow(b, len);
	if (rc)
		return rc;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int mcr_buf_puts(mcr_buf *b, const char *s)
{
	return mcr_buf_put(b, s, strlen(s));
}

int mcr_buf_vprintf(mcr_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return mcr_error_set(MCR_ERROR, "bad format string");
	int rc = mcr_buf_grow(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int mcr_buf_printf(mcr_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = mcr_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void mcr_buf_reset(mcr_buf *b)
{
	b->len = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
}

char *mcr_buf_detach(mcr_buf *b)
{
	if (!b->ptr) {
		if (mcr_buf_grow(b, 0))
			return NULL;
		b->ptr[0] = '\0';
	}
	char *s = b->ptr;
	b->ptr = NULL;
	b->len = b->cap = 0;
	return s;
}

void mcr_buf_free(mcr_buf *b)
{
	if (!b)
		return;
	free(b->ptr);
	b->ptr = NULL;
	b->len = b->cap = 0;
}
