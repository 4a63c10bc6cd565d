/*
 * Unit tests: mcr-report's reports over fixtures built here: a store folder with
 * two generations (gen-000001 kept, gen-000002 current), a load history and an
 * audit log written through mcr_audit_append, its times then set and its chain
 * recomputed (the appender always uses the system clock).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcr/audit.h"
#include "mcr/buf.h"
#include "mcr/config.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/report.h"
#include "mcr/schema.h"
#include "test_audit_fixture.h"

static char tmpdir[256];
static char store_dir[300], audit_path[340], audit_dir[300];
static mcr_org orgs[5];
static mcr_config cfg;

/* ---- fixtures ---------------------------------------------------------------- */

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "fixture SQL failed: %s\n", msg ? msg : "?");
		sqlite3_free(msg);
		abort();
	}
}

static void make_db(const char *path, const char *schema, const char *rows)
{
	sqlite3 *db = NULL;
	unlink(path);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		abort();
	exec_sql(db, schema);
	exec_sql(db, rows);
	sqlite3_close(db);
}

static const char gen1_rows[] =
	"PRAGMA user_version = 1;"
	"INSERT INTO meta VALUES ('schema_version','1'),('generation','1'),"
	"  ('built_at','2026-11-20T02:10:00Z');"
	"INSERT INTO source (org, dataset, kind, name, status, extracted, loaded, people, items)"
	"  VALUES ('A81001','gp','gp','Riverside Surgery','current','2026-11-20T01:00:00Z',"
	"  '2026-11-20T02:10:00Z',1,1);"
	"INSERT INTO person (nhs, org, family) VALUES ('9990000018','A81001','Example');"
	"INSERT INTO item (nhs, org, section, display) VALUES"
	"  ('9990000018','A81001','allergies','Penicillin allergy');";

static const char gen2_rows[] =
	"PRAGMA user_version = 1;"
	"INSERT INTO meta VALUES ('schema_version','1'),('generation','2'),"
	"  ('built_at','2026-11-21T02:10:00Z'),('region','Test Region');"
	"INSERT INTO source VALUES"
	" ('A81001','gp','gp','Riverside Surgery','current','2026-11-21T01:00:00Z',"
	"  '2026-11-21T02:10:00Z','2012-04-01','staging/A81001/gp/20261121T010000Z.yaml',NULL,NULL,"
	"  3,4,10,1),"
	" ('A81002','gp','gp','Hillside Practice','stale','2026-11-19T01:00:00Z',"
	"  '2026-11-19T02:10:00Z','2012-04-01','staging/A81002/gp/20261119T010000Z.yaml',"
	"  'staging/A81002/gp/20261121T010000Z.yaml','payload CRC-32 mismatch',2,2,5,0),"
	" ('E10000015','lcs','lcs','Herts Social Care','unchanged','2026-11-20T22:00:00Z',"
	"  '2026-11-20T23:10:00Z',NULL,'staging/E10000015/lcs/20261120T220000Z.yaml',NULL,NULL,"
	"  1,3,2,0),"
	" ('NLO01','ooh','ooh','Urgent Care <OOH> & 111','current','2026-11-20T20:00:00Z',"
	"  '2026-11-21T02:10:00Z',NULL,'staging/NLO01/ooh/20261120T200000Z.yaml',NULL,NULL,"
	"  1,7,1,0),"
	" ('A81003','gp','gp','New Practice','never',NULL,NULL,NULL,NULL,NULL,NULL,0,0,0,0);"
	"INSERT INTO source_section VALUES"
	" ('A81001','allergies',2,3),('A81001','medications',2,6),('A81001','problems',1,1),"
	" ('A81002','allergies',1,1),('A81002','problems',2,4),"
	" ('E10000015','social-care',1,2),('NLO01','misc-reports',1,1);"
	"INSERT INTO withheld VALUES"
	" ('A81001','objection',4),('A81001','sensitive',1),('A81001','invalid-nhs-number',2),"
	" ('E10000015','no-consent',2),('NLO01','unmatched',1),('NLO01','no-clinical-contact',3);"
	"INSERT INTO person (nhs, org, family) VALUES"
	" ('9990000018','A81001','Example'),('9990000018','E10000015','Example');"
	"INSERT INTO objection VALUES ('9990000050','A81001','2024-03-01');"
	"INSERT INTO item (nhs, org, section, display) VALUES"
	" ('9990000018','A81001','allergies','Penicillin allergy'),"
	" ('9990000018','A81001','medications','Amoxicillin'),"
	" ('9990000018','E10000015','social-care','Care Package'),"
	" ('9990000018','NLO01','misc-reports','NHS 111 call'),"
	" ('9990000026','A81002','problems','Asthma');";

static const char history_rows[] =
	"INSERT INTO load VALUES"
	" ('20261120T021000Z-100','2026-11-20T02:10:00Z','2026-11-20T02:11:00Z','ok',1,1,0,1,1,NULL),"
	" ('20261121T021000Z-200','2026-11-21T02:10:00Z','2026-11-21T02:12:00Z','rejected',2,4,1,"
	"  7,18,'1 staged file rejected'),"
	" ('20261121T120000Z-300','2026-11-21T12:00:00Z','2026-11-21T12:00:05Z','failed',NULL,0,0,"
	"  0,0,'no space left on device');"
	"INSERT INTO load_file VALUES"
	" ('20261120T021000Z-100','A81001','gp','staging/A81001/gp/20261120T010000Z.yaml',"
	"  '2026-11-20T01:00:00Z','loaded',NULL,1),"
	" ('20261121T021000Z-200','A81001','gp','staging/A81001/gp/20261121T010000Z.yaml',"
	"  '2026-11-21T01:00:00Z','loaded',NULL,10),"
	" ('20261121T021000Z-200','A81002','gp','staging/A81002/gp/20261121T010000Z.yaml',"
	"  '2026-11-21T01:00:00Z','rejected','payload CRC-32 mismatch',0);";

typedef struct fixture_entry {
	const char *at, *user, *org, *role, *nhs, *sections, *basis, *reason, *outcome, *detail;
	long generation;
} fixture_entry;

/* Entry 9 is appended with an earlier time than entries 1-8: reports order by
 * time, then entry number. */
