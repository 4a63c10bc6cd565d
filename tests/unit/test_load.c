/*
 * mcr-load: hand-made staged files (through the writer, or raw where the writer
 * refuses what a broken extractor could still produce) for every consent rule;
 * a corrupt file, a replay and a failed extract (stale, quarantined, exit 3);
 * re-run identity; the lock; pruning; objection reconciliation; a crash at each
 * phase leaving the published generation as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mcr/buf.h"
#include "mcr/config.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/gz.h"
#include "mcr/load.h"
#include "mcr/nhs.h"
#include "mcr/staged.h"
#include "mcr/store_sqlite.h"

static char dir[64];
static mcr_config *cfg;

/* Test NHS numbers: 999 range with a valid check digit. */
static const char *nhs(int i)
{
	static char out[8][11];
	static int slot;
	char *s = out[slot++ % 8];
	for (int n = i;; n++) {
		char nine[16];
		snprintf(nine, sizeof(nine), "999%06d", n % 1000000);
		int d = mcr_nhs_check_digit(nine);
		if (d < 10) {
			memcpy(s, nine, 9);
			s[9] = (char)('0' + d);
			s[10] = '\0';
			return s;
		}
	}
}

static char P1[11], P2[11], P3[11], P4[11], P5[11];

static const char *path_in(const char *rel)
{
	static char p[8][512];
	static int slot;
	char *s = p[slot++ % 8];
	snprintf(s, 512, "%s/%s", dir, rel);
	return s;
}

static const char config_yaml[] =
	"region: Test region\n"
	"paths:\n"
	"  staging: staging\n"
	"  archive: archive\n"
	"  quarantine: quarantine\n"
	"  store: store\n"
	"  audit: audit/audit.sqlite\n"
	"  log: log/mcr.log\n"
	"  lock: run/mcr.lock\n"
	"retention:\n"
	"  generations: 3\n"
	"organisations:\n"
	"  - ods: A81001\n"
	"    name: Riverside Surgery\n"
	"    kind: gp\n"
	"    schedule: nightly\n"
	"    shares_from: 2012-04-01\n"
	"  - ods: A81002\n"
	"    name: Hillside Surgery\n"
	"    kind: gp\n"
	"    schedule: nightly\n"
	"  - ods: LCS01\n"
	"    name: County Council\n"
	"    kind: lcs\n"
	"    schedule: nightly\n"
	"  - ods: NHS111\n"
	"    name: Urgent Care 111\n"
	"    kind: ooh\n"
	"    schedule: twice-daily\n"
	"policy:\n"
	"  consent_at_point_of_care: implied\n"
	"  objection_codes: [416409005]\n"
	"  consent_codes: [417528008]\n"
	"  sensitive_codes: [\"7200002\"]\n"
	"  clinician_roles: [R0260]\n"
	"  roles:\n"
	"    clinician: [demographics, allergies, medications, problems, immunisations,\n"
	"                results, encounters, social-care, misc-reports]\n";

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_load.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	if (mcr_fs_write_atomic(path_in("mcr.yaml"), config_yaml, strlen(config_yaml)) ||
	    mcr_config_load(&cfg, path_in("mcr.yaml"))) {
		fprintf(stderr, "%s\n", mcr_error_message());
		return -1;
	}
	snprintf(P1, 11, "%s", nhs(1));
	snprintf(P2, 11, "%s", nhs(2));
	snprintf(P3, 11, "%s", nhs(3));
	snprintf(P4, 11, "%s", nhs(4));
	snprintf(P5, 11, "%s", nhs(5));
	setenv("MCR_NOW", "2026-11-21T03:00:00Z", 1);
	unsetenv("MCR_LOAD_CRASH_AT");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mcr_config_free(cfg);
	cfg = NULL;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* ---- staging ------------------------------------------------------------ */

static time_t at(const char *iso)
{
	time_t t;
	assert_int_equal(mcr_time_parse(iso, &t), 0);
	return t;
}

static mcr_staged_writer *open_writer(const char *org, const char *dataset, const char *when,
                                      const char *shares_from)
{
	mcr_staged_header h = { org, dataset, at(when), shares_from };
	mcr_staged_writer *w = NULL;
	int rc = mcr_staged_writer_open(&w, cfg->staging_dir, &h);
	if (rc)
		fail_msg("%s", mcr_error_message());
	return w;
}

static void commit(mcr_staged_writer *w)
{
	if (mcr_staged_writer_commit(w, NULL))
		fail_msg("%s", mcr_error_message());
}

static void item(mcr_staged_writer *w, mcr_section s, const char *id, const char *date,
                 const char *code, const char *display, const char *status, const char *conf)
{
	static const mcr_staged_detail det[2] = { { "reaction", "Rash \"bad\"\n" },
	                                          { "severity", "mild\\moderate" } };
	mcr_staged_item it = { s, id, date, "http://snomed.info/sct", code, display, status, conf,
	                       s == MCR_SECTION_ALLERGIES ? det : NULL,
	                       s == MCR_SECTION_ALLERGIES ? 2 : 0 };
	if (mcr_staged_write_item(w, &it))
		fail_msg("%s", mcr_error_message());
}

static void person(mcr_staged_writer *w, const char *n, const char *family, const char *objection,
                   const char *consent)
{
	mcr_staged_person p = { n, family, family ? "Test" : NULL, family ? "1950-02-03" : NULL,
	                        NULL, NULL, NULL, NULL, objection, consent };
	if (mcr_staged_person_begin(w, &p))
		fail_msg("%s", mcr_error_message());
}

static void end(mcr_staged_writer *w)
{
	if (mcr_staged_person_end(w))
		fail_msg("%s", mcr_error_message());
}

static void member(mcr_staged_writer *w, const char *n)
{
	if (mcr_staged_write_member(w, n))
		fail_msg("%s", mcr_error_message());
}

/* GP A81001: every item rule (kept, sensitive, confidential, entered in error,
 * before shares-from), an extractor-side withheld count and an objection. */
