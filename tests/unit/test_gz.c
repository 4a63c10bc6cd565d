/* mcr_gz: round trip and every way a gzip file can be wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "mcr/buf.h"
#include "mcr/error.h"
#include "mcr/gz.h"


#define TMPDIR_NAME "test_gz"
#include "test_tmpdir.h"

static void tmp_path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	if (len)
		assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void read_whole(const char *path, mcr_buf *out)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char b[4096];
	size_t n;
	while ((n = fread(b, 1, sizeof(b), f)) > 0)
		assert_int_equal(mcr_buf_put(out, b, n), 0);
	fclose(f);
}

/* Text that compresses but is not trivial: lines with varying numbers. */
static void sample_text(mcr_buf *b, int lines)
{
	for (int i = 0; i < lines; i++)
		assert_int_equal(mcr_buf_printf(b, "<item n=\"%d\" code=\"%u\">line %d</item>\n",
		                                 i, (unsigned)(i * 2654435761u), i * 7), 0);
}

/* Write data with mcr_gz_writer; returns the length and CRC it reports. */
static void gz_write_file(const char *path, const void *data, size_t len, int level,
                          uint64_t *length, uint32_t *crc)
{
	mcr_gz_writer *w = NULL;
	assert_int_equal(mcr_gz_writer_open(&w, path, level), 0);
	/* Several writes, as a streaming writer does. */
	const char *p = data;
	size_t left = len;
	while (left) {
		size_t n = left > 1000 ? 1000 : left;
		assert_int_equal(mcr_gz_write(w, p, n), 0);
		p += n;
		left -= n;
	}
	assert_int_equal(mcr_gz_writer_finish(w, length, crc), 0);
}

/* Read path entirely; returns the mcr_gz_read code at the end (0 clean). */
static int gz_read_all(const char *path, unsigned flags, uint64_t max, mcr_buf *out,
                       uint64_t *raw_len, uint32_t *raw_crc)
{
	mcr_gz_reader *r = NULL;
	int rc = mcr_gz_open(&r, path, flags, max);
	if (rc)
		return rc;
	char b[777]; /* odd size: reads straddle chunk and member boundaries */
	size_t got;
	while ((rc = mcr_gz_read(r, b, sizeof(b), &got)) == 0 && got)
		if (out)
			assert_int_equal(mcr_buf_put(out, b, got), 0);
	if (raw_len)
		*raw_len = mcr_gz_raw_length(r);
	if (raw_crc)
		*raw_crc = mcr_gz_raw_crc32(r);
	mcr_gz_close(r);
	return rc;
}

static void test_round_trip(void **state)
{
	(void)state;
	char path[128];
	tmp_path(path, sizeof(path), "rt.xml.gz");
	mcr_buf text = MCR_BUF_INIT, back = MCR_BUF_INIT, file = MCR_BUF_INIT;
	sample_text(&text, 20000); /* ~1 MB: several inflate chunks */
	uint64_t wlen;
	uint32_t wcrc;
	gz_write_file(path, text.ptr, text.len, -1, &wlen, &wcrc);

	/* The writer reports the file's real length and CRC-32. */
	read_whole(path, &file);
	assert_int_equal(wlen, file.len);
	assert_int_equal(wcrc, (uint32_t)crc32(0, (const unsigned char *)file.ptr, (uInt)file.len));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0037, 0); /* others: no access; group: read at most */

	uint64_t rlen;
	uint32_t rcrc;
	assert_int_equal(gz_read_all(path, 0, 0, &back, &rlen, &rcrc), 0);
	assert_int_equal(back.len, text.len);
	assert_memory_equal(back.ptr, text.ptr, text.len);
	/* The reader's raw figures match the manifest figures the writer gave. */
	assert_int_equal(rlen, wlen);
	assert_int_equal(rcrc, wcrc);

	mcr_gz_reader *r = NULL;
	assert_int_equal(mcr_gz_open(&r, path, MCR_GZ_ALLOW_PLAIN, 0), 0);
	assert_int_equal(mcr_gz_is_gzip(r), 1);
	assert_string_equal(mcr_gz_path(r), path);
	mcr_gz_close(r);
	mcr_buf_free(&text);
	mcr_buf_free(&back);
	mcr_buf_free(&file);
}

