/* lib/pg.c: COPY escaping (always), and against a real PostgreSQL when the suite
 * gives one (tests/scripts/test_pg_lib.sh starts it; MCR_TEST_PG_CONNINFO and
 * MCR_TEST_PG_PASSWORD_FILE): the password from a file and from the environment,
 * refusals that never repeat a secret, the shared schema, a generation's DDL, COPY
 * of awkward values read back byte for byte, transactions, a lost connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcr/error.h"
#include "pg.h"

#define TMPDIR_NAME "test_pg"
#include "test_tmpdir.h"

/* Escaping for COPY text format, as data: input (NULL: SQL NULL) -> wire text. */
static const struct {
	const char *in;
	const char *out;
} escapes[] = {
	{NULL, "\\N"},
	{"", ""},
	{"plain text", "plain text"},
	{"back\\slash", "back\\\\slash"},
	{"tab\there", "tab\\there"},
	{"new\nline", "new\\nline"},
	{"carriage\rreturn", "carriage\\rreturn"},
	{"\\N", "\\\\N"},
	{"\\.", "\\\\."},
	{"\t\n\r\\", "\\t\\n\\r\\\\"},
	{"caf\xc3\xa9 \"quoted\" 'single'", "caf\xc3\xa9 \"quoted\" 'single'"},
};

static void test_escape(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		mcr_buf b = MCR_BUF_INIT;
		const char *in = escapes[i].in;
		assert_int_equal(mcr_pg_copy_escape(&b, in, in ? strlen(in) : 0), 0);
		assert_non_null(b.ptr);
		if (strcmp(b.ptr, escapes[i].out) != 0)
			fail_msg("escape %zu: got \"%s\", expected \"%s\"", i, b.ptr, escapes[i].out);
		mcr_buf_free(&b);
	}
	char name[MCR_PG_SCHEMA_NAME_MAX];
	mcr_pg_generation_schema(42, name);
	assert_string_equal(name, "mcr_gen_000042");
	mcr_pg_generation_schema(1234567, name);
	assert_string_equal(name, "mcr_gen_1234567");
	mcr_pg_close(NULL);
	mcr_pg_rollback(NULL);
	mcr_pg_copy_abort(NULL);
}

static const char *conninfo, *password_file;

/* Skip the server tests when the suite gave no server. */
#define NEED_SERVER() \
	do { \
		if (!conninfo) \
			skip(); \
	} while (0)

