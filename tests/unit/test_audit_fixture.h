/*
 * Audit log fixtures for unit tests: what an insider with write access to the
 * file can do. fixture_audit_sql runs SQL on a log with its append-only triggers
 * dropped; fixture_audit_rechain recomputes every hash and the head record after
 * such an edit, so only checkpoints kept elsewhere can tell. Tests that need
 * entries at set times append them, set `at` and rechain (the appender itself
 * always uses the system clock).
 */
#ifndef TEST_AUDIT_FIXTURE_H
#define TEST_AUDIT_FIXTURE_H

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "mcr/audit.h"

static void fixture_audit_sql(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	int rc = sqlite3_exec(db, "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;"
	                          "DROP TRIGGER IF EXISTS audit_meta_no_update; DROP TRIGGER IF EXISTS audit_meta_no_delete;",
	                      NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("fixture SQL failed: %s: %s", msg ? msg : "?", sql);
	sqlite3_free(msg);
	sqlite3_close(db);
}

static const char *fixture_col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* Recompute prev_hash and hash of every entry in seq order and rewrite the head. */
static void fixture_audit_rechain(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL, *up = NULL;
	fixture_audit_sql(path, "SELECT 1");
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT seq, at, user, org, role, nhs, sections, basis, reason,"
	                                        " outcome, detail, generation FROM audit ORDER BY seq",
	                                    -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
	                                    -1, &up, NULL), SQLITE_OK);
	char prev[65] = "0000000000000000000000000000000000000000000000000000000000000000", h[65];
	long last = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		mcr_audit_entry e;
		memset(&e, 0, sizeof(e));
		e.seq = (long)sqlite3_column_int64(st, 0);
		snprintf(e.at, sizeof(e.at), "%s", fixture_col(st, 1));
		e.user = fixture_col(st, 2);
		e.org = fixture_col(st, 3);
		e.role = fixture_col(st, 4);
		e.nhs = fixture_col(st, 5);
		e.sections = fixture_col(st, 6);
		e.basis = fixture_col(st, 7);
		e.reason = fixture_col(st, 8);
		e.outcome = fixture_col(st, 9);
		e.detail = fixture_col(st, 10);
		e.generation = (long)sqlite3_column_int64(st, 11);
		assert_int_equal(mcr_audit_entry_hash(&e, prev, h), 0);
		sqlite3_bind_text(up, 1, prev, 64, SQLITE_TRANSIENT);
		sqlite3_bind_text(up, 2, h, 64, SQLITE_TRANSIENT);
		sqlite3_bind_int64(up, 3, e.seq);
		assert_int_equal(sqlite3_step(up), SQLITE_DONE);
		sqlite3_reset(up);
		memcpy(prev, h, 65);
		last = e.seq;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	char sql[256];
	if (last)
		snprintf(sql, sizeof(sql), "DELETE FROM audit_head; INSERT INTO audit_head VALUES (1, %ld, '%s'); COMMIT",
		         last, prev);
	else
		snprintf(sql, sizeof(sql), "DELETE FROM audit_head; COMMIT");
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

#endif