static void test_writer_excl_and_abort(void **state)
{
	(void)state;
	char path[128];
	tmp_path(path, sizeof(path), "excl.gz");
	write_file(path, "keep", 4);
	mcr_gz_writer *w = NULL;
	/* An existing file is never overwritten. */
	assert_int_equal(mcr_gz_writer_open(&w, path, -1), MCR_EIO);
	assert_null(w);
	assert_non_null(strstr(mcr_error_message(), path));
	mcr_buf file = MCR_BUF_INIT;
	read_whole(path, &file);
	assert_string_equal(file.ptr, "keep");
	mcr_buf_free(&file);

	tmp_path(path, sizeof(path), "aborted.gz");
	assert_int_equal(mcr_gz_writer_open(&w, path, 6), 0);
	assert_int_equal(mcr_gz_write(w, "abc", 3), 0);
	assert_int_equal(access(path, F_OK), 0);
	mcr_gz_writer_abort(w);
	assert_int_not_equal(access(path, F_OK), 0);
	mcr_gz_writer_abort(NULL);
	mcr_gz_close(NULL);

	/* A directory that does not exist: error naming the path, nothing left. */
	tmp_path(path, sizeof(path), "no/such/dir.gz");
	assert_int_equal(mcr_gz_writer_open(&w, path, -1), MCR_EIO);
	assert_non_null(strstr(mcr_error_message(), "no/such/dir.gz"));
}

static void test_truncated(void **state)
{
	(void)state;
	char full[128], cut[128];
	tmp_path(full, sizeof(full), "full.gz");
	mcr_buf text = MCR_BUF_INIT, file = MCR_BUF_INIT;
	sample_text(&text, 5000);
	gz_write_file(full, text.ptr, text.len, 9, NULL, NULL);
	read_whole(full, &file);
	/* Inside the header, the deflate data, and the 8-byte trailer. */
	size_t cuts[] = { 2, 5, 11, 40, file.len / 2, file.len - 8, file.len - 4, file.len - 1 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		tmp_path(cut, sizeof(cut), "cut.gz");
		unlink(cut);
		write_file(cut, file.ptr, cuts[i]);
		mcr_error_clear();
		int rc = gz_read_all(cut, 0, 0, NULL, NULL, NULL);
		if (rc != MCR_EFORMAT)
			fail_msg("cut at %zu of %zu: rc %d (%s)", cuts[i], file.len, rc, mcr_error_message());
		assert_non_null(strstr(mcr_error_message(), cut));
		assert_non_null(strstr(mcr_error_message(), "truncated"));
	}
	mcr_buf_free(&text);
	mcr_buf_free(&file);
}

static void test_trailing_garbage(void **state)
{
	(void)state;
	char path[128];
	tmp_path(path, sizeof(path), "garbage.gz");
	gz_write_file(path, "hello\n", 6, -1, NULL, NULL);
	mcr_buf file = MCR_BUF_INIT;
	read_whole(path, &file);
	size_t good = file.len;
	const char *tails[] = { "x", "\0\0\0\0", "\x1f", "junk after the end" };
	size_t tail_len[] = { 1, 4, 1, 18 };
	for (size_t i = 0; i < 4; i++) {
		file.len = good;
		assert_int_equal(mcr_buf_put(&file, tails[i], tail_len[i]), 0);
		unlink(path);
		write_file(path, file.ptr, file.len);
		mcr_buf back = MCR_BUF_INIT;
		int rc = gz_read_all(path, 0, 0, &back, NULL, NULL);
		assert_int_equal(rc, MCR_EFORMAT);
		assert_non_null(strstr(mcr_error_message(), path));
		assert_non_null(strstr(mcr_error_message(), "trailing garbage"));
		mcr_buf_free(&back);
	}
	mcr_buf_free(&file);
}

