/* Unit tests: the consent and sensitivity rules (DESIGN.md, "Consent and sensitivity"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mcr/consent.h"

static char *objection[] = {"416409005"};
static char *consent[] = {"417528008"};
static char *sensitive[] = {"15628003", "386639001", "52637005"}; /* sorted */

static mcr_config cfg;
static mcr_org org;

static int setup(void **state)
{
	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.objection_codes = (mcr_codes){objection, 1};
	cfg.consent_codes = (mcr_codes){consent, 1};
	cfg.sensitive_codes = (mcr_codes){sensitive, 3};
	memset(&org, 0, sizeof(org));
	memcpy(org.shares_from, "2015-04-01", 11);
	return 0;
}

static int reason(const char *code, const char *date, const char *conf, const char *status)
{
	const char *codes[] = {"999999999", code};
	mcr_item_facts f = {codes, code ? 2 : 1, date, conf, status};
	return mcr_consent_item_withhold_reason(&cfg, &org, &f);
}

static void ordinary_item_is_shared(void **state)
{
	(void)state;
	assert_int_equal(reason("91936005", "2020-01-01", "N", "active"), -1);
	assert_int_equal(reason(NULL, NULL, NULL, NULL), -1);
	/* An undated item cannot be shown to predate shares-from. */
	assert_int_equal(reason("91936005", NULL, NULL, NULL), -1);
	assert_int_equal(reason("91936005", "2015-04-01", NULL, NULL), -1);
}

static void each_rule_withholds_with_its_reason(void **state)
{
	(void)state;
	assert_int_equal(reason("91936005", "2020-01-01", NULL, "entered-in-error"),
	                 MCR_REASON_ENTERED_IN_ERROR);
	assert_int_equal(reason("91936005", "2020-01-01", "R", NULL), MCR_REASON_CONFIDENTIAL);
	assert_int_equal(reason("91936005", "2020-01-01", "V", NULL), MCR_REASON_CONFIDENTIAL);
	assert_int_equal(reason("386639001", "2020-01-01", NULL, NULL), MCR_REASON_SENSITIVE);
	assert_int_equal(reason("91936005", "2015-03-31T23:59:00Z", NULL, NULL),
	                 MCR_REASON_BEFORE_SHARES_FROM);
}

static void reasons_apply_in_order(void **state)
{
	(void)state;
	assert_int_equal(reason("386639001", "2001-01-01", "R", "entered-in-error"),
	                 MCR_REASON_ENTERED_IN_ERROR);
	assert_int_equal(reason("386639001", "2001-01-01", "R", NULL), MCR_REASON_CONFIDENTIAL);
	assert_int_equal(reason("386639001", "2001-01-01", NULL, NULL), MCR_REASON_SENSITIVE);
}

static void no_shares_from_means_everything_dated_is_shared(void **state)
{
	(void)state;
	org.shares_from[0] = '\0';
	assert_int_equal(reason("91936005", "1960-01-01", NULL, NULL), -1);
	memcpy(org.shares_from, "2015-04-01", 11);
}

static void latest_dated_objection_entry_wins(void **state)
{
	(void)state;
	mcr_objection o = {0};
	assert_int_equal(mcr_objection_note(&o, &cfg, "827241000000103", "2024-01-01"), 0);
	assert_false(o.seen); /* Type 1 opt-out is not an objection to direct care */
	assert_int_equal(mcr_objection_note(&o, &cfg, "416409005", "2020-05-01"), 1);
	assert_true(o.in_force);
	assert_int_equal(mcr_objection_note(&o, &cfg, "417528008", "2022-02-01"), 1);
	assert_false(o.in_force);
	/* An older objection seen later in the file does not revive it. */
	assert_int_equal(mcr_objection_note(&o, &cfg, "416409005", "2021-01-01"), 1);
	assert_false(o.in_force);
	assert_int_equal(mcr_objection_note(&o, &cfg, "416409005", "2023-07-01"), 1);
	assert_true(o.in_force);
	assert_string_equal(o.date, "2023-07-01");
}

/*
 * Objection against consent as instants, each pair fed in both orders:
 * in_force is what must hold whatever the order of the entries.
 */
