/*
 * gzip reading and writing over zlib's inflate/deflate, fed by read(2)/write(2),
 * so every way a file can be wrong is seen: not gzip, truncated, trailing
 * garbage, a CRC or length mismatch, more output than the cap allows.
 */
#include "mcr/gz.h"
#include "mcr/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libdeflate.h>
#include <zlib.h>

#define GZ_CHUNK (64 * 1024)

enum gz_mode { GZ_GZIP, GZ_PLAIN };

struct mcr_gz_reader {
	int fd;
	char *path;
	enum gz_mode mode;
	z_stream zs;
	int zs_ready;
	int in_member;    /* inside a gzip member (between its header and trailer) */
	int eof;          /* read(2) returned 0 */
	int done;         /* clean end reached */
	int failed;       /* sticky error code once a read failed */
	uint64_t max_out;
	uint64_t out_total;
	uint64_t raw_len; /* bytes read from the file */
	uint32_t raw_crc; /* CRC-32 of those bytes */
	unsigned char in[GZ_CHUNK];
	size_t in_len;    /* plain mode: bytes of in[] not yet returned */
	size_t in_pos;
};

/*
 * The writer compresses with libdeflate (about twice zlib's speed at level 1,
 * and smaller output): each MEMBER_CHUNK of input becomes one gzip member, so
 * memory stays two chunks whatever the file's size; gzip readers (zlib's, this
 * file's, gunzip) read concatenated members as one stream.
 */
#define MEMBER_CHUNK ((size_t)1 << 20)

struct mcr_gz_writer {
	int fd;
	char *path;
	struct libdeflate_compressor *ld;
	int failed;
	int members;      /* written so far */
	uint64_t length;
	uint32_t crc;
	unsigned char *in; /* MEMBER_CHUNK bytes of input being gathered */
	size_t in_len;
	unsigned char *out;
	size_t out_cap;   /* libdeflate's bound for a full chunk */
};

/* read(2) into buf, retrying EINTR; updates the raw length and CRC. */
static int raw_read(mcr_gz_reader *r, unsigned char *buf, size_t len, size_t *got)
{
	ssize_t n;
	do
		n = read(r->fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return mcr_error_set_errno(MCR_EIO, "%s: read failed", r->path);
	if (n == 0)
		r->eof = 1;
	r->raw_len += (uint64_t)n;
	r->raw_crc = (uint32_t)crc32(r->raw_crc, buf, (uInt)n);
	*got = (size_t)n;
	return 0;
}

/* Gzip mode: move unconsumed input to the front of in[] and read more after it. */
static int fill_gzip(mcr_gz_reader *r)
{
	size_t keep = r->zs.avail_in;
	if (keep && r->zs.next_in != r->in)
		memmove(r->in, r->zs.next_in, keep);
	size_t got = 0;
	int rc = 0;
	if (!r->eof && keep < sizeof(r->in))
		rc = raw_read(r, r->in + keep, sizeof(r->in) - keep, &got);
	r->zs.next_in = r->in;
	r->zs.avail_in = (uInt)(keep + got);
	return rc;
}

/* Offset in the file of the next byte inflate would consume. */
static uint64_t gzip_offset(const mcr_gz_reader *r)
{
	return r->raw_len - r->zs.avail_in;
}

int mcr_gz_open(mcr_gz_reader **out, const char *path, unsigned flags, uint64_t max_out)
{
	*out = NULL;
	mcr_gz_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening %s", path);
	r->fd = -1;
	r->max_out = max_out ? max_out : MCR_GZ_DEFAULT_MAX;
	r->raw_crc = (uint32_t)crc32(0L, Z_NULL, 0);
	r->path = strdup(path);
	int rc;
	if (!r->path) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory opening %s", path);
		goto fail;
	}
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		rc = mcr_error_set_errno(errno == ENOENT ? MCR_ENOTFOUND : MCR_EIO,
		                         "%s: cannot open", path);
		goto fail;
	}
	/* Two bytes decide gzip or not; short reads are possible on pipes. */
	while (r->in_len < 2 && !r->eof) {
		size_t got = 0;
		rc = raw_read(r, r->in + r->in_len, sizeof(r->in) - r->in_len, &got);
		if (rc)
			goto fail;
		r->in_len += got;
	}
	if (r->in_len >= 2 && r->in[0] == 0x1f && r->in[1] == 0x8b) {
		r->mode = GZ_GZIP;
		if (inflateInit2(&r->zs, 16 + MAX_WBITS) != Z_OK) {
			rc = mcr_error_set(MCR_ENOMEM, "%s: cannot initialise inflate", path);
			goto fail;
		}
		r->zs_ready = 1;
		r->zs.next_in = r->in;
		r->zs.avail_in = (uInt)r->in_len;
		r->in_member = 1;
	} else if (flags & MCR_GZ_ALLOW_PLAIN) {
		r->mode = GZ_PLAIN;
	} else {
		rc = mcr_error_set(MCR_EFORMAT, "%s: not a gzip file%s", path,
		                   r->in_len == 0 ? " (empty)" : "");
		goto fail;
	}
	*out = r;
	return 0;
