/* Unit tests: the consent and sensitivity rules (DESIGN.md, "Consent and sensitivity"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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
	assert_string_equal(o.date, "2022-02-01");
	assert_int_equal(mcr_objection_note(&o, &cfg, "416409005", "2023-07-01"), 1);
	assert_true(o.in_force);
	assert_string_equal(o.date, "2023-07-01");
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

	mcr_objection u = {0};
	mcr_objection_note(&u, &cfg, "416409005", NULL);
	assert_true(u.in_force);
	mcr_objection_note(&u, &cfg, "417528008", "2000-01-01");
	assert_false(u.in_force);
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
		cmocka_unit_test(same_date_and_undated_entries_err_on_the_safe_side),
		cmocka_unit_test(social_care_is_opt_in),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
