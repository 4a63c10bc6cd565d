/*
 * lib/seal.c: the sealed scratch stream. What is written reads back the same
 * whatever the sizes of the writes and reads and across chunk boundaries; the
 * file holds none of it readable and differs between two streams of the same
 * text (a key per stream); a file changed anywhere (header, text, tag),
 * truncated, extended or with its chunks reordered is MCR_EFORMAT, never
 * content; the stream is written, rewound once, then read.
 */
#define _GNU_SOURCE /* memmem */
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

#include "../../lib/seal.h"
#include "mcr/error.h"

#define ONDISK(n) (MCR_SEAL_HEAD + (n) + MCR_SEAL_TAG)
static const char marker[] = "ZQXWITHHELDMARKER";

/* A scratch file as the extractor has one: empty, read-write, unnamed. */
static int scratch(void)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	int fd = dup(fileno(f));
	fclose(f);
	assert_true(fd >= 0);
	return fd;
}

/* n bytes of text: the marker over and over, with a counter so chunks differ. */
static unsigned char *text(size_t n)
{
	unsigned char *t = malloc(n + 1);
	assert_non_null(t);
	for (size_t i = 0; i < n; i++)
		t[i] = (i % 64 < sizeof marker - 1) ? (unsigned char)marker[i % 64] : (unsigned char)(i / 64);
	return t;
}

/* Write t (n bytes) in pieces of `step` bytes and rewind. */
static mcr_seal *sealed(int fd, const unsigned char *t, size_t n, size_t step)
{
	mcr_seal *s;
	assert_int_equal(mcr_seal_open(&s, fd), 0);
	for (size_t i = 0; i < n; i += step)
		assert_int_equal(mcr_seal_write(s, t + i, n - i < step ? n - i : step), 0);
	assert_int_equal(mcr_seal_rewind(s), 0);
	return s;
}

/* Read everything back in pieces of `step`: the bytes, or the first error. */
static long read_all(mcr_seal *s, unsigned char *out, size_t cap, size_t step)
{
	size_t done = 0;
	for (;;) {
		size_t want = cap - done < step ? cap - done : step;
		long k = mcr_seal_read(s, out + done, want);
		if (k < 0)
			return k;
		done += (size_t)k;
		if ((size_t)k < want || want == 0)
			return (long)done;
	}
}

static void test_round_trip(void **state)
{
	(void)state;
	const size_t C = MCR_SEAL_CHUNK;
	const size_t sizes[] = {0, 1, 100, C - 1, C, C + 1, 3 * C + 5};
	const size_t steps[] = {1, 7, 4096, C + 3};
	unsigned char *t = text(3 * C + 5), *back = malloc(3 * C + 5 + 16);
	assert_non_null(back);
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		size_t n = sizes[i];
		for (size_t j = 0; j < sizeof steps / sizeof *steps; j++) {
			if (steps[j] == 1 && n > C + 1)
				continue; /* byte by byte only up to a chunk boundary */
			int fd = scratch();
			mcr_seal *s = sealed(fd, t, n, steps[j]);
			long got = read_all(s, back, n + 16, steps[(j + 1) % 4]);
			assert_int_equal(got, (long)n);
			assert_memory_equal(back, t, n);
			assert_int_equal(mcr_seal_read(s, back, 1), 0); /* and then the end */
			/* Chunks as on disk: the file is the text's size plus a header and tag per chunk. */
			struct stat st;
			assert_int_equal(fstat(fd, &st), 0);
			assert_int_equal((size_t)st.st_size, n + (n / C + 1) * ONDISK(0));
			mcr_seal_close(s);
			close(fd);
		}
	}
	free(t);
	free(back);
}

static unsigned char *file_bytes(int fd, size_t *n)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	unsigned char *b = malloc((size_t)st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	*n = (size_t)st.st_size;
	return b;
}

static void test_unreadable(void **state)
{
	(void)state;
	size_t n = 2 * MCR_SEAL_CHUNK + 999, len1, len2;
	unsigned char *t = text(n);
	int fd1 = scratch(), fd2 = scratch();
	mcr_seal *s1 = sealed(fd1, t, n, 5000), *s2 = sealed(fd2, t, n, 5000);
	unsigned char *b1 = file_bytes(fd1, &len1), *b2 = file_bytes(fd2, &len2);
	assert_null(memmem(b1, len1, marker, 8));
	assert_null(memmem(b1, len1, marker + 8, 8));
	assert_int_equal(len1, len2);
	/* A key per stream: the same text seals differently. */
	assert_memory_not_equal(b1 + MCR_SEAL_HEAD, b2 + MCR_SEAL_HEAD, 64);
	mcr_seal_close(s1);
	mcr_seal_close(s2);
	close(fd1);
	close(fd2);
	free(b1);
	free(b2);
	free(t);
}