static void test_not_gzip_and_plain(void **state)
{
	(void)state;
	char path[128];
	tmp_path(path, sizeof(path), "plain.xml");
	const char *xml = "<root>plain text, not gzip</root>\n";
	write_file(path, xml, strlen(xml));
	mcr_gz_reader *r = NULL;
	assert_int_equal(mcr_gz_open(&r, path, 0, 0), MCR_EFORMAT);
	assert_null(r);
	assert_non_null(strstr(mcr_error_message(), path));
	assert_non_null(strstr(mcr_error_message(), "not a gzip file"));

	mcr_buf back = MCR_BUF_INIT;
	uint64_t rlen;
	uint32_t rcrc;
	assert_int_equal(gz_read_all(path, MCR_GZ_ALLOW_PLAIN, 0, &back, &rlen, &rcrc), 0);
	assert_string_equal(back.ptr, xml);
	assert_int_equal(rlen, strlen(xml));
	assert_int_equal(rcrc, (uint32_t)crc32(0, (const unsigned char *)xml, (uInt)strlen(xml)));
	assert_int_equal(mcr_gz_open(&r, path, MCR_GZ_ALLOW_PLAIN, 0), 0);
	assert_int_equal(mcr_gz_is_gzip(r), 0);
	mcr_gz_close(r);
	mcr_buf_free(&back);

	/* A one-byte file is not gzip either. */
	tmp_path(path, sizeof(path), "one");
	write_file(path, "\x1f", 1);
	assert_int_equal(mcr_gz_open(&r, path, 0, 0), MCR_EFORMAT);

	tmp_path(path, sizeof(path), "missing.gz");
	assert_int_equal(mcr_gz_open(&r, path, 0, 0), MCR_ENOTFOUND);
	assert_non_null(strstr(mcr_error_message(), "missing.gz"));
}

static void test_cap(void **state)
{
	(void)state;
	char path[128];
	tmp_path(path, sizeof(path), "cap.gz");
	mcr_buf text = MCR_BUF_INIT;
	sample_text(&text, 1000);
	gz_write_file(path, text.ptr, text.len, -1, NULL, NULL);
	/* Exactly the size is fine; one byte less is over the cap. */
	assert_int_equal(gz_read_all(path, 0, text.len, NULL, NULL, NULL), 0);
	assert_int_equal(gz_read_all(path, 0, text.len - 1, NULL, NULL, NULL), MCR_ELIMIT);
	assert_non_null(strstr(mcr_error_message(), path));
	/* A compression bomb: 50 MB of zeros stops at the cap. */
	tmp_path(path, sizeof(path), "bomb.gz");
	mcr_gz_writer *w = NULL;
	assert_int_equal(mcr_gz_writer_open(&w, path, 9), 0);
	char *zeros = calloc(1, 1 << 20);
	assert_non_null(zeros);
	for (int i = 0; i < 50; i++)
		assert_int_equal(mcr_gz_write(w, zeros, 1 << 20), 0);
	free(zeros);
	assert_int_equal(mcr_gz_writer_finish(w, NULL, NULL), 0);
	assert_int_equal(gz_read_all(path, 0, 1 << 20, NULL, NULL, NULL), MCR_ELIMIT);
	/* Plain files obey the cap too. */
	tmp_path(path, sizeof(path), "cap.txt");
	write_file(path, text.ptr, text.len);
	assert_int_equal(gz_read_all(path, MCR_GZ_ALLOW_PLAIN, 100, NULL, NULL, NULL), MCR_ELIMIT);
	mcr_buf_free(&text);
}

