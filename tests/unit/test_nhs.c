/* mcr_nhs: modulus 11 check digit and the accepted forms (999 range only). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mcr/error.h"
#include "mcr/nhs.h"

static void expect_bad(const char *s, const char *why)
{
	char out[11] = "unchanged";
	int rc = mcr_nhs_validate(s, out);
	if (rc != MCR_EFORMAT || !strstr(mcr_error_message(), why))
		fail_msg("\"%s\": rc %d, message \"%s\", wanted \"%s\"", s ? s : "(null)", rc,
		         mcr_error_message(), why);
	assert_string_equal(out, "unchanged");
}

static void test_check_digit(void **state)
{
	(void)state;
	assert_int_equal(mcr_nhs_check_digit("999000001"), 8);
	assert_int_equal(mcr_nhs_check_digit("999000002"), 6);
	assert_int_equal(mcr_nhs_check_digit("999999999"), 9);
	/* 11 - 0 = 11 -> 0 */
	assert_int_equal(mcr_nhs_check_digit("999000005"), 0);
	/* 11 - 1 = 10: no valid number */
	assert_int_equal(mcr_nhs_check_digit("999000000"), 10);
	assert_int_equal(mcr_nhs_check_digit("999123456"), 10);
	/* Only the first 9 characters count. */
	assert_int_equal(mcr_nhs_check_digit("9990000018"), 8);
	assert_int_equal(mcr_nhs_check_digit("99900000x"), -1);
	assert_int_equal(mcr_nhs_check_digit("9990"), -1);
	assert_int_equal(mcr_nhs_check_digit(NULL), -1);
}

static void test_valid(void **state)
{
	(void)state;
	const char *good[] = { "9990000018", "9990000026", "9990000034", "9990000050",
	                       "9999999999", "9990000190" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char out[11];
		memset(out, 'z', sizeof(out));
		if (mcr_nhs_validate(good[i], out) != 0)
			fail_msg("%s: %s", good[i], mcr_error_message());
		assert_string_equal(out, good[i]);
	}
	/* out may be NULL. */
	assert_int_equal(mcr_nhs_validate("9990000018", NULL), 0);
}

static void test_spaced(void **state)
{
	(void)state;
	char out[11];
	assert_int_equal(mcr_nhs_validate("999 000 0018", out), 0);
	assert_string_equal(out, "9990000018");
	assert_int_equal(mcr_nhs_validate("999 999 9999", out), 0);
	assert_string_equal(out, "9999999999");
	/* The spaced form is checked like the plain one. */
	expect_bad("999 000 0019", "check digit mismatch");
	const char *spacing[] = { "9990 000 018", "999 0000 018", "999  000 0018", "999 000 0018 ",
	                          " 999 000 0018", "9990000018 ", " 9990000018", "999 0000018",
	                          "999000 0018", "99 9000 0018", "999 000 001 8" };
	for (size_t i = 0; i < sizeof(spacing) / sizeof(spacing[0]); i++)
		expect_bad(spacing[i], "bad spacing");
}

static void test_bad(void **state)
{
	(void)state;
	expect_bad(NULL, "empty");
	expect_bad("", "empty");
	expect_bad("999000001", "wrong length");
	expect_bad("99900000188", "wrong length");
	expect_bad("9", "wrong length");
	expect_bad("999000001X", "not a digit");
	expect_bad("999-000-0018", "not a digit");
	expect_bad("999\t000\t0018", "not a digit");
	expect_bad("９９９0000018", "not a digit"); /* full-width digits are not digits */
	expect_bad("9990000000", "check digit 10");
	expect_bad("9990000001", "check digit 10");
	expect_bad("9990000019", "check digit mismatch");
	expect_bad("9990000017", "check digit mismatch");
	/* The message quotes the input, cut short if it is long. */
	expect_bad("9990000019", "bad NHS number 9990000019: check digit mismatch");
	expect_bad("12345678901234567890123456789012345678901234567890", "...: wrong length");
	assert_true(strlen(mcr_error_message()) < 80);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_digit),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_spaced),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