static void stage_a81001(const char *when, int extra)
{
	mcr_staged_writer *w = open_writer("A81001", "gp", when, "2012-04-01");
	member(w, P1);
	member(w, P2);
	member(w, P3);
	person(w, P1, "O'Brien", NULL, NULL);
	item(w, MCR_SECTION_ALLERGIES, "a1", "2020-01-01", "294505008", "Amoxicillin allergy",
	     "active", NULL);
	item(w, MCR_SECTION_PROBLEMS, "p1", "2020-02-01", "7200002", "Sensitive problem", NULL, NULL);
	item(w, MCR_SECTION_PROBLEMS, "p2", "2020-02-02", "38341003", "Private note", NULL, "R");
	item(w, MCR_SECTION_MEDICATIONS, "m1", "2020-03-01", "1234", "Wrong drug",
	     "entered-in-error", NULL);
	item(w, MCR_SECTION_IMMUNISATIONS, "i1", "2010-05-01", "5678", "Old jab", NULL, NULL);
	for (int i = 0; i < extra; i++)
		item(w, MCR_SECTION_RESULTS, NULL, "2021-01-01", "1111", "Extra result", NULL, NULL);
	if (mcr_staged_write_withheld(w, MCR_SECTION_PROBLEMS, MCR_REASON_SENSITIVE, 2))
		fail_msg("%s", mcr_error_message());
	end(w);
	person(w, P2, NULL, "2024-03-01", NULL);
	end(w);
	person(w, P3, "Smith", NULL, NULL);
	item(w, MCR_SECTION_RESULTS, "r1", "2021-06-01", "2222", "Blood pressure", "final", NULL);
	end(w);
	mcr_staged_count_withheld(w, MCR_REASON_INVALID_NHS, 1);
	commit(w);
}

static void stage_a81002(const char *when)
{
	mcr_staged_writer *w = open_writer("A81002", "gp", when, "");
	member(w, P4);
	person(w, P4, "Jones", NULL, NULL);
	item(w, MCR_SECTION_ENCOUNTERS, "e1", "2022-01-01", "3333", "Surgery visit", NULL, NULL);
	end(w);
	commit(w);
}

static void stage_ooh(const char *when)
{
	mcr_staged_writer *w = open_writer("NHS111", "ooh", when, "");
	member(w, P2);
	member(w, P3);
	person(w, P2, NULL, NULL, NULL);
	item(w, MCR_SECTION_MISC_REPORTS, "c1", "2026-11-01", NULL, "111 call", NULL, NULL);
	end(w);
	person(w, P3, NULL, NULL, NULL);
	item(w, MCR_SECTION_MISC_REPORTS, "c2", "2026-11-02", NULL, "111 call", NULL, NULL);
	end(w);
	commit(w);
}

/* A staged file written by hand: payload xml, manifest counts as given. */
static void stage_raw(const char *org, const char *dataset, const char *stamp, const char *xml,
                      long people, long members, long items, long objections,
                      mcr_section sec, long sec_items)
{
	mcr_buf p = MCR_BUF_INIT, m = MCR_BUF_INIT;
	assert_int_equal(mcr_buf_printf(&p, "%s/%s/%s", cfg->staging_dir, org, dataset), 0);
	assert_int_equal(mcr_fs_mkdirs(p.ptr), 0);
	assert_int_equal(mcr_buf_printf(&p, "/%s.xml.gz", stamp), 0);
	mcr_gz_writer *gw = NULL;
	uint64_t len;
	uint32_t crc;
	assert_int_equal(mcr_gz_writer_open(&gw, p.ptr, -1), 0);
	assert_int_equal(mcr_gz_write(gw, xml, strlen(xml)), 0);
	assert_int_equal(mcr_gz_writer_finish(gw, &len, &crc), 0);
	mcr_buf_printf(&m, "schema_version: 2\norganisation: %s\ndataset: %s\n"
	               "extracted: %.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ\nshares_from: \"\"\n"
	               "payload: %s.xml.gz\npayload_length: %" PRIu64 "\n"
	               "payload_crc32: %08" PRIx32 "\ncounts:\n  people: %ld\n  members: %ld\n"
	               "  items: %ld\n  objections: %ld\n  sections:\n",
	               org, dataset, stamp, stamp + 4, stamp + 6, stamp + 9, stamp + 11, stamp + 13,
	               stamp, len, crc, people, members, items, objections);
	for (int s = 0; s < MCR_SECTION_COUNT; s++)
		mcr_buf_printf(&m, "    %s: %ld\n", mcr_section_name(s), s == (int)sec ? sec_items : 0);
	mcr_buf_puts(&m, "withheld:\n");
	for (int r = 0; r < MCR_REASON_COUNT; r++)
		mcr_buf_printf(&m, "  %s: 0\n", mcr_reason_name(r));
	p.len -= 7;
	mcr_buf_puts(&p, ".yaml");
	assert_int_equal(mcr_fs_write_atomic(p.ptr, m.ptr, m.len), 0);
	mcr_buf_free(&p);
	mcr_buf_free(&m);
}

/* LCS: social care for consenting P1 and P2; P5 has no recorded consent (a
 * broken extractor): the loader drops P5 and counts it. */
static void stage_lcs(const char *stamp)
{
	char xml[2048];
	snprintf(xml, sizeof(xml),
	         "<staged xmlns=\"urn:mcr:staged:1\" org=\"LCS01\" dataset=\"lcs\" "
	         "extracted=\"%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ\" sharesFrom=\"\">\n"
	         "<member nhs=\"%s\"/><member nhs=\"%s\"/><member nhs=\"%s\"/>\n"
	         "<person nhs=\"%s\" family=\"O'Brien\" consent=\"Y\">"
	         "<item section=\"social-care\" id=\"inv1\" date=\"2025-01-01\" display=\"Care Package\"/>"
	         "</person>\n"
	         "<person nhs=\"%s\" consent=\"Y\">"
	         "<item section=\"social-care\" id=\"inv2\" date=\"2025-02-01\" display=\"Assessment\"/>"
	         "</person>\n"
	         "<person nhs=\"%s\">"
	         "<item section=\"social-care\" id=\"inv3\" date=\"2025-03-01\" display=\"Child in Need\"/>"
	         "</person>\n</staged>\n",
	         stamp, stamp + 4, stamp + 6, stamp + 9, stamp + 11, stamp + 13, P1, P2, P5, P1, P2,
	         P5);
	stage_raw("LCS01", "lcs", stamp, xml, 3, 3, 3, 0, MCR_SECTION_SOCIAL_CARE, 3);
}

static void stage_region(const char *iso, const char *stamp)
{
	stage_a81001(iso, 0);
	stage_a81002(iso);
	stage_lcs(stamp);
	stage_ooh(iso);
}

/* ---- running and reading -------------------------------------------------- */

static int run(mcr_load_summary *sum)
{
	mcr_load_options opt = { 0 };
	return mcr_load_run(cfg, &opt, sum);
}

