/* mcr_csv: RFC 4180 records with their physical lines, and every bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcr/buf.h"
#include "mcr/csv.h"
#include "mcr/error.h"

static char path[128];

#define TMPDIR_NAME "test_csv"
#include "test_tmpdir.h"

/* Write text (len bytes) to a fresh file named name in the temp folder. */
static const char *file_n(const char *name, const char *text, size_t len)
{
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	if (len)
		assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

static const char *file(const char *name, const char *text)
{
	return file_n(name, text, strlen(text));
}

static const char *const cols_ab[] = { "a", "b", NULL };

/* Open, read every record and expect the error want (a prefix after the path). */
static void expect_error(const char *p, const char *const *required, int code, const char *want)
{
	mcr_csv *c = NULL;
	int rc = mcr_csv_open(&c, p, required);
	if (rc == 0)
		while ((rc = mcr_csv_next(c)) == 1)
			;
	char full[512];
	snprintf(full, sizeof(full), "%s%s", p, want);
	if (rc != code || strncmp(mcr_error_message(), full, strlen(full)) != 0)
		fail_msg("rc %d, message \"%s\"; wanted %d, \"%s...\"", rc, mcr_error_message(), code, full);
	if (c) /* errors are sticky */
		assert_int_equal(mcr_csv_next(c), code);
	mcr_csv_close(c);
}

static void test_persons_fixture(void **state)
{
	(void)state;
	const char *d = getenv("MCR_TEST_DATA");
	char p[512];
	snprintf(p, sizeof(p), "%s/csv/persons-bom-crlf.csv", d ? d : MCR_SOURCE_DIR "/tests/data");
	const char *req[] = { "person_id", "nhs_number", "family_name", "given_name", NULL };
	mcr_csv *c = NULL;
	assert_int_equal(mcr_csv_open(&c, p, req), 0);
	assert_string_equal(mcr_csv_path(c), p);

	assert_int_equal(mcr_csv_next(c), 1);
	assert_int_equal(mcr_csv_line(c), 2);
	/* The BOM is not part of the first column's name. */
	assert_string_equal(mcr_csv_get(c, "person_id"), "P1");
	assert_string_equal(mcr_csv_get(c, "family_name"), "O'Brien, Jr");
	assert_string_equal(mcr_csv_get(c, "given_name"), "Si\xc3\xa2n");
	/* CRLF: no CR left on the last field. */
	assert_string_equal(mcr_csv_get(c, "consent_date"), "2020-01-01");
	assert_null(mcr_csv_get(c, "no_such_column"));

	assert_int_equal(mcr_csv_next(c), 1);
	assert_int_equal(mcr_csv_line(c), 3);
	assert_string_equal(mcr_csv_get(c, "family_name"), "Smith \"Smithy\"");
	assert_string_equal(mcr_csv_get(c, "consent_date"), "");

	assert_int_equal(mcr_csv_next(c), 1);
	assert_int_equal(mcr_csv_line(c), 4);
	assert_string_equal(mcr_csv_get(c, "nhs_number"), "");
	assert_string_equal(mcr_csv_get(c, "family_name"), "Multi\r\nLine\r\nName");

	/* After a record spanning lines 4-6, the next starts on line 7. */
	assert_int_equal(mcr_csv_next(c), 1);
	assert_int_equal(mcr_csv_line(c), 7);
	assert_string_equal(mcr_csv_get(c, "person_id"), "P4");
	assert_int_equal(mcr_csv_next(c), 0);
	assert_int_equal(mcr_csv_next(c), 0);
	mcr_csv_close(c);
	mcr_csv_close(NULL);
}

static void test_quoting_and_lines(void **state)
{
	(void)state;
	const char *p = file("q.csv",
		"a,b,c\n"
		"\"x, y\",\"say \"\"hi\"\"\",\"\"\n"      /* 2 */
		"\n"                                    /* 3: blank, skipped */
		"\"one\n\ntwo\",plain, spaced \n"       /* 4-6 */
		"\"\",\"\"\"\",\"a\"\"b\"\"c\"\n"       /* 7 */
		"last,\"q\",end");                      /* 8, no final newline */
	mcr_csv *c = NULL;
	assert_int_equal(mcr_csv_open(&c, p, cols_ab), 0);
	assert_int_equal(mcr_csv_next(c), 1);
	assert_int_equal(mcr_csv_line(c), 2);
	assert_string_equal(mcr_csv_get(c, "a"), "x, y");
	assert_string_equal(mcr_csv_get(c, "b"), "say \"hi\"");
	assert_string_equal(mcr_csv_get(c, "c"), "");
	assert_int_equal(mcr_csv_next(c), 1);
	assert_int_equal(mcr_csv_line(c), 4);
	assert_string_equal(mcr_csv_get(c, "a"), "one\n\ntwo");
	assert_string_equal(mcr_csv_get(c, "b"), "plain");
	/* Spaces are data (RFC 4180). */
	assert_string_equal(mcr_csv_get(c, "c"), " spaced ");
	assert_int_equal(mcr_csv_next(c), 1);
	assert_int_equal(mcr_csv_line(c), 7);
	assert_string_equal(mcr_csv_get(c, "a"), "");
	assert_string_equal(mcr_csv_get(c, "b"), "\"");
	assert_string_equal(mcr_csv_get(c, "c"), "a\"b\"c");
	assert_int_equal(mcr_csv_next(c), 1);
	assert_int_equal(mcr_csv_line(c), 8);
	assert_string_equal(mcr_csv_get(c, "c"), "end");
	assert_int_equal(mcr_csv_next(c), 0);
	mcr_csv_close(c);
}

/* Errors after multi-line records still name the right line. */
static void test_line_after_embedded_newlines(void **state)
{
	(void)state;
	expect_error(file("l.csv", "a,b\n\"1\n2\n3\",x\r\n\"4\r\n5\",y\r\nragged\r\n"), cols_ab,
	             MCR_EFORMAT, ":7: record has 1 fields, the header has 2");
	expect_error(file("l2.csv", "a,b\n\"1\n2\n3\",x\n\"bad \xc3\x28\n\",y\n"), cols_ab,
	             MCR_EFORMAT, ":5: invalid UTF-8");
	expect_error(file("l3.csv", "a,b\n\"1\n2\",x\nz,\"ok\"junk\n"), cols_ab, MCR_EFORMAT,
	             ":4: malformed quoting");
}

static void test_missing_column(void **state)
{
	(void)state;
	const char *req[] = { "a", "b", "nhs_number", NULL };
	expect_error(file("m.csv", "a,b\n1,2\n"), req, MCR_EFORMAT, ":1: missing column nhs_number");
	/* Case matters, and the BOM is not part of a name. */
	const char *req2[] = { "A", NULL };
	expect_error(file("m2.csv", "\xef\xbb\xbf" "a\n1\n"), req2, MCR_EFORMAT, ":1: missing column A");
	expect_error(file("dup.csv", "a,b,a\n1,2,3\n"), cols_ab, MCR_EFORMAT, ":1: duplicate column a");
	/* Lines ending in a bare CR read as one record: said so, not "missing column b". */
	expect_error(file("cr.csv", "a,b\r1,2\r3,4\r"), cols_ab, MCR_EFORMAT,
	             ":1: lines end with a bare CR (carriage return without line feed)");
}

static void test_ragged(void **state)
{
	(void)state;
	expect_error(file("r1.csv", "a,b\n1,2\n1,2,3\n"), cols_ab, MCR_EFORMAT,
	             ":3: record has 3 fields, the header has 2");
	expect_error(file("r2.csv", "a,b\r\n1,2\r\n\r\n3\r\n"), cols_ab, MCR_EFORMAT,
	             ":4: record has 1 fields, the header has 2");
	/* A trailing comma is one more (empty) field. */
	expect_error(file("r3.csv", "a,b\n1,2,\n"), cols_ab, MCR_EFORMAT,
	             ":2: record has 3 fields, the header has 2");
}

static void test_bad_quoting(void **state)
{
	(void)state;
	expect_error(file("bq1.csv", "a,b\n1,x\"y\n"), cols_ab, MCR_EFORMAT, ":2: malformed quoting");
	expect_error(file("bq2.csv", "a,b\n\"x\"y,1\n"), cols_ab, MCR_EFORMAT, ":2: malformed quoting");
	expect_error(file("bq3.csv", "a,b\n\"x\" ,1\n"), cols_ab, MCR_EFORMAT, ":2: malformed quoting");
	/* Unterminated quote at EOF: named by the line where its record starts. */
	expect_error(file("uq.csv", "a,b\n1,2\n3,\"never closed\nstill open\n"), cols_ab, MCR_EFORMAT,
	             ":3: unterminated quoted field");
	expect_error(file("uq2.csv", "a,b\n1,\""), cols_ab, MCR_EFORMAT, ":2: unterminated quoted field");
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	static const struct { const char *bytes; const char *what; } bad[] = {
		{ "\xff", "FF" },
		{ "\x80", "lone continuation" },
		{ "\xc3", "truncated 2-byte" },
		{ "\xc0\xaf", "overlong /" },
		{ "\xc1\xbf", "overlong C1" },
		{ "\xe0\x80\xaf", "overlong 3-byte" },
		{ "\xf0\x80\x80\xaf", "overlong 4-byte" },
		{ "\xed\xa0\x80", "surrogate D800" },
		{ "\xed\xbf\xbf", "surrogate DFFF" },
		{ "\xf4\x90\x80\x80", "past U+10FFFF" },
		{ "\xf5\x80\x80\x80", "F5" },
		{ "\xe2\x82", "truncated 3-byte" },
		{ "\xe2\x28\xa1", "bad continuation" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mcr_buf text = MCR_BUF_INIT;
		mcr_buf_printf(&text, "a,b\nok,fine\nx%sy,2\n", bad[i].bytes);
		const char *p = file("u.csv", text.ptr);
		mcr_csv *c = NULL;
		assert_int_equal(mcr_csv_open(&c, p, cols_ab), 0);
		assert_int_equal(mcr_csv_next(c), 1);
		int rc = mcr_csv_next(c);
		char want[256];
		snprintf(want, sizeof(want), "%s:3: invalid UTF-8", p);
		if (rc != MCR_EFORMAT || strcmp(mcr_error_message(), want) != 0)
			fail_msg("%s: rc %d: %s", bad[i].what, rc, mcr_error_message());
		mcr_csv_close(c);
		mcr_buf_free(&text);
	}
	/* NUL bytes are refused too. */
	expect_error(file_n("nul.csv", "a,b\n1,x\0y\n", 10), cols_ab, MCR_EFORMAT, ":2: invalid UTF-8 (NUL byte)");
	/* In the header. */
	expect_error(file("uh.csv", "a,\xe9\n1,2\n"), cols_ab, MCR_EFORMAT, ":1: invalid UTF-8");
	/* Valid edge cases: U+007F, U+0080, U+07FF, U+0800, U+FFFF, U+10000, U+10FFFF. */
	const char *good = "a,b\n\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf,\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\n";
	mcr_csv *c = NULL;
	assert_int_equal(mcr_csv_open(&c, file("good.csv", good), cols_ab), 0);
	assert_int_equal(mcr_csv_next(c), 1);
	assert_string_equal(mcr_csv_get(c, "b"), "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
	mcr_csv_close(c);
}

static void test_empty(void **state)
{
	(void)state;
	expect_error(file("e.csv", ""), cols_ab, MCR_EFORMAT, ":1: no header row");
	expect_error(file("e2.csv", "\xef\xbb\xbf"), cols_ab, MCR_EFORMAT, ":1: no header row");
	expect_error(file("e3.csv", "\n\r\n\n"), cols_ab, MCR_EFORMAT, ":1: no header row");
	/* A header and nothing else is a valid, empty extract. */
	mcr_csv *c = NULL;
	assert_int_equal(mcr_csv_open(&c, file("h.csv", "a,b\r\n"), cols_ab), 0);
	assert_int_equal(mcr_csv_next(c), 0);
	assert_null(mcr_csv_get(c, "a"));
	mcr_csv_close(c);
	snprintf(path, sizeof(path), "%s/none.csv", tmpdir);
	assert_int_equal(mcr_csv_open(&c, path, cols_ab), MCR_ENOTFOUND);
	assert_null(c);
	assert_non_null(strstr(mcr_error_message(), "none.csv"));
}

static void test_record_cap(void **state)
{
	(void)state;
	mcr_buf text = MCR_BUF_INIT;
	mcr_buf_puts(&text, "a,b\n1,2\n\"");
	for (int i = 0; i < 1100; i++) { /* ~1.1 MB in one quoted field over many lines */
		for (int k = 0; k < 1000; k++)
			mcr_buf_putc(&text, 'x');
		mcr_buf_putc(&text, '\n');
	}
	mcr_buf_puts(&text, "\",2\n");
	expect_error(file("big.csv", text.ptr), cols_ab, MCR_ELIMIT, ":3: record longer than 1048576 bytes");
	/* One long line without any newline. */
	mcr_buf_reset(&text);
	mcr_buf_puts(&text, "a,b\n");
	for (int i = 0; i < (1 << 20) + 10; i++)
		mcr_buf_putc(&text, 'y');
	expect_error(file("long.csv", text.ptr), cols_ab, MCR_ELIMIT, ":2: record longer than");
	/* Just under the cap is fine, and many records in a file longer than any
	 * buffer keep their lines. */
	mcr_buf_reset(&text);
	mcr_buf_puts(&text, "a,b\n");
	for (int i = 0; i < 20000; i++)
		mcr_buf_printf(&text, "%d,\"v\n%d\"\n", i, i);
	mcr_csv *c = NULL;
	assert_int_equal(mcr_csv_open(&c, file("many.csv", text.ptr), cols_ab), 0);
	int n = 0, rc;
	while ((rc = mcr_csv_next(c)) == 1) {
		assert_int_equal(mcr_csv_line(c), 2 + 2 * n);
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 20000);
	mcr_csv_close(c);
	mcr_buf_free(&text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_persons_fixture),
		cmocka_unit_test(test_quoting_and_lines),
		cmocka_unit_test(test_line_after_embedded_newlines),
		cmocka_unit_test(test_missing_column),
		cmocka_unit_test(test_ragged),
		cmocka_unit_test(test_bad_quoting),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_record_cap),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
