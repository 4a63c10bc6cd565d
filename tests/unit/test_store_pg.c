/*
 * The PostgreSQL store reader against the SQLite one, on the same rows: a region
 * built by a normal night (SQLite) and copied into PostgreSQL
 * (tests/scripts/test_store_pg.sh starts the server and gives MCR_TEST_REGION,
 * MCR_TEST_PG_CONNINFO and MCR_TEST_PG_PASSWORD_FILE; without them every test is
 * skipped). Checks: every person's view, text and HTML, for users of every
 * organisation (shown, denied, objected, withheld, break-glass, self-access,
 * consent refused, not found) is byte for byte the SQLite one; the coverage and
 * loads reports too; a generation published while one is open never mixes in; a
 * connection the server dropped is replaced; an unreachable database fails the
 * lookup (outcome failed, nothing shown).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcr/audit.h"
#include "mcr/config.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/lookup.h"
#include "mcr/report.h"
#include "mcr/store.h"
#include "mcr/store_sqlite.h"
#include "pg.h"
#include "store_backend.h"

#define TMPDIR_NAME "test_store_pg"
#include "test_tmpdir.h"

static mcr_config *lite;      /* the region's config: SQLite */
static mcr_config pg;         /* the same with store.backend postgresql */
static mcr_audit *audit_lite, *audit_pg;
static char **people;
static size_t npeople;

static int enabled(void)
{
	return getenv("MCR_TEST_REGION") && getenv("MCR_TEST_PG_CONNINFO");
}