static void test_empty(void **state)
{
	(void)state;
	char path[128];
	tmp_path(path, sizeof(path), "empty.gz");
	write_file(path, "", 0);
	mcr_gz_reader *r = NULL;
	assert_int_equal(mcr_gz_open(&r, path, 0, 0), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "empty"));
	/* Read as plain, an empty file is an empty stream. */
	mcr_buf back = MCR_BUF_INIT;
	assert_int_equal(gz_read_all(path, MCR_GZ_ALLOW_PLAIN, 0, &back, NULL, NULL), 0);
	assert_int_equal(back.len, 0);
	/* A gzip file of nothing is valid and reads as nothing. */
	tmp_path(path, sizeof(path), "nothing.gz");
	gz_write_file(path, "", 0, -1, NULL, NULL);
	assert_int_equal(gz_read_all(path, 0, 0, &back, NULL, NULL), 0);
	assert_int_equal(back.len, 0);
	mcr_buf_free(&back);
}

static void test_corrupt_byte(void **state)
{
	(void)state;
	char path[128];
	tmp_path(path, sizeof(path), "stored.gz");
	const char *text = "The stored block keeps these bytes as they are.\n";
	/* Level 0: the payload is stored verbatim, so flipping one of its bytes
	 * gets past inflate and only the CRC-32 can catch it. */
	gz_write_file(path, text, strlen(text), 0, NULL, NULL);
	mcr_buf file = MCR_BUF_INIT;
	read_whole(path, &file);
	char *hit = NULL;
	for (size_t i = 0; !hit && i + 12 <= file.len; i++)
		if (memcmp(file.ptr + i, "stored block", 12) == 0)
			hit = file.ptr + i;
	assert_non_null(hit);
	hit[0] ^= 0x20;
	unlink(path);
	write_file(path, file.ptr, file.len);
	assert_int_equal(gz_read_all(path, 0, 0, NULL, NULL, NULL), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "CRC-32 mismatch"));
	assert_non_null(strstr(mcr_error_message(), path));
	hit[0] ^= 0x20;

	/* The length field of the trailer. */
	file.ptr[file.len - 1] ^= 1;
	unlink(path);
	write_file(path, file.ptr, file.len);
	assert_int_equal(gz_read_all(path, 0, 0, NULL, NULL, NULL), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "length mismatch"));
	file.ptr[file.len - 1] ^= 1;

	/* A corrupt header (bad compression method). */
	file.ptr[2] = 7;
	unlink(path);
	write_file(path, file.ptr, file.len);
	assert_int_equal(gz_read_all(path, 0, 0, NULL, NULL, NULL), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "corrupt gzip data"));
	mcr_buf_free(&file);
}

static void test_concatenated(void **state)
{
	(void)state;
	char a[128], b[128], both[128];
	tmp_path(a, sizeof(a), "a.gz");
	tmp_path(b, sizeof(b), "b.gz");
	tmp_path(both, sizeof(both), "ab.gz");
	mcr_buf big = MCR_BUF_INIT;
	sample_text(&big, 3000);
	gz_write_file(a, big.ptr, big.len, -1, NULL, NULL);
	gz_write_file(b, "second member\n", 14, -1, NULL, NULL);
	mcr_buf fa = MCR_BUF_INIT, fb = MCR_BUF_INIT, back = MCR_BUF_INIT;
	read_whole(a, &fa);
	read_whole(b, &fb);
	/* Three members, the middle one empty, as `cat a.gz b.gz` makes. */
	mcr_buf cat = MCR_BUF_INIT;
	char e[128];
	tmp_path(e, sizeof(e), "e.gz");
	gz_write_file(e, "", 0, -1, NULL, NULL);
	mcr_buf fe = MCR_BUF_INIT;
	read_whole(e, &fe);
	mcr_buf_put(&cat, fa.ptr, fa.len);
	mcr_buf_put(&cat, fe.ptr, fe.len);
	mcr_buf_put(&cat, fb.ptr, fb.len);
	write_file(both, cat.ptr, cat.len);
	uint64_t rlen;
	assert_int_equal(gz_read_all(both, 0, 0, &back, &rlen, NULL), 0);
	assert_int_equal(back.len, big.len + 14);
	assert_memory_equal(back.ptr, big.ptr, big.len);
	assert_memory_equal(back.ptr + big.len, "second member\n", 14);
	assert_int_equal(rlen, cat.len);

	/* The second member truncated is still truncation. */
	unlink(both);
	write_file(both, cat.ptr, cat.len - 3);
	assert_int_equal(gz_read_all(both, 0, 0, NULL, NULL, NULL), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "truncated"));
	mcr_buf_free(&big);
	mcr_buf_free(&fa);
	mcr_buf_free(&fb);
	mcr_buf_free(&fe);
	mcr_buf_free(&cat);
	mcr_buf_free(&back);
}