static const fixture_entry entries[] = {
	{ "2026-11-20T09:00:00Z", "dr.a", "A81001", "clinician", "9990000018",
	  "allergies,medications", "implied", NULL, "shown", NULL, 2 },
	{ "2026-11-20T09:00:00Z", "sw.b", "E10000015", "social-worker", "9990000018",
	  "demographics,allergies,social-care", "break-glass", "Safeguarding, out of hours",
	  "shown", NULL, 1 },
	{ "2026-11-20T23:59:59Z", "dr.a", "A81001", "clinician", "9990000026", "allergies",
	  "implied", NULL, "denied", "not on the organisation's list", 2 },
	{ "2026-11-21T00:00:00Z", "nurse.c", "NLO01", "clinician", "9990000018",
	  "allergies,medications,misc-reports", "break-glass", "Unconscious, \"urgent\"", "shown",
	  NULL, 7 },
	{ "2026-11-21T08:00:00Z", "jbloggs", "A81001", "clinician", "9990000034", "allergies",
	  "implied", NULL, "self-access", "own record", 2 },
	{ "2026-11-21T08:30:00Z", "dr.a", "A81001", "clinician", "9990000042", "allergies",
	  "break-glass", "=cmd|' /C calc'!A0", "no-record", NULL, 2 },
	{ "2026-11-21T09:00:00Z", "sw.b", "E10000015", "social-worker", "9990000050", "allergies",
	  "break-glass", "Child protection", "shown", NULL, 2 },
	{ "2026-11-21T09:30:00Z", "jbloggs", "A81001", "clinician", "9990000034", "allergies",
	  "break-glass", "Testing", "self-access", "own record", 2 },
	{ "2026-11-19T12:00:00Z", "dr.a", "A81001", "clinician", "9990000018", "problems",
	  "consent-given", NULL, "shown", NULL, 0 },
};
#define NENTRIES (sizeof(entries) / sizeof(entries[0]))

static void make_audit(const char *path)
{
	mcr_audit *a = NULL;
	unlink(path);
	assert_int_equal(mcr_audit_open(&a, path), 0);
	for (size_t i = 0; i < NENTRIES; i++) {
		const fixture_entry *f = &entries[i];
		mcr_audit_entry e = { 0 };
		e.user = f->user;
		e.org = f->org;
		e.role = f->role;
		e.nhs = f->nhs;
		e.sections = f->sections;
		e.basis = f->basis;
		e.reason = f->reason;
		e.outcome = f->outcome;
		e.detail = f->detail;
		e.generation = f->generation;
		assert_int_equal(mcr_audit_append(a, &e), 0);
		assert_int_equal(e.seq, (long)i + 1);
	}
	mcr_audit_close(a);
	mcr_buf sql = MCR_BUF_INIT;
	for (size_t i = 0; i < NENTRIES; i++)
		assert_int_equal(mcr_buf_printf(&sql, "UPDATE audit SET at = '%s' WHERE seq = %zu;", entries[i].at,
		                                i + 1), 0);
	fixture_audit_sql(path, sql.ptr);
	fixture_audit_rechain(path);
	mcr_buf_free(&sql);
}

static void set_org(mcr_org *o, const char *ods, const char *name, mcr_org_kind kind,
                    mcr_schedule s, const char *shares_from, const char *caldicott)
{
	o->ods = (char *)ods;
	o->name = (char *)name;
	o->kind = kind;
	o->schedule = s;
	snprintf(o->shares_from, sizeof(o->shares_from), "%s", shares_from);
	o->caldicott = (char *)caldicott;
}