static void run_ok(mcr_load_summary *sum, int want_exit)
{
	int rc = run(sum);
	if (rc)
		fail_msg("load failed: %s", mcr_error_message());
	assert_int_equal(mcr_load_exit_status(rc, sum), want_exit);
}

static sqlite3 *open_current(long *gen)
{
	sqlite3 *db = NULL;
	if (mcr_store_open_current(cfg->store_dir, &db, gen))
		fail_msg("%s", mcr_error_message());
	return db;
}

static long q_long(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	long v = -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static char *q_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	char *v = NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

static void text_eq(sqlite3 *db, const char *sql, const char *want)
{
	char *got = q_text(db, sql);
	if (!want) {
		assert_null(got);
		return;
	}
	if (!got)
		fail_msg("%s: no value, expected %s", sql, want);
	assert_string_equal(got, want);
	free(got);
}

/* One expected fact of a database, as data: the first column of sql's first row
 * as text, with :p1, :p2 and :p5 bound to those people's NHS numbers. */
typedef struct sql_check {
	const char *sql, *want;
} sql_check;

static void check_sql(sqlite3 *db, const sql_check *checks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db, checks[i].sql, -1, &st, NULL) != SQLITE_OK)
			fail_msg("%s: %s", checks[i].sql, sqlite3_errmsg(db));
		const char *names[] = { ":p1", ":p2", ":p5" }, *people[] = { P1, P2, P5 };
		for (int k = 0; k < 3; k++) {
			int at = sqlite3_bind_parameter_index(st, names[k]);
			if (at)
				sqlite3_bind_text(st, at, people[k], -1, SQLITE_STATIC);
		}
		const char *got = NULL;
		if (sqlite3_step(st) == SQLITE_ROW)
			got = (const char *)sqlite3_column_text(st, 0);
		if (!got || strcmp(got, checks[i].want) != 0)
			fail_msg("%s: got %s, expected %s", checks[i].sql, got ? got : "no value",
			         checks[i].want);
		sqlite3_finalize(st);
	}
}

#define CHECK_SQL(db, checks) check_sql((db), (checks), sizeof(checks) / sizeof((checks)[0]))

/* Every table's content (item ids included), times and statuses aside. */
static char *dump(sqlite3 *db)
{
	static const char *const queries[] = {
		("SELECT org, dataset, kind, name, extracted, shares_from, manifest, people, members, "
		 "items, objections FROM source ORDER BY org"),
		"SELECT * FROM source_section ORDER BY 1, 2",
		"SELECT * FROM withheld ORDER BY 1, 2",
		"SELECT * FROM member ORDER BY 1, 2",
		"SELECT * FROM person ORDER BY 1, 2",
		"SELECT * FROM objection ORDER BY 1, 2",
		"SELECT * FROM item ORDER BY id",
		"SELECT * FROM person_withheld ORDER BY 1, 2, 3, 4",
	};
	mcr_buf b = MCR_BUF_INIT;
	for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
		sqlite3_stmt *st = NULL;
		assert_int_equal(sqlite3_prepare_v2(db, queries[q], -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(st); c++) {
				const unsigned char *t = sqlite3_column_text(st, c);
				mcr_buf_printf(&b, "%s|", t ? (const char *)t : "NULL");
			}
			mcr_buf_putc(&b, '\n');
		}
		sqlite3_finalize(st);
		mcr_buf_puts(&b, "--\n");
	}
	return mcr_buf_detach(&b);
}

static char *dump_current(long *gen)
{
	sqlite3 *db = open_current(gen);
	char *d = dump(db);
	sqlite3_close(db);
	return d;
}

/* ---- tests -------------------------------------------------------------- */

static void test_consent_rules(void **state)
{
	(void)state;
	stage_region("2026-11-21T02:00:00Z", "20261121T020000Z");
	mcr_load_summary sum;
	run_ok(&sum, MCR_EXIT_OK);
	assert_int_equal(sum.generation, 1);
	assert_int_equal(sum.loaded, 4);
	assert_int_equal(sum.rejected, 0);
	static const sql_check store[] = {
		{ "SELECT value FROM meta WHERE key = 'generation'", "1" },
		{ "SELECT value FROM meta WHERE key = 'region'", "Test region" },
		/* Items: only those every rule lets through. */
		{ "SELECT count(*) FROM item WHERE org = 'A81001'", "2" },
		{ "SELECT group_concat(source_id) FROM (SELECT source_id FROM item "
		  "WHERE org = 'A81001' ORDER BY id)", "a1,r1" },
		{ "SELECT details FROM item WHERE source_id = 'a1'",
		  "[[\"reaction\",\"Rash \\\"bad\\\"\\n\"],[\"severity\",\"mild\\\\moderate\"]]" },
		/* Each suppression counted by organisation and reason, extractor's and loader's. */
		{ "SELECT count FROM withheld WHERE org = 'A81001' AND reason = 'sensitive'", "3" },
		{ "SELECT count FROM withheld WHERE org = 'A81001' AND reason = 'confidential'", "1" },
		{ "SELECT count FROM withheld WHERE org = 'A81001' AND reason = 'entered-in-error'", "1" },
		{ "SELECT count FROM withheld WHERE org = 'A81001' AND reason = 'before-shares-from'",
		  "1" },
		{ "SELECT count FROM withheld WHERE org = 'A81001' AND reason = 'invalid-nhs-number'",
		  "1" },
		/* Per person: policy decisions only (not the error). */
		{ "SELECT count FROM person_withheld WHERE nhs = :p1 AND section = 'problems' AND "
		  "reason = 'sensitive'", "3" },
		{ "SELECT count FROM person_withheld WHERE nhs = :p1 AND section = 'problems' AND "
		  "reason = 'confidential'", "1" },
		{ "SELECT count FROM person_withheld WHERE nhs = :p1 AND section = 'immunisations' AND "
		  "reason = 'before-shares-from'", "1" },
		{ "SELECT count(*) FROM person_withheld WHERE reason = 'entered-in-error'", "0" },
		/* Objection: the marker only, and no health data from any organisation. */
		{ "SELECT count(*) FROM objection WHERE nhs = :p2 AND org = 'A81001' "
		  "AND since = '2024-03-01'", "1" },
		{ "SELECT count(*) FROM item WHERE nhs = :p2 AND section <> 'social-care'", "0" },
		{ "SELECT count(*) FROM person WHERE nhs = :p2 AND org IN ('A81001', 'NHS111')", "0" },
		{ "SELECT count FROM withheld WHERE org = 'NHS111' AND reason = 'objection'", "1" },
		{ "SELECT items FROM source WHERE org = 'NHS111'", "1" },
		{ "SELECT people FROM source WHERE org = 'NHS111'", "1" },
		{ "SELECT items FROM source_section WHERE org = 'NHS111' AND section = 'misc-reports'",
		  "1" },
		{ "SELECT people FROM source_section WHERE org = 'NHS111' AND section = 'misc-reports'",
		  "1" },
		/* ... but social care, a separate opt-in, stays. */
		{ "SELECT count(*) FROM item WHERE nhs = :p2 AND org = 'LCS01'", "1" },
		/* Social care without recorded consent: nothing, counted; caseload kept. */
		{ "SELECT count(*) FROM item WHERE nhs = :p5", "0" },
		{ "SELECT count(*) FROM person WHERE nhs = :p5", "0" },
		{ "SELECT count(*) FROM member WHERE nhs = :p5 AND org = 'LCS01'", "1" },
		{ "SELECT count FROM withheld WHERE org = 'LCS01' AND reason = 'no-consent'", "1" },
		/* Sources and coverage figures. */
		{ "SELECT count(*) FROM source WHERE status = 'current'", "4" },
		{ "SELECT people FROM source WHERE org = 'A81001'", "3" },
		{ "SELECT members FROM source WHERE org = 'A81001'", "3" },
		{ "SELECT items FROM source WHERE org = 'A81001'", "2" },
		{ "SELECT objections FROM source WHERE org = 'A81001'", "1" },
		{ "SELECT extracted FROM source WHERE org = 'A81001'", "2026-11-21T02:00:00Z" },
		{ "SELECT loaded FROM source WHERE org = 'A81001'", "2026-11-21T03:00:00Z" },
		{ "SELECT shares_from FROM source WHERE org = 'A81001'", "2012-04-01" },
		{ "SELECT people FROM source_section WHERE org = 'A81001' AND section = 'demographics'",
		  "2" },
		{ "PRAGMA integrity_check", "ok" },
	};
	/* The run is in the history. */
	static const sql_check history[] = {
		{ "SELECT outcome FROM load", "ok" },
		{ "SELECT generation FROM load", "1" },
		{ "SELECT count(*) FROM load_file WHERE outcome = 'loaded'", "4" },
	};
	long gen;
	sqlite3 *db = open_current(&gen);
	assert_int_equal(gen, 1);
	assert_int_equal(q_long(db, "PRAGMA user_version"), MCR_STORE_SCHEMA_VERSION);
	CHECK_SQL(db, store);
	sqlite3_close(db);

	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open_v2(path_in("store/history.sqlite"), &h, SQLITE_OPEN_READONLY,
	                                 NULL), SQLITE_OK);
	CHECK_SQL(h, history);
	sqlite3_close(h);
}