static char *read_first_line(const char *path)
{
	static char line[256];
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static PGconn *connect_ok(void)
{
	PGconn *c = NULL;
	unsetenv(MCR_PG_PASSWORD_ENV);
	if (mcr_pg_connect_with(&c, conninfo, password_file, "test_pg") != 0)
		fail_msg("connect: %s", mcr_error_message());
	return c;
}

/* One value from a query with no parameters; the caller frees it. */
static char *value(PGconn *c, const char *sql)
{
	PGresult *r = NULL;
	if (mcr_pg_exec(c, &r, "test query", sql, 0, NULL) != 0)
		fail_msg("%s: %s", sql, mcr_error_message());
	assert_int_equal(PQntuples(r), 1);
	char *v = PQgetisnull(r, 0, 0) ? NULL : strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* Counts the text columns of a schema (appended) without the "C" collation. */
#define TEXT_NOT_C "SELECT count(*) FROM information_schema.columns WHERE data_type = 'text' " \
                   "AND collation_name IS DISTINCT FROM 'C' AND table_schema = "

/* The query's one value is want. */
static void value_is(PGconn *c, const char *sql, const char *want)
{
	char *v = value(c, sql);
	if (!v || strcmp(v, want) != 0)
		fail_msg("%s: got %s, expected %s", sql, v ? v : "NULL", want);
	free(v);
}

static void test_connect(void **state)
{
	(void)state;
	NEED_SERVER();
	const char *secret = read_first_line(password_file);
	char pw[256];
	snprintf(pw, sizeof(pw), "%s", secret);

	/* From the file (the environment is not consulted when a file is given). */
	setenv(MCR_PG_PASSWORD_ENV, "not-the-password", 1);
	PGconn *c = NULL;
	assert_int_equal(mcr_pg_connect_with(&c, conninfo, password_file, "test_pg"), 0);
	value_is(c, "SELECT current_setting('application_name')", "test_pg");
	value_is(c, "SELECT current_setting('client_encoding')", "UTF8");
	assert_false(mcr_pg_lost(c));
	mcr_pg_close(c);

	/* From the environment, through a config. */
	setenv(MCR_PG_PASSWORD_ENV, pw, 1);
	mcr_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.pg.conninfo = (char *)conninfo;
	c = NULL;
	if (mcr_pg_connect(&c, &cfg, NULL) != 0)
		fail_msg("connect from the environment: %s", mcr_error_message());
	value_is(c, "SELECT current_setting('application_name')", "mcr");
	mcr_pg_close(c);

	/* A wrong password, from the environment and from a file: refused, and the
	 * message says what failed and where the password came from, never the secret. */
	static const char wrong[] = "Wr0ng-s3cret-VALUE";
	setenv(MCR_PG_PASSWORD_ENV, wrong, 1);
	c = (PGconn *)1;
	assert_int_equal(mcr_pg_connect(&c, &cfg, "test_pg"), MCR_EIO);
	assert_null(c);
	const char *msg = mcr_error_message();
	if (!strstr(msg, "cannot connect to PostgreSQL (password from MCR_PG_PASSWORD): ") ||
	    !strstr(msg, "password authentication failed for user \"mcr\"") || strstr(msg, wrong) ||
	    strstr(msg, pw) || strchr(msg, '\n'))
		fail_msg("wrong password (env): \"%s\"", msg);

	char path[128];
	snprintf(path, sizeof(path), "%s/wrong.password", tmpdir);
	write_file(path, "Wr0ng-s3cret-VALUE\nsecond line ignored\n");
	assert_int_equal(mcr_pg_connect_with(&c, conninfo, path, "test_pg"), MCR_EIO);
	msg = mcr_error_message();
	if (!strstr(msg, "cannot connect to PostgreSQL (password from postgresql.password_file): ") ||
	    !strstr(msg, "password authentication failed") || strstr(msg, wrong) || strstr(msg, pw))
		fail_msg("wrong password (file): \"%s\"", msg);

	/* A missing or empty password file: a configuration error naming the file. */
	snprintf(path, sizeof(path), "%s/no-such.password", tmpdir);
	assert_int_equal(mcr_pg_connect_with(&c, conninfo, path, "test_pg"), MCR_ECONFIG);
	assert_non_null(strstr(mcr_error_message(), "cannot read postgresql.password_file "));
	assert_non_null(strstr(mcr_error_message(), "no-such.password: No such file or directory"));
	snprintf(path, sizeof(path), "%s/empty.password", tmpdir);
	write_file(path, "\n");
	assert_int_equal(mcr_pg_connect_with(&c, conninfo, path, "test_pg"), MCR_ECONFIG);
	assert_non_null(strstr(mcr_error_message(), "empty.password is empty"));

	/* No conninfo at all. */
	cfg.pg.conninfo = NULL;
	assert_int_equal(mcr_pg_connect(&c, &cfg, "test_pg"), MCR_ECONFIG);
	assert_non_null(strstr(mcr_error_message(), "no postgresql.conninfo"));

	/* Nothing listening: the reason is libpq's, on one line. */
	unsetenv(MCR_PG_PASSWORD_ENV);
	assert_int_equal(mcr_pg_connect_with(&c, "host=127.0.0.1 port=1 dbname=mcr user=mcr", NULL,
	                                     "test_pg"), MCR_EIO);
	msg = mcr_error_message();
	if (!strstr(msg, "cannot connect to PostgreSQL: connection to server at \"127.0.0.1\", port 1 failed") ||
	    strchr(msg, '\n') || strchr(msg, '\t'))
		fail_msg("nothing listening: \"%s\"", msg);
}

static void test_schema(void **state)
{
	(void)state;
	NEED_SERVER();
	PGconn *c = connect_ok();
	/* Twice: the second run finds everything there. */
	assert_int_equal(mcr_pg_schema_shared(c), 0);
	if (mcr_pg_schema_shared(c) != 0)
		fail_msg("second run: %s", mcr_error_message());
	value_is(c, "SELECT count(*) || ':' || coalesce(max(generation)::text, 'none') FROM mcr.published", "1:none");
	value_is(c, "SELECT value FROM mcr.meta WHERE key = 'schema_version'", "1");
	value_is(c, "SELECT last_seq || ':' || last_hash FROM mcr.audit_head", "0:0000000000000000000000000000000000000000000000000000000000000000");

	/* The audit log is append-only even for its owner. */
	assert_int_equal(mcr_pg_exec(c, NULL, "appending", "INSERT INTO mcr.audit VALUES (1, "
	                             "'2026-11-28T12:00:00Z', 'u', 'A81001', 'clinician', '9990000018', "
	                             "'allergies', 'implied', NULL, 'shown', NULL, 1, 'p', 'h')", 0, NULL), 0);
	assert_int_equal(mcr_pg_exec(c, NULL, "editing the audit log",
	                             "UPDATE mcr.audit SET outcome = 'denied'", 0, NULL), MCR_EIO);
	assert_non_null(strstr(mcr_error_message(), "editing the audit log: ERROR: the audit log is append-only"));
	assert_string_equal(mcr_pg_sqlstate(), "P0001");
	assert_int_equal(mcr_pg_exec(c, NULL, "emptying", "TRUNCATE mcr.audit", 0, NULL), MCR_EIO);
	assert_int_equal(mcr_pg_exec(c, NULL, "deleting", "DELETE FROM mcr.audit", 0, NULL), MCR_EIO);
	value_is(c, "SELECT count(*) FROM mcr.audit", "1");

	/* Every text column compares as bytes whatever the database's locale (SQLite's
	 * order, so sorted views and reports match). */
	value_is(c, TEXT_NOT_C "'mcr'", "0");
	mcr_pg_close(c);
}

/* Awkward values for a COPY round trip: every escape, NULL against the text "\N",
 * the end-of-data marker as text, UTF-8, and one long enough to need several
 * PQputCopyData calls. */
static const char *const awkward[] = {
	"back\\slash", "tab\there", "new\nline", "cr\rhere", "\\N", "\\.", "", " leading space",
	"caf\xc3\xa9 \xe2\x9c\x93 \"q\" 'q'", "\r\n\t\\", "ends with backslash\\", NULL,
};

static void test_copy(void **state)
{
	(void)state;
	NEED_SERVER();
	PGconn *c = connect_ok();
	assert_int_equal(mcr_pg_schema_shared(c), 0);
	assert_int_equal(mcr_pg_generation_drop(c, 7), 0);
	if (mcr_pg_generation_create(c, 7) != 0)
		fail_msg("create: %s", mcr_error_message());
	/* Every table of schema/store.sql is there, in the generation's schema only. */
	value_is(c, "SELECT string_agg(table_name::text, ',' ORDER BY table_name::text) FROM "
	            "information_schema.tables WHERE table_schema = 'mcr_gen_000007'",
	         "item,load_source,member,meta,objection,person,person_withheld,source,source_held,"
	         "source_section,withheld");
	value_is(c, TEXT_NOT_C "'mcr_gen_000007'", "0");
	/* The search_path was put back. */
	value_is(c, "SELECT current_setting('search_path')", "\"$user\", public");

	size_t nawk = sizeof(awkward) / sizeof(awkward[0]);
	size_t longlen = 600 * 1024;
	char *longval = malloc(longlen + 1);
	assert_non_null(longval);
	for (size_t i = 0; i < longlen; i++)
		longval[i] = "ab\\\t\nc"[i % 6];
	longval[longlen] = '\0';

	assert_int_equal(mcr_pg_begin(c, MCR_PG_READ_COMMITTED, 0), 0);
	mcr_pg_copy cp;
	if (mcr_pg_copy_begin(&cp, c, "COPY mcr_gen_000007.item (id, nhs, org, section, display, "
	                              "details) FROM STDIN") != 0)
		fail_msg("copy begin: %s", mcr_error_message());
	for (size_t i = 0; i < nawk + 1; i++) {
		assert_int_equal(mcr_pg_copy_int(&cp, (long long)i + 1), 0);
		assert_int_equal(mcr_pg_copy_text(&cp, "9990000018"), 0);
		assert_int_equal(mcr_pg_copy_textn(&cp, "A81001xx", 6), 0);
		assert_int_equal(mcr_pg_copy_text(&cp, "problems"), 0);
		assert_int_equal(mcr_pg_copy_text(&cp, i < nawk ? awkward[i] : longval), 0);
		assert_int_equal(mcr_pg_copy_text(&cp, i < nawk ? NULL : "long"), 0);
		assert_int_equal(mcr_pg_copy_row(&cp), 0);
	}
	long long rows = 0;
	if (mcr_pg_copy_end(&cp, &rows) != 0)
		fail_msg("copy end: %s", mcr_error_message());
	assert_int_equal(rows, (long long)nawk + 1);
	if (mcr_pg_generation_index(c, 7) != 0)
		fail_msg("index: %s", mcr_error_message());
	assert_int_equal(mcr_pg_commit(c), 0);

	PGresult *r = NULL;
	assert_int_equal(mcr_pg_exec(c, &r, "reading back", "SELECT display, org, details FROM "
	                             "mcr_gen_000007.item WHERE nhs = $1 ORDER BY id", 1,
	                             (const char *const[]){"9990000018"}), 0);
	assert_int_equal(PQntuples(r), (int)nawk + 1);
	for (size_t i = 0; i < nawk + 1; i++) {
		const char *want = i < nawk ? awkward[i] : longval;
		if (!want) {
			assert_true(PQgetisnull(r, (int)i, 0));
			continue;
		}
		assert_false(PQgetisnull(r, (int)i, 0));
		if (strcmp(PQgetvalue(r, (int)i, 0), want) != 0)
			fail_msg("row %zu came back different", i + 1);
		assert_string_equal(PQgetvalue(r, (int)i, 1), "A81001");
	}
	PQclear(r);
	free(longval);

	/* A row the server refuses (too few fields): the COPY fails with its message,
	 * nothing of it is stored, and the connection goes on working. */
	assert_int_equal(mcr_pg_copy_begin(&cp, c, "COPY mcr_gen_000007.member (nhs, org) FROM STDIN"), 0);
	assert_int_equal(mcr_pg_copy_text(&cp, "9990000026"), 0);
	assert_int_equal(mcr_pg_copy_text(&cp, "A81001"), 0);
	assert_int_equal(mcr_pg_copy_row(&cp), 0);
	assert_int_equal(mcr_pg_copy_text(&cp, "9990000034"), 0);
	assert_int_equal(mcr_pg_copy_row(&cp), 0);
	assert_int_equal(mcr_pg_copy_end(&cp, NULL), MCR_EIO);
	if (!strstr(mcr_error_message(), "storing COPY data: ERROR: missing data for column \"org\""))
		fail_msg("bad row: \"%s\"", mcr_error_message());
	mcr_pg_copy_abort(&cp);
	value_is(c, "SELECT count(*) FROM mcr_gen_000007.member", "0");

	/* An abandoned COPY stores nothing either. */
	assert_int_equal(mcr_pg_copy_begin(&cp, c, "COPY mcr_gen_000007.member (nhs, org) FROM STDIN"), 0);
	assert_int_equal(mcr_pg_copy_text(&cp, "9990000026"), 0);
	assert_int_equal(mcr_pg_copy_text(&cp, "A81001"), 0);
	assert_int_equal(mcr_pg_copy_row(&cp), 0);
	mcr_pg_copy_abort(&cp);
	value_is(c, "SELECT count(*) FROM mcr_gen_000007.member", "0");
	assert_int_equal(mcr_pg_copy_begin(&cp, c, "COPY no_such_table FROM STDIN"), MCR_EIO);
	assert_non_null(strstr(mcr_error_message(), "starting a COPY: ERROR: relation \"no_such_table\" does not exist"));

	assert_int_equal(mcr_pg_generation_drop(c, 7), 0);
	value_is(c, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'mcr_gen_000007'", "0");
	mcr_pg_close(c);
}

static int insert_then(PGconn *c, void *arg)
{
	int rc = mcr_pg_exec(c, NULL, "inserting", "INSERT INTO mcr.meta (key, value) VALUES ('test', 'x')",
	                     0, NULL);
	if (rc)
		return rc;
	if (mcr_pg_synchronous_commit(c, 0) != 0)
		return MCR_ERROR;
	char *v = value(c, "SHOW synchronous_commit");
	int off = strcmp(v, "off") == 0;
	free(v);
	if (!off)
		return mcr_error_set(MCR_ERROR, "synchronous_commit not off in the transaction");
	return *(int *)arg ? mcr_error_set(MCR_ERROR, "the work failed") : 0;
}

static void test_transaction(void **state)
{
	(void)state;
	NEED_SERVER();
	PGconn *c = connect_ok();
	assert_int_equal(mcr_pg_schema_shared(c), 0);
	assert_int_equal(mcr_pg_exec(c, NULL, "clearing", "DELETE FROM mcr.meta WHERE key = 'test'", 0, NULL), 0);
	int fail = 1;
	assert_int_equal(mcr_pg_transaction(c, MCR_PG_READ_COMMITTED, 0, insert_then, &fail), MCR_ERROR);
	assert_string_equal(mcr_error_message(), "the work failed");
	assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
	value_is(c, "SELECT count(*) FROM mcr.meta WHERE key = 'test'", "0");
	/* SET LOCAL: the setting ended with the transaction. */
	value_is(c, "SHOW synchronous_commit", "on");
	fail = 0;
	assert_int_equal(mcr_pg_transaction(c, MCR_PG_SERIALIZABLE, 0, insert_then, &fail), 0);
	value_is(c, "SELECT count(*) FROM mcr.meta WHERE key = 'test'", "1");
	/* A read-only transaction refuses writes. */
	assert_int_equal(mcr_pg_transaction(c, MCR_PG_REPEATABLE_READ, 1, insert_then, &fail), MCR_EIO);
	assert_non_null(strstr(mcr_error_message(), "inserting: ERROR: cannot execute INSERT in a read-only transaction"));
	/* A failed statement inside a transaction: COMMIT is refused, not silent. */
	assert_int_equal(mcr_pg_begin(c, MCR_PG_READ_COMMITTED, 0), 0);
	assert_int_equal(mcr_pg_exec(c, NULL, "x", "SELECT 1/0", 0, NULL), MCR_EIO);
	assert_string_equal(mcr_pg_sqlstate(), "22012");
	assert_int_equal(mcr_pg_commit(c), MCR_EIO);
	assert_non_null(strstr(mcr_error_message(), "rolled back"));
	/* Outside a transaction: for the session. */
	assert_int_equal(mcr_pg_synchronous_commit(c, 0), 0);
	value_is(c, "SHOW synchronous_commit", "off");
	assert_int_equal(mcr_pg_exec(c, NULL, "clearing", "DELETE FROM mcr.meta WHERE key = 'test'", 0, NULL), 0);
	mcr_pg_close(c);
}

/* A connection the server ends (restart, failover): the next statement fails
 * and mcr_pg_lost says so. */
static void test_lost(void **state)
{
	(void)state;
	NEED_SERVER();
	PGconn *victim = connect_ok(), *admin = connect_ok();
	char pid[24];
	snprintf(pid, sizeof(pid), "%d", PQbackendPID(victim));
	PGresult *r = NULL;
	assert_int_equal(mcr_pg_exec(admin, &r, "terminating", "SELECT pg_terminate_backend($1::int, 10000)",
	                             1, (const char *const[]){pid}), 0);
	assert_string_equal(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	assert_int_equal(mcr_pg_exec(victim, NULL, "reading the published generation",
	                             "SELECT generation FROM mcr.published", 0, NULL), MCR_EIO);
	assert_non_null(strstr(mcr_error_message(), "reading the published generation: "));
	assert_true(mcr_pg_lost(victim));
	assert_false(mcr_pg_lost(admin));
	mcr_pg_close(victim);
	mcr_pg_close(admin);
}

int main(void)
{
	conninfo = getenv("MCR_TEST_PG_CONNINFO");
	password_file = getenv("MCR_TEST_PG_PASSWORD_FILE");
	if (conninfo && !password_file) {
		fprintf(stderr, "MCR_TEST_PG_CONNINFO without MCR_TEST_PG_PASSWORD_FILE\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_schema),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_transaction),
		cmocka_unit_test(test_lost),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