static void test_sticky_error(void **state)
{
	(void)state;
	char path[128];
	tmp_path(path, sizeof(path), "sticky.gz");
	gz_write_file(path, "abc", 3, -1, NULL, NULL);
	mcr_buf file = MCR_BUF_INIT;
	read_whole(path, &file);
	mcr_buf_puts(&file, "garbage");
	unlink(path);
	write_file(path, file.ptr, file.len);
	mcr_gz_reader *r = NULL;
	assert_int_equal(mcr_gz_open(&r, path, 0, 0), 0);
	char b[64];
	size_t got = 1;
	int rc;
	while ((rc = mcr_gz_read(r, b, sizeof(b), &got)) == 0 && got)
		;
	assert_int_equal(rc, MCR_EFORMAT);
	/* Reading on after an error never reports a clean end. */
	assert_int_equal(mcr_gz_read(r, b, sizeof(b), &got), MCR_EFORMAT);
	assert_int_equal(got, 0);
	mcr_gz_close(r);
	mcr_buf_free(&file);
}

/* Files made by the gzip tool (a FNAME header field; two members). */
static void test_gzip_tool_files(void **state)
{
	(void)state;
	const char *d = getenv("MCR_TEST_DATA");
	char p[512];
	mcr_buf plain = MCR_BUF_INIT, two = MCR_BUF_INIT, back = MCR_BUF_INIT;
	snprintf(p, sizeof(p), "%s/gz/hello.txt", d ? d : MCR_SOURCE_DIR "/tests/data");
	read_whole(p, &plain);
	snprintf(p, sizeof(p), "%s/gz/two.txt", d ? d : MCR_SOURCE_DIR "/tests/data");
	read_whole(p, &two);
	snprintf(p, sizeof(p), "%s/gz/hello.txt.gz", d ? d : MCR_SOURCE_DIR "/tests/data");
	assert_int_equal(gz_read_all(p, 0, 0, &back, NULL, NULL), 0);
	assert_int_equal(back.len, plain.len);
	assert_memory_equal(back.ptr, plain.ptr, plain.len);
	mcr_buf_reset(&back);
	snprintf(p, sizeof(p), "%s/gz/concatenated.txt.gz", d ? d : MCR_SOURCE_DIR "/tests/data");
	assert_int_equal(gz_read_all(p, 0, 0, &back, NULL, NULL), 0);
	assert_int_equal(back.len, plain.len + two.len);
	assert_memory_equal(back.ptr + plain.len, two.ptr, two.len);
	mcr_buf_free(&plain);
	mcr_buf_free(&two);
	mcr_buf_free(&back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_writer_excl_and_abort),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_trailing_garbage),
		cmocka_unit_test(test_not_gzip_and_plain),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_corrupt_byte),
		cmocka_unit_test(test_concatenated),
		cmocka_unit_test(test_sticky_error),
		cmocka_unit_test(test_gzip_tool_files),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