static void test_rerun_identical(void **state)
{
	(void)state;
	stage_region("2026-11-21T02:00:00Z", "20261121T020000Z");
	mcr_load_summary sum;
	run_ok(&sum, MCR_EXIT_OK);
	long g1, g2;
	char *d1 = dump_current(&g1);
	run_ok(&sum, MCR_EXIT_OK);
	assert_int_equal(sum.unchanged, 4);
	assert_int_equal(sum.loaded, 0);
	char *d2 = dump_current(&g2);
	assert_int_equal(g2, g1 + 1);
	assert_string_equal(d1, d2);
	sqlite3 *db = open_current(NULL);
	assert_int_equal(q_long(db, "SELECT count(*) FROM source WHERE status = 'unchanged'"), 4);
	text_eq(db, "SELECT loaded FROM source WHERE org = 'A81001'", "2026-11-21T03:00:00Z");
	sqlite3_close(db);
	free(d1);
	free(d2);
}

/* Flip one byte in the middle of a file. */
static void flip_byte(const char *path)
{
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	unsigned char c;
	off_t off = sb.st_size / 2;
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void test_corrupt_file_stale(void **state)
{
	(void)state;
	stage_region("2026-11-20T02:00:00Z", "20261120T020000Z");
	mcr_load_summary sum;
	run_ok(&sum, MCR_EXIT_OK);
	setenv("MCR_NOW", "2026-11-21T03:00:00Z", 1);
	stage_a81001("2026-11-21T02:00:00Z", 3);
	stage_a81002("2026-11-21T02:00:00Z");
	flip_byte(path_in("staging/A81002/gp/20261121T020000Z.xml.gz"));
	run_ok(&sum, MCR_EXIT_REJECTED);
	assert_int_equal(sum.rejected, 1);
	assert_int_equal(sum.stale, 1);
	assert_int_equal(sum.loaded, 1);
	assert_int_equal(sum.unchanged, 2);
	static const sql_check store[] = {
		{ "SELECT status FROM source WHERE org = 'A81001'", "current" },
		{ "SELECT count(*) FROM item WHERE org = 'A81001'", "5" },
		{ "SELECT status FROM source WHERE org = 'A81002'", "stale" },
		{ "SELECT extracted FROM source WHERE org = 'A81002'", "2026-11-20T02:00:00Z" },
		{ "SELECT count(*) FROM item WHERE org = 'A81002'", "1" },
		{ "SELECT count(*) FROM member WHERE org = 'A81002'", "1" },
		{ "SELECT count(*) FROM source WHERE org = 'A81002' AND rejected_reason IS NOT NULL "
		  "AND rejected_file LIKE '%quarantine/A81002/gp/20261121T020000Z.yaml'", "1" },
	};
	sqlite3 *db = open_current(NULL);
	CHECK_SQL(db, store);
	sqlite3_close(db);
	assert_true(mcr_fs_exists(path_in("quarantine/A81002/gp/20261121T020000Z.xml.gz")));
	assert_true(mcr_fs_exists(path_in("quarantine/A81002/gp/20261121T020000Z.yaml")));
	assert_true(mcr_fs_exists(path_in("quarantine/A81002/gp/20261121T020000Z.reason")));
	assert_false(mcr_fs_exists(path_in("staging/A81002/gp/20261121T020000Z.xml.gz")));
	mcr_buf reason = MCR_BUF_INIT;
	assert_int_equal(mcr_fs_read_file(path_in("quarantine/A81002/gp/20261121T020000Z.reason"),
	                                  4096, &reason), 0);
	assert_non_null(strchr(reason.ptr, '\n'));
	assert_true(strchr(reason.ptr, '\n') == reason.ptr + reason.len - 1);
	mcr_buf_free(&reason);

	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open_v2(path_in("store/history.sqlite"), &h, SQLITE_OPEN_READONLY,
	                                 NULL), SQLITE_OK);
	static const sql_check history[] = {
		{ "SELECT outcome FROM load ORDER BY started DESC, rowid DESC", "rejected" },
		{ "SELECT count(*) FROM load_file WHERE outcome = 'rejected' AND org = 'A81002'", "1" },
	};
	CHECK_SQL(h, history);
	sqlite3_close(h);

	/* The next night, the organisation's good file loads and it is current again. */
	stage_a81002("2026-11-22T02:00:00Z");
	run_ok(&sum, MCR_EXIT_OK);
	db = open_current(NULL);
	text_eq(db, "SELECT status FROM source WHERE org = 'A81002'", "current");
	text_eq(db, "SELECT rejected_reason FROM source WHERE org = 'A81002'", NULL);
	sqlite3_close(db);
}

