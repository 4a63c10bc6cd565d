/*
 * A growing byte buffer (git's strbuf). ptr is always NUL-terminated once the
 * buffer holds anything; a zeroed struct (MCR_BUF_INIT) is an empty buffer.
 * Owned by the caller: release with mcr_buf_free(), which accepts an empty buffer
 * and NULL. A buffer is used by one thread at a time; no function keeps state.
 */
#ifndef MCR_BUF_H
#define MCR_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

typedef struct mcr_buf {
	char *ptr;
	size_t len;
	size_t cap;
} mcr_buf;

#define MCR_BUF_INIT { NULL, 0, 0 }

/*
 * Each returns 0 or MCR_ENOMEM, and on MCR_ENOMEM the error message is already
 * set (mcr_error_set): callers pass the code up (`return rc;`) and do not set
 * "out of memory" again. The same holds for mcr_buf_detach's NULL. A failed
 * call leaves the buffer's earlier content as it was.
 */
int mcr_buf_grow(mcr_buf *b, size_t extra);
int mcr_buf_put_slow(mcr_buf *b, const void *data, size_t len); /* mcr_buf_put's growing path */
int mcr_buf_puts(mcr_buf *b, const char *s);
int mcr_buf_printf(mcr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mcr_buf_vprintf(mcr_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Empty the buffer, keeping its memory. */
void mcr_buf_reset(mcr_buf *b);

/* Take the string out of the buffer (caller frees with free(); never NULL on
 * success, "" for an empty buffer); the buffer is left empty. NULL on ENOMEM
 * (message set, as above). */
char *mcr_buf_detach(mcr_buf *b);

void mcr_buf_free(mcr_buf *b);

/* Inline: the extractors and the loader append a few bytes at a time, millions
 * of times; only growing the buffer is a call. */
static inline int mcr_buf_put(mcr_buf *b, const void *data, size_t len)
{
	if (len >= b->cap - b->len) /* room for len bytes and the NUL? (cap > len once allocated) */
		return mcr_buf_put_slow(b, data, len);
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

static inline int mcr_buf_putc(mcr_buf *b, char c)
{
	if (b->cap - b->len < 2)
		return mcr_buf_put_slow(b, &c, 1);
	b->ptr[b->len++] = c;
	b->ptr[b->len] = '\0';
	return 0;
}

/* The buffer's text, "" when empty. */
static inline const char *mcr_buf_cstr(const mcr_buf *b)
{
	return b->ptr ? b->ptr : "";
}

#endif