static const struct {
	const char *objection, *consent;
	int in_force;
	const char *why;
} choice_pairs[] = {
	/* The issue's case: 09:30Z is after 10:00+01:00 (09:00Z), though its text sorts first. */
	{"2024-06-10T09:30:00Z", "2024-06-10T10:00:00+01:00", 1, "objection later as an instant"},
	{"2024-06-10T10:00:00+01:00", "2024-06-10T09:30:00Z", 0, "consent later as an instant"},
	{"2024-06-10T08:59:59-01:00", "2024-06-10T09:30:00Z", 1, "09:59:59Z objection after 09:30Z"},
	{"2024-06-10T09:00:00Z", "2024-06-10T10:00:00+01:00", 1, "the same instant: a tie"},
	{"2024-06-10T09:00:00.000Z", "2024-06-10T09:00:00Z", 1, "a tie with a fraction"},
	{"2024-06-10T09:00:00Z", "2024-06-10T09:00:00.001Z", 0, "consent a millisecond later"},
	{"2024-06-10", "2024-06-10", 1, "the same day: a tie"},
	/* Date-only against dateTime: the day may hold either side, so the objection. */
	{"2024-06-10", "2024-06-10T23:00:00Z", 1, "consent within the objection's day"},
	{"2024-06-10T23:00:00Z", "2024-06-10", 1, "objection within the consent's day"},
	{"2024-06-10T01:00:00+02:00", "2024-06-10", 1, "objection 2024-06-09T23:00Z, the day after may start later"},
	{"2024-06-10", "2024-06-11T11:59:59Z", 1, "the objection's day may be at -12:00"},
	{"2024-06-10", "2024-06-11T12:00:00Z", 0, "consent after the objection's day in any zone"},
	{"2024-06-10T23:59:59Z", "2024-06-11", 1, "the consent's day may be at +14:00"},
	{"2024-06-10T09:59:59Z", "2024-06-11", 0, "before the consent's day in any zone"},
	{"2024-06-10", "2024-06-11", 0, "dates: the day after"},
	{"2024-06-10T23:00:00", "2024-06-11", 0, "floating values: one zone"},
	{"2024", "2024-12-31", 1, "within the year"},
	{"2024-06", "2024-07-01", 0, "the month after"},
	{"2024-06-10T12:00:00", "2024-06-10T13:00:00Z", 1, "no zone: may be as late as 2024-06-11T00:00Z"},
	{"2024-06-10T12:00:00", "2024-06-11T00:00:01Z", 0, "after any zone"},
	/* Undated or invalid: an objection is in force, a consent withdraws nothing dated. */
	{NULL, "2024-06-10", 1, "undated objection"},
	{"2024-06-10", NULL, 1, "undated consent"},
	{"2024-02-30", "2024-06-10", 1, "invalid objection date counts as undated"},
	{"2024-06-10", "yesterday", 1, "invalid consent date counts as undated"},
	{"2020-01-01", "2024-06-10", 0, "plain later consent"},
};

static void objection_and_consent_compare_as_instants(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof choice_pairs / sizeof *choice_pairs; i++) {
		for (int order = 0; order < 2; order++) {
			mcr_objection o = {0};
			if (order == 0) {
				mcr_objection_note(&o, &cfg, "416409005", choice_pairs[i].objection);
				mcr_objection_note(&o, &cfg, "417528008", choice_pairs[i].consent);
			} else {
				mcr_objection_note(&o, &cfg, "417528008", choice_pairs[i].consent);
				mcr_objection_note(&o, &cfg, "416409005", choice_pairs[i].objection);
			}
			if (o.in_force != choice_pairs[i].in_force) {
				fprintf(stderr, "objection %s, consent %s (order %d): in_force %d, want %d (%s)\n",
				        choice_pairs[i].objection ? choice_pairs[i].objection : "undated",
				        choice_pairs[i].consent ? choice_pairs[i].consent : "undated", order,
				        o.in_force, choice_pairs[i].in_force, choice_pairs[i].why);
				fail();
			}
		}
	}
}

