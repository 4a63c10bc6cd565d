/* mcr/fhirtime.h: every FHIR date form, calendars, offsets, HL7 TS, order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mcr/error.h"
#include "mcr/fhirtime.h"

/* What a valid value means: its interval (as UTC text, ms part separate) and staged form. */
typedef struct valid_case {
	const char *in;
	const char *lo, *hi; /* "YYYY-MM-DDThh:mm:ss.mmmZ" */
	mcr_fhirtime_precision precision;
	const char *staged;
} valid_case;

static const valid_case valid_cases[] = {
	{"2010", "2010-01-01T00:00:00.000Z", "2010-12-31T23:59:59.999Z", MCR_FHIRTIME_YEAR, "2010"},
	{"2010-05", "2010-05-01T00:00:00.000Z", "2010-05-31T23:59:59.999Z", MCR_FHIRTIME_MONTH, "2010-05"},
	{"2024-02", "2024-02-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z", MCR_FHIRTIME_MONTH, "2024-02"},
	{"2023-02", "2023-02-01T00:00:00.000Z", "2023-02-28T23:59:59.999Z", MCR_FHIRTIME_MONTH, "2023-02"},
	{"2010-05-14", "2010-05-14T00:00:00.000Z", "2010-05-14T23:59:59.999Z", MCR_FHIRTIME_DAY, "2010-05-14"},
	{"2024-02-29", "2024-02-29T00:00:00.000Z", "2024-02-29T23:59:59.999Z", MCR_FHIRTIME_DAY, "2024-02-29"},
	{"2000-02-29", "2000-02-29T00:00:00.000Z", "2000-02-29T23:59:59.999Z", MCR_FHIRTIME_DAY, "2000-02-29"},
	{"1899-12-31", "1899-12-31T00:00:00.000Z", "1899-12-31T23:59:59.999Z", MCR_FHIRTIME_DAY, "1899-12-31"},
	{"2024-06-10T09:30:00Z", "2024-06-10T09:30:00.000Z", "2024-06-10T09:30:00.000Z", MCR_FHIRTIME_SECOND,
	 "2024-06-10T09:30:00Z"},
	{"2024-06-10T10:00:00+01:00", "2024-06-10T09:00:00.000Z", "2024-06-10T09:00:00.000Z",
	 MCR_FHIRTIME_SECOND, "2024-06-10T09:00:00Z"},
	{"2024-06-10T00:30:00+01:00", "2024-06-09T23:30:00.000Z", "2024-06-09T23:30:00.000Z",
	 MCR_FHIRTIME_SECOND, "2024-06-09T23:30:00Z"},
	{"2024-12-31T20:00:00-05:00", "2025-01-01T01:00:00.000Z", "2025-01-01T01:00:00.000Z",
	 MCR_FHIRTIME_SECOND, "2025-01-01T01:00:00Z"},
	{"2024-06-10T09:30:00.5Z", "2024-06-10T09:30:00.500Z", "2024-06-10T09:30:00.500Z",
	 MCR_FHIRTIME_SECOND, "2024-06-10T09:30:00Z"},
	{"2024-06-10T09:30:00.123456789+00:00", "2024-06-10T09:30:00.123Z", "2024-06-10T09:30:00.123Z",
	 MCR_FHIRTIME_SECOND, "2024-06-10T09:30:00Z"},
	{"2024-06-10T09:30:00-00:00", "2024-06-10T09:30:00.000Z", "2024-06-10T09:30:00.000Z",
	 MCR_FHIRTIME_SECOND, "2024-06-10T09:30:00Z"},
	{"2024-06-10T23:59:60Z", "2024-06-11T00:00:00.000Z", "2024-06-11T00:00:00.000Z", MCR_FHIRTIME_SECOND,
	 "2024-06-11T00:00:00Z"},
	{"2024-06-10T12:00:00+14:00", "2024-06-09T22:00:00.000Z", "2024-06-09T22:00:00.000Z",
	 MCR_FHIRTIME_SECOND, "2024-06-09T22:00:00Z"},
	{"2024-06-10T12:00:00-12:00", "2024-06-11T00:00:00.000Z", "2024-06-11T00:00:00.000Z",
	 MCR_FHIRTIME_SECOND, "2024-06-11T00:00:00Z"},
	/* No zone: floating, read as UTC; staged as written. */
	{"2024-06-10T12:00:00", "2024-06-10T12:00:00.000Z", "2024-06-10T12:00:00.000Z", MCR_FHIRTIME_SECOND,
	 "2024-06-10T12:00:00"},
	{"1960-01-01", "1960-01-01T00:00:00.000Z", "1960-01-01T23:59:59.999Z", MCR_FHIRTIME_DAY, "1960-01-01"},
	{"0001-01-01T01:00:00+01:00", "0001-01-01T00:00:00.000Z", "0001-01-01T00:00:00.000Z",
	 MCR_FHIRTIME_SECOND, "0001-01-01T00:00:00Z"},
};