static void test_replay_rejected(void **state)
{
	(void)state;
	mcr_load_summary sum;
	stage_a81002("2026-11-20T02:00:00Z");
	run_ok(&sum, MCR_EXIT_OK);
	stage_a81002("2026-11-21T02:00:00Z");
	run_ok(&sum, MCR_EXIT_OK);
	/* The newest file leaves staging (archived); the older one is now the newest. */
	unlink(path_in("staging/A81002/gp/20261121T020000Z.xml.gz"));
	unlink(path_in("staging/A81002/gp/20261121T020000Z.yaml"));
	run_ok(&sum, MCR_EXIT_REJECTED);
	sqlite3 *db = open_current(NULL);
	text_eq(db, "SELECT status FROM source WHERE org = 'A81002'", "stale");
	text_eq(db, "SELECT extracted FROM source WHERE org = 'A81002'", "2026-11-21T02:00:00Z");
	char *why = q_text(db, "SELECT rejected_reason FROM source WHERE org = 'A81002'");
	assert_non_null(why);
	assert_non_null(strstr(why, "replay"));
	free(why);
	sqlite3_close(db);
	assert_true(mcr_fs_exists(path_in("quarantine/A81002/gp/20261120T020000Z.reason")));
}

static void test_failed_marker(void **state)
{
	(void)state;
	mcr_load_summary sum;
	stage_a81002("2026-11-20T02:00:00Z");
	run_ok(&sum, MCR_EXIT_OK);
	const char *why = "connection refused by the practice system\n";
	assert_int_equal(mcr_fs_write_atomic(path_in("staging/A81002/gp/20261121T020000Z.failed"),
	                                     why, strlen(why)), 0);
	run_ok(&sum, MCR_EXIT_REJECTED);
	sqlite3 *db = open_current(NULL);
	text_eq(db, "SELECT status FROM source WHERE org = 'A81002'", "stale");
	text_eq(db, "SELECT rejected_reason FROM source WHERE org = 'A81002'",
	        "extract failed: connection refused by the practice system");
	assert_int_equal(q_long(db, "SELECT count(*) FROM item WHERE org = 'A81002'"), 1);
	text_eq(db, "SELECT status FROM source WHERE org = 'A81001'", "never");
	sqlite3_close(db);
	assert_true(mcr_fs_exists(path_in("quarantine/A81002/gp/20261121T020000Z.failed")));
	assert_true(mcr_fs_exists(path_in("quarantine/A81002/gp/20261121T020000Z.reason")));
}

static void test_wrong_section_rejected(void **state)
{
	(void)state;
	/* A GP file carrying social care: the whole file is refused. */
	mcr_staged_writer *w = open_writer("A81002", "gp", "2026-11-20T02:00:00Z", "");
	member(w, P4);
	person(w, P4, "Jones", NULL, NULL);
	item(w, MCR_SECTION_SOCIAL_CARE, "x1", "2022-01-01", NULL, "Care package", NULL, NULL);
	end(w);
	commit(w);
	/* An invalid NHS number in a hand-made file: refused while streaming. */
	char xml[512];
	snprintf(xml, sizeof(xml),
	         "<staged xmlns=\"urn:mcr:staged:1\" org=\"A81001\" dataset=\"gp\" "
	         "extracted=\"2026-11-20T02:00:00Z\" sharesFrom=\"\">"
	         "<member nhs=\"9990000019\"/><person nhs=\"9990000019\"/></staged>\n");
	stage_raw("A81001", "gp", "20261120T020000Z", xml, 1, 1, 0, 0, MCR_SECTION_ALLERGIES, 0);
	mcr_load_summary sum;
	run_ok(&sum, MCR_EXIT_REJECTED);
	assert_int_equal(sum.rejected, 2);
	sqlite3 *db = open_current(NULL);
	text_eq(db, "SELECT status FROM source WHERE org = 'A81002'", "never");
	text_eq(db, "SELECT status FROM source WHERE org = 'A81001'", "never");
	assert_int_equal(q_long(db, "SELECT count(*) FROM item"), 0);
	assert_int_equal(q_long(db, "SELECT count(*) FROM member"), 0);
	char *why = q_text(db, "SELECT rejected_reason FROM source WHERE org = 'A81002'");
	assert_non_null(why);
	assert_non_null(strstr(why, "social-care"));
	free(why);
	sqlite3_close(db);
}

static void test_lock(void **state)
{
	(void)state;
	int fd = -1;
	assert_int_equal(mcr_fs_mkdirs(path_in("run")), 0);
	assert_int_equal(mcr_fs_lock(cfg->lock_path, 0, &fd), 0);
	mcr_load_summary sum;
	int rc = run(&sum);
	assert_int_equal(rc, MCR_ELOCKED);
	assert_int_equal(mcr_load_exit_status(rc, &sum), MCR_EXIT_LOCKED);
	assert_non_null(strstr(mcr_error_message(), "another run holds the lock"));
	mcr_fs_unlock(fd);
	assert_false(mcr_fs_exists(path_in("store/current")));
}

static void test_prune(void **state)
{
	(void)state;
	stage_a81002("2026-11-20T02:00:00Z");
	mcr_load_summary sum;
	for (int i = 0; i < 5; i++)
		run_ok(&sum, MCR_EXIT_OK);
	long g;
	assert_int_equal(mcr_store_current_generation(cfg->store_dir, &g), 0);
	assert_int_equal(g, 5);
	for (long n = 1; n <= 5; n++) {
		char *p = NULL;
		assert_int_equal(mcr_store_generation_path(cfg->store_dir, n, &p), 0);
		assert_int_equal(mcr_fs_exists(p), n >= 3);
		free(p);
	}
	sqlite3 *db = NULL;
	assert_int_equal(mcr_store_open_generation(cfg->store_dir, 3, &db), 0);
	text_eq(db, "SELECT value FROM meta WHERE key = 'generation'", "3");
	sqlite3_close(db);
	assert_int_equal(mcr_store_open_generation(cfg->store_dir, 2, &db), MCR_ENOTFOUND);
	assert_null(db);
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open_v2(path_in("store/history.sqlite"), &h, SQLITE_OPEN_READONLY,
	                                 NULL), SQLITE_OK);
	assert_int_equal(q_long(h, "SELECT count(*) FROM load WHERE outcome = 'ok'"), 5);
	sqlite3_close(h);
}

