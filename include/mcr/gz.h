/*
 * gzip files with zlib's inflate/deflate directly (not gzread), so that
 * truncation, trailing garbage, a bad CRC and non-gzip input are errors, and
 * the decompressed size is capped.
 */
#ifndef MCR_GZ_H
#define MCR_GZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct mcr_gz_reader mcr_gz_reader;
typedef struct mcr_gz_writer mcr_gz_writer;

/* Reader flags. */
#define MCR_GZ_ALLOW_PLAIN 1  /* a file that is not gzip is read as it is (for .xml inputs) */

/* Default cap on decompressed bytes: 8 GiB. */
#define MCR_GZ_DEFAULT_MAX ((uint64_t)8 << 30)

/*
 * Open path for reading. Without MCR_GZ_ALLOW_PLAIN a file not starting with
 * the gzip magic is MCR_EFORMAT ("<path>: not a gzip file"). max_out caps the
 * decompressed size (0: MCR_GZ_DEFAULT_MAX). *out is freed with mcr_gz_close().
 * Concatenated gzip members are read as one stream.
 */
int mcr_gz_open(mcr_gz_reader **out, const char *path, unsigned flags, uint64_t max_out);

/*
 * Read up to len decompressed bytes into buf; *got is 0 only at a clean end.
 * Errors (message names the file): MCR_EFORMAT truncated / corrupt / trailing
 * garbage / CRC or length mismatch, MCR_ELIMIT over max_out, MCR_EIO.
 */
int mcr_gz_read(mcr_gz_reader *r, void *buf, size_t len, size_t *got);

/* Bytes of the file consumed so far, and the CRC-32 of those raw (compressed)
 * bytes: what a manifest's payload_length and payload_crc32 describe. */
uint64_t mcr_gz_raw_length(const mcr_gz_reader *r);
uint32_t mcr_gz_raw_crc32(const mcr_gz_reader *r);

/* 1 if the file is gzip, 0 if read as plain text. */
int mcr_gz_is_gzip(const mcr_gz_reader *r);

const char *mcr_gz_path(const mcr_gz_reader *r);

void mcr_gz_close(mcr_gz_reader *r); /* accepts NULL */

/*
 * Create path (O_EXCL) and write gzip to it: a gzip member per MiB of input
 * (libdeflate). level: 0-12 (libdeflate's; 1-9 as zlib's), -1 default (6).
 * mcr_gz_writer_finish() flushes, fsyncs and closes, and reports the file's
 * length and the CRC-32 of its bytes; on any error the file is removed.
 * mcr_gz_writer_abort() removes the file and frees; both accept NULL.
 */
int mcr_gz_writer_open(mcr_gz_writer **out, const char *path, int level);
int mcr_gz_write(mcr_gz_writer *w, const void *data, size_t len);
int mcr_gz_writer_finish(mcr_gz_writer *w, uint64_t *length, uint32_t *crc32);
void mcr_gz_writer_abort(mcr_gz_writer *w);

#endif