static const char *const invalid_cases[] = {
	"", "yesterday", "2023-02-30", "2023-02-29", "1900-02-29", "2023-13-01", "2023-00-10",
	"2023-04-31", "2023-06-00", "0000", "0000-01-01", "99", "2010-5", "2010-05-1", "201005",
	"2010-05-14T", "2010-05-14T10:00", "2010-05-14T10:00Z", "2010-05-14T24:00:00Z",
	"2010-05-14T23:60:00Z", "2010-05-14T23:59:61Z", "2010-05-14T10:00:00+15:00",
	"2010-05-14T10:00:00+14:30", "2010-05-14T10:00:00+01", "2010-05-14T10:00:00+0100",
	"2010-05-14T10:00:00+01:60", "2010-05-14T10:00:00.Z", "2010-05-14T10:00:00z",
	"2010-05-14 10:00:00Z", "2010-05-14T10:00:00Z ", " 2010", "2010-05T10:00:00Z",
	"2010T10:00:00Z", "2010-05-14T10:00:00ZZ", "+2010", "2010-05-14T1:00:00Z", "20100514",
	"0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-01:00", /* UTC outside 0001-9999 */
};

static void utc_text(int64_t ms, char out[40])
{
	char s[32];
	mcr_fhirtime t = {0};
	t.precision = MCR_FHIRTIME_SECOND;
	t.zoned = 1;
	t.lo = t.hi = ms;
	mcr_fhirtime_format(&t, s);
	int64_t frac = ms % 1000;
	if (frac < 0)
		frac += 1000;
	snprintf(out, 40, "%.19s.%03dZ", s, (int)frac);
}

static void every_form_parses_to_its_interval(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof valid_cases / sizeof *valid_cases; i++) {
		const valid_case *c = &valid_cases[i];
		mcr_fhirtime t;
		char lo[40], hi[40], staged[32];
		if (mcr_fhirtime_parse(c->in, &t) != 0) {
			fprintf(stderr, "refused valid '%s'\n", c->in);
			fail();
		}
		utc_text(t.lo, lo);
		utc_text(t.hi, hi);
		mcr_fhirtime_format(&t, staged);
		if (strcmp(lo, c->lo) || strcmp(hi, c->hi) || t.precision != c->precision ||
		    strcmp(staged, c->staged)) {
			fprintf(stderr, "'%s': [%s, %s] p%d staged %s; want [%s, %s] p%d %s\n", c->in, lo, hi,
			        t.precision, staged, c->lo, c->hi, c->precision, c->staged);
			fail();
		}
		assert_true(mcr_fhirtime_valid(c->in));
		/* The staged form means the same earliest instant (re-read by the loader). */
		mcr_fhirtime back;
		assert_int_equal(mcr_fhirtime_parse(staged, &back), 0);
		assert_true(back.lo == t.lo - (t.lo % 1000 + 1000) % 1000);
	}
}

static void impossible_and_malformed_values_are_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof invalid_cases / sizeof *invalid_cases; i++) {
		mcr_fhirtime t;
		if (mcr_fhirtime_parse(invalid_cases[i], &t) != MCR_EFORMAT) {
			fprintf(stderr, "accepted invalid '%s'\n", invalid_cases[i]);
			fail();
		}
		assert_false(mcr_fhirtime_valid(invalid_cases[i]));
	}
	assert_false(mcr_fhirtime_valid(NULL));
}