static void test_objections_reconciled(void **state)
{
	(void)state;
	mcr_load_summary sum;
	stage_a81002("2026-11-20T02:00:00Z");
	run_ok(&sum, MCR_EXIT_OK);
	/* The same objecting person twice: two objections staged, one person in the
	 * store. Consent flags must never be lost silently: the load fails. (Another
	 * person keeps an item, so the night-on-night guard has no fall to hold.) */
	mcr_staged_writer *w = open_writer("A81002", "gp", "2026-11-21T02:00:00Z", "");
	member(w, P4);
	person(w, P5, "Smith", NULL, NULL);
	item(w, MCR_SECTION_ENCOUNTERS, "e2", "2022-02-01", "3333", "Surgery visit", NULL, NULL);
	end(w);
	person(w, P4, NULL, "2024-01-01", NULL);
	end(w);
	person(w, P4, NULL, "2024-01-01", NULL);
	end(w);
	commit(w);
	int rc = run(&sum);
	assert_int_not_equal(rc, 0);
	assert_int_equal(mcr_load_exit_status(rc, &sum), MCR_EXIT_FAILED);
	assert_non_null(strstr(mcr_error_message(),
	                       "objections not reconciled for A81002: 2 in its staged file, 1 in "
	                       "the new generation"));
	long g;
	assert_int_equal(mcr_store_current_generation(cfg->store_dir, &g), 0);
	assert_int_equal(g, 1);
	assert_false(mcr_fs_exists(path_in("store/gen-000002.sqlite")));
	/* Nothing quarantined: the sources are as they were for a re-run. */
	assert_true(mcr_fs_exists(path_in("staging/A81002/gp/20261121T020000Z.yaml")));
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open_v2(path_in("store/history.sqlite"), &h, SQLITE_OPEN_READONLY,
	                                 NULL), SQLITE_OK);
	assert_int_equal(q_long(h, "SELECT count(*) FROM load WHERE outcome = 'failed' AND "
	                           "message LIKE '%objections not reconciled%'"), 1);
	sqlite3_close(h);
}

static void test_crash_points(void **state)
{
	(void)state;
	stage_region("2026-11-20T02:00:00Z", "20261120T020000Z");
	mcr_load_summary sum;
	run_ok(&sum, MCR_EXIT_OK);
	long g0;
	char *before = dump_current(&g0);
	stage_a81001("2026-11-21T02:00:00Z", 2);
	stage_ooh("2026-11-21T02:00:00Z");
	static const char *const phases[] = { "parsed", "inserted", "indexed", "checked", "linked" };
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			setenv("MCR_LOAD_CRASH_AT", phases[i], 1);
			mcr_load_summary s;
			run(&s);
			_exit(0);
		}
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("no crash at %s", phases[i]);
		long g;
		char *after = dump_current(&g);
		assert_int_equal(g, g0);
		assert_string_equal(before, after);
		free(after);
		sqlite3 *db = open_current(NULL);
		text_eq(db, "PRAGMA integrity_check", "ok");
		sqlite3_close(db);
	}
	free(before);
	/* The next run clears the orphan and publishes. */
	run_ok(&sum, MCR_EXIT_OK);
	long g;
	assert_int_equal(mcr_store_current_generation(cfg->store_dir, &g), 0);
	assert_int_equal(g, g0 + 1);
	assert_false(mcr_fs_exists(path_in("store/current.tmp")));
	sqlite3 *db = open_current(NULL);
	assert_int_equal(q_long(db, "SELECT count(*) FROM item WHERE org = 'A81001'"), 4);
	sqlite3_close(db);
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open_v2(path_in("store/history.sqlite"), &h, SQLITE_OPEN_READONLY,
	                                 NULL), SQLITE_OK);
	assert_int_equal(q_long(h, "SELECT count(*) FROM load WHERE outcome = 'failed' AND "
	                           "message LIKE 'interrupted%'"), 5);
	sqlite3_close(h);
}

/* ---- the night-on-night guard ------------------------------------------- */

/* A81002 exporting people persons with 2 items each (people 0: header only), the
 * first members of them on its list and the first allergies with an allergy. */
static void stage_people_ex(const char *when, int people, int members, int allergies)
{
	mcr_staged_writer *w = open_writer("A81002", "gp", when, "");
	for (int i = 0; i < people; i++) {
		const char *n = nhs(100 + 10 * i); /* nhs() steps past invalid numbers */
		if (i < members)
			member(w, n);
		person(w, n, "Many", NULL, NULL);
		item(w, MCR_SECTION_ENCOUNTERS, "e1", "2022-01-01", "3333", "Surgery visit", NULL, NULL);
		item(w, MCR_SECTION_PROBLEMS, "p1", "2021-01-01", "4444", "Asthma", NULL, NULL);
		if (i < allergies)
			item(w, MCR_SECTION_ALLERGIES, "a1", "2020-01-01", "91936005", "Penicillin allergy",
			     "active", NULL);
		end(w);
	}
	commit(w);
}

typedef struct guard_events {
	int held, accepted;
	char text[512];
} guard_events;

static void on_guard_event(const mcr_load_event *ev, void *ctx)
{
	guard_events *g = ctx;
	if (ev->kind != MCR_LOAD_EVENT_HELD && ev->kind != MCR_LOAD_EVENT_ACCEPTED)
		return;
	*(ev->kind == MCR_LOAD_EVENT_HELD ? &g->held : &g->accepted) += 1;
	assert_string_equal(ev->org, "A81002");
	snprintf(g->text, sizeof(g->text), "%s", ev->text);
}

static int run_guard(mcr_load_summary *sum, guard_events *g, const char *accept)
{
	const char *list[1] = { accept };
	memset(g, 0, sizeof(*g));
	mcr_load_options opt = { .on_event = on_guard_event, .ctx = g, .accept = list,
	                         .naccept = accept ? 1 : 0 };
	return mcr_load_run(cfg, &opt, sum);
}