static void same_date_and_undated_entries_err_on_the_safe_side(void **state)
{
	(void)state;
	mcr_objection o = {0};
	mcr_objection_note(&o, &cfg, "417528008", "2023-01-01");
	mcr_objection_note(&o, &cfg, "416409005", "2023-01-01");
	assert_true(o.in_force);
	mcr_objection_note(&o, &cfg, "417528008", "2023-01-01");
	assert_true(o.in_force);
	assert_string_equal(o.date, "2023-01-01");

	/* An undated objection may be the latest entry: it stays in force. */
	mcr_objection u = {0};
	mcr_objection_note(&u, &cfg, "416409005", NULL);
	assert_true(u.in_force);
	mcr_objection_note(&u, &cfg, "417528008", "2000-01-01");
	assert_true(u.in_force);
	assert_string_equal(u.date, "");
	/* Several consents: the latest decides; several objections: the latest. */
	mcr_objection m = {0};
	mcr_objection_note(&m, &cfg, "416409005", "2021-03-01T10:00:00Z");
	mcr_objection_note(&m, &cfg, "417528008", "2021-02-01");
	mcr_objection_note(&m, &cfg, "417528008", "2021-03-01T10:30:00+01:00"); /* 09:30Z */
	assert_true(m.in_force);
	mcr_objection_note(&m, &cfg, "417528008", "2021-03-01T11:30:00+01:00"); /* 10:30Z */
	assert_false(m.in_force);
	mcr_objection_note(&m, &cfg, "416409005", "2021-03-01T05:30:00-05:00"); /* 10:30Z: a tie */
	assert_true(m.in_force);
	assert_string_equal(m.date, "2021-03-01T05:30:00-05:00");
}

/* Partial, offset and invalid dates against shares-from 2015-04-01 (00:00Z). */
static void dates_against_shares_from(void **state)
{
	(void)state;
	static const struct {
		const char *date;
		int reason;
	} cases[] = {
		{"2010", MCR_REASON_BEFORE_SHARES_FROM},
		{"2010-05", MCR_REASON_BEFORE_SHARES_FROM},
		{"2015", MCR_REASON_BEFORE_SHARES_FROM},    /* may be January 2015 */
		{"2015-04", -1},                            /* starts on the day */
		{"2015-03", MCR_REASON_BEFORE_SHARES_FROM},
		{"2016", -1},
		{"2015-04-01", -1},
		{"2015-03-31", MCR_REASON_BEFORE_SHARES_FROM},
		{"2015-04-01T00:00:00Z", -1},
		{"2015-04-01T00:30:00+01:00", MCR_REASON_BEFORE_SHARES_FROM}, /* 2015-03-31T23:30Z */
		{"2015-03-31T23:30:00-01:00", -1},                            /* 2015-04-01T00:30Z */
		{"2015-04-01T00:00:00", -1},                                  /* no zone: the calendar */
		{"2015-03-31T23:59:59", MCR_REASON_BEFORE_SHARES_FROM},
		{"2023-02-30", MCR_REASON_INVALID_DATE},
		{"2023-13-01", MCR_REASON_INVALID_DATE},
		{"2023-02-29", MCR_REASON_INVALID_DATE},
		{"yesterday", MCR_REASON_INVALID_DATE},
		{"", MCR_REASON_INVALID_DATE},
		{"2010-13", MCR_REASON_INVALID_DATE},
		{"2020-06-10T24:00:00Z", MCR_REASON_INVALID_DATE},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int got = reason("91936005", cases[i].date, NULL, NULL);
		if (got != cases[i].reason) {
			fprintf(stderr, "'%s': reason %d, want %d\n", cases[i].date, got, cases[i].reason);
			fail();
		}
	}
	/* Invalid dates are withheld whatever the shares-from. */
	org.shares_from[0] = '\0';
	assert_int_equal(reason("91936005", "2023-02-30", NULL, NULL), MCR_REASON_INVALID_DATE);
	assert_int_equal(reason("91936005", "1066", NULL, NULL), -1);
	memcpy(org.shares_from, "2015-04-01", 11);
}

static void social_care_is_opt_in(void **state)
{
	(void)state;
	assert_true(mcr_consent_social_care_given("Y"));
	assert_false(mcr_consent_social_care_given("N"));
	assert_false(mcr_consent_social_care_given(""));
	assert_false(mcr_consent_social_care_given("y"));
	assert_false(mcr_consent_social_care_given(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ordinary_item_is_shared),
		cmocka_unit_test(each_rule_withholds_with_its_reason),
		cmocka_unit_test(reasons_apply_in_order),
		cmocka_unit_test(no_shares_from_means_everything_dated_is_shared),
		cmocka_unit_test(latest_dated_objection_entry_wins),
		cmocka_unit_test(objection_and_consent_compare_as_instants),
		cmocka_unit_test(same_date_and_undated_entries_err_on_the_safe_side),
		cmocka_unit_test(dates_against_shares_from),
		cmocka_unit_test(social_care_is_opt_in),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
