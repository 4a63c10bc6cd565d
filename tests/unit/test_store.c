/* Store generations: naming, the 'current' link, read-only opens, schema version. */
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

#include "mcr/error.h"
#include "mcr/schema.h"
#include "mcr/store_sqlite.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_store.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* A generation file with the store schema and the given user_version. */
static void make_generation(long n, int version)
{
	char *path = NULL;
	assert_int_equal(mcr_store_generation_path(dir, n, &path), 0);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, mcr_schema_store_sql, NULL, NULL, NULL), SQLITE_OK);
	char sql[128];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; INSERT INTO meta VALUES "
	                           "('generation', '%ld')", version, n);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
}

static void link_current(const char *target)
{
	char link[128];
	snprintf(link, sizeof(link), "%s/current", dir);
	unlink(link);
	assert_int_equal(symlink(target, link), 0);
}

static void test_path(void **state)
{
	(void)state;
	char *p = NULL;
	assert_int_equal(mcr_store_generation_path("/srv/store", 42, &p), 0);
	assert_string_equal(p, "/srv/store/gen-000042.sqlite");
	free(p);
}

static void test_none_published(void **state)
{
	(void)state;
	long g = -1;
	sqlite3 *db = (sqlite3 *)&g;
	assert_int_equal(mcr_store_current_generation(dir, &g), MCR_ENOTFOUND);
	assert_int_equal(mcr_store_open_current(dir, &db, &g), MCR_ENOTFOUND);
	assert_int_equal(mcr_store_open_generation(dir, 1, &db), MCR_ENOTFOUND);
	assert_null(db);
}

static void test_open_current_read_only(void **state)
{
	(void)state;
	make_generation(1, MCR_STORE_SCHEMA_VERSION);
	make_generation(2, MCR_STORE_SCHEMA_VERSION);
	link_current("gen-000002.sqlite");
	long g = 0;
	sqlite3 *db = NULL;
	assert_int_equal(mcr_store_open_current(dir, &db, &g), 0);
	assert_int_equal(g, 2);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'generation'",
	                                    -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "2");
	sqlite3_finalize(st);
	/* Readers never write. */
	assert_int_equal(sqlite3_exec(db, "DELETE FROM meta", NULL, NULL, NULL), SQLITE_READONLY);
	/* The link flips: an open reader keeps its generation; a new open sees the new one. */
	link_current("gen-000001.sqlite");
	sqlite3 *db1 = NULL;
	assert_int_equal(mcr_store_open_current(dir, &db1, &g), 0);
	assert_int_equal(g, 1);
	sqlite3_close(db1);
	assert_int_equal(sqlite3_exec(db, "SELECT count(*) FROM meta", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(mcr_store_open_generation(dir, 2, &db), 0);
	sqlite3_close(db);
}

static void test_bad_link_and_version(void **state)
{
	(void)state;
	make_generation(3, MCR_STORE_SCHEMA_VERSION + 1);
	link_current("gen-000003.sqlite");
	sqlite3 *db = NULL;
	long g;
	assert_int_equal(mcr_store_open_current(dir, &db, &g), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "schema version"));
	assert_null(db);
	link_current("something-else.db");
	assert_int_equal(mcr_store_current_generation(dir, &g), MCR_EFORMAT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path),
		cmocka_unit_test_setup_teardown(test_none_published, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_current_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_link_and_version, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