static int group_setup(void **state)
{
	if (tmpdir_setup(state))
		return -1;
	if (!enabled())
		return 0;
	char path[256];
	if (mcr_config_load(&lite, getenv("MCR_TEST_REGION")) != 0) {
		fprintf(stderr, "%s\n", mcr_error_message());
		return -1;
	}
	/* Audit entries go to a log of each run's own (this tests the store); reports
	 * name the head of the SQLite one, as the PostgreSQL config names its own. */
	snprintf(path, sizeof(path), "%s/audit-sqlite.sqlite", tmpdir);
	free(lite->audit_path);
	lite->audit_path = strdup(path);
	pg = *lite;
	pg.backend = MCR_BACKEND_POSTGRESQL;
	pg.pg.conninfo = getenv("MCR_TEST_PG_CONNINFO");
	pg.pg.password_file = getenv("MCR_TEST_PG_PASSWORD_FILE");
	if (mcr_audit_open(&audit_lite, lite->audit_path) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/audit-pg.sqlite", tmpdir);
	if (mcr_audit_open(&audit_pg, path) != 0)
		return -1;
	/* Everyone the store knows, from the SQLite generation. */
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long g;
	if (mcr_store_open_current(lite->store_dir, &db, &g) != 0 ||
	    sqlite3_prepare_v2(db, "SELECT nhs FROM person UNION SELECT nhs FROM member "
	                           "UNION SELECT nhs FROM objection ORDER BY 1", -1, &st, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		people = realloc(people, (npeople + 1) * sizeof(*people));
		people[npeople++] = strdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return 0;
}

static int group_teardown(void **state)
{
	for (size_t i = 0; i < npeople; i++)
		free(people[i]);
	free(people);
	mcr_audit_close(audit_lite);
	mcr_audit_close(audit_pg);
	mcr_config_free(lite);
	return tmpdir_teardown(state);
}

#define SKIP_UNLESS_ENABLED()                                                      \
	do {                                                                       \
		if (!enabled()) {                                                  \
			print_message("no PostgreSQL given: skipped\n");            \
			skip();                                                    \
		}                                                                  \
	} while (0)

/* The time a view was made (its audit entry's) differs between two lookups:
 * masked on the "Viewed by" line, text and HTML. */
static void mask_viewed_at(mcr_buf *v)
{
	char *at = v->ptr ? strstr(v->ptr, "Viewed by") : NULL;
	char *from = at ? strstr(at, ") at ") : NULL;
	for (char *p = from; p && *p && *p != '\n' && strncmp(p, "</p>", 4) != 0; p++)
		if (*p >= '0' && *p <= '9')
			*p = '#';
}

/* Lines naming the audit log's head at report time: the two runs audit to
 * different logs. */
static void drop_audit_footer(mcr_buf *b)
{
	char *p;
	while (b->ptr && (p = strstr(b->ptr, "Audit log at this report"))) {
		char *start = p;
		while (start > b->ptr && start[-1] != '\n')
			start--;
		char *end = strchr(p, '\n');
		end = end ? end + 1 : p + strlen(p);
		memmove(start, end, strlen(end) + 1);
		b->len -= (size_t)(end - start);
	}
}

/* Fail naming the first line where a and b differ. */
static void assert_same_text(const char *what, const char *a, const char *b)
{
	if (strcmp(a, b) == 0)
		return;
	int line = 1;
	const char *la = a, *lb = b;
	while (*a && *a == *b) {
		if (*a == '\n') {
			line++;
			la = a + 1;
			lb = b + 1;
		}
		a++;
		b++;
	}
	fail_msg("%s differs at line %d:\n  sqlite:     %.*s\n  postgresql: %.*s", what, line,
	         (int)strcspn(la, "\n"), la, (int)strcspn(lb, "\n"), lb);
}

typedef struct tally {
	int shown, denied, no_record, self, failed, objected, withheld, glass;
} tally;

/* One lookup on both backends: the same code, outcome, generation, message and
 * (masked) view. */
static void same_lookup(const mcr_lookup_request *req, tally *t)
{
	mcr_buf a = MCR_BUF_INIT, b = MCR_BUF_INIT;
	mcr_lookup_result ra, rb;
	char msg_a[512];
	int rc_a = mcr_lookup_run(lite, audit_lite, req, &a, &ra);
	snprintf(msg_a, sizeof(msg_a), "%s", rc_a ? mcr_error_message() : "");
	int rc_b = mcr_lookup_run(&pg, audit_pg, req, &b, &rb);
	const char *msg_b = rc_b ? mcr_error_message() : "";
	if (rc_a != rc_b || strcmp(ra.outcome, rb.outcome) != 0 || ra.generation != rb.generation ||
	    strcmp(msg_a, msg_b) != 0)
		fail_msg("%s %s %s %s: sqlite %d %s gen %ld '%s', postgresql %d %s gen %ld '%s'", req->user,
		         req->org, req->role, req->nhs, rc_a, ra.outcome, ra.generation, msg_a, rc_b,
		         rb.outcome, rb.generation, msg_b);
	mask_viewed_at(&a);
	mask_viewed_at(&b);
	char what[256];
	snprintf(what, sizeof(what), "the view of %s for %s %s %s (%s)", req->nhs, req->user, req->org,
	         req->role, req->format == MCR_LOOKUP_HTML ? "html" : "text");
	assert_same_text(what, mcr_buf_cstr(&a), mcr_buf_cstr(&b));
	if (strcmp(ra.outcome, "shown") == 0) {
		t->shown++;
		t->objected += strstr(mcr_buf_cstr(&a), "withdrawn consent") != NULL;
		t->withheld += strstr(mcr_buf_cstr(&a), "not shared by policy") != NULL;
		t->glass += req->break_glass != NULL;
	} else if (strcmp(ra.outcome, "denied") == 0) {
		t->denied++;
	} else if (strcmp(ra.outcome, "no-record") == 0) {
		t->no_record++;
	} else if (strcmp(ra.outcome, "self-access") == 0) {
		t->self++;
	} else {
		t->failed++;
	}
	mcr_buf_free(&a);
	mcr_buf_free(&b);
}

static const char *role_for(const mcr_org *o)
{
	return o->kind == MCR_KIND_LCS ? "social-worker" : "clinician";
}

static void views_identical(void **state)
{
	(void)state;
	SKIP_UNLESS_ENABLED();
	tally t = { 0 };
	/* A valid number nobody holds, after everyone the store knows. */
	const char *unknown = "9990000018";
	assert_true(npeople > 20);
	for (size_t i = 0; i <= npeople; i++) {
		const char *nhs = i < npeople ? people[i] : unknown;
		for (size_t j = 0; j < lite->norgs; j++) {
			const mcr_org *o = &lite->orgs[j];
			for (int f = 0; f < 2; f++) {
				mcr_lookup_request req = { "test.user", o->ods, role_for(o), nhs, NULL, NULL, 0,
				                           f ? MCR_LOOKUP_HTML : MCR_LOOKUP_TEXT };
				same_lookup(&req, &t);
				/* Break glass where the organisation has no relationship. */
				req.break_glass = "unconscious in ED";
				same_lookup(&req, &t);
			}
		}
		mcr_lookup_request refused = { "test.user", lite->orgs[0].ods, "clinician", nhs, "refused",
		                               NULL, 0, MCR_LOOKUP_TEXT };
		same_lookup(&refused, &t);
	}
	/* Self-access: each member of staff looking up their own record. */
	for (size_t i = 0; i < lite->nstaff; i++) {
		mcr_lookup_request req = { lite->staff[i].user, lite->orgs[0].ods, "clinician",
		                           lite->staff[i].nhs, NULL, "testing", 0, MCR_LOOKUP_HTML };
		same_lookup(&req, &t);
	}
	print_message("shown %d (objected %d, withheld %d, break-glass %d), denied %d, no-record %d, "
	              "self-access %d, failed %d\n", t.shown, t.objected, t.withheld, t.glass, t.denied,
	              t.no_record, t.self, t.failed);
	/* The region has every case this test claims to compare. */
	assert_true(t.shown > 0 && t.objected > 0 && t.withheld > 0 && t.glass > 0);
	assert_true(t.denied > 0 && t.no_record > 0 && t.self > 0);
	assert_int_equal(t.failed, 0);
}

static void same_report(const char *name, int rc_a, mcr_buf *a, int rc_b, mcr_buf *b)
{
	assert_int_equal(rc_a, 0);
	if (rc_b)
		fail_msg("%s on PostgreSQL: %s", name, mcr_error_message());
	drop_audit_footer(a);
	drop_audit_footer(b);
	assert_same_text(name, mcr_buf_cstr(a), mcr_buf_cstr(b));
	mcr_buf_free(a);
	mcr_buf_free(b);
}

static void reports_identical(void **state)
{
	(void)state;
	SKIP_UNLESS_ENABLED();
	time_t now;
	assert_int_equal(mcr_time_parse("2026-11-22T09:00:00Z", &now), 0);
	static const mcr_report_format formats[] = { MCR_REPORT_TEXT, MCR_REPORT_CSV, MCR_REPORT_HTML };
	for (size_t i = 0; i < 3; i++) {
		mcr_buf a = MCR_BUF_INIT, b = MCR_BUF_INIT;
		int ra = mcr_report_coverage(lite, now, formats[i], &a);
		int rb = mcr_report_coverage(&pg, now, formats[i], &b);
		same_report("coverage", ra, &a, rb, &b);
		ra = mcr_report_loads(lite, 0, formats[i], &a);
		rb = mcr_report_loads(&pg, 0, formats[i], &b);
		same_report("loads", ra, &a, rb, &b);
	}
}

/* Run sql on a connection of the test's own (the "loader"). */
static void admin(const char *sql)
{
	PGconn *c = NULL;
	assert_int_equal(mcr_pg_connect(&c, &pg, "test_store_pg"), 0);
	if (mcr_pg_exec_script(c, "test setup", sql) != 0)
		fail_msg("%s", mcr_error_message());
	mcr_pg_close(c);
}

static int items_row(void *arg, const mcr_store_row *row)
{
	int *marked = arg;
	*marked += row->v[5] && strstr(row->v[5], "(generation 2)") != NULL;
	return 0;
}

static int count_row(void *arg, const mcr_store_row *row)
{
	(void)row;
	(*(int *)arg)++;
	return 0;
}

/* A generation published while a lookup has one open never mixes into it. */
static void publish_during_lookup(void **state)
{
	(void)state;
	SKIP_UNLESS_ENABLED();
	/* Generation 2: generation 1's rows, every item marked. */
	admin("SET client_min_messages = warning;"
	      "DROP SCHEMA IF EXISTS mcr_gen_000002 CASCADE; CREATE SCHEMA mcr_gen_000002;"
	      "DO $$ DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_tables "
	      "WHERE schemaname = 'mcr_gen_000001' LOOP EXECUTE format("
	      "'CREATE TABLE mcr_gen_000002.%I AS TABLE mcr_gen_000001.%I', t, t); END LOOP; END $$;"
	      "UPDATE mcr_gen_000002.item SET display = display || ' (generation 2)';"
	      "DELETE FROM mcr_gen_000002.source WHERE org = (SELECT min(org) FROM mcr_gen_000002.source);");
	const char *person[] = { people[0] };
	int sources_before = 0, sources_after = 0, marked = 0;
	mcr_store_gen *g = NULL;
	long gen = 0;
	assert_int_equal(mcr_store_gen_open(&pg, &g, &gen), 0);
	assert_int_equal(gen, 1);
	assert_int_equal(mcr_store_query(g, MCR_SQ_VIEW_SOURCES, NULL, count_row, &sources_before), 0);
	/* The loader publishes generation 2 now, between two reads of this lookup. */
	admin("UPDATE mcr.published SET generation = 2, schema_name = 'mcr_gen_000002' WHERE id = 1");
	assert_int_equal(mcr_store_query(g, MCR_SQ_ITEMS, person, items_row, &marked), 0);
	assert_int_equal(mcr_store_query(g, MCR_SQ_VIEW_SOURCES, NULL, count_row, &sources_after), 0);
	assert_int_equal(marked, 0);
	assert_int_equal(sources_after, sources_before);
	mcr_store_gen_close(g);

	/* The next lookup reads generation 2 whole. */
	mcr_lookup_request req = { "test.user", lite->orgs[0].ods, "clinician", people[0], NULL,
	                           "testing", 0, MCR_LOOKUP_TEXT };
	mcr_buf out = MCR_BUF_INIT;
	mcr_lookup_result res;
	assert_int_equal(mcr_store_gen_open(&pg, &g, &gen), 0);
	assert_int_equal(gen, 2);
	sources_after = 0;
	assert_int_equal(mcr_store_query(g, MCR_SQ_VIEW_SOURCES, NULL, count_row, &sources_after), 0);
	assert_int_equal(sources_after, sources_before - 1);
	mcr_store_gen_close(g);
	int rc = mcr_lookup_run(&pg, audit_pg, &req, &out, &res);
	assert_true(rc == 0 || rc == MCR_ENOTFOUND);
	assert_int_equal(res.generation, 2);
	mcr_buf_free(&out);

	/* A kept generation still opens by number (break-glass reports). */
	assert_int_equal(mcr_store_gen_open_kept(&pg, 1, &g), 0);
	marked = 0;
	assert_int_equal(mcr_store_query(g, MCR_SQ_ITEMS, person, items_row, &marked), 0);
	assert_int_equal(marked, 0);
	mcr_store_gen_close(g);
	assert_int_equal(mcr_store_gen_open_kept(&pg, 7, &g), MCR_ENOTFOUND);
	assert_null(g);

	admin("SET client_min_messages = warning;"
	      "UPDATE mcr.published SET generation = 1, schema_name = 'mcr_gen_000001' WHERE id = 1;"
	      "DROP SCHEMA mcr_gen_000002 CASCADE");
}

/* The server drops this thread's kept connection (a restart does the same): the
 * next lookup connects again and succeeds. */
static void reconnects(void **state)
{
	(void)state;
	SKIP_UNLESS_ENABLED();
	mcr_store_gen *g = NULL;
	long gen;
	assert_int_equal(mcr_store_gen_open(&pg, &g, &gen), 0);
	mcr_store_gen_close(g);
	admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	      "WHERE application_name = 'mcr' AND pid <> pg_backend_pid()");
	assert_int_equal(mcr_store_gen_open(&pg, &g, &gen), 0);
	int n = 0;
	assert_int_equal(mcr_store_query(g, MCR_SQ_VIEW_SOURCES, NULL, count_row, &n), 0);
	assert_true(n > 0);
	mcr_store_gen_close(g);
	long long age;
	assert_int_equal(mcr_store_status(&pg, &gen, &age), 0);
	assert_int_equal(gen, 1);
}

/* No database: the lookup is decided "failed" (audited as such, nothing shown),
 * the message names PostgreSQL and no secret. */
static void unreachable(void **state)
{
	(void)state;
	SKIP_UNLESS_ENABLED();
	mcr_config down = pg;
	down.pg.conninfo = "host=127.0.0.1 port=1 dbname=mcr user=mcr connect_timeout=2";
	mcr_lookup_request req = { "test.user", lite->orgs[0].ods, "clinician", people[0], NULL, NULL,
	                           0, MCR_LOOKUP_HTML };
	mcr_buf out = MCR_BUF_INIT;
	mcr_lookup_result res;
	int rc = mcr_lookup_run(&down, audit_pg, &req, &out, &res);
	assert_int_equal(rc, MCR_EIO);
	assert_string_equal(res.outcome, "failed");
	assert_int_equal(res.generation, 0);
	assert_true(res.audit_seq > 0);
	assert_int_equal(out.len, 0);
	assert_non_null(strstr(mcr_error_message(), "PostgreSQL"));
	long gen;
	long long age;
	assert_int_equal(mcr_store_status(&down, &gen, &age), MCR_EIO);
	mcr_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(views_identical),
		cmocka_unit_test(reports_identical),
		cmocka_unit_test(publish_during_lookup),
		cmocka_unit_test(reconnects),
		cmocka_unit_test(unreachable),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