fail:
	mcr_gz_close(r);
	return rc;
}

static int read_plain(mcr_gz_reader *r, unsigned char *buf, size_t len, size_t *got)
{
	size_t n = 0;
	if (r->in_pos < r->in_len) {
		n = r->in_len - r->in_pos;
		if (n > len)
			n = len;
		memcpy(buf, r->in + r->in_pos, n);
		r->in_pos += n;
	} else {
		if (r->eof) {
			r->done = 1;
			return 0;
		}
		int rc = raw_read(r, buf, len, &n);
		if (rc)
			return rc;
		if (n == 0) {
			r->done = 1;
			return 0;
		}
	}
	if (n > r->max_out - r->out_total)
		return mcr_error_set(MCR_ELIMIT, "%s: larger than the limit of %llu bytes",
		                     r->path, (unsigned long long)r->max_out);
	r->out_total += n;
	*got = n;
	return 0;
}

/* At a member boundary: end of file, or the magic of another member. */
static int next_member(mcr_gz_reader *r)
{
	int rc;
	while (r->zs.avail_in < 2 && !r->eof)
		if ((rc = fill_gzip(r)))
			return rc;
	if (r->zs.avail_in == 0) {
		r->done = 1;
		return 0;
	}
	if (r->zs.avail_in < 2 || r->zs.next_in[0] != 0x1f || r->zs.next_in[1] != 0x8b)
		return mcr_error_set(MCR_EFORMAT, "%s: trailing garbage after gzip data at byte %llu",
		                     r->path, (unsigned long long)gzip_offset(r));
	if (inflateReset(&r->zs) != Z_OK)
		return mcr_error_set(MCR_ERROR, "%s: inflateReset failed", r->path);
	r->in_member = 1;
	return 0;
}

static int read_gzip(mcr_gz_reader *r, unsigned char *buf, size_t len, size_t *got)
{
	int rc;
	r->zs.next_out = buf;
	r->zs.avail_out = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
	uInt want = r->zs.avail_out;
	while (r->zs.avail_out == want) {
		if (!r->in_member) {
			if ((rc = next_member(r)))
				return rc;
			if (r->done)
				break;
		}
		if (r->zs.avail_in == 0) {
			if ((rc = fill_gzip(r)))
				return rc;
			if (r->zs.avail_in == 0)
				return mcr_error_set(MCR_EFORMAT,
				                     "%s: truncated gzip file (ends at byte %llu inside a member)",
				                     r->path, (unsigned long long)r->raw_len);
		}
		int zr = inflate(&r->zs, Z_NO_FLUSH);
		switch (zr) {
		case Z_OK:
			break;
		case Z_STREAM_END:
			/* zlib has checked this member's CRC-32 and length. */
			r->in_member = 0;
			break;
		case Z_BUF_ERROR:
			/* No progress possible: input exhausted; the loop reads more. */
			break;
		case Z_MEM_ERROR:
			return mcr_error_set(MCR_ENOMEM, "%s: out of memory inflating", r->path);
		case Z_DATA_ERROR:
		default: {
			const char *m = r->zs.msg ? r->zs.msg : "corrupt data";
			if (strcmp(m, "incorrect data check") == 0)
				m = "CRC-32 mismatch in gzip trailer";
			else if (strcmp(m, "incorrect length check") == 0)
				m = "length mismatch in gzip trailer";
			return mcr_error_set(MCR_EFORMAT, "%s: corrupt gzip data near byte %llu: %s",
			                     r->path, (unsigned long long)gzip_offset(r), m);
		}
		}
	}
	size_t n = want - r->zs.avail_out;
	if (n > r->max_out - r->out_total)
		return mcr_error_set(MCR_ELIMIT, "%s: decompresses to more than the limit of %llu bytes",
		                     r->path, (unsigned long long)r->max_out);
	r->out_total += n;
	*got = n;
	return 0;
}

int mcr_gz_read(mcr_gz_reader *r, void *buf, size_t len, size_t *got)
{
	*got = 0;
	if (r->failed)
		return mcr_error_set(r->failed, "%s: read after an earlier error", r->path);
	if (r->done || len == 0)
		return 0;
	int rc = r->mode == GZ_PLAIN ? read_plain(r, buf, len, got) : read_gzip(r, buf, len, got);
	if (rc) {
		r->failed = rc;
		*got = 0;
	}
	return rc;
}

uint64_t mcr_gz_raw_length(const mcr_gz_reader *r)
{
	return r->raw_len;
}

