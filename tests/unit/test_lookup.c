/* Unit tests: the Health link's rules, each with its audit entry, and the view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mcr/audit.h"
#include "mcr/buf.h"
#include "mcr/config.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/lookup.h"
#include "mcr/schema.h"
#include "mcr/vocab.h"

#define BIT(s) (1u << (s))
#define ALL ((1u << MCR_SECTION_COUNT) - 1)

static char tmpdir[256], store_dir[512], audit_path[512];

static mcr_org orgs[] = {
	{ "A81001", "Riverside Surgery", MCR_KIND_GP, MCR_SCHEDULE_NIGHTLY, "2012-04-01", NULL, NULL },
	{ "A81002", "Hillside Practice", MCR_KIND_GP, MCR_SCHEDULE_NIGHTLY, "", NULL, NULL },
	{ "HCC01", "Hertfordshire Social Care", MCR_KIND_LCS, MCR_SCHEDULE_NIGHTLY, "", NULL, NULL },
	{ "NLO01", "Herts Urgent Care", MCR_KIND_OOH, MCR_SCHEDULE_TWICE_DAILY, "", NULL, NULL },
};
static mcr_role roles[] = {
	{ "clinician", ALL },
	{ "social-worker", BIT(MCR_SECTION_DEMOGRAPHICS) | BIT(MCR_SECTION_ALLERGIES) | BIT(MCR_SECTION_SOCIAL_CARE) },
	{ "receptionist", BIT(MCR_SECTION_DEMOGRAPHICS) },
};
static mcr_staff staff[] = { { "jbloggs", "9990000085" } };
static mcr_config cfg;

/* One store generation from schema/store.sql and tests/data/lookup/store.sql. */
static void make_generation(long g, const char *extra_sql)
{
	char path[600], link[600], target[64];
	snprintf(path, sizeof(path), "%s/gen-%06ld.sqlite", store_dir, g);
	snprintf(target, sizeof(target), "gen-%06ld.sqlite", g);
	snprintf(link, sizeof(link), "%s/current.tmp", store_dir);
	const char *data = getenv("MCR_TEST_DATA");
	mcr_buf fixture = MCR_BUF_INIT, fpath = MCR_BUF_INIT;
	assert_non_null(data);
	assert_int_equal(mcr_buf_printf(&fpath, "%s/lookup/store.sql", data), 0);
	assert_int_equal(mcr_fs_read_file(fpath.ptr, 1 << 20, &fixture), 0);
	sqlite3 *db = NULL;
	char *msg = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, mcr_schema_store_sql, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(db, fixture.ptr, NULL, NULL, &msg) != SQLITE_OK ||
	    (extra_sql && sqlite3_exec(db, extra_sql, NULL, NULL, &msg) != SQLITE_OK))
		fail_msg("fixture: %s", msg);
	sqlite3_close(db);
	unlink(link);
	assert_int_equal(symlink(target, link), 0);
	char cur[600];
	snprintf(cur, sizeof(cur), "%s/current", store_dir);
	assert_int_equal(rename(link, cur), 0);
	mcr_buf_free(&fixture);
	mcr_buf_free(&fpath);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mcr-test-lookup-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	setenv("MCR_NOW", "2026-11-21T10:00:00Z", 1);
	snprintf(store_dir, sizeof(store_dir), "%s/store", tmpdir);
	snprintf(audit_path, sizeof(audit_path), "%s/audit/audit.sqlite", tmpdir);
	mkdir(store_dir, 0700);
	memset(&cfg, 0, sizeof(cfg));
	cfg.path = "test.yaml";
	cfg.store_dir = store_dir;
	cfg.audit_path = audit_path;
	cfg.orgs = orgs;
	cfg.norgs = sizeof(orgs) / sizeof(orgs[0]);
	cfg.roles = roles;
	cfg.nroles = sizeof(roles) / sizeof(roles[0]);
	cfg.staff = staff;
	cfg.nstaff = 1;
	make_generation(1, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

static int reset_policy(void **state)
{
	(void)state;
	cfg.consent_required = 0;
	return 0;
}

typedef struct audit_row {
	long seq, generation;
	char user[64], org[16], role[32], nhs[16], sections[256], basis[32], reason[256], outcome[32], detail[256];
	int reason_null, detail_null;
} audit_row;

static void text_col(sqlite3_stmt *st, int i, char *out, size_t n, int *was_null)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	if (was_null)
		*was_null = s == NULL;
	snprintf(out, n, "%s", s ? (const char *)s : "");
}

