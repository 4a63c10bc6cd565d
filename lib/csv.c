/*
 * CSV records with libcsv in strict mode, fed one physical line at a time so
 * the line on which each record starts is known even when quoted fields hold
 * newlines.
 *
 * libcsv is told that only LF ends a record and that CR is "space": a CR before
 * LF (CRLF files) is then dropped from an unquoted field's end and allowed after
 * a closing quote, while ordinary spaces stay part of the data (RFC 4180).
 */
#include "mcr/csv.h"
#include "mcr/buf.h"
#include "mcr/error.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CSV_CHUNK (64 * 1024)
#define CSV_MAX_RECORD (1024 * 1024)

/* A record's fields: NUL-terminated strings one after another in text, and
 * the offset of each. */
typedef struct csv_record {
	mcr_buf text;
	size_t *off;
	size_t n, cap;
	long line;
} csv_record;

struct mcr_csv {
	int fd;
	char *path;
	struct csv_parser parser;
	int parser_ready;
	unsigned char buf[CSV_CHUNK];
	size_t len, pos;
	int eof;
	int finished;       /* csv_fini done: no more records */
	int failed;         /* sticky error code */
	long line;          /* physical line of the next byte fed */
	int at_line_start;
	int in_record;      /* a record has begun and not ended */
	long record_start;  /* line on which the record being built began */
	size_t record_bytes;
	int cb_error;       /* error raised inside a libcsv callback (message set) */
	int ready;          /* building holds a complete record */
	csv_record header;
	csv_record building;
	csv_record current;
};

static int is_cr(unsigned char c)
{
	return c == '\r';
}

static int is_lf(unsigned char c)
{
	return c == '\n';
}

static void record_free(csv_record *r)
{
	mcr_buf_free(&r->text);
	free(r->off);
}

static void record_reset(csv_record *r)
{
	mcr_buf_reset(&r->text);
	r->n = 0;
}

/*
 * Check s[0..len) is UTF-8 (no overlongs, surrogates, code points past
 * U+10FFFF, or NUL). Returns the offset of the first bad byte, or len.
 */
static size_t utf8_check(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		if (c >= 0x01 && c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong */
			else if (c == 0xf4)
				hi = 0x8f; /* past U+10FFFF */
		} else {
			return i; /* NUL, continuation byte, C0/C1 overlong, F5-FF */
		}
		if (len - i <= need || s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k <= need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
		i += need + 1;
	}
	return len;
}

/* libcsv field callback: validate and append to the record being built. */
static void on_field(void *s, size_t len, void *data)
{
	mcr_csv *c = data;
	if (c->cb_error)
		return;
	const unsigned char *p = s ? s : (const unsigned char *)"";
	size_t bad = utf8_check(p, len);
	if (bad < len) {
		/* The field ends on this line: step back over newlines after the bad byte. */
		long line = c->line;
		for (size_t i = bad; i < len; i++)
			if (p[i] == '\n')
				line--;
		c->cb_error = mcr_error_set(MCR_EFORMAT, "%s:%ld: invalid UTF-8%s", c->path, line,
		                            p[bad] == 0 ? " (NUL byte)" : "");
		return;
	}
	csv_record *r = &c->building;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		size_t *off = realloc(r->off, cap * sizeof(*off));
		if (!off) {
			c->cb_error = mcr_error_set(MCR_ENOMEM, "%s: out of memory reading a record", c->path);
			return;
		}
		r->off = off;
		r->cap = cap;
	}
	r->off[r->n++] = r->text.len;
	int rc = mcr_buf_put(&r->text, p, len);
	if (!rc)
		rc = mcr_buf_putc(&r->text, '\0');
	if (rc)
		c->cb_error = rc;
}

/* libcsv record callback. */
static void on_record(int term, void *data)
{
	(void)term;
	mcr_csv *c = data;
	c->building.line = c->record_start;
	c->ready = 1;
	c->in_record = 0;
}