/* A floating value widened by every zone; a zoned one as it is. */
static void widen_floating_values(void **state)
{
	(void)state;
	static const struct {
		const char *in, *lo, *hi;
	} cases[] = {
		{"2024-06-10", "2024-06-09T10:00:00.000Z", "2024-06-11T11:59:59.999Z"},
		{"2024-06-10T12:00:00", "2024-06-09T22:00:00.000Z", "2024-06-11T00:00:00.000Z"},
		{"2024-06-10T12:00:00+01:00", "2024-06-10T11:00:00.000Z", "2024-06-10T11:00:00.000Z"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		mcr_fhirtime t;
		int64_t lo, hi;
		char l[40], h[40];
		assert_int_equal(mcr_fhirtime_parse(cases[i].in, &t), 0);
		mcr_fhirtime_widen(&t, &lo, &hi);
		utc_text(lo, l);
		utc_text(hi, h);
		assert_string_equal(l, cases[i].lo);
		assert_string_equal(h, cases[i].hi);
	}
}

/* HL7 v3 TS (CDA effectiveTime) means the same as the FHIR form. */
static void hl7_ts_forms(void **state)
{
	(void)state;
	static const struct {
		const char *ts, *fhir;
	} same[] = {
		{"2010", "2010"},
		{"201005", "2010-05"},
		{"20100514", "2010-05-14"},
		{"20100514+0100", "2010-05-14"},
		{"2010051410", "2010-05-14T10:00:00"},
		{"201005141030", "2010-05-14T10:30:00"},
		{"20100514103015", "2010-05-14T10:30:15"},
		{"20100514103015+0100", "2010-05-14T10:30:15+01:00"},
		{"20100514103015-0530", "2010-05-14T10:30:15-05:30"},
		{"20100514103015.250+0000", "2010-05-14T10:30:15.250Z"},
		{"20250101120000+01", "2025-01-01T12:00:00+01:00"},
	};
	for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
		mcr_fhirtime a, b;
		if (mcr_fhirtime_parse_hl7(same[i].ts, &a) != 0 || mcr_fhirtime_parse(same[i].fhir, &b) != 0 ||
		    a.lo != b.lo || a.hi != b.hi || a.precision != b.precision) {
			fprintf(stderr, "TS '%s' is not '%s'\n", same[i].ts, same[i].fhir);
			fail();
		}
	}
	static const char *const bad[] = {
		"", "2026-11-01", "20230230", "20231301", "yesterday", "20100514103", "2010051410301",
		"20100514250000", "20100514103015+1500", "20100514103015Z", "20100514103015+01:00",
		"20100514103015.", "201",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		mcr_fhirtime t;
		if (mcr_fhirtime_parse_hl7(bad[i], &t) != MCR_EFORMAT) {
			fprintf(stderr, "accepted bad TS '%s'\n", bad[i]);
			fail();
		}
	}
}

/* Order is by instant, never by text. */
static void order_is_by_instant(void **state)
{
	(void)state;
	static const struct {
		const char *a, *b;
		int sign;
	} pairs[] = {
		{"2024-06-10T10:00:00+01:00", "2024-06-10T09:30:00Z", -1}, /* text says the reverse */
		{"2024-06-10T09:30:00Z", "2024-06-10T10:30:00+01:00", 0},
		{"2024-06-10", "2024-06-10T00:00:00Z", 1},               /* same start, the day is longer */
		{"2024", "2024-01-01", 1},
		{"2023-12-31T23:00:00-02:00", "2024-01-01T00:30:00Z", 1},
		{"2024-06-10T09:30:00.001Z", "2024-06-10T09:30:00Z", 1},
	};
	for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
		mcr_fhirtime a, b;
		assert_int_equal(mcr_fhirtime_parse(pairs[i].a, &a), 0);
		assert_int_equal(mcr_fhirtime_parse(pairs[i].b, &b), 0);
		int c = mcr_fhirtime_cmp(&a, &b);
		if ((c > 0) - (c < 0) != pairs[i].sign) {
			fprintf(stderr, "cmp('%s', '%s') = %d, want sign %d\n", pairs[i].a, pairs[i].b, c,
			        pairs[i].sign);
			fail();
		}
		assert_int_equal((mcr_fhirtime_cmp(&b, &a) > 0) - (mcr_fhirtime_cmp(&b, &a) < 0), -pairs[i].sign);
	}
	mcr_fhirtime t;
	assert_int_equal(mcr_fhirtime_parse("1969-12-31T23:59:59.500Z", &t), 0);
	assert_true(mcr_fhirtime_seconds(&t) == -1);
	assert_int_equal(mcr_fhirtime_parse("2026-11-21T06:00:00Z", &t), 0);
	assert_true(mcr_fhirtime_seconds(&t) == 1795240800);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_form_parses_to_its_interval),
		cmocka_unit_test(impossible_and_malformed_values_are_refused),
		cmocka_unit_test(widen_floating_values),
		cmocka_unit_test(hl7_ts_forms),
		cmocka_unit_test(order_is_by_instant),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