/* Night "2026-11-DD": A81002 stages people (members of them on its list,
 * allergies with an allergy) at 02:00 and the load runs at 03:00. */
static void guard_night_ex(const char *day, int people, int members, int allergies,
                           mcr_load_summary *sum, guard_events *g)
{
	char when[32];
	snprintf(when, sizeof(when), "2026-11-%sT02:00:00Z", day);
	stage_people_ex(when, people, members, allergies);
	snprintf(when, sizeof(when), "2026-11-%sT03:00:00Z", day);
	setenv("MCR_NOW", when, 1);
	if (run_guard(sum, g, NULL))
		fail_msg("load on %s failed: %s", when, mcr_error_message());
}

static void guard_night(const char *day, int people, mcr_load_summary *sum, guard_events *g)
{
	guard_night_ex(day, people, people, 0, sum, g);
}

/* Night after night, a failed export (header only) and a near-empty one are
 * held: the practice keeps its data, flagged held with the figures, exit 3,
 * the file left in staging; --accept loads it, recorded in the history. */
static void test_guard_holds_until_accepted(void **state)
{
	(void)state;
	mcr_load_summary sum;
	guard_events g;
	/* A first load is never held, even an empty one. */
	guard_night("19", 0, &sum, &g);
	assert_int_equal(mcr_load_exit_status(0, &sum), MCR_EXIT_OK);
	assert_int_equal(g.held, 0);
	guard_night("20", 20, &sum, &g);
	assert_int_equal(mcr_load_exit_status(0, &sum), MCR_EXIT_OK);

	/* Night 2: the export failed, leaving a header-only file. */
	guard_night("21", 0, &sum, &g);
	assert_int_equal(mcr_load_exit_status(0, &sum), MCR_EXIT_REJECTED);
	assert_int_equal(sum.held_files, 1);
	assert_int_equal(sum.held, 1);
	assert_int_equal(sum.rejected, 0);
	assert_int_equal(g.held, 1);
	assert_string_equal(g.text, "people 20 -> 0, members 20 -> 0, items 40 -> 0: none left of the "
	                            "data held");
	sqlite3 *db = open_current(NULL);
	text_eq(db, "SELECT status || ' ' || extracted || ' ' || people || ' ' || items FROM source "
	            "WHERE org = 'A81002'", "held 2026-11-20T02:00:00Z 20 40");
	assert_int_equal(q_long(db, "SELECT count(*) FROM item WHERE org = 'A81002'"), 40);
	assert_int_equal(q_long(db, "SELECT count(*) FROM member WHERE org = 'A81002'"), 20);
	text_eq(db, "SELECT extracted || ' ' || people || ' ' || items FROM source_held "
	            "WHERE org = 'A81002'", "2026-11-21T02:00:00Z 0 0");
	sqlite3_close(db);
	assert_true(mcr_fs_exists(path_in("staging/A81002/gp/20261121T020000Z.yaml")));
	assert_false(mcr_fs_exists(path_in("quarantine/A81002/gp/20261121T020000Z.yaml")));

	/* Night 3: a near-empty export (one person of twenty): held again. */
	guard_night("22", 1, &sum, &g);
	assert_int_equal(mcr_load_exit_status(0, &sum), MCR_EXIT_REJECTED);
	assert_string_equal(g.text, "people 20 -> 1, members 20 -> 1, items 40 -> 2: more than 10% fewer "
	                            "than the "
	                            "data held");
	db = open_current(NULL);
	text_eq(db, "SELECT status || ' ' || extracted || ' ' || items FROM source "
	            "WHERE org = 'A81002'", "held 2026-11-20T02:00:00Z 40");
	text_eq(db, "SELECT manifest FROM source_held WHERE org = 'A81002'",
	        path_in("staging/A81002/gp/20261122T020000Z.yaml"));
	sqlite3_close(db);

	/* The operator accepts: the held file is loaded and the history says so. */
	setenv("MCR_NOW", "2026-11-22T09:00:00Z", 1);
	assert_int_equal(run_guard(&sum, &g, "A81002"), 0);
	assert_int_equal(mcr_load_exit_status(0, &sum), MCR_EXIT_OK);
	assert_int_equal(g.accepted, 1);
	assert_int_equal(sum.accepted, 1);
	db = open_current(NULL);
	text_eq(db, "SELECT status || ' ' || extracted || ' ' || people || ' ' || items FROM source "
	            "WHERE org = 'A81002'", "current 2026-11-22T02:00:00Z 1 2");
	assert_int_equal(q_long(db, "SELECT count(*) FROM source_held"), 0);
	sqlite3_close(db);
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open_v2(path_in("store/history.sqlite"), &h, SQLITE_OPEN_READONLY,
	                                 NULL), SQLITE_OK);
	assert_int_equal(q_long(h, "SELECT count(*) FROM load WHERE outcome = 'held'"), 2);
	text_eq(h, "SELECT message FROM load WHERE started = '2026-11-21T03:00:00Z'",
	        "held: A81002 (people 20 -> 0, members 20 -> 0, items 40 -> 0: none left of the data "
	        "held)");
	text_eq(h, "SELECT group_concat(outcome || ' ' || reason, '; ') FROM load_file "
	           "WHERE org = 'A81002' AND outcome <> 'loaded'",
	        "held people 20 -> 0, members 20 -> 0, items 40 -> 0: none left of the data held; "
	        "held people 20 -> 1, members 20 -> 1, items 40 -> 2: more than 10% fewer than the "
	        "data held; accepted accepted by the operator (mcr-load --accept A81002): people "
	        "20 -> 1, members 20 -> 1, items 40 -> 2: more than 10% fewer than the data held");
	text_eq(h, "SELECT outcome || ' ' || message FROM load WHERE started = '2026-11-22T09:00:00Z'",
	        "ok accepted: A81002 (people 20 -> 1, members 20 -> 1, items 40 -> 2: more than 10% "
	        "fewer than the data held)");
	sqlite3_close(h);

	/* An --accept for no configured organisation is a usage error: nothing done. */
	assert_int_equal(run_guard(&sum, &g, "Z99999"), MCR_EUSAGE);
	assert_int_equal(mcr_load_exit_status(MCR_EUSAGE, &sum), MCR_EXIT_USAGE);
	assert_non_null(strstr(mcr_error_message(), "--accept Z99999: no such organisation"));
}

/* --accept loads the file the operator was shown held, never a newer one that
 * arrived since: that one is judged afresh (held again) until accepted itself. */
