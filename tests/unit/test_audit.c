/* Unit tests: the audit log (append, chain, concurrency, tamper detection). */
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
#include <sys/wait.h>
#include <unistd.h>

#include "mcr/audit.h"
#include "mcr/buf.h"
#include "mcr/error.h"
#include "mcr/fs.h"

static char tmpdir[256];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/mcr-test-audit-XXXXXX");
	setenv("MCR_NOW", "2026-11-21T10:00:00Z", 1);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

static void path_in_tmp(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

static mcr_audit_entry entry(const char *user, const char *nhs, long generation)
{
	mcr_audit_entry e;
	memset(&e, 0, sizeof(e));
	e.user = user;
	e.org = "A81001";
	e.role = "clinician";
	e.nhs = nhs;
	e.sections = "allergies,medications";
	e.basis = "implied";
	e.outcome = "shown";
	e.generation = generation;
	return e;
}

/* Build a log of n entries at path and close it (the WAL is checkpointed away). */
static void build_log(const char *path, int n)
{
	mcr_audit *a = NULL;
	assert_int_equal(mcr_audit_open(&a, path), 0);
	for (int i = 1; i <= n; i++) {
		char user[32];
		snprintf(user, sizeof(user), "user%d", i);
		mcr_audit_entry e = entry(user, "9990000018", i);
		assert_int_equal(mcr_audit_append(a, &e), 0);
		assert_int_equal(e.seq, i);
	}
	mcr_audit_close(a);
}

static void copy_file(const char *from, const char *to)
{
	mcr_buf b = MCR_BUF_INIT;
	assert_int_equal(mcr_fs_read_file(from, 1 << 26, &b), 0);
	assert_int_equal(mcr_fs_write_atomic(to, b.ptr, b.len), 0);
	mcr_buf_free(&b);
}

/* Run SQL on a copy as someone with file access would: triggers dropped first. */
static void tamper(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	int rc = sqlite3_exec(db, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;", NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("tamper SQL failed: %s", msg ? msg : "?");
	sqlite3_close(db);
}

static long count_rows(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void hash_is_sha256_of_the_canonical_line(void **state)
{
	(void)state;
	/* Expected value computed independently: sha256(64 zeros + "\n" + fields
	 * joined by 0x1f), see docs/AUDIT.md. */
	mcr_audit_entry e = entry("jbloggs", "9990000018", 7);
	char h[65];
	e.seq = 1;
	snprintf(e.at, sizeof(e.at), "2026-11-21T10:00:00Z");
	e.basis = "break-glass";
	e.reason = "unconscious in ED";
	assert_int_equal(mcr_audit_entry_hash(&e, "0000000000000000000000000000000000000000000000000000000000000000", h), 0);
	assert_string_equal(h, "f14342a0056c475818aee48d92371d65010a1e28bb137521d4c4a0309b3568c0");
	e.reason = "unconscious in A&E";
	char h2[65];
	assert_int_equal(mcr_audit_entry_hash(&e, "0000000000000000000000000000000000000000000000000000000000000000", h2), 0);
	assert_string_not_equal(h, h2);
}

static void append_stores_every_field_and_chains(void **state)
{
	(void)state;
	char path[512];
	path_in_tmp(path, sizeof(path), "new/folder/audit.sqlite");
	mcr_audit *a = NULL;
	assert_int_equal(mcr_audit_open(&a, path), 0);
	mcr_audit_entry e1 = entry("jbloggs", "9990000018", 3);
	assert_int_equal(mcr_audit_append(a, &e1), 0);
	mcr_audit_entry e2 = entry("asmith", "9990000026", 3);
	e2.basis = "break-glass";
	e2.reason = "unconscious, no relationship";
	e2.outcome = "denied";
	e2.detail = "why";
	assert_int_equal(mcr_audit_append(a, &e2), 0);
	assert_int_equal(e1.seq, 1);
	assert_int_equal(e2.seq, 2);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640); /* not world-readable */
	assert_string_equal(e2.at, "2026-11-21T10:00:00Z");
	mcr_audit_close(a);

	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT seq, at, user, org, role, nhs, sections, basis, reason,"
	                                        " outcome, detail, generation, prev_hash, hash FROM audit ORDER BY seq",
	                                    -1, &st, NULL), SQLITE_OK);
	char prev[65] = "0000000000000000000000000000000000000000000000000000000000000000";
	mcr_audit_entry *want[2] = { &e1, &e2 };
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int64(st, 0), i + 1);
		assert_string_equal((const char *)sqlite3_column_text(st, 1), "2026-11-21T10:00:00Z");
		assert_string_equal((const char *)sqlite3_column_text(st, 2), want[i]->user);
		assert_string_equal((const char *)sqlite3_column_text(st, 3), "A81001");
		assert_string_equal((const char *)sqlite3_column_text(st, 4), "clinician");
		assert_string_equal((const char *)sqlite3_column_text(st, 5), want[i]->nhs);
		assert_string_equal((const char *)sqlite3_column_text(st, 6), "allergies,medications");
		assert_string_equal((const char *)sqlite3_column_text(st, 7), want[i]->basis);
		assert_string_equal((const char *)sqlite3_column_text(st, 9), want[i]->outcome);
		assert_int_equal(sqlite3_column_int64(st, 11), 3);
		assert_string_equal((const char *)sqlite3_column_text(st, 12), prev);
		char h[65];
		assert_int_equal(mcr_audit_entry_hash(want[i], prev, h), 0);
		assert_string_equal((const char *)sqlite3_column_text(st, 13), h);
		memcpy(prev, h, 65);
	}
	sqlite3_finalize(st);
	/* The log's own connection cannot rewrite history. */
	sqlite3_close(db);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE audit SET user = 'x' WHERE seq = 1", NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit WHERE seq = 2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	long n = -1;
	assert_int_equal(mcr_audit_verify(path, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(count_rows(path, "SELECT count(*) FROM audit WHERE seq = 1 AND reason IS NULL AND detail IS NULL"), 1);
	assert_int_equal(count_rows(path, "SELECT count(*) FROM audit WHERE seq = 2 AND detail = 'why'"), 1);
	assert_int_equal(count_rows(path, "SELECT count(*) FROM audit WHERE reason = 'unconscious, no relationship'"), 1);
}

static void concurrent_appenders_lose_nothing(void **state)
{
	(void)state;
	char path[512];
	path_in_tmp(path, sizeof(path), "concurrent.sqlite");
	pid_t kids[8];
	for (int k = 0; k < 8; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			mcr_audit *a = NULL;
			char user[32];
			snprintf(user, sizeof(user), "proc%d", k);
			if (mcr_audit_open(&a, path) != 0)
				_exit(10);
			for (int i = 0; i < 50; i++) {
				mcr_audit_entry e = entry(user, "9990000018", i);
				if (mcr_audit_append(a, &e) != 0) {
					fprintf(stderr, "append: %s\n", mcr_error_message());
					_exit(11);
				}
			}
			mcr_audit_close(a);
			_exit(0);
		}
	}
	for (int k = 0; k < 8; k++) {
		int st = 0;
		assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	long n = 0;
	if (mcr_audit_verify(path, &n) != 0)
		fail_msg("verify: %s", mcr_error_message());
	assert_int_equal(n, 400);
	assert_int_equal(count_rows(path, "SELECT count(*) FROM audit"), 400);
	assert_int_equal(count_rows(path, "SELECT max(seq) FROM audit"), 400);
	assert_int_equal(count_rows(path, "SELECT count(DISTINCT user) FROM audit"), 8);
	assert_int_equal(count_rows(path, "SELECT min(c) FROM (SELECT count(*) AS c FROM audit GROUP BY user)"), 50);
}

typedef struct tamper_case {
	const char *name;
	const char *sql;
	const char *want;
} tamper_case;

static void tampered_copies_name_the_bad_entry(void **state)
{
	(void)state;
	char orig[512];
	path_in_tmp(orig, sizeof(orig), "orig.sqlite");
	build_log(orig, 10);
	long n = 0;
	assert_int_equal(mcr_audit_verify(orig, &n), 0);
	assert_int_equal(n, 10);

	static const tamper_case cases[] = {
		{ "edit", "UPDATE audit SET user = 'mallory' WHERE seq = 4", "audit entry 4: hash mismatch (edited)" },
		{ "edit-generation", "UPDATE audit SET generation = 99 WHERE seq = 2", "audit entry 2: hash mismatch (edited)" },
		{ "delete", "DELETE FROM audit WHERE seq = 5", "audit entry 5: missing (deleted)" },
		{ "swap", "UPDATE audit SET seq = -6 WHERE seq = 6; UPDATE audit SET seq = 6 WHERE seq = 7;"
		          " UPDATE audit SET seq = 7 WHERE seq = -6", "audit entry 6: swapped with entry 7" },
		{ "truncate", "DELETE FROM audit WHERE seq >= 9", "audit entry 9: missing (log truncated" },
		{ "delete-renumber", "DELETE FROM audit WHERE seq = 3; UPDATE audit SET seq = seq + 1000 WHERE seq > 3;"
		                     " UPDATE audit SET seq = seq - 1001 WHERE seq > 1000;"
		                     " UPDATE audit_head SET last_seq = 9",
		  "audit entry 3: missing (deleted, later entries renumbered)" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char copy[512];
		snprintf(copy, sizeof(copy), "%s/%s.sqlite", tmpdir, cases[i].name);
		copy_file(orig, copy);
		tamper(copy, cases[i].sql);
		int rc = mcr_audit_verify(copy, &n);
		if (rc != MCR_EFORMAT || !strstr(mcr_error_message(), cases[i].want))
			fail_msg("%s: got %d '%s', want '%s'", cases[i].name, rc, mcr_error_message(), cases[i].want);
	}

	/* An inserted entry with a valid hash, later entries renumbered and rehashed
	 * is out of reach of any unkeyed chain; one renumbered but not rehashed is found. */
	char copy[512];
	snprintf(copy, sizeof(copy), "%s/insert.sqlite", tmpdir);
	copy_file(orig, copy);
	tamper(copy, "UPDATE audit SET seq = seq + 1000 WHERE seq >= 3; UPDATE audit SET seq = seq - 999 WHERE seq > 1000;"
	             " UPDATE audit_head SET last_seq = 11");
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open(copy, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT hash FROM audit WHERE seq = 2", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	char prev[65];
	snprintf(prev, sizeof(prev), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	mcr_audit_entry forged = entry("mallory", "9990000026", 1);
	forged.seq = 3;
	snprintf(forged.at, sizeof(forged.at), "2026-11-21T10:00:00Z");
	char h[65];
	assert_int_equal(mcr_audit_entry_hash(&forged, prev, h), 0);
	char sql[1024];
	snprintf(sql, sizeof(sql), "INSERT INTO audit (seq, at, user, org, role, nhs, sections, basis, outcome,"
	         " generation, prev_hash, hash) VALUES (3, '%s', 'mallory', 'A81001', 'clinician', '9990000026',"
	         " 'allergies,medications', 'implied', 'shown', 1, '%s', '%s')", forged.at, prev, h);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(mcr_audit_verify(copy, &n), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "audit entry 3: inserted"));

	/* An entry edited and its own hash recomputed: found at the next link. */
	snprintf(copy, sizeof(copy), "%s/rehash.sqlite", tmpdir);
	copy_file(orig, copy);
	assert_int_equal(sqlite3_open(copy, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT at, prev_hash FROM audit WHERE seq = 5", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	mcr_audit_entry edited = entry("user5", "9990000034", 5);
	edited.seq = 5;
	snprintf(edited.at, sizeof(edited.at), "%s", (const char *)sqlite3_column_text(st, 0));
	snprintf(prev, sizeof(prev), "%s", (const char *)sqlite3_column_text(st, 1));
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(mcr_audit_entry_hash(&edited, prev, h), 0);
	snprintf(sql, sizeof(sql), "UPDATE audit SET nhs = '9990000034', hash = '%s' WHERE seq = 5", h);
	tamper(copy, sql);
	assert_int_equal(mcr_audit_verify(copy, &n), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "audit entry 5: hash mismatch (edited and rehashed)"));

	/* An entry appended after the head without updating it. */
	snprintf(copy, sizeof(copy), "%s/append-after-head.sqlite", tmpdir);
	copy_file(orig, copy);
	tamper(copy, "UPDATE audit_head SET last_seq = 9");
	assert_int_equal(mcr_audit_verify(copy, &n), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "audit entry 10: inserted"));
}

static void append_refuses_a_log_without_its_head(void **state)
{
	(void)state;
	char orig[512], copy[512];
	path_in_tmp(orig, sizeof(orig), "headless-orig.sqlite");
	path_in_tmp(copy, sizeof(copy), "headless.sqlite");
	build_log(orig, 3);
	copy_file(orig, copy);
	tamper(copy, "DELETE FROM audit_head");
	mcr_audit *a = NULL;
	assert_int_equal(mcr_audit_open(&a, copy), 0);
	mcr_audit_entry e = entry("jbloggs", "9990000018", 1);
	assert_int_equal(mcr_audit_append(a, &e), MCR_EFORMAT);
	assert_int_equal(e.seq, 0);
	mcr_audit_close(a);
	assert_int_equal(count_rows(copy, "SELECT count(*) FROM audit"), 3);
	long n;
	assert_int_equal(mcr_audit_verify(copy, &n), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "head record missing"));
}

static void open_fails_on_a_directory(void **state)
{
	(void)state;
	char dir[512];
	path_in_tmp(dir, sizeof(dir), "a-directory");
	assert_int_equal(mkdir(dir, 0700), 0);
	mcr_audit *a = NULL;
	assert_int_equal(mcr_audit_open(&a, dir), MCR_EIO);
	assert_null(a);
	assert_non_null(strstr(mcr_error_message(), dir));
}

static void entry_with_separator_is_refused(void **state)
{
	(void)state;
	char path[512];
	path_in_tmp(path, sizeof(path), "sep.sqlite");
	mcr_audit *a = NULL;
	assert_int_equal(mcr_audit_open(&a, path), 0);
	mcr_audit_entry e = entry("jb\x1floggs", "9990000018", 1);
	assert_int_equal(mcr_audit_append(a, &e), MCR_EUSAGE);
	mcr_audit_close(a);
	assert_int_equal(count_rows(path, "SELECT count(*) FROM audit"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hash_is_sha256_of_the_canonical_line),
		cmocka_unit_test(append_stores_every_field_and_chains),
		cmocka_unit_test(concurrent_appenders_lose_nothing),
		cmocka_unit_test(tampered_copies_name_the_bad_entry),
		cmocka_unit_test(append_refuses_a_log_without_its_head),
		cmocka_unit_test(open_fails_on_a_directory),
		cmocka_unit_test(entry_with_separator_is_refused),
	};
	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