static int setup(void **state)
{
	(void)state;
	char path[400];
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mcr-test-report-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(store_dir, sizeof(store_dir), "%s/store", tmpdir);
	snprintf(audit_dir, sizeof(audit_dir), "%s/audit", tmpdir);
	snprintf(audit_path, sizeof(audit_path), "%s/audit.sqlite", audit_dir);
	if (mcr_fs_mkdirs(store_dir) || mcr_fs_mkdirs(audit_dir))
		return -1;
	snprintf(path, sizeof(path), "%s/gen-000001.sqlite", store_dir);
	make_db(path, mcr_schema_store_sql, gen1_rows);
	snprintf(path, sizeof(path), "%s/gen-000002.sqlite", store_dir);
	make_db(path, mcr_schema_store_sql, gen2_rows);
	snprintf(path, sizeof(path), "%s/current", store_dir);
	if (symlink("gen-000002.sqlite", path) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/history.sqlite", store_dir);
	make_db(path, mcr_schema_history_sql, history_rows);
	make_audit(audit_path);

	set_org(&orgs[0], "A81001", "Riverside Surgery", MCR_KIND_GP, MCR_SCHEDULE_NIGHTLY,
	        "2012-04-01", "Dr Jane Example, caldicott.a81001@example.nhs.uk");
	set_org(&orgs[1], "A81002", "Hillside Practice", MCR_KIND_GP, MCR_SCHEDULE_NIGHTLY,
	        "2012-04-01", NULL);
	set_org(&orgs[2], "A81003", "New Practice", MCR_KIND_GP, MCR_SCHEDULE_NIGHTLY, "", NULL);
	set_org(&orgs[3], "E10000015", "Herts Social Care", MCR_KIND_LCS, MCR_SCHEDULE_NIGHTLY, "",
	        "Ann Other, caldicott@herts.example.gov.uk");
	set_org(&orgs[4], "NLO01", "Urgent Care <OOH> & 111", MCR_KIND_OOH,
	        MCR_SCHEDULE_TWICE_DAILY, "", "Dr O'Hara");
	memset(&cfg, 0, sizeof(cfg));
	cfg.path = (char *)"test.yaml";
	cfg.region = (char *)"Test Region";
	cfg.store_dir = store_dir;
	cfg.audit_path = audit_path;
	cfg.orgs = orgs;
	cfg.norgs = 5;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

/* Compare with a helpful diff-like message on failure. */
/* got must be want and then the footer every report ends with: the fixture audit
 * log's head as a checkpoint (a CSV want, with its CRLF lines, as a comment row). */
static void assert_text(const char *got, const char *want)
{
	mcr_audit_checkpoint h;
	mcr_buf full = MCR_BUF_INIT;
	assert_int_equal(mcr_audit_read_head(audit_path, &h), 0);
	if (strstr(want, "\r\n"))
		mcr_buf_printf(&full, "%s# Audit log at this report: audit checkpoint %ld:%s\r\n", want, h.seq, h.hash);
	else
		mcr_buf_printf(&full, "%s\nAudit log at this report: audit checkpoint %ld:%s\n", want, h.seq, h.hash);
	if (strcmp(got, full.ptr) != 0) {
		fprintf(stderr, "---- got:\n%s---- want:\n%s----\n", got, full.ptr);
		fail();
	}
	mcr_buf_free(&full);
}

static const char *timestamp(const char *iso)
{
	static char buf[32];
	snprintf(buf, sizeof(buf), "%s", iso);
	return buf;
}

static time_t at(const char *iso)
{
	time_t t;
	assert_int_equal(mcr_time_parse(timestamp(iso), &t), 0);
	return t;
}

/* ---- freshness ------------------------------------------------------------------ */

static void freshness_rules(void **state)
{
	(void)state;
	const char *x = "2026-11-21T01:00:00Z";
	mcr_config c30 = cfg; /* freshness.nightly: 30, freshness.twice-daily: 6 */
	c30.fresh_nightly_hours = 30;
	c30.fresh_twice_daily_hours = 6;
	static const struct {
		int configured;
		const char *status, *extracted_is_x;
		mcr_schedule sched;
		const char *now;
		mcr_freshness want;
	} cases[] = {
		{ 0, "never", NULL, MCR_SCHEDULE_NIGHTLY, "2026-11-21T09:00:00Z", MCR_FRESH_NEVER },
		{ 0, NULL, NULL, MCR_SCHEDULE_NIGHTLY, "2026-11-21T09:00:00Z", MCR_FRESH_NEVER },
		/* A rejected newest file is FAILED, a held one HELD, however fresh the data kept. */
		{ 0, "stale", "x", MCR_SCHEDULE_NIGHTLY, "2026-11-21T02:00:00Z", MCR_FRESH_FAILED },
		{ 0, "held", "x", MCR_SCHEDULE_NIGHTLY, "2026-11-21T02:00:00Z", MCR_FRESH_HELD },
		/* Nightly: 24 h + 2 h grace, exactly at the limit still OK. */
		{ 0, "current", "x", MCR_SCHEDULE_NIGHTLY, "2026-11-22T03:00:00Z", MCR_FRESH_OK },
		{ 0, "current", "x", MCR_SCHEDULE_NIGHTLY, "2026-11-22T03:00:01Z", MCR_FRESH_STALE },
		{ 0, "unchanged", "x", MCR_SCHEDULE_NIGHTLY, "2026-11-22T02:59:59Z", MCR_FRESH_OK },
		/* Twice-daily: 12 h + 2 h. */
		{ 0, "current", "x", MCR_SCHEDULE_TWICE_DAILY, "2026-11-21T15:00:00Z", MCR_FRESH_OK },
		{ 0, "current", "x", MCR_SCHEDULE_TWICE_DAILY, "2026-11-21T15:00:01Z", MCR_FRESH_STALE },
		{ 0, "current", NULL, MCR_SCHEDULE_NIGHTLY, "2026-11-21T02:00:00Z", MCR_FRESH_STALE },
		/* Configured limits. */
		{ 1, "current", "x", MCR_SCHEDULE_NIGHTLY, "2026-11-22T07:00:00Z", MCR_FRESH_OK },
		{ 1, "current", "x", MCR_SCHEDULE_NIGHTLY, "2026-11-22T07:00:01Z", MCR_FRESH_STALE },
		{ 1, "current", "x", MCR_SCHEDULE_TWICE_DAILY, "2026-11-21T07:00:01Z", MCR_FRESH_STALE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mcr_freshness got = mcr_freshness_judge(cases[i].configured ? &c30 : NULL, cases[i].status,
		                                        cases[i].extracted_is_x ? x : NULL,
		                                        cases[i].sched, at(cases[i].now));
		if (got != cases[i].want)
			fail_msg("case %zu: %s, want %s", i, mcr_freshness_name(got),
			         mcr_freshness_name(cases[i].want));
	}
	assert_string_equal(mcr_freshness_name(MCR_FRESH_FAILED), "FAILED");
	assert_string_equal(mcr_freshness_name(MCR_FRESH_HELD), "HELD");
}

/* ---- coverage ---------------------------------------------------------------- */

static const char coverage_text[] =
	"Coverage: Test Region\n"
	"Report time 2026-11-21T09:00:00Z.\n"
	"Store generation 2, built 2026-11-21T02:10:00Z.\n"
	"Last load run 20261121T120000Z-300: failed, finished 2026-11-21T12:00:05Z, no generation published.\n"
	"Freshness is judged from the extract time against each schedule: nightly data may be 26 h old, twice-daily 14 h (docs/REPORTS.md).\n"
	"\n"
	"Sources and freshness\n"
	"org        name                     dataset  schedule     freshness  extracted             loaded                shares_from  people  members  items  objections  detail\n"
	"A81001     Riverside Surgery        gp       nightly      OK         2026-11-21T01:00:00Z  2026-11-21T02:10:00Z  2012-04-01        3        4     10           1\n"
	"A81002     Hillside Practice        gp       nightly      FAILED     2026-11-19T01:00:00Z  2026-11-19T02:10:00Z  2012-04-01        2        2      5           0  newest file rejected: payload CRC-32 mismatch; older data held\n"
	"A81003     New Practice             gp       nightly      NEVER                                                                    0        0      0           0  no data loaded\n"
	"E10000015  Herts Social Care        lcs      nightly      OK         2026-11-20T22:00:00Z  2026-11-20T23:10:00Z                    1        3      2           0\n"
	"NLO01      Urgent Care <OOH> & 111  ooh      twice-daily  OK         2026-11-20T20:00:00Z  2026-11-21T02:10:00Z                    1        7      1           0\n"
	"\n"
	"People and items by section\n"
	"org        section       people  items\n"
	"A81001     allergies          2      3\n"
	"A81001     medications        2      6\n"
	"A81001     problems           1      1\n"
	"A81002     allergies          1      1\n"
	"A81002     problems           2      4\n"
	"E10000015  social-care        1      2\n"
	"NLO01      misc-reports       1      1\n"
	"\n"
	"Withheld by reason\n"
	"org        reason               count\n"
	"A81001     objection                4\n"
	"A81001     sensitive                1\n"
	"A81001     invalid-nhs-number       2\n"
	"E10000015  no-consent               2\n"
	"NLO01      unmatched                1\n"
	"NLO01      no-clinical-contact      3\n"
	"\n"
	"Rejected files\n"
	"org     dataset  file                                     reason\n"
	"A81002  gp       staging/A81002/gp/20261121T010000Z.yaml  payload CRC-32 mismatch\n";

static void coverage_text_rows(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(mcr_report_coverage(&cfg, at("2026-11-21T09:00:00Z"), MCR_REPORT_TEXT, &out), 0);
	assert_text(mcr_buf_cstr(&out), coverage_text);
	mcr_buf_free(&out);
}

/* Later the same day the twice-daily OOH data and, the next morning, the GP's go stale. */
static void coverage_freshness_over_time(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(mcr_report_coverage(&cfg, at("2026-11-21T10:00:01Z"), MCR_REPORT_CSV, &out), 0);
	assert_non_null(strstr(mcr_buf_cstr(&out), "\r\nNLO01,Urgent Care <OOH> & 111,ooh,twice-daily,"
	                       "current,STALE,extracted 14 h 1 min ago; twice-daily allows 14 h,"));
	assert_non_null(strstr(mcr_buf_cstr(&out), "\r\nA81001,Riverside Surgery,gp,nightly,current,OK,,"));
	mcr_buf_reset(&out);
	assert_int_equal(mcr_report_coverage(&cfg, at("2026-11-22T03:00:01Z"), MCR_REPORT_CSV, &out), 0);
	assert_non_null(strstr(mcr_buf_cstr(&out), "\r\nA81001,Riverside Surgery,gp,nightly,current,"
	                       "STALE,extracted 26 h 1 min ago; nightly allows 26 h,"));
	assert_non_null(strstr(mcr_buf_cstr(&out), "\r\nE10000015,Herts Social Care,lcs,nightly,"
	                       "unchanged,STALE,extracted 29 h 1 min ago; nightly allows 26 h,"));
	mcr_buf_free(&out);
}

static void coverage_csv_rows(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(mcr_report_coverage(&cfg, at("2026-11-21T09:00:00Z"), MCR_REPORT_CSV, &out), 0);
	assert_text(mcr_buf_cstr(&out),
		"org,name,dataset,schedule,status,freshness,detail,extracted,loaded,shares_from,people,"
		"members,items,objections,demographics_people,demographics_items,allergies_people,"
		"allergies_items,medications_people,medications_items,problems_people,problems_items,"
		"immunisations_people,immunisations_items,results_people,results_items,"
		"encounters_people,encounters_items,social-care_people,social-care_items,"
		"misc-reports_people,misc-reports_items,withheld_objection,withheld_no-consent,"
		"withheld_sensitive,withheld_confidential,withheld_entered-in-error,"
		"withheld_before-shares-from,withheld_invalid-nhs-number,withheld_unmatched,"
		"withheld_no-clinical-contact,withheld_invalid-date,withheld_malformed,rejected_file,rejected_reason,held_file,held_extracted,held_people,held_items\r\n"
		"A81001,Riverside Surgery,gp,nightly,current,OK,,2026-11-21T01:00:00Z,"
		"2026-11-21T02:10:00Z,2012-04-01,3,4,10,1,0,0,2,3,2,6,1,1,0,0,0,0,0,0,0,0,0,0,"
		"4,0,1,0,0,0,2,0,0,0,0,,,,,,\r\n"
		"A81002,Hillside Practice,gp,nightly,stale,FAILED,newest file rejected: payload CRC-32 "
		"mismatch; older data held,2026-11-19T01:00:00Z,2026-11-19T02:10:00Z,2012-04-01,2,2,5,0,"
		"0,0,1,1,0,0,2,4,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
		"staging/A81002/gp/20261121T010000Z.yaml,payload CRC-32 mismatch,,,,\r\n"
		"A81003,New Practice,gp,nightly,never,NEVER,no data loaded,,,,0,0,0,0,"
		"0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,,,,,,\r\n"
		"E10000015,Herts Social Care,lcs,nightly,unchanged,OK,,2026-11-20T22:00:00Z,"
		"2026-11-20T23:10:00Z,,1,3,2,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,2,0,0,"
		"0,2,0,0,0,0,0,0,0,0,0,,,,,,\r\n"
		"NLO01,Urgent Care <OOH> & 111,ooh,twice-daily,current,OK,,2026-11-20T20:00:00Z,"
		"2026-11-21T02:10:00Z,,1,7,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,"
		"0,0,0,0,0,0,0,1,3,0,0,,,,,,\r\n");
	mcr_buf_free(&out);
}

static void coverage_html_self_contained(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(mcr_report_coverage(&cfg, at("2026-11-21T09:00:00Z"), MCR_REPORT_HTML, &out), 0);
	const char *h = mcr_buf_cstr(&out);
	assert_non_null(strstr(h, "<!DOCTYPE html>"));
	assert_non_null(strstr(h, "<svg "));
	assert_non_null(strstr(h, "</svg>"));
	/* Escaped, never raw. */
	assert_non_null(strstr(h, "Urgent Care &lt;OOH&gt; &amp; 111"));
	assert_null(strstr(h, "<OOH>"));
	assert_non_null(strstr(h, "<td class=\"st-failed\">FAILED</td>"));
	assert_non_null(strstr(h, "<title>A81001 Riverside Surgery, Medications: 6</title>"));
	/* Nothing to run or fetch. */
	assert_null(strstr(h, "<script"));
	assert_null(strstr(h, "http:"));
	assert_null(strstr(h, "https:"));
	assert_null(strstr(h, "src="));
	assert_null(strstr(h, "href="));
	assert_null(strstr(h, "url("));
	mcr_buf_free(&out);
}

/* No generation published yet: every organisation NEVER, nothing fails. */
static void coverage_without_store(void **state)
{
	(void)state;
	char empty[400];
	snprintf(empty, sizeof(empty), "%s/empty-store", tmpdir);
	assert_int_equal(mcr_fs_mkdirs(empty), 0);
	mcr_config c = cfg;
	c.store_dir = empty;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(mcr_report_coverage(&c, at("2026-11-21T09:00:00Z"), MCR_REPORT_CSV, &out), 0);
	const char *s = mcr_buf_cstr(&out);
	assert_non_null(strstr(s, "\r\nA81001,Riverside Surgery,gp,nightly,never,NEVER,no data loaded,"
	                       ",,2012-04-01,0,0,0,0,"));
	assert_non_null(strstr(s, "\r\nNLO01,Urgent Care <OOH> & 111,ooh,twice-daily,never,NEVER,"));
	mcr_buf_reset(&out);
	assert_int_equal(mcr_report_coverage(&c, at("2026-11-21T09:00:00Z"), MCR_REPORT_TEXT, &out), 0);
	assert_non_null(strstr(mcr_buf_cstr(&out), "No store generation has been published.\n"));
	mcr_buf_free(&out);
}

/* A file held by the night-on-night guard: HELD with the data kept against the held
 * file, and how to accept it, in every format. */
static void coverage_held_with_figures(void **state)
{
	(void)state;
	char dir[400], path[500];
	snprintf(dir, sizeof(dir), "%s/held-store", tmpdir);
	assert_int_equal(mcr_fs_mkdirs(dir), 0);
	snprintf(path, sizeof(path), "%s/gen-000002.sqlite", dir);
	make_db(path, mcr_schema_store_sql, gen2_rows);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db, "UPDATE source SET status = 'held' WHERE org = 'A81001';"
	             "INSERT INTO source_held VALUES ('A81001',"
	             " 'staging/A81001/gp/20261122T010000Z.yaml', '2026-11-22T01:00:00Z', 0, 0,"
	             " 'people 3 -> 0, items 10 -> 0: more than 10% fewer');");
	sqlite3_close(db);
	snprintf(path, sizeof(path), "%s/current", dir);
	assert_int_equal(symlink("gen-000002.sqlite", path), 0);
	mcr_config c = cfg;
	c.store_dir = dir;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(mcr_report_coverage(&c, at("2026-11-21T09:00:00Z"), MCR_REPORT_TEXT, &out), 0);
	const char *t = mcr_buf_cstr(&out);
	assert_non_null(strstr(t, "A81001     Riverside Surgery        gp       nightly      HELD       "
	                          "2026-11-21T01:00:00Z"));
	assert_non_null(strstr(t, "newest file held: people 3 -> 0 (-100%), items 10 -> 0 (-100%): "
	                          "older data kept; if the fall is real, accept it with: "
	                          "mcr-load --accept A81001\n"));
	assert_non_null(strstr(t, "\nHeld files (not loaded: far fewer people or items than the data "
	                          "held)\n"));
	assert_non_null(strstr(t, "A81001  gp       staging/A81001/gp/20261122T010000Z.yaml  "
	                          "2026-11-22T01:00:00Z            3           0          10          0"
	                          "  mcr-load --accept A81001\n"));
	mcr_buf_reset(&out);
	assert_int_equal(mcr_report_coverage(&c, at("2026-11-21T09:00:00Z"), MCR_REPORT_CSV, &out), 0);
	assert_non_null(strstr(mcr_buf_cstr(&out), "\r\nA81001,Riverside Surgery,gp,nightly,held,HELD,"));
	assert_non_null(strstr(mcr_buf_cstr(&out), ",,,staging/A81001/gp/20261122T010000Z.yaml,"
	                                           "2026-11-22T01:00:00Z,0,0\r\n"));
	mcr_buf_reset(&out);
	assert_int_equal(mcr_report_coverage(&c, at("2026-11-21T09:00:00Z"), MCR_REPORT_HTML, &out), 0);
	assert_non_null(strstr(mcr_buf_cstr(&out), "<td class=\"st-held\">HELD</td>"));
	mcr_buf_free(&out);
}

/* ---- access ------------------------------------------------------------------ */

static void access_by_nhs_text(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(mcr_report_access(&cfg, "999 000 0018", NULL, 0, NULL, MCR_REPORT_TEXT, &out), 0);
	assert_text(mcr_buf_cstr(&out),
		"Access to the record of NHS number 9990000018\n"
		"Period: all entries.\n"
		"\n"
		"entry  time                  user     org        role           nhs         sections                            basis          reason                      outcome  detail  generation\n"
		"    9  2026-11-19T12:00:00Z  dr.a     A81001     clinician      9990000018  problems                            consent-given                              shown\n"
		"    1  2026-11-20T09:00:00Z  dr.a     A81001     clinician      9990000018  allergies,medications               implied                                    shown                     2\n"
		"    2  2026-11-20T09:00:00Z  sw.b     E10000015  social-worker  9990000018  demographics,allergies,social-care  break-glass    Safeguarding, out of hours  shown                     1\n"
		"    4  2026-11-21T00:00:00Z  nurse.c  NLO01      clinician      9990000018  allergies,medications,misc-reports  break-glass    Unconscious, \"urgent\"       shown                     7\n"
		"\n"
		"4 entries: shown 4.\n");
	mcr_buf_free(&out);
}

static void access_by_nhs_csv_with_bounds(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	/* Whole days, inclusive: 2026-11-20 holds entries 1 and 2, not 4 (midnight after). */
	mcr_report_period p = { "2026-11-20", "2026-11-20" };
	assert_int_equal(mcr_report_access(&cfg, "9990000018", NULL, 0, &p, MCR_REPORT_CSV, &out), 0);
	assert_text(mcr_buf_cstr(&out),
		"entry,time,user,org,role,nhs,sections,basis,reason,outcome,detail,generation\r\n"
		"1,2026-11-20T09:00:00Z,dr.a,A81001,clinician,9990000018,\"allergies,medications\","
		"implied,,shown,,2\r\n"
		"2,2026-11-20T09:00:00Z,sw.b,E10000015,social-worker,9990000018,"
		"\"demographics,allergies,social-care\",break-glass,\"Safeguarding, out of hours\","
		"shown,,1\r\n");
	/* Full times are inclusive to the second. */
	mcr_report_period q = { "2026-11-20T09:00:01Z", "2026-11-21T00:00:00Z" };
	mcr_buf_reset(&out);
	assert_int_equal(mcr_report_access(&cfg, "9990000018", NULL, 0, &q, MCR_REPORT_CSV, &out), 0);
	assert_text(mcr_buf_cstr(&out),
		"entry,time,user,org,role,nhs,sections,basis,reason,outcome,detail,generation\r\n"
		"4,2026-11-21T00:00:00Z,nurse.c,NLO01,clinician,9990000018,"
		"\"allergies,medications,misc-reports\",break-glass,\"Unconscious, \"\"urgent\"\"\","
		"shown,,7\r\n");
	mcr_report_period r = { NULL, "2026-11-19T12:00:00Z" };
	mcr_buf_reset(&out);
	assert_int_equal(mcr_report_access(&cfg, "9990000018", NULL, 0, &r, MCR_REPORT_CSV, &out), 0);
	assert_text(mcr_buf_cstr(&out),
		"entry,time,user,org,role,nhs,sections,basis,reason,outcome,detail,generation\r\n"
		"9,2026-11-19T12:00:00Z,dr.a,A81001,clinician,9990000018,problems,consent-given,,"
		"shown,,\r\n");
	mcr_buf_free(&out);
}

static void access_by_users(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	const char *users[] = { "dr.a", "jbloggs" };
	mcr_report_period p = { "2026-11-20", NULL };
	assert_int_equal(mcr_report_access(&cfg, NULL, users, 2, &p, MCR_REPORT_CSV, &out), 0);
	/* Denied, self-access and no-record attempts too; the formula is defused. */
	assert_text(mcr_buf_cstr(&out),
		"entry,time,user,org,role,nhs,sections,basis,reason,outcome,detail,generation\r\n"
		"1,2026-11-20T09:00:00Z,dr.a,A81001,clinician,9990000018,\"allergies,medications\","
		"implied,,shown,,2\r\n"
		"3,2026-11-20T23:59:59Z,dr.a,A81001,clinician,9990000026,allergies,implied,,denied,"
		"not on the organisation's list,2\r\n"
		"5,2026-11-21T08:00:00Z,jbloggs,A81001,clinician,9990000034,allergies,implied,,"
		"self-access,own record,2\r\n"
		"6,2026-11-21T08:30:00Z,dr.a,A81001,clinician,9990000042,allergies,break-glass,"
		"'=cmd|' /C calc'!A0,no-record,,2\r\n"
		"8,2026-11-21T09:30:00Z,jbloggs,A81001,clinician,9990000034,allergies,break-glass,"
		"Testing,self-access,own record,2\r\n");
	mcr_buf_reset(&out);
	const char *nobody[] = { "nobody" };
	assert_int_equal(mcr_report_access(&cfg, NULL, nobody, 1, NULL, MCR_REPORT_TEXT, &out), 0);
	assert_text(mcr_buf_cstr(&out),
		"Access by user nobody\n"
		"Period: all entries.\n"
		"\n"
		"entry  time  user  org  role  nhs  sections  basis  reason  outcome  detail  generation\n"
		"(none)\n"
		"\n"
		"0 entries.\n");
	mcr_buf_free(&out);
}

static void access_bad_arguments(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	mcr_report_period bad = { "2026-13-01", NULL };
	assert_int_equal(mcr_report_access(&cfg, "9990000018", NULL, 0, &bad, MCR_REPORT_TEXT, &out),
	                 MCR_EUSAGE);
	assert_non_null(strstr(mcr_error_message(), "--from '2026-13-01'"));
	mcr_report_period backwards = { "2026-11-21", "2026-11-20" };
	assert_int_equal(mcr_report_access(&cfg, "9990000018", NULL, 0, &backwards, MCR_REPORT_TEXT,
	                                   &out), MCR_EUSAGE);
	assert_int_equal(mcr_report_access(&cfg, "9990000019", NULL, 0, NULL, MCR_REPORT_TEXT, &out),
	                 MCR_EUSAGE);
	mcr_config c = cfg;
	char missing[400];
	snprintf(missing, sizeof(missing), "%s/no-such-audit.sqlite", tmpdir);
	c.audit_path = missing;
	assert_int_equal(mcr_report_access(&c, "9990000018", NULL, 0, NULL, MCR_REPORT_TEXT, &out),
	                 MCR_ENOTFOUND);
	assert_int_equal(out.len, 0);
	mcr_buf_free(&out);
}

/* ---- break-glass ----------------------------------------------------------------- */

static void break_glass_grouped(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(mcr_report_break_glass(&cfg, NULL, NULL, MCR_REPORT_TEXT, &out), 0);
	assert_text(mcr_buf_cstr(&out),
		"Break-glass access\n"
		"Period: all entries.\n"
		"\n"
		"Data of A81001 Riverside Surgery; Caldicott Guardian: Dr Jane Example, caldicott.a81001@example.nhs.uk\n"
		"entry  time                  user     org        role           nhs         sections                            basis        reason                      outcome  detail  generation  note\n"
		"    2  2026-11-20T09:00:00Z  sw.b     E10000015  social-worker  9990000018  demographics,allergies,social-care  break-glass  Safeguarding, out of hours  shown                     1\n"
		"    4  2026-11-21T00:00:00Z  nurse.c  NLO01      clinician      9990000018  allergies,medications,misc-reports  break-glass  Unconscious, \"urgent\"       shown                     7  generation 7 not kept: organisations from current generation 2\n"
		"    7  2026-11-21T09:00:00Z  sw.b     E10000015  social-worker  9990000050  allergies                           break-glass  Child protection            shown                     2\n"
		"\n"
		"Data of NLO01 Urgent Care <OOH> & 111; Caldicott Guardian: Dr O'Hara\n"
		"entry  time                  user     org    role       nhs         sections                            basis        reason                 outcome  detail  generation  note\n"
		"    4  2026-11-21T00:00:00Z  nurse.c  NLO01  clinician  9990000018  allergies,medications,misc-reports  break-glass  Unconscious, \"urgent\"  shown                     7  generation 7 not kept: organisations from current generation 2\n"
		"\n"
		"No organisation holds data for the person\n"
		"entry  time                  user  org     role       nhs         sections   basis        reason              outcome    detail  generation  note\n"
		"    6  2026-11-21T08:30:00Z  dr.a  A81001  clinician  9990000042  allergies  break-glass  =cmd|' /C calc'!A0  no-record                   2\n"
		"\n"
		"Self-access attempts (looking up one's own record)\n"
		"entry  time                  user     org     role       nhs         sections   basis        reason   outcome      detail      generation  note\n"
		"    5  2026-11-21T08:00:00Z  jbloggs  A81001  clinician  9990000034  allergies  implied               self-access  own record           2\n"
		"    8  2026-11-21T09:30:00Z  jbloggs  A81001  clinician  9990000034  allergies  break-glass  Testing  self-access  own record           2\n"
		"\n"
		"4 break-glass entries; 2 self-access attempts.\n");
	mcr_buf_free(&out);
}

static void break_glass_one_org_csv(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	mcr_report_period p = { "2026-11-21", "2026-11-21" };
	assert_int_equal(mcr_report_break_glass(&cfg, "NLO01", &p, MCR_REPORT_CSV, &out), 0);
	assert_text(mcr_buf_cstr(&out),
		"part,data_org,data_org_name,caldicott,entry,time,user,org,role,nhs,sections,basis,"
		"reason,outcome,detail,generation,note\r\n"
		"break-glass,NLO01,Urgent Care <OOH> & 111,Dr O'Hara,4,2026-11-21T00:00:00Z,nurse.c,"
		"NLO01,clinician,9990000018,\"allergies,medications,misc-reports\",break-glass,"
		"\"Unconscious, \"\"urgent\"\"\",shown,,7,generation 7 not kept: organisations from "
		"current generation 2\r\n");
	mcr_buf_reset(&out);
	/* A Guardian with nothing to review still gets the (empty) group. */
	assert_int_equal(mcr_report_break_glass(&cfg, "A81002", NULL, MCR_REPORT_TEXT, &out), 0);
	assert_text(mcr_buf_cstr(&out),
		"Break-glass access to data of A81002\n"
		"Period: all entries.\n"
		"\n"
		"Data of A81002 Hillside Practice; Caldicott Guardian: (none recorded)\n"
		"entry  time  user  org  role  nhs  sections  basis  reason  outcome  detail  generation  note\n"
		"(none)\n"
		"\n"
		"Self-access attempts (looking up one's own record)\n"
		"entry  time  user  org  role  nhs  sections  basis  reason  outcome  detail  generation  note\n"
		"(none)\n"
		"\n"
		"0 break-glass entries; 0 self-access attempts.\n");
	mcr_buf_reset(&out);
	assert_int_equal(mcr_report_break_glass(&cfg, "Z99999", NULL, MCR_REPORT_TEXT, &out), MCR_EUSAGE);
	mcr_buf_free(&out);
}

/* ---- loads --------------------------------------------------------------------- */

static void loads_history(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(mcr_report_loads(&cfg, 2, MCR_REPORT_TEXT, &out), 0);
	assert_text(mcr_buf_cstr(&out),
		"Load history\n"
		"Newest run first; the last 2 runs.\n"
		"\n"
		"Runs\n"
		"run_id                started               finished              outcome   generation  files  rejected  people  items  message\n"
		"20261121T120000Z-300  2026-11-21T12:00:00Z  2026-11-21T12:00:05Z  failed                    0         0       0      0  no space left on device\n"
		"20261121T021000Z-200  2026-11-21T02:10:00Z  2026-11-21T02:12:00Z  rejected           2      4         1       7     18  1 staged file rejected\n"
		"\n"
		"Rejected files\n"
		"run_id                org     dataset  manifest                                 reason\n"
		"20261121T021000Z-200  A81002  gp       staging/A81002/gp/20261121T010000Z.yaml  payload CRC-32 mismatch\n");
	mcr_buf_reset(&out);
	assert_int_equal(mcr_report_loads(&cfg, 0, MCR_REPORT_CSV, &out), 0);
	assert_text(mcr_buf_cstr(&out),
		"run_id,started,finished,outcome,generation,files,rejected,people,items,message\r\n"
		"20261121T120000Z-300,2026-11-21T12:00:00Z,2026-11-21T12:00:05Z,failed,,0,0,0,0,"
		"no space left on device\r\n"
		"20261121T021000Z-200,2026-11-21T02:10:00Z,2026-11-21T02:12:00Z,rejected,2,4,1,7,18,"
		"1 staged file rejected\r\n"
		"20261120T021000Z-100,2026-11-20T02:10:00Z,2026-11-20T02:11:00Z,ok,1,1,0,1,1,\r\n");
	mcr_buf_free(&out);
}

/* The guard's hold, then the operator's acceptance, in the loads report. */
static void loads_show_hold_and_acceptance(void **state)
{
	(void)state;
	char dir[400], path[500];
	snprintf(dir, sizeof(dir), "%s/guard-store", tmpdir);
	assert_int_equal(mcr_fs_mkdirs(dir), 0);
	snprintf(path, sizeof(path), "%s/history.sqlite", dir);
	make_db(path, mcr_schema_history_sql,
	        "INSERT INTO load VALUES"
	        " ('20261121T030000Z-1-1','2026-11-21T03:00:00Z','2026-11-21T03:00:02Z','held',2,1,0,"
	        "  20,40,'held: A81002 (people 20 -> 0, items 40 -> 0: none left of the data held)'),"
	        " ('20261121T090000Z-2-2','2026-11-21T09:00:00Z','2026-11-21T09:00:02Z','ok',3,1,0,"
	        "  0,0,'accepted: A81002 (people 20 -> 0, items 40 -> 0: none left of the data held)');"
	        "INSERT INTO load_file VALUES"
	        " ('20261121T030000Z-1-1','A81002','gp','staging/A81002/gp/20261121T020000Z.yaml',"
	        "  '2026-11-21T02:00:00Z','held','people 20 -> 0, items 40 -> 0: none left of the data "
	        "held',0),"
	        " ('20261121T090000Z-2-2','A81002','gp','staging/A81002/gp/20261121T020000Z.yaml',"
	        "  '2026-11-21T02:00:00Z','accepted','accepted by the operator (mcr-load --accept "
	        "A81002): people 20 -> 0, items 40 -> 0: none left of the data held',0);");
	mcr_config c = cfg;
	c.store_dir = dir;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(mcr_report_loads(&c, 0, MCR_REPORT_TEXT, &out), 0);
	const char *t = mcr_buf_cstr(&out);
	assert_non_null(strstr(t, "\nHeld and accepted files (night-on-night guard; accept a held "
	                          "file with mcr-load --accept ODS)\n"));
	assert_non_null(strstr(t, "20261121T090000Z-2-2  A81002  gp       accepted  "
	                          "staging/A81002/gp/20261121T020000Z.yaml  accepted by the operator "
	                          "(mcr-load --accept A81002): people 20 -> 0"));
	assert_non_null(strstr(t, "20261121T030000Z-1-1  A81002  gp       held      "
	                          "staging/A81002/gp/20261121T020000Z.yaml  people 20 -> 0, items 40 -> "
	                          "0: none left of the data held\n"));
	assert_true(strstr(t, "accepted  staging") < strstr(t, "held      staging"));
	mcr_buf_free(&out);
}

/* ---- verify-audit ----------------------------------------------------------------- */

/* A copy of the fixture audit log changed by sql (triggers dropped first: the
 * log's own connection refuses edits, an attacker with the file does not). */
static void tampered_copy(const char *name, const char *sql, char path[400])
{
	char cmd[1024];
	snprintf(path, 400, "%s/%s.sqlite", tmpdir, name);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", audit_path, path);
	assert_int_equal(system(cmd), 0);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db, "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;");
	exec_sql(db, sql);
	sqlite3_close(db);
}

static void verify_expect(const char *name, const char *sql, const char *want_prefix)
{
	char path[400];
	tampered_copy(name, sql, path);
	mcr_config c = cfg;
	c.audit_path = path;
	mcr_buf out = MCR_BUF_INIT;
	int rc = mcr_report_verify_audit(&c, MCR_REPORT_TEXT, &out);
	if (rc != MCR_EFORMAT || strncmp(mcr_error_message(), want_prefix, strlen(want_prefix)) != 0) {
		fprintf(stderr, "%s: rc %d, message '%s', want '%s...'\n", name, rc, mcr_error_message(),
		        want_prefix);
		fail();
	}
	assert_int_equal(out.len, 0);
	mcr_buf_free(&out);
}

static void verify_audit_intact_and_tampered(void **state)
{
	(void)state;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(mcr_report_verify_audit(&cfg, MCR_REPORT_CSV, &out), 0);
	mcr_audit_checkpoint h;
	assert_int_equal(mcr_audit_read_head(audit_path, &h), 0);
	char want[600];
	snprintf(want, sizeof(want), "audit_log,entries,result,head,checkpoints\r\n%s,9,chain intact,9:%s,none found\r\n",
	         audit_path, h.hash);
	assert_text(mcr_buf_cstr(&out), want);
	mcr_buf_reset(&out);
	/* With no checkpoint anywhere, the text report says what cannot be found. */
	assert_int_equal(mcr_report_verify_audit(&cfg, MCR_REPORT_TEXT, &out), 0);
	assert_non_null(strstr(mcr_buf_cstr(&out), "No checkpoint was found to check against"));
	mcr_buf_free(&out);

	verify_expect("edited", "UPDATE audit SET outcome = 'denied' WHERE seq = 4", "audit entry 4: ");
	verify_expect("deleted", "DELETE FROM audit WHERE seq = 3", "audit entry 3: ");
	verify_expect("swapped",
	              "UPDATE audit SET seq = -1 WHERE seq = 5;"
	              "UPDATE audit SET seq = 5 WHERE seq = 6;"
	              "UPDATE audit SET seq = 6 WHERE seq = -1;", "audit entry 5: ");
	verify_expect("truncated", "DELETE FROM audit WHERE seq >= 8", "audit entry 8: ");
}

/* The hash of entry seq of the fixture log. */
static void entry_hash(long seq, char out[65])
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open_v2(audit_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT hash FROM audit WHERE seq = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, 65, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* verify-audit checks the load history's checkpoints, the log's and the given ones;
 * a log rewritten after them (newest entries deleted, head fixed) fails naming the
 * checkpoint and where it came from. */
static void verify_audit_checks_every_checkpoint(void **state)
{
	(void)state;
	char h3[65], h5[65], h9[65], hist[400], logp[400], sql[600];
	entry_hash(3, h3);
	entry_hash(5, h5);
	entry_hash(9, h9);
	snprintf(hist, sizeof(hist), "%s/history.sqlite", store_dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(hist, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "INSERT INTO audit_checkpoint VALUES ('20261120T021000Z-100', '2026-11-20T02:10:00Z', 3, '%s'),"
	         " ('20261121T021000Z-200', '2026-11-21T02:10:00Z', 9, '%s')", h3, h9);
	exec_sql(db, sql);
	sqlite3_close(db);
	snprintf(logp, sizeof(logp), "%s/mcr.log", tmpdir);
	FILE *f = fopen(logp, "w");
	assert_non_null(f);
	fprintf(f, "2026-11-21T06:00:00Z mcr-nightly[7] run=x end: good\n"
	           "2026-11-21T06:00:00Z mcr-nightly[7] run=x audit checkpoint 5:%s\n", h5);
	fclose(f);
	mcr_config c = cfg;
	c.log_path = logp;
	mcr_audit_checkpoints given = { 0 };
	mcr_audit_checkpoint g;
	snprintf(sql, sizeof(sql), "9:%s", h9);
	assert_int_equal(mcr_audit_checkpoint_parse(sql, NULL, &g), 0);
	assert_int_equal(mcr_audit_checkpoints_add(&given, &g), 0);

	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(mcr_report_verify_audit_with(&c, &given, MCR_REPORT_CSV, &out), 0);
	assert_non_null(strstr(mcr_buf_cstr(&out), ",9,chain intact,9:"));
	assert_non_null(strstr(mcr_buf_cstr(&out), ",4 matched: load history 2; log 1; given 1\r\n"));
	mcr_buf_reset(&out);

	/* Entries 8 and 9 deleted and the head fixed by someone with the file: the
	 * chain alone holds, the history's checkpoint of entry 9 does not. */
	char copy[400], cmd[900];
	snprintf(copy, sizeof(copy), "%s/rewritten.sqlite", tmpdir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", audit_path, copy);
	assert_int_equal(system(cmd), 0);
	fixture_audit_sql(copy, "DELETE FROM audit WHERE seq >= 8");
	fixture_audit_rechain(copy);
	c.audit_path = copy;
	assert_int_equal(mcr_report_verify_audit_with(&c, NULL, MCR_REPORT_TEXT, &out), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "audit entry 8: missing (the log ends at entry 7, but checkpoint 9:"));
	assert_non_null(strstr(mcr_error_message(), "from load history run 20261121T021000Z-200"));
	assert_int_equal(out.len, 0);
	/* A wrong given checkpoint is named as given. */
	c.audit_path = audit_path;
	snprintf(sql, sizeof(sql), "5:%s", h3);
	assert_int_equal(mcr_audit_checkpoint_parse(sql, NULL, &g), 0);
	assert_int_equal(mcr_audit_checkpoints_add(&given, &g), 0);
	assert_int_equal(mcr_report_verify_audit_with(&c, &given, MCR_REPORT_TEXT, &out), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "audit entry 5: hash differs from checkpoint 5:"));
	assert_non_null(strstr(mcr_error_message(), "from given"));

	db = NULL;
	assert_int_equal(sqlite3_open(hist, &db), SQLITE_OK);
	exec_sql(db, "DELETE FROM audit_checkpoint");
	sqlite3_close(db);
	mcr_audit_checkpoints_free(&given);
	mcr_buf_free(&out);
}

/* Every report's footer in every format names the head as a checkpoint. */
static void every_report_ends_with_the_checkpoint(void **state)
{
	(void)state;
	mcr_audit_checkpoint h;
	char cp[200];
	assert_int_equal(mcr_audit_read_head(audit_path, &h), 0);
	snprintf(cp, sizeof(cp), "audit checkpoint 9:%s", h.hash);
	mcr_report_format fs[] = { MCR_REPORT_TEXT, MCR_REPORT_CSV, MCR_REPORT_HTML };
	for (size_t i = 0; i < 3; i++) {
		mcr_buf out = MCR_BUF_INIT;
		assert_int_equal(mcr_report_break_glass(&cfg, NULL, NULL, fs[i], &out), 0);
		assert_non_null(strstr(mcr_buf_cstr(&out), cp));
		mcr_buf_reset(&out);
		assert_int_equal(mcr_report_loads(&cfg, 0, fs[i], &out), 0);
		assert_non_null(strstr(mcr_buf_cstr(&out), cp));
		mcr_buf_free(&out);
	}
	/* No audit log yet: no footer, and the report is still made. */
	mcr_config c = cfg;
	char missing[400];
	snprintf(missing, sizeof(missing), "%s/no-audit-yet.sqlite", tmpdir);
	c.audit_path = missing;
	mcr_buf out = MCR_BUF_INIT;
	assert_int_equal(mcr_report_loads(&c, 0, MCR_REPORT_TEXT, &out), 0);
	assert_null(strstr(mcr_buf_cstr(&out), "audit checkpoint"));
	mcr_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(freshness_rules),
		cmocka_unit_test(coverage_text_rows),
		cmocka_unit_test(coverage_freshness_over_time),
		cmocka_unit_test(coverage_csv_rows),
		cmocka_unit_test(coverage_html_self_contained),
		cmocka_unit_test(coverage_without_store),
		cmocka_unit_test(coverage_held_with_figures),
		cmocka_unit_test(access_by_nhs_text),
		cmocka_unit_test(access_by_nhs_csv_with_bounds),
		cmocka_unit_test(access_by_users),
		cmocka_unit_test(access_bad_arguments),
		cmocka_unit_test(break_glass_grouped),
		cmocka_unit_test(break_glass_one_org_csv),
		cmocka_unit_test(loads_history),
		cmocka_unit_test(loads_show_hold_and_acceptance),
		cmocka_unit_test(verify_audit_intact_and_tampered),
		cmocka_unit_test(verify_audit_checks_every_checkpoint),
		cmocka_unit_test(every_report_ends_with_the_checkpoint),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