static void test_guard_accepts_only_the_held_file(void **state)
{
	(void)state;
	mcr_load_summary sum;
	guard_events g;
	guard_night("20", 20, &sum, &g);
	guard_night("21", 1, &sum, &g);
	assert_int_equal(g.held, 1);

	/* A newer near-empty export arrives before the operator's --accept runs. */
	stage_people_ex("2026-11-22T02:00:00Z", 1, 1, 0);
	setenv("MCR_NOW", "2026-11-22T09:00:00Z", 1);
	assert_int_equal(run_guard(&sum, &g, "A81002"), 0);
	assert_int_equal(mcr_load_exit_status(0, &sum), MCR_EXIT_REJECTED);
	assert_int_equal(g.accepted, 0);
	assert_int_equal(g.held, 1);
	assert_non_null(strstr(g.text, "a newer file than the one held: not accepted"));
	sqlite3 *db = open_current(NULL);
	text_eq(db, "SELECT status || ' ' || extracted || ' ' || people FROM source "
	            "WHERE org = 'A81002'", "held 2026-11-20T02:00:00Z 20");
	sqlite3_close(db);

	/* Accepted once it has been shown held. */
	setenv("MCR_NOW", "2026-11-22T10:00:00Z", 1);
	assert_int_equal(run_guard(&sum, &g, "A81002"), 0);
	assert_int_equal(mcr_load_exit_status(0, &sum), MCR_EXIT_OK);
	assert_int_equal(g.accepted, 1);
	db = open_current(NULL);
	text_eq(db, "SELECT status || ' ' || extracted || ' ' || people FROM source "
	            "WHERE org = 'A81002'", "current 2026-11-22T02:00:00Z 1");
	sqlite3_close(db);
}

/* The share is configurable; a small fall (under hold_min_fall) is churn. */
static void test_guard_threshold(void **state)
{
	(void)state;
	mcr_load_summary sum;
	guard_events g;
	guard_night("20", 20, &sum, &g);
	/* 20 -> 12 people (40% fewer) passes a 50% limit... */
	cfg->hold_drop_percent = 50;
	guard_night("21", 12, &sum, &g);
	assert_int_equal(g.held, 0);
	assert_int_equal(mcr_load_exit_status(0, &sum), MCR_EXIT_OK);
	/* ... and 12 -> 5 (58% fewer) does not. */
	guard_night("22", 5, &sum, &g);
	assert_int_equal(g.held, 1);
	assert_string_equal(g.text, "people 12 -> 5, members 12 -> 5, items 24 -> 10: more than 50% fewer "
	                            "than the "
	                            "data held");
	/* 12 -> 10 people (17% fewer, 2 people) is within the default limit's churn... */
	cfg->hold_drop_percent = 10;
	guard_night("23", 10, &sum, &g);
	assert_int_equal(g.held, 0);
	sqlite3 *db = open_current(NULL);
	text_eq(db, "SELECT status || ' ' || people FROM source WHERE org = 'A81002'", "current 10");
	sqlite3_close(db);
	/* ... unless hold_min_fall says otherwise. */
	cfg->hold_min_fall = 1;
	guard_night("24", 8, &sum, &g);
	assert_int_equal(g.held, 1);
	assert_int_equal(mcr_load_exit_status(0, &sum), MCR_EXIT_REJECTED);
}

/* A whole section gone, or the organisation's list gone, is held too: a lookup
 * would say "No items shared", or deny everyone, where there was data. */
static void test_guard_section_and_list(void **state)
{
	(void)state;
	mcr_load_summary sum;
	guard_events g;
	guard_night_ex("20", 20, 20, 6, &sum, &g);
	/* Every allergy missing (46 -> 40 items is within a 50% limit). */
	cfg->hold_drop_percent = 50;
	guard_night_ex("21", 20, 20, 0, &sum, &g);
	assert_int_equal(g.held, 1);
	assert_string_equal(g.text, "people 20 -> 20, members 20 -> 20, items 46 -> 40, "
	                            "allergies 6 -> 0: a whole section gone");
	sqlite3 *db = open_current(NULL);
	text_eq(db, "SELECT status || ' ' || items FROM source WHERE org = 'A81002'", "held 46");
	assert_int_equal(q_long(db, "SELECT count(*) FROM item WHERE org = 'A81002' AND "
	                            "section = 'allergies'"), 6);
	sqlite3_close(db);
	/* The people and items all there, the registered list gone. */
	guard_night_ex("22", 20, 0, 6, &sum, &g);
	assert_int_equal(g.held, 1);
	assert_string_equal(g.text, "people 20 -> 20, members 20 -> 0, items 46 -> 46: none left of "
	                            "the data held");
}

static void test_summary_line(void **state)
{
	(void)state;
	mcr_load_summary s = { .generation = 7, .orgs = 4, .loaded = 2, .unchanged = 1, .stale = 1,
	                       .files = 3, .rejected = 1, .people = 10, .items = 100, .withheld = 5,
	                       .seconds = 1.25 };
	mcr_buf b = MCR_BUF_INIT;
	assert_int_equal(mcr_load_summary_line(0, &s, &b), 0);
	assert_string_equal(b.ptr, "mcr-load: generation 7 published: 4 organisation(s) (2 loaded, "
	                           "1 unchanged, 1 stale, 0 never), 10 people, 100 items, 5 withheld, "
	                           "1 file(s) rejected, 1.2 s");
	assert_int_equal(mcr_load_exit_status(0, &s), MCR_EXIT_REJECTED);
	/* A held file alone is degraded too, and the line says how to accept it. */
	s.rejected = 0;
	s.held = 1;
	s.held_files = 1;
	mcr_buf_reset(&b);
	assert_int_equal(mcr_load_summary_line(0, &s, &b), 0);
	assert_string_equal(b.ptr, "mcr-load: generation 7 published: 4 organisation(s) (2 loaded, "
	                           "1 unchanged, 1 stale, 0 never), 10 people, 100 items, 5 withheld, "
	                           "0 file(s) rejected, 1 held (accept with mcr-load --accept ODS), "
	                           "1.2 s");
	assert_int_equal(mcr_load_exit_status(0, &s), MCR_EXIT_REJECTED);
	s.held = 0;
	s.held_files = 0;
	assert_int_equal(mcr_load_exit_status(0, &s), MCR_EXIT_OK);
	mcr_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_consent_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rerun_identical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_file_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_marker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guard_holds_until_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guard_accepts_only_the_held_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guard_threshold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guard_section_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_section_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_objections_reconciled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_points, setup, teardown),
		cmocka_unit_test(test_summary_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