static long audit_count(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long n = 0;
	if (sqlite3_open_v2(audit_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM audit", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* The newest audit entry, read from the database as a reviewer would. */
static audit_row last_audit(void)
{
	audit_row r;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	memset(&r, 0, sizeof(r));
	assert_int_equal(sqlite3_open_v2(audit_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT seq, user, org, role, nhs, sections, basis, reason, outcome,"
	                                        " detail, generation FROM audit ORDER BY seq DESC LIMIT 1",
	                                    -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	r.seq = (long)sqlite3_column_int64(st, 0);
	text_col(st, 1, r.user, sizeof(r.user), NULL);
	text_col(st, 2, r.org, sizeof(r.org), NULL);
	text_col(st, 3, r.role, sizeof(r.role), NULL);
	text_col(st, 4, r.nhs, sizeof(r.nhs), NULL);
	text_col(st, 5, r.sections, sizeof(r.sections), NULL);
	text_col(st, 6, r.basis, sizeof(r.basis), NULL);
	text_col(st, 7, r.reason, sizeof(r.reason), &r.reason_null);
	text_col(st, 8, r.outcome, sizeof(r.outcome), NULL);
	text_col(st, 9, r.detail, sizeof(r.detail), &r.detail_null);
	r.generation = (long)sqlite3_column_int64(st, 10);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return r;
}

typedef struct call {
	const char *user, *org, *role, *nhs, *consent, *glass;
	unsigned sections;
	mcr_lookup_format format;
} call;

static int run(call c, mcr_buf *out)
{
	mcr_audit *a = NULL;
	mcr_lookup_request req = { c.user ? c.user : "asmith", c.org ? c.org : "A81001",
	                           c.role ? c.role : "clinician", c.nhs, c.consent, c.glass,
	                           c.sections, c.format };
	assert_int_equal(mcr_audit_open(&a, audit_path), 0);
	mcr_buf_reset(out);
	int rc = mcr_lookup_run(&cfg, a, &req, out, NULL);
	mcr_audit_close(a);
	return rc;
}

static const char *view(const mcr_buf *b)
{
	return mcr_buf_cstr(b);
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void allowed_with_implied_consent(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(run((call){ .nhs = "999 000 0018" }, &out), 0);
	const char *v = view(&out);
	assert_non_null(strstr(v, "Name:        Siân O'Brien"));
	assert_non_null(strstr(v, "NHS number:  999 000 0018"));
	assert_non_null(strstr(v, "Penicillin allergy  (SNOMED CT 91936005)  active"));
	assert_non_null(strstr(v, "      reaction: Anaphylaxis"));
	assert_non_null(strstr(v, "      source: Riverside Surgery (A81001), as of 2026-11-21T02:00:00Z"));
	/* Newest first within a section. */
	assert_true(strstr(v, "Amoxicillin allergy") < strstr(v, "Penicillin allergy"));
	/* Every section shown, each saying it may be incomplete. */
	assert_int_equal(count_of(v, "it may not be the complete record"), MCR_SECTION_COUNT);
	assert_non_null(strstr(v, "\nSocial care\n"));
	assert_non_null(strstr(v, "Care Package"));
	assert_non_null(strstr(v, "source: Hertfordshire Social Care (HCC01), as of 2026-11-21T01:00:00Z"));
	assert_non_null(strstr(v, "NHS 111 call: chest pain"));
	/* Counts of what the sharing rules withheld, never their content. */
	assert_non_null(strstr(v, "\nProblems\n"));
	assert_non_null(strstr(v, "  2 items not shared by policy\n"));
	assert_non_null(strstr(v, "  1 item not shared by policy\n"));
	/* A banner for the stale source, even with none of its data here. */
	assert_non_null(strstr(v, "Hillside Practice data is stale: as of 2026-11-19T02:00:00Z; latest extract rejected"));
	/* Terminal control characters from stored content are neutralised. */
	assert_null(strchr(v, '\x1b'));
	assert_non_null(strstr(v, "Escape ?[31m test"));
	/* A narrative's line breaks survive as continued, indented lines. */
	assert_non_null(strstr(v, "      Advice: Attend ED\n        Call 999 if worse\n"));

	audit_row r = last_audit();
	assert_string_equal(r.user, "asmith");
	assert_string_equal(r.org, "A81001");
	assert_string_equal(r.role, "clinician");
	assert_string_equal(r.nhs, "9990000018");
	assert_string_equal(r.sections, "demographics,allergies,medications,problems,immunisations,results,"
	                                 "encounters,social-care,misc-reports");
	assert_string_equal(r.basis, "implied");
	assert_true(r.reason_null);
	assert_string_equal(r.outcome, "shown");
	assert_true(r.detail_null);
	assert_int_equal(r.generation, 1);
	mcr_buf_free(&out);
}

static void denied_without_relationship(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(run((call){ .nhs = "9990000026" }, &out), MCR_EDENIED);
	assert_int_equal(out.len, 0);
	assert_non_null(strstr(mcr_error_message(), "access denied: no legitimate relationship"));
	assert_null(strstr(mcr_error_message(), "Latex"));
	audit_row r = last_audit();
	assert_string_equal(r.nhs, "9990000026");
	assert_string_equal(r.outcome, "denied");
	assert_string_equal(r.basis, "implied");
	assert_string_equal(r.detail, "no legitimate relationship: not on the list of A81001");
	mcr_buf_free(&out);
}

static void denied_for_a_section_the_role_may_not_see(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	call c = { .user = "sworker", .org = "HCC01", .role = "social-worker", .nhs = "9990000018",
	           .sections = BIT(MCR_SECTION_MEDICATIONS) };
	assert_int_equal(run(c, &out), MCR_EDENIED);
	assert_int_equal(out.len, 0);
	audit_row r = last_audit();
	assert_string_equal(r.outcome, "denied");
	assert_string_equal(r.sections, "medications");
	assert_string_equal(r.detail, "role social-worker may not see section medications");
	/* Break-glass does not widen a role. */
	c.glass = "urgent";
	assert_int_equal(run(c, &out), MCR_EDENIED);
	assert_string_equal(last_audit().outcome, "denied");
	/* The sections it may see are shown, and nothing else. */
	c.glass = NULL;
	c.sections = 0;
	assert_int_equal(run(c, &out), 0);
	assert_non_null(strstr(view(&out), "Penicillin allergy"));
	assert_null(strstr(view(&out), "Paracetamol"));
	assert_null(strstr(view(&out), "\nMedications\n"));
	assert_string_equal(last_audit().sections, "demographics,allergies,social-care");
	mcr_buf_free(&out);
}

static void break_glass_shows_and_records_the_reason(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(run((call){ .nhs = "9990000026", .glass = "  unconscious in ED, no GP details  " }, &out), 0);
	assert_non_null(strstr(view(&out), "Latex allergy"));
	assert_non_null(strstr(view(&out), "source: Hillside Practice (A81002), as of 2026-11-19T02:00:00Z"));
	assert_non_null(strstr(view(&out), "Hillside Practice data is stale"));
	assert_non_null(strstr(view(&out), "Basis:       break-glass: unconscious in ED, no GP details"));
	audit_row r = last_audit();
	assert_string_equal(r.outcome, "shown");
	assert_string_equal(r.basis, "break-glass");
	assert_string_equal(r.reason, "unconscious in ED, no GP details");
	assert_true(r.detail_null);
	mcr_buf_free(&out);
}

static void own_record_is_denied_even_with_break_glass(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(run((call){ .user = "jbloggs", .nhs = "9990000085" }, &out), MCR_EDENIED);
	assert_int_equal(out.len, 0);
	audit_row r = last_audit();
	assert_string_equal(r.user, "jbloggs");
	assert_string_equal(r.outcome, "self-access");
	assert_string_equal(r.basis, "implied");
	assert_int_equal(run((call){ .user = "jbloggs", .nhs = "9990000085", .glass = "checking" }, &out), MCR_EDENIED);
	assert_int_equal(out.len, 0);
	r = last_audit();
	assert_string_equal(r.outcome, "self-access");
	assert_string_equal(r.basis, "break-glass");
	assert_string_equal(r.reason, "checking");
	/* Someone else may look at it. */
	assert_int_equal(run((call){ .user = "asmith", .nhs = "9990000085" }, &out), 0);
	assert_non_null(strstr(view(&out), "Asthma"));
	mcr_buf_free(&out);
}

static void consent_refused_is_denied(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(run((call){ .nhs = "9990000018", .consent = "refused" }, &out), MCR_EDENIED);
	assert_int_equal(out.len, 0);
	audit_row r = last_audit();
	assert_string_equal(r.outcome, "denied");
	assert_string_equal(r.basis, "consent-refused");
	assert_string_equal(r.detail, "consent refused at the point of care");
	mcr_buf_free(&out);
}

static void consent_required_by_policy(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	cfg.consent_required = 1;
	assert_int_equal(run((call){ .nhs = "9990000018" }, &out), MCR_EDENIED);
	assert_int_equal(out.len, 0);
	audit_row r = last_audit();
	assert_string_equal(r.outcome, "denied");
	assert_string_equal(r.basis, "implied");
	assert_non_null(strstr(r.detail, "explicit consent"));
	assert_int_equal(run((call){ .nhs = "9990000018", .consent = "given" }, &out), 0);
	assert_non_null(strstr(view(&out), "Penicillin allergy"));
	r = last_audit();
	assert_string_equal(r.outcome, "shown");
	assert_string_equal(r.basis, "consent-given");
	assert_int_equal(run((call){ .nhs = "9990000018", .glass = "unconscious" }, &out), 0);
	assert_string_equal(last_audit().basis, "break-glass");
	mcr_buf_free(&out);
}

static void objection_in_force_shows_no_health_data(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(run((call){ .nhs = "9990000034" }, &out), 0);
	const char *v = view(&out);
	assert_non_null(strstr(v, "This person has withdrawn consent to share their health record (since 2024-03-01)."));
	assert_null(strstr(v, "Depressive"));
	assert_null(strstr(v, "source: Riverside Surgery"));
	/* Social care is a separate opt-in and still shows. */
	assert_non_null(strstr(v, "Assessment"));
	assert_non_null(strstr(v, "Olive Objector"));
	audit_row r = last_audit();
	assert_string_equal(r.outcome, "shown");
	assert_string_equal(r.nhs, "9990000034");
	mcr_buf_free(&out);
}

/* Everything but the NHS number must match. */
/* The time a view was made (its audit entry's, to the second) is masked: two
 * lookups a moment apart may straddle a second. */
static void mask_viewed_at(mcr_buf *v)
{
	char *at = v->ptr ? strstr(v->ptr, "\nViewed by:") : NULL;
	char *eol = at ? strchr(at + 1, '\n') : NULL;
	for (char *p = at; p && p < eol; p++)
		if (*p >= '0' && *p <= '9')
			*p = '#';
}

static void assert_same_view(const char *a, const char *b, const char *num_a, const char *num_b)
{
	mcr_buf x = MCR_BUF_INIT, y = MCR_BUF_INIT;
	for (const char *p = a; *p;) {
		if (strncmp(p, num_a, strlen(num_a)) == 0) {
			mcr_buf_puts(&x, num_b);
			p += strlen(num_a);
		} else {
			mcr_buf_putc(&x, *p++);
		}
	}
	mcr_buf_puts(&y, b);
	mask_viewed_at(&x);
	mask_viewed_at(&y);
	assert_string_equal(mcr_buf_cstr(&x), mcr_buf_cstr(&y));
	mcr_buf_free(&x);
	mcr_buf_free(&y);
}

static void social_care_without_consent_looks_unknown(void **state)
{
	(void)state;
	mcr_buf a = MCR_BUF_INIT, b = MCR_BUF_INIT;
	/* ...042 is on the social care caseload without consent; ...050 is unknown to it. */
	assert_int_equal(run((call){ .nhs = "9990000042" }, &a), 0);
	assert_int_equal(run((call){ .nhs = "9990000050" }, &b), 0);
	assert_non_null(strstr(view(&a), "Peanut allergy"));
	assert_same_view(view(&a), view(&b), "999 000 0042", "999 000 0050");
	assert_null(strstr(view(&a), "Hertfordshire Social Care ("));
	/* Caseload only vs unknown everywhere: the same answer, for anyone. */
	const char *users[][3] = { { "asmith", "A81001", "clinician" }, { "sworker", "HCC01", "social-worker" } };
	for (int i = 0; i < 2; i++) {
		char m1[512], m2[512];
		assert_int_equal(run((call){ users[i][0], users[i][1], users[i][2], "9990000069", NULL, NULL, 0, 0 }, &a),
		                 MCR_ENOTFOUND);
		snprintf(m1, sizeof(m1), "%s", mcr_error_message());
		assert_string_equal(last_audit().outcome, "no-record");
		assert_int_equal(run((call){ users[i][0], users[i][1], users[i][2], "9990000077", NULL, NULL, 0, 0 }, &b),
		                 MCR_ENOTFOUND);
		snprintf(m2, sizeof(m2), "%s", mcr_error_message());
		assert_string_equal(last_audit().outcome, "no-record");
		assert_int_equal(a.len, 0);
		assert_int_equal(b.len, 0);
		assert_same_view(m1, m2, "999 000 0069", "999 000 0077");
	}
	/* A role that may not see social care cannot tell a consented social care
	 * client from someone unknown either. */
	assert_int_equal(run((call){ .org = "HCC01", .role = "receptionist", .nhs = "9990000093" }, &a), MCR_ENOTFOUND);
	assert_int_equal(run((call){ .org = "HCC01", .role = "clinician", .nhs = "9990000093" }, &a), 0);
	assert_non_null(strstr(view(&a), "Child in Need"));
	mcr_buf_free(&a);
	mcr_buf_free(&b);
}

static void no_record_of_that_person(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(run((call){ .nhs = "9990000077", .glass = "collapsed in street" }, &out), MCR_ENOTFOUND);
	assert_int_equal(out.len, 0);
	assert_non_null(strstr(mcr_error_message(), "no record of 999 000 0077"));
	audit_row r = last_audit();
	assert_string_equal(r.outcome, "no-record");
	assert_string_equal(r.basis, "break-glass");
	assert_string_equal(r.reason, "collapsed in street");
	assert_int_equal(r.generation, 1);
	mcr_buf_free(&out);
}

static void section_filter(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(run((call){ .nhs = "9990000018", .sections = BIT(MCR_SECTION_ALLERGIES) | BIT(MCR_SECTION_PROBLEMS) }, &out), 0);
	const char *v = view(&out);
	assert_non_null(strstr(v, "\nAllergies\n"));
	assert_non_null(strstr(v, "\nProblems\n"));
	assert_non_null(strstr(v, "Hypertension"));
	assert_null(strstr(v, "\nMedications\n"));
	assert_null(strstr(v, "Paracetamol"));
	assert_null(strstr(v, "Care Package"));
	assert_int_equal(count_of(v, "it may not be the complete record"), 2);
	/* Demographics not requested: the header names no one. */
	assert_non_null(strstr(v, "Name:        (not shown)"));
	assert_string_equal(last_audit().sections, "allergies,problems");
	mcr_buf_free(&out);
}

static void usage_errors_are_not_audited(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	long before = audit_count();
	assert_int_equal(run((call){ .nhs = "9990000019" }, &out), MCR_EUSAGE);
	assert_int_equal(run((call){ .nhs = "9990000018", .glass = "   " }, &out), MCR_EUSAGE);
	assert_int_equal(run((call){ .nhs = "9990000018", .glass = "x", .consent = "given" }, &out), MCR_EUSAGE);
	assert_int_equal(run((call){ .nhs = "9990000018", .role = "porter" }, &out), MCR_EUSAGE);
	assert_int_equal(run((call){ .nhs = "9990000018", .org = "Z99999" }, &out), MCR_EUSAGE);
	assert_int_equal(audit_count(), before);
	mcr_buf_free(&out);
}

static void audit_failure_shows_nothing(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	mcr_audit *a = NULL;
	assert_int_equal(mcr_audit_open(&a, audit_path), 0);
	/* Damage the log under the open handle: the head record goes missing. */
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(audit_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE saved AS SELECT * FROM audit_head; DELETE FROM audit_head",
	                              NULL, NULL, NULL), SQLITE_OK);
	long before = audit_count();
	mcr_lookup_request req = { "asmith", "A81001", "clinician", "9990000018", NULL, NULL, 0, MCR_LOOKUP_TEXT };
	int rc = mcr_lookup_run(&cfg, a, &req, &out, NULL);
	assert_true(rc < 0);
	assert_int_not_equal(rc, MCR_EDENIED);
	assert_int_not_equal(rc, MCR_ENOTFOUND);
	assert_int_equal(out.len, 0);
	assert_int_equal(audit_count(), before);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO audit_head SELECT * FROM saved; DROP TABLE saved",
	                              NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	mcr_audit_close(a);
	mcr_audit_verify_result res;
	assert_int_equal(mcr_audit_verify(audit_path, NULL, &res), 0);
	mcr_buf_free(&out);
}

static void html_is_self_contained_and_escaped(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(run((call){ .nhs = "9990000018", .format = MCR_LOOKUP_HTML }, &out), 0);
	const char *v = view(&out);
	assert_true(strncmp(v, "<!DOCTYPE html>", 15) == 0);
	assert_non_null(strstr(v, "Glucose &lt;fasting&gt; &amp; &quot;random&quot;"));
	assert_null(strstr(v, "<fasting>"));
	assert_non_null(strstr(v, "O&#39;Brien"));
	assert_null(strstr(v, "<script"));
	assert_null(strstr(v, "http://"));
	assert_null(strstr(v, "https://"));
	assert_null(strstr(v, "src="));
	/* Links only move within the page (section navigation). */
	for (const char *h = strstr(v, "href="); h; h = strstr(h + 1, "href="))
		assert_int_equal(h[6], '#');
	assert_non_null(strstr(v, "<a href=\"#allergies\">"));
	assert_non_null(strstr(v, "id=\"allergies\""));
	assert_non_null(strstr(v, "@media print"));
	assert_non_null(strstr(v, "Printing is disabled"));
	assert_null(strstr(v, "window.print"));
	assert_non_null(strstr(v, "</html>\n"));
	/* The layout a clinician reads: banner with NHS-style birth date, age and the
	 * NHS number 3 3 4; warnings before any section; allergies first with the
	 * severity as a badge; dates in the NHS style; each item's source and as-of. */
	assert_non_null(strstr(v, "<h1>Siân O&#39;Brien</h1>"));
	assert_non_null(strstr(v, "<dt>Born</dt><dd>03-Feb-1950 ("));
	assert_non_null(strstr(v, "<dt>Gender</dt><dd>Female</dd>"));
	assert_non_null(strstr(v, "<dt>NHS number</dt><dd>999 000 0018</dd>"));
	const char *warn = strstr(v, "Hillside Practice data is stale: as of 19-Nov-2026 02:00; latest extract rejected");
	assert_non_null(warn);
	assert_true(warn < strstr(v, "<section"));
	assert_true(strstr(v, "id=\"allergies\"") < strstr(v, "id=\"medications\""));
	assert_true(strstr(v, "id=\"misc-reports\"") < strstr(v, "id=\"demographics\""));
	assert_non_null(strstr(v, "Penicillin allergy</span><strong class=\"severity high\">severity: severe</strong>"));
	assert_non_null(strstr(v, "<span class=\"date\">01-Jun-2019</span>"));
	assert_non_null(strstr(v, "Source: Riverside Surgery (A81001), as of 21-Nov-2026 02:00"));
	assert_non_null(strstr(v, "2 items not shared by policy"));
	mcr_buf_free(&out);
}

static void a_new_generation_is_read_whole(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	make_generation(2, "UPDATE meta SET value = '2' WHERE key = 'generation';"
	                   " UPDATE item SET display = 'Penicillin allergy (gen 2)' WHERE id = 1;");
	assert_int_equal(run((call){ .nhs = "9990000018" }, &out), 0);
	assert_non_null(strstr(view(&out), "Penicillin allergy (gen 2)"));
	assert_int_equal(last_audit().generation, 2);
	mcr_buf_free(&out);
}

/* Every view names at its top each source older than its schedule allows, or whose
 * newest file was rejected or held, whatever the person, judged on the replay clock. */
static void warnings_name_stale_rejected_and_held_sources(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	/* A day and more later, nothing newer loaded: every source is stale by age. */
	setenv("MCR_NOW", "2026-11-22T10:00:00Z", 1);
	assert_int_equal(run((call){ .nhs = "9990000018" }, &out), 0);
	const char *v = view(&out);
	const char *first_section = strstr(v, "\nDemographics\n");
	static const char *const lines[] = {
		"! Riverside Surgery data is stale: as of 2026-11-21T02:00:00Z, 32 h old; its nightly "
		"schedule allows 26 h\n",
		"! Hillside Practice data is stale: as of 2026-11-19T02:00:00Z; latest extract rejected\n",
		"! Hertfordshire Social Care data is stale: as of 2026-11-21T01:00:00Z, 33 h old; its "
		"nightly schedule allows 26 h\n",
		"! Herts Urgent Care data is stale: as of 2026-11-21T00:30:00Z, 33 h 30 min old; its "
		"twice-daily schedule allows 14 h\n",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const char *at = strstr(v, lines[i]);
		if (!at || at > first_section)
			fail_msg("no warning at the top: %s\n%s", lines[i], v);
	}
	/* The same warnings in HTML, escaped like any text. */
	assert_int_equal(run((call){ .nhs = "9990000018", .format = MCR_LOOKUP_HTML }, &out), 0);
	assert_non_null(strstr(view(&out), "<li>Herts Urgent Care data is stale: as of "
	                                   "21-Nov-2026 00:30, 33 h 30 min old; its twice-daily "
	                                   "schedule allows 14 h</li>"));
	/* Limits are configurable: 48 h for nightly data clears the GP and social care. */
	cfg.fresh_nightly_hours = 48;
	assert_int_equal(run((call){ .nhs = "9990000018" }, &out), 0);
	assert_null(strstr(view(&out), "Riverside Surgery data is stale"));
	assert_null(strstr(view(&out), "Hertfordshire Social Care data is stale"));
	assert_non_null(strstr(view(&out), "Herts Urgent Care data is stale"));
	cfg.fresh_nightly_hours = 0;

	/* Within its schedule but its newest file held by the loader's guard: named,
	 * with the figures, for a person whose data comes from elsewhere too. */
	setenv("MCR_NOW", "2026-11-21T10:00:00Z", 1);
	make_generation(3, "UPDATE meta SET value = '3' WHERE key = 'generation';"
	                   " UPDATE source SET status = 'held' WHERE org = 'A81001';"
	                   " INSERT INTO source_held VALUES ('A81001', 'staging/A81001/gp/"
	                   "20261122T020000Z.yaml', '2026-11-22T02:00:00Z', 0, 0,"
	                   " 'people 5 -> 0, items 9 -> 0');");
	assert_int_equal(run((call){ .user = "sworker", .org = "HCC01", .role = "social-worker",
	                             .nhs = "9990000093" }, &out), 0);
	v = view(&out);
	assert_non_null(strstr(v, "! Riverside Surgery data is stale: as of 2026-11-21T02:00:00Z; "
	                          "latest extract held: people 5 -> 0, items 9 -> 0, waiting for an "
	                          "operator to accept it\n"));
	assert_null(strstr(v, "Herts Urgent Care data is stale"));
	/* The same list, for any renderer, from the decision API. */
	mcr_lookup_request req = { "asmith", "A81001", "clinician", "9990000018", NULL, NULL, 0,
	                           MCR_LOOKUP_TEXT };
	mcr_lookup *lk = NULL;
	size_t nw = 0;
	assert_int_equal(mcr_lookup_decide(&cfg, &req, &lk), 0);
	const mcr_source_warning *w = mcr_lookup_warnings(lk, &nw);
	assert_int_equal(nw, 2);
	assert_string_equal(w[0].org, "A81001");
	assert_int_equal(w[0].state, MCR_FRESH_HELD);
	assert_int_equal(w[0].people, 5);
	assert_int_equal(w[0].held_people, 0);
	assert_int_equal(w[0].items, 9);
	assert_string_equal(w[0].held_extracted, "2026-11-22T02:00:00Z");
	assert_string_equal(w[1].org, "A81002");
	assert_int_equal(w[1].state, MCR_FRESH_FAILED);
	mcr_lookup_free(lk);
	/* A configured organisation the generation does not list has shared nothing. */
	mcr_org more[5];
	memcpy(more, orgs, sizeof(orgs));
	more[4] = (mcr_org){ "A81009", "New Practice", MCR_KIND_GP, MCR_SCHEDULE_NIGHTLY, "", NULL, NULL };
	cfg.orgs = more;
	cfg.norgs = 5;
	assert_int_equal(run((call){ .nhs = "9990000018" }, &out), 0);
	assert_non_null(strstr(view(&out), "! New Practice has not shared any data yet: its "
	                                   "information is missing\n"));
	cfg.orgs = orgs;
	cfg.norgs = sizeof(orgs) / sizeof(orgs[0]);
	mcr_buf_free(&out);
}

static void identical_entries_are_shown_once(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	make_generation(4, "UPDATE meta SET value = '4' WHERE key = 'generation';"
	                   " INSERT INTO item (id, nhs, org, section, date, system, code, display, status,"
	                   " source_id, details) SELECT 100 + n, nhs, org, section, date, system, code,"
	                   " display, status, 'dup' || n, details FROM item, (SELECT 1 AS n UNION SELECT 2)"
	                   " WHERE id = 1;");
	assert_int_equal(run((call){ .nhs = "9990000018" }, &out), 0);
	const char *v = view(&out);
	assert_int_equal(count_of(v, "Penicillin allergy"), 1);
	assert_non_null(strstr(v, "      (recorded 3 times identically by this source; shown once)\n"));
	mcr_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(allowed_with_implied_consent, reset_policy),
		cmocka_unit_test_setup(denied_without_relationship, reset_policy),
		cmocka_unit_test_setup(denied_for_a_section_the_role_may_not_see, reset_policy),
		cmocka_unit_test_setup(break_glass_shows_and_records_the_reason, reset_policy),
		cmocka_unit_test_setup(own_record_is_denied_even_with_break_glass, reset_policy),
		cmocka_unit_test_setup(consent_refused_is_denied, reset_policy),
		cmocka_unit_test_setup(consent_required_by_policy, reset_policy),
		cmocka_unit_test_setup(objection_in_force_shows_no_health_data, reset_policy),
		cmocka_unit_test_setup(social_care_without_consent_looks_unknown, reset_policy),
		cmocka_unit_test_setup(no_record_of_that_person, reset_policy),
		cmocka_unit_test_setup(section_filter, reset_policy),
		cmocka_unit_test_setup(usage_errors_are_not_audited, reset_policy),
		cmocka_unit_test_setup(audit_failure_shows_nothing, reset_policy),
		cmocka_unit_test_setup(html_is_self_contained_and_escaped, reset_policy),
		cmocka_unit_test_setup(a_new_generation_is_read_whole, reset_policy),
		cmocka_unit_test_setup(warnings_name_stale_rejected_and_held_sources, reset_policy),
		cmocka_unit_test_setup(identical_entries_are_shown_once, reset_policy),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