static int csv_fail(mcr_csv *c, int rc)
{
	c->failed = rc;
	return rc;
}

/* Feed one segment (bytes of a single physical line, ending at its LF or not). */
static int feed(mcr_csv *c, const unsigned char *p, size_t n)
{
	if (c->at_line_start && !c->in_record)
		c->record_start = c->line;
	c->at_line_start = 0;
	if (!c->in_record) {
		/* Blank lines (CRs and the LF only) begin no record; libcsv skips them. */
		for (size_t i = 0; i < n; i++)
			if (p[i] != '\r' && p[i] != '\n') {
				c->in_record = 1;
				c->record_bytes = 0;
				break;
			}
	}
	if (c->in_record) {
		c->record_bytes += n;
		if (c->record_bytes > CSV_MAX_RECORD)
			return mcr_error_set(MCR_ELIMIT, "%s:%ld: record longer than %d bytes", c->path,
			                     c->record_start, CSV_MAX_RECORD);
	}
	size_t done = csv_parse(&c->parser, p, n, on_field, on_record, c);
	if (c->cb_error)
		return c->cb_error;
	if (done < n) {
		int e = csv_error(&c->parser);
		if (e == CSV_EPARSE)
			return mcr_error_set(MCR_EFORMAT,
			                     "%s:%ld: malformed quoting (a quote inside an unquoted field, "
			                     "or text after a closing quote)", c->path, c->line);
		return mcr_error_set(MCR_ENOMEM, "%s:%ld: %s", c->path, c->line, csv_strerror(e));
	}
	if (n && p[n - 1] == '\n') {
		c->line++;
		c->at_line_start = 1;
	}
	return 0;
}