/* Seal n bytes, let change() alter the file, and read it all back: the error. */
static long tampered(size_t n, void (*change)(int fd, size_t len, long arg), long arg)
{
	unsigned char *t = text(n), *back = malloc(n + 16);
	assert_non_null(back);
	int fd = scratch();
	mcr_seal *s = sealed(fd, t, n, 4096);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	change(fd, (size_t)st.st_size, arg);
	mcr_error_clear();
	long rc = read_all(s, back, n + 16, 10000);
	mcr_seal_close(s);
	close(fd);
	free(t);
	free(back);
	return rc;
}

static void flip(int fd, size_t len, long at)
{
	size_t off = at < 0 ? len - (size_t)-at : (size_t)at;
	unsigned char c;
	assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
	c ^= 1;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
}

static void cut(int fd, size_t len, long to)
{
	assert_int_equal(ftruncate(fd, to < 0 ? (off_t)len + to : to), 0);
}

static void extend(int fd, size_t len, long by)
{
	assert_int_equal(ftruncate(fd, (off_t)(len + (size_t)by)), 0);
}

/* Swap the first two chunks (both full). */
static void swap(int fd, size_t len, long unused)
{
	(void)len;
	(void)unused;
	size_t c = ONDISK(MCR_SEAL_CHUNK);
	unsigned char *a = malloc(c), *b = malloc(c);
	assert_true(a && b);
	assert_int_equal(pread(fd, a, c, 0), (ssize_t)c);
	assert_int_equal(pread(fd, b, c, (off_t)c), (ssize_t)c);
	assert_int_equal(pwrite(fd, b, c, 0), (ssize_t)c);
	assert_int_equal(pwrite(fd, a, c, (off_t)c), (ssize_t)c);
	free(a);
	free(b);
}

static void expect_damaged(long rc)
{
	assert_int_equal(rc, MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "scratch file is damaged"));
}

static void test_tampered(void **state)
{
	(void)state;
	const long C = (long)MCR_SEAL_CHUNK, D = (long)ONDISK(MCR_SEAL_CHUNK);
	const long n = 2 * C + 500;
	/* A bit anywhere: each header field, the text, the tag, in each chunk. */
	const long at[] = {0, 3, 4, 7, 8, 1000, D - 1, D, D + 4, D + 100, 2 * D, 2 * D + 8, -16, -1};
	for (size_t i = 0; i < sizeof at / sizeof *at; i++)
		expect_damaged(tampered((size_t)n, flip, at[i]));
	/* Truncated: inside a header, a text, a tag; at a chunk boundary; to nothing. */
	const long to[] = {4, 100, D - 1, D, 2 * D, -1, 0};
	for (size_t i = 0; i < sizeof to / sizeof *to; i++)
		expect_damaged(tampered((size_t)n, cut, to[i]));
	expect_damaged(tampered((size_t)n, extend, 1));
	expect_damaged(tampered((size_t)n, extend, D));
	expect_damaged(tampered((size_t)n, swap, 0));
	/* An empty stream is one (empty) last chunk, authenticated like any other. */
	expect_damaged(tampered(0, flip, -1));
	expect_damaged(tampered(0, cut, 0));
}

static void test_order_of_use(void **state)
{
	(void)state;
	int fd = scratch();
	mcr_seal *s;
	unsigned char b[4] = "abc";
	assert_int_equal(mcr_seal_open(&s, fd), 0);
	assert_true(mcr_seal_read(s, b, 1) < 0);
	assert_int_equal(mcr_seal_write(s, b, 3), 0);
	assert_int_equal(mcr_seal_rewind(s), 0);
	/* Never written again once read: a nonce is never used twice under one key. */
	assert_true(mcr_seal_write(s, b, 3) < 0);
	assert_true(mcr_seal_rewind(s) < 0);
	assert_int_equal(mcr_seal_read(s, b, 4), 3);
	mcr_seal_close(s);
	mcr_seal_close(NULL);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_order_of_use),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