uint32_t mcr_gz_raw_crc32(const mcr_gz_reader *r)
{
	return r->raw_crc;
}

int mcr_gz_is_gzip(const mcr_gz_reader *r)
{
	return r->mode == GZ_GZIP;
}

const char *mcr_gz_path(const mcr_gz_reader *r)
{
	return r->path;
}

void mcr_gz_close(mcr_gz_reader *r)
{
	if (!r)
		return;
	if (r->zs_ready)
		inflateEnd(&r->zs);
	if (r->fd >= 0)
		close(r->fd);
	free(r->path);
	free(r);
}

/* ---- writer ---- */

static void writer_discard(mcr_gz_writer *w)
{
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
		unlink(w->path);
	}
}

static void writer_free(mcr_gz_writer *w)
{
	if (w->ld)
		libdeflate_free_compressor(w->ld);
	free(w->in);
	free(w->out);
	free(w->path);
	free(w);
}

int mcr_gz_writer_open(mcr_gz_writer **out, const char *path, int level)
{
	*out = NULL;
	mcr_gz_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return mcr_error_set(MCR_ENOMEM, "out of memory creating %s", path);
	w->fd = -1;
	w->crc = (uint32_t)crc32(0L, Z_NULL, 0);
	w->path = strdup(path);
	if (level < 0)
		level = 6; /* zlib's default */
	if (level <= 12)
		w->ld = libdeflate_alloc_compressor(level);
	if (w->ld) {
		w->out_cap = libdeflate_gzip_compress_bound(w->ld, MEMBER_CHUNK);
		w->in = malloc(MEMBER_CHUNK);
		w->out = malloc(w->out_cap);
	}
	if (!w->path || !w->ld || !w->in || !w->out) {
		int rc = level > 12 ? mcr_error_set(MCR_ERROR, "%s: cannot initialise deflate (level %d)", path, level)
		                    : mcr_error_set(MCR_ENOMEM, "out of memory creating %s", path);
		writer_free(w);
		return rc;
	}
	/* Health data: readable by its owner only (the staged payload keeps the mode). */
	w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		int rc = mcr_error_set_errno(MCR_EIO, "%s: cannot create", path);
		writer_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

static int write_all(mcr_gz_writer *w, const unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = write(w->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return mcr_error_set_errno(MCR_EIO, "%s: write failed", w->path);
		}
		w->length += (uint64_t)n;
		w->crc = (uint32_t)crc32(w->crc, p, (uInt)n);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The gathered input as one gzip member (also when empty, for an empty file's
 * one member). */
static int member_out(mcr_gz_writer *w)
{
	size_t n = libdeflate_gzip_compress(w->ld, w->in, w->in_len, w->out, w->out_cap);
	if (n == 0)
		return mcr_error_set(MCR_ERROR, "%s: deflate failed", w->path);
	w->in_len = 0;
	w->members++;
	return write_all(w, w->out, n);
}

int mcr_gz_write(mcr_gz_writer *w, const void *data, size_t len)
{
	if (w->failed)
		return mcr_error_set(w->failed, "%s: write after an earlier error", w->path);
	const unsigned char *p = data;
	while (len) {
		size_t n = MEMBER_CHUNK - w->in_len;
		if (n > len)
			n = len;
		memcpy(w->in + w->in_len, p, n);
		w->in_len += n;
		p += n;
		len -= n;
		int rc = w->in_len == MEMBER_CHUNK ? member_out(w) : 0;
		if (rc) {
			w->failed = rc;
			writer_discard(w);
			return rc;
		}
	}
	return 0;
}

int mcr_gz_writer_finish(mcr_gz_writer *w, uint64_t *length, uint32_t *crc)
{
	if (!w)
		return mcr_error_set(MCR_ERROR, "gzip writer: finish without a writer");
	int rc = w->failed;
	if (rc) {
		mcr_error_set(rc, "%s: finish after an earlier error", w->path);
		goto out;
	}
	if ((w->in_len || !w->members) && (rc = member_out(w)))
		goto out;
	if (fsync(w->fd) != 0) {
		rc = mcr_error_set_errno(MCR_EIO, "%s: fsync failed", w->path);
		goto out;
	}
	int fd = w->fd;
	w->fd = -1;
	if (close(fd) != 0) {
		rc = mcr_error_set_errno(MCR_EIO, "%s: close failed", w->path);
		unlink(w->path);
		goto out;
	}
	if (length)
		*length = w->length;
	if (crc)
		*crc = w->crc;
out:
	if (rc)
		writer_discard(w);
	writer_free(w);
	return rc;
}

void mcr_gz_writer_abort(mcr_gz_writer *w)
{
	if (!w)
		return;
	writer_discard(w);
	writer_free(w);
}