static int fill(mcr_csv *c)
{
	ssize_t n;
	do
		n = read(c->fd, c->buf, sizeof(c->buf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return mcr_error_set_errno(MCR_EIO, "%s: read failed", c->path);
	c->len = (size_t)n;
	c->pos = 0;
	if (n == 0)
		c->eof = 1;
	return 0;
}

/* Parse until a record is complete (c->ready) or the input ends. */
static int parse_record(mcr_csv *c)
{
	int rc;
	record_reset(&c->building);
	c->ready = 0;
	while (!c->ready && !c->finished) {
		if (c->pos == c->len) {
			if ((rc = fill(c)))
				return rc;
			if (c->eof) {
				if (csv_fini(&c->parser, on_field, on_record, c) != 0)
					return mcr_error_set(MCR_EFORMAT, "%s:%ld: unterminated quoted field at end of file",
					                     c->path, c->record_start);
				c->finished = 1;
				if (c->cb_error)
					return c->cb_error;
				break;
			}
		}
		const unsigned char *start = c->buf + c->pos;
		const unsigned char *nl = memchr(start, '\n', c->len - c->pos);
		size_t n = nl ? (size_t)(nl - start) + 1 : c->len - c->pos;
		c->pos += n;
		if ((rc = feed(c, start, n)))
			return rc;
	}
	return 0;
}

static const char *field(const csv_record *r, size_t i)
{
	return r->text.ptr + r->off[i];
}

int mcr_csv_open(mcr_csv **out, const char *path, const char *const *required)
{
	*out = NULL;
	mcr_csv *c = calloc(1, sizeof(*c));
	if (!c)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening %s", path);
	c->fd = -1;
	c->line = 1;
	c->at_line_start = 1;
	int rc;
	c->path = strdup(path);
	if (!c->path) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory opening %s", path);
		goto fail;
	}
	if (csv_init(&c->parser, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
		rc = mcr_error_set(MCR_ENOMEM, "%s: cannot initialise the CSV parser", path);
		goto fail;
	}
	c->parser_ready = 1;
	csv_set_term_func(&c->parser, is_lf);
	csv_set_space_func(&c->parser, is_cr);
	csv_set_blk_size(&c->parser, 4096);
	c->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->fd < 0) {
		rc = mcr_error_set_errno(errno == ENOENT ? MCR_ENOTFOUND : MCR_EIO, "%s: cannot open", path);
		goto fail;
	}
	/* A UTF-8 byte order mark is not part of the first column's name. */
	if ((rc = fill(c)))
		goto fail;
	while (c->len < 3 && !c->eof) {
		ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mcr_error_set_errno(MCR_EIO, "%s: read failed", path);
			goto fail;
		}
		if (n == 0)
			break;
		c->len += (size_t)n;
	}
	c->eof = 0;
	if (c->len >= 3 && memcmp(c->buf, "\xef\xbb\xbf", 3) == 0)
		c->pos = 3;

	if ((rc = parse_record(c)))
		goto fail;
	if (!c->ready) {
		rc = mcr_error_set(MCR_EFORMAT, "%s:1: no header row (empty file)", path);
		goto fail;
	}
	/* The header becomes the column names; building is reused for records. */
	c->header = c->building;
	memset(&c->building, 0, sizeof(c->building));
	/* Records end at LF (CRLF too): lines ending in a bare CR (classic Mac OS)
	 * read as one record, which would be reported as a missing column. */
	for (size_t i = 0; i < c->header.n; i++)
		if (strchr(field(&c->header, i), '\r')) {
			rc = mcr_error_set(MCR_EFORMAT, "%s:1: lines end with a bare CR (carriage return "
			                   "without line feed): save the file with LF or CRLF line endings",
			                   path);
			goto fail;
		}
	for (size_t i = 0; i < c->header.n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(field(&c->header, i), field(&c->header, j)) == 0) {
				rc = mcr_error_set(MCR_EFORMAT, "%s:%ld: duplicate column %s", path,
				                   c->header.line, field(&c->header, i));
				goto fail;
			}
	for (size_t k = 0; required && required[k]; k++) {
		size_t i = 0;
		while (i < c->header.n && strcmp(field(&c->header, i), required[k]) != 0)
			i++;
		if (i == c->header.n) {
			rc = mcr_error_set(MCR_EFORMAT, "%s:%ld: missing column %s", path, c->header.line,
			                   required[k]);
			goto fail;
		}
	}
	*out = c;
	return 0;
fail:
	mcr_csv_close(c);
	return rc;
}

int mcr_csv_next(mcr_csv *c)
{
	if (c->failed)
		return mcr_error_set(c->failed, "%s: read after an earlier error", c->path);
	int rc = parse_record(c);
	if (rc)
		return csv_fail(c, rc);
	if (!c->ready) {
		record_reset(&c->current);
		return 0;
	}
	if (c->building.n != c->header.n)
		return csv_fail(c, mcr_error_set(MCR_EFORMAT, "%s:%ld: record has %zu fields, the header has %zu",
		                                 c->path, c->building.line, c->building.n, c->header.n));
	csv_record t = c->current;
	c->current = c->building;
	c->building = t;
	return 1;
}

const char *mcr_csv_get(const mcr_csv *c, const char *column)
{
	if (c->current.n != c->header.n)
		return NULL;
	for (size_t i = 0; i < c->header.n; i++)
		if (strcmp(field(&c->header, i), column) == 0)
			return field(&c->current, i);
	return NULL;
}

long mcr_csv_line(const mcr_csv *c)
{
	return c->current.n ? c->current.line : c->header.line;
}

const char *mcr_csv_path(const mcr_csv *c)
{
	return c->path;
}

void mcr_csv_close(mcr_csv *c)
{
	if (!c)
		return;
	if (c->parser_ready)
		csv_free(&c->parser);
	if (c->fd >= 0)
		close(c->fd);
	record_free(&c->header);
	record_free(&c->building);
	record_free(&c->current);
	free(c->path);
	free(c);
}
