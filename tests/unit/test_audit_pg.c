/* The audit log and the launch-token store on PostgreSQL, against the server the
 * suite starts (tests/scripts/test_audit_pg.sh: MCR_TEST_PG_CONNINFO and
 * MCR_TEST_PG_PASSWORD_FILE; every test is skipped without them): appends and
 * verification, the tamper cases that make sense for a table with and without a
 * checkpoint, concurrent appenders in several processes, group commit, migration
 * of an SQLite log (scheme-1 and scheme-2 entries) and its refusals, and a launch
 * token replayed through a second connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mcr/audit.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/launch.h"
#include "pg.h"
#include "test_audit_fixture.h"

#define TMPDIR_NAME "test_audit_pg"
#include "test_tmpdir.h"

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

static mcr_config cfg;  /* store.backend postgresql, the suite's server */
static PGconn *admin;   /* the tests' own connection: triggers off, as an insider */

#define NEED_SERVER() \
	do { \
		if (!admin) \
			skip(); \
	} while (0)

static void sql(const char *s)
{
	if (mcr_pg_exec_script(admin, "test SQL", s) != 0)
		fail_msg("%s: %s", s, mcr_error_message());
}

static long sql_long(const char *s)
{
	PGresult *r = NULL;
	if (mcr_pg_exec(admin, &r, "test SQL", s, 0, NULL) != 0)
		fail_msg("%s: %s", s, mcr_error_message());
	long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/* A fresh, empty log: the tables dropped and made again as a node makes them. */
static void reset_log(void)
{
	sql("DROP TABLE IF EXISTS mcr.audit, mcr.audit_head, mcr.audit_meta");
	assert_int_equal(mcr_pg_schema_shared(admin), 0);
}

static mcr_audit_entry entry(const char *user, long generation)
{
	mcr_audit_entry e;
	memset(&e, 0, sizeof(e));
	e.user = user;
	e.org = "A81001";
	e.role = "clinician";
	e.nhs = "9990000018";
	e.sections = "allergies,medications";
	e.basis = "implied";
	e.outcome = "shown";
	e.generation = generation;
	return e;
}

/* Append n entries by <prefix>1.. as test_audit.c's build_log does. */
static void append_log(int n, const char *prefix)
{
	mcr_audit *a = NULL;
	assert_int_equal(mcr_audit_open_config(&a, &cfg), 0);
	for (int i = 1; i <= n; i++) {
		char user[32];
		snprintf(user, sizeof(user), "%s%d", prefix, i);
		mcr_audit_entry e = entry(user, i % 3 ? i : 0);
		if (i == 3) {
			e.basis = "break-glass";
			e.reason = "unconscious in ED";
		}
		assert_int_equal(mcr_audit_append(a, &e), 0);
	}
	mcr_audit_close(a);
}

static long verify_ok(const mcr_audit_checkpoints *cps)
{
	mcr_audit_verify_result res;
	if (mcr_audit_verify_config(&cfg, cps, &res) != 0)
		fail_msg("verify: %s", mcr_error_message());
	return res.entries;
}

/* Recompute every prev_hash and hash in seq order and the head, as an insider can. */
static void rechain(void)
{
	PGresult *r = NULL;
	assert_int_equal(mcr_pg_exec(admin, &r, "rows", "SELECT seq, at, \"user\", org, role, nhs, sections, basis,"
	                             " reason, outcome, detail, generation FROM mcr.audit ORDER BY seq", 0, NULL), 0);
	char prev[65] = ZEROS, h[65], seq[24];
	for (int i = 0; i < PQntuples(r); i++) {
		mcr_audit_entry e;
		memset(&e, 0, sizeof(e));
		const char *f[12];
		for (int c = 0; c < 12; c++)
			f[c] = PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c);
		e.seq = strtol(f[0], NULL, 10);
		snprintf(e.at, sizeof(e.at), "%s", f[1]);
		e.user = f[2], e.org = f[3], e.role = f[4], e.nhs = f[5], e.sections = f[6];
		e.basis = f[7], e.reason = f[8], e.outcome = f[9], e.detail = f[10];
		e.generation = f[11] ? strtol(f[11], NULL, 10) : 0;
		assert_int_equal(mcr_audit_entry_hash(&e, prev, h), 0);
		snprintf(seq, sizeof(seq), "%ld", e.seq);
		const char *p[] = { prev, h, seq };
		assert_int_equal(mcr_pg_exec(admin, NULL, "rehash", "UPDATE mcr.audit SET prev_hash = $1, hash = $2"
		                             " WHERE seq = $3::bigint", 3, p), 0);
		memcpy(prev, h, 65);
	}
	snprintf(seq, sizeof(seq), "%d", PQntuples(r) ? atoi(PQgetvalue(r, PQntuples(r) - 1, 0)) : 0);
	PQclear(r);
	const char *p[] = { seq, prev };
	assert_int_equal(mcr_pg_exec(admin, NULL, "head", "INSERT INTO mcr.audit_head VALUES (1, $1::bigint, $2)"
	                             " ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq,"
	                             " last_hash = excluded.last_hash", 2, p), 0);
}

static void appends_chain_and_verify(void **state)
{
	(void)state;
	NEED_SERVER();
	reset_log();
	mcr_audit_checkpoint head;
	assert_int_equal(mcr_audit_read_head_config(&cfg, &head), 0);
	assert_int_equal(head.seq, 0);
	assert_string_equal(head.hash, ZEROS);
	append_log(5, "user");
	assert_int_equal(verify_ok(NULL), 5);
	assert_int_equal(mcr_audit_read_head_config(&cfg, &head), 0);
	assert_int_equal(head.seq, 5);
	/* The stored entry is what was appended: NULL stays NULL, generation 0 is NULL. */
	assert_int_equal(sql_long("SELECT count(*) FROM mcr.audit WHERE seq = 3 AND generation IS NULL"
	                          " AND reason = 'unconscious in ED' AND detail IS NULL"), 1);
	assert_int_equal(sql_long("SELECT value FROM mcr.audit_meta WHERE key = 'chain_v2_from'"), 1);
	mcr_audit_verify_result res;
	assert_int_equal(mcr_audit_verify_config(&cfg, NULL, &res), 0);
	assert_string_equal(res.head, head.hash);
	assert_non_null(strstr(res.log, "mcr.audit (PostgreSQL database"));
	/* Append-only through the database too. */
	assert_int_not_equal(mcr_pg_exec_script(admin, "update", "SET session_replication_role = origin;"
	                                        " UPDATE mcr.audit SET \"user\" = 'x' WHERE seq = 1"), 0);
	assert_non_null(strstr(mcr_error_message(), "append-only"));
	sql("SET session_replication_role = replica");
}

/* The server drops the connection (a restart, a network cut): that append fails with
 * nothing written and the next one connects again and continues the chain. */
static void lost_connection_fails_then_reconnects(void **state)
{
	(void)state;
	NEED_SERVER();
	reset_log();
	mcr_audit *a = NULL;
	assert_int_equal(mcr_audit_open_config(&a, &cfg), 0);
	mcr_audit_entry e = entry("before", 1);
	assert_int_equal(mcr_audit_append(a, &e), 0);
	assert_int_equal(sql_long("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
	                          " WHERE application_name = 'mcr-audit' AND pid <> pg_backend_pid()"), 1);
	e = entry("during", 1);
	assert_int_equal(mcr_audit_append(a, &e), MCR_EIO);
	assert_int_equal(e.seq, 0);
	e = entry("after", 1);
	assert_int_equal(mcr_audit_append(a, &e), 0);
	assert_int_equal(e.seq, 2);
	mcr_audit_close(a);
	assert_int_equal(verify_ok(NULL), 2);
	assert_int_equal(sql_long("SELECT count(*) FROM mcr.audit WHERE \"user\" = 'during'"), 0);
}

/* ---- tamper cases --------------------------------------------------------------------- */

typedef struct tamper_case {
	const char *name;
	const char *sql;   /* run with the triggers off (NULL: none) */
	int rechain;       /* then every hash and the head recomputed */
	int fresh;         /* 1: the next lookup after it appends one entry; 2: a fresh log of 10 */
	int without, with; /* detected without / with the checkpoint at entry 10 */
	const char *want;
} tamper_case;

static const tamper_case tamper_cases[] = {
	{ "edit a field", "UPDATE mcr.audit SET \"user\" = 'mallory' WHERE seq = 4", 0, 0, 1, 1,
	  "audit entry 4: hash mismatch (edited)" },
	{ "edit the generation", "UPDATE mcr.audit SET generation = 99 WHERE seq = 2", 0, 0, 1, 1,
	  "audit entry 2: hash mismatch (edited)" },
	{ "NULL to ''", "UPDATE mcr.audit SET detail = '' WHERE seq = 5", 0, 0, 1, 1,
	  "audit entry 5: hash mismatch (edited)" },
	{ "a reason to NULL", "UPDATE mcr.audit SET reason = NULL WHERE seq = 3", 0, 0, 1, 1,
	  "audit entry 3: hash mismatch (edited)" },
	{ "NULL generation to 0", "UPDATE mcr.audit SET generation = 0 WHERE seq = 6", 0, 0, 1, 1,
	  "audit entry 6: hash mismatch (edited)" },
	{ "delete a middle row", "DELETE FROM mcr.audit WHERE seq = 5", 0, 0, 1, 1,
	  "audit entry 5: missing (deleted)" },
	{ "reorder two rows", "UPDATE mcr.audit SET seq = -6 WHERE seq = 6; UPDATE mcr.audit SET seq = 6 WHERE seq = 7;"
	                      " UPDATE mcr.audit SET seq = 7 WHERE seq = -6", 0, 0, 1, 1,
	  "audit entry 6: swapped with entry 7" },
	{ "truncate the newest rows", "DELETE FROM mcr.audit WHERE seq >= 9", 0, 0, 1, 1,
	  "audit entry 9: missing (log truncated" },
	{ "delete a row, renumber the rest", "DELETE FROM mcr.audit WHERE seq = 3;"
	  " UPDATE mcr.audit SET seq = seq + 1000 WHERE seq > 3; UPDATE mcr.audit SET seq = seq - 1001 WHERE seq > 1000;"
	  " UPDATE mcr.audit_head SET last_seq = 9", 0, 0, 1, 1,
	  "audit entry 3: missing (deleted, later entries renumbered)" },
	{ "edit the scheme record", "UPDATE mcr.audit_meta SET value = 4", 0, 0, 1, 1,
	  "audit entry 1: hash mismatch (edited)" },
	{ "head moved back: an entry after the head", "UPDATE mcr.audit_head SET last_seq = 9", 0, 0, 1, 1,
	  "audit entry 10: inserted (after the head record's last entry 9)" },
	{ "head record removed", "DELETE FROM mcr.audit_head", 0, 0, 1, 1, "head record missing" },
	{ "delete the newest rows and fix the head", "DELETE FROM mcr.audit WHERE seq >= 8", 1, 0, 0, 1,
	  "audit entry 8: missing (the log ends at entry 7, but checkpoint 10:" },
	{ "delete every row and the head", "DELETE FROM mcr.audit; DELETE FROM mcr.audit_head", 0, 0, 0, 1,
	  "audit entry 1: missing (the log ends at entry 0, but checkpoint 10:" },
	{ "edit a row and rehash the rest", "UPDATE mcr.audit SET nhs = '9990000034' WHERE seq = 4", 1, 0, 0, 1,
	  "audit entry 10: hash differs from checkpoint 10:" },
	{ "delete a middle row, renumber and rehash", "DELETE FROM mcr.audit WHERE seq = 3;"
	  " UPDATE mcr.audit SET seq = seq + 1000 WHERE seq > 3; UPDATE mcr.audit SET seq = seq - 1001 WHERE seq > 1000",
	  1, 0, 0, 1, "audit entry 10: missing (the log ends at entry 9, but checkpoint 10:" },
	{ "TRUNCATE the tables, a lookup starts over", "TRUNCATE mcr.audit, mcr.audit_head, mcr.audit_meta", 0, 1, 0, 1,
	  "audit entry 2: missing (the log ends at entry 1, but checkpoint 10:" },
	{ "drop the tables, a lookup starts a fresh log", "DROP TABLE mcr.audit, mcr.audit_head, mcr.audit_meta", 0, 1,
	  0, 1, "audit entry 2: missing (the log ends at entry 1, but checkpoint 10:" },
	{ "replace with a fresh log of as many entries", "DROP TABLE mcr.audit, mcr.audit_head, mcr.audit_meta", 0, 2,
	  0, 1, "audit entry 10: hash differs from checkpoint 10:" },
};

/* The original log back from its copy in tables of schema public. */
static void restore_orig(void)
{
	reset_log();
	sql("DELETE FROM mcr.audit_head; INSERT INTO mcr.audit SELECT * FROM orig_audit;"
	    " INSERT INTO mcr.audit_head SELECT * FROM orig_head; INSERT INTO mcr.audit_meta SELECT * FROM orig_meta");
}

static void tamper_cases_with_and_without_checkpoints(void **state)
{
	(void)state;
	NEED_SERVER();
	reset_log();
	append_log(10, "user");
	assert_int_equal(verify_ok(NULL), 10);
	sql("DROP TABLE IF EXISTS orig_audit, orig_head, orig_meta; CREATE TABLE orig_audit AS TABLE mcr.audit;"
	    " CREATE TABLE orig_head AS TABLE mcr.audit_head; CREATE TABLE orig_meta AS TABLE mcr.audit_meta");
	mcr_audit_checkpoints cps = { 0 };
	mcr_audit_checkpoint head;
	assert_int_equal(mcr_audit_read_head_config(&cfg, &head), 0);
	snprintf(head.source, sizeof(head.source), "the test");
	assert_int_equal(mcr_audit_checkpoints_add(&cps, &head), 0);

	size_t n = sizeof(tamper_cases) / sizeof(tamper_cases[0]);
	int found_without = 0, found_with = 0;
	for (size_t i = 0; i < n; i++) {
		const tamper_case *c = &tamper_cases[i];
		restore_orig();
		assert_int_equal(verify_ok(&cps), 10);
		sql(c->sql);
		if (c->rechain)
			rechain();
		if (c->fresh == 1) {
			mcr_audit *a = NULL;
			mcr_audit_entry e = entry("next-lookup", 1);
			assert_int_equal(mcr_audit_open_config(&a, &cfg), 0);
			assert_int_equal(mcr_audit_append(a, &e), 0);
			mcr_audit_close(a);
		} else if (c->fresh == 2) {
			append_log(10, "someone");
		}
		for (int with = 0; with < 2; with++) {
			mcr_audit_verify_result res;
			int rc = mcr_audit_verify_config(&cfg, with ? &cps : NULL, &res);
			int detected = rc != 0;
			if (detected != (with ? c->with : c->without))
				fail_msg("%s, %s checkpoints: %s (%s)", c->name, with ? "with" : "without",
				         detected ? "detected" : "not detected", mcr_error_message());
			if (detected && (c->without || with) && !strstr(mcr_error_message(), c->want))
				fail_msg("%s: got '%s', want '%s'", c->name, mcr_error_message(), c->want);
			if (detected && rc != MCR_EFORMAT)
				fail_msg("%s: %d '%s'", c->name, rc, mcr_error_message());
			found_with += with && detected;
			found_without += !with && detected;
		}
	}
	print_message("PostgreSQL tamper cases detected: %d of %zu without checkpoints, %d of %zu with the checkpoint\n",
	              found_without, n, found_with, n);
	assert_int_equal(found_with, (int)n);

	/* Edited and rehashed alone: found at the next link. */
	restore_orig();
	PGresult *r = NULL;
	assert_int_equal(mcr_pg_exec(admin, &r, "row 5", "SELECT at, prev_hash FROM mcr.audit WHERE seq = 5", 0, NULL), 0);
	mcr_audit_entry edited = entry("user5", 5);
	char h[65], update[256];
	edited.seq = 5;
	edited.nhs = "9990000034";
	snprintf(edited.at, sizeof(edited.at), "%s", PQgetvalue(r, 0, 0));
	assert_int_equal(mcr_audit_entry_hash(&edited, PQgetvalue(r, 0, 1), h), 0);
	PQclear(r);
	snprintf(update, sizeof(update), "UPDATE mcr.audit SET nhs = '9990000034', hash = '%s' WHERE seq = 5", h);
	sql(update);
	mcr_audit_verify_result res;
	assert_int_equal(mcr_audit_verify_config(&cfg, NULL, &res), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "audit entry 5: hash mismatch (edited and rehashed)"));

	/* An append refuses a log whose head was removed, and appends nothing. */
	restore_orig();
	sql("DELETE FROM mcr.audit_head");
	mcr_audit *a = NULL;
	mcr_audit_entry e = entry("jbloggs", 1);
	assert_int_equal(mcr_audit_open_config(&a, &cfg), 0);
	assert_int_equal(mcr_audit_append(a, &e), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "head record missing"));
	assert_int_equal(e.seq, 0);
	mcr_audit_close(a);
	assert_int_equal(sql_long("SELECT count(*) FROM mcr.audit"), 10);
	mcr_audit_checkpoints_free(&cps);
}

/* ---- concurrency ------------------------------------------------------------------------ */

enum { PROCS = 6, PROC_THREADS = 4, PER_THREAD = 25 };

typedef struct worker {
	mcr_audit *a;
	int id, n, rc;
	char msg[256];
} worker;

/* n appends by user "p<id>"; each entry's seq above the thread's previous one. */
static void *append_n(void *arg)
{
	worker *w = arg;
	char user[32];
	long last = 0;
	snprintf(user, sizeof(user), "p%d", w->id);
	for (int i = 0; i < w->n; i++) {
		mcr_audit_entry e = entry(user, 1);
		if ((w->rc = mcr_audit_append(w->a, &e)) != 0) {
			snprintf(w->msg, sizeof(w->msg), "%s", mcr_error_message());
			return NULL;
		}
		if (e.seq <= last) {
			w->rc = -1;
			snprintf(w->msg, sizeof(w->msg), "entry %ld after %ld", e.seq, last);
			return NULL;
		}
		last = e.seq;
	}
	return NULL;
}

/* One process: its own connection shared by PROC_THREADS threads (group commit). */
static int child(int go)
{
	char c;
	mcr_audit *a = NULL;
	if (read(go, &c, 1) != 0 || mcr_audit_open_config(&a, &cfg) != 0)
		return 2;
	worker w[PROC_THREADS];
	pthread_t t[PROC_THREADS];
	for (int i = 0; i < PROC_THREADS; i++) {
		w[i] = (worker){ a, (int)getpid() * 10 + i, PER_THREAD, 0, "" };
		if (pthread_create(&t[i], NULL, append_n, &w[i]) != 0)
			return 3;
	}
	int bad = 0;
	for (int i = 0; i < PROC_THREADS; i++) {
		pthread_join(t[i], NULL);
		if (w[i].rc) {
			fprintf(stderr, "pid %d thread %d: %s\n", (int)getpid(), i, w[i].msg);
			bad = 1;
		}
	}
	mcr_audit_close(a);
	return bad;
}

static void processes_append_without_forks_or_gaps(void **state)
{
	(void)state;
	NEED_SERVER();
	reset_log();
	int p[2];
	pid_t pids[PROCS];
	assert_int_equal(pipe(p), 0);
	for (int i = 0; i < PROCS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(p[1]);
			_exit(child(p[0]));
		}
	}
	/* Released together: the write end closed, every child's read returns 0. */
	close(p[0]);
	close(p[1]);
	for (int i = 0; i < PROCS; i++) {
		int st = 0;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	long want = PROCS * PROC_THREADS * PER_THREAD;
	assert_int_equal(verify_ok(NULL), want);
	assert_int_equal(sql_long("SELECT count(*) FROM mcr.audit"), want);
	assert_int_equal(sql_long("SELECT max(seq) - min(seq) + 1 FROM mcr.audit"), want);
	assert_int_equal(sql_long("SELECT count(DISTINCT \"user\") FROM mcr.audit"), PROCS * PROC_THREADS);
}

static void waiting_entries_share_a_commit(void **state)
{
	(void)state;
	NEED_SERVER();
	enum { THREADS = 8 };
	reset_log();
	mcr_audit *a = NULL;
	assert_int_equal(mcr_audit_open_config(&a, &cfg), 0);
	/* Another connection holds the chain head: the first thread leads a commit of
	 * its own entry that waits for the lock; the others queue behind it. */
	sql("BEGIN; SELECT * FROM mcr.audit_head FOR UPDATE");
	static worker w[THREADS];
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (worker){ a, i, 1, 0, "" };
		assert_int_equal(pthread_create(&t[i], NULL, append_n, &w[i]), 0);
	}
	mcr_audit_stats s;
	for (;;) {
		mcr_audit_get_stats(a, &s);
		if (s.queued == THREADS - 1)
			break;
		sched_yield();
	}
	sql("COMMIT");
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		if (w[i].rc)
			fail_msg("thread %d: %s", i, w[i].msg);
	}
	mcr_audit_get_stats(a, &s);
	mcr_audit_close(a);
	assert_int_equal(s.entries, THREADS);
	assert_int_equal(s.commits, 2);
	assert_int_equal(verify_ok(NULL), THREADS);
}

/* ---- migration --------------------------------------------------------------------------- */

/* An SQLite log at path: the scheme-1 log of tests/data/audit/v1-log.sql, opened
 * by this version and appended to (scheme 2) extra times. */
static void sqlite_log(const char *path, int extra)
{
	char dump[512];
	snprintf(dump, sizeof(dump), "%s/audit/v1-log.sql", getenv("MCR_TEST_DATA"));
	mcr_buf b = MCR_BUF_INIT;
	assert_int_equal(mcr_fs_read_file(dump, 1 << 20, &b), 0);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, mcr_buf_cstr(&b), NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	mcr_buf_free(&b);
	mcr_audit *a = NULL;
	assert_int_equal(mcr_audit_open(&a, path), 0);
	for (int i = 0; i < extra; i++) {
		mcr_audit_entry e = entry("user6", i % 2 ? 0 : 4);
		e.detail = i % 2 ? "" : NULL;
		assert_int_equal(mcr_audit_append(a, &e), 0);
	}
	mcr_audit_close(a);
}

static void migration_copies_and_verifies(void **state)
{
	(void)state;
	NEED_SERVER();
	char src[256];
	snprintf(src, sizeof(src), "%s/migrate.sqlite", tmpdir);
	sqlite_log(src, 2);
	reset_log();
	mcr_audit_migrate_result m;
	assert_int_equal(mcr_audit_migrate(src, &cfg, &m), 0);
	assert_int_equal(m.source_entries, 7);
	assert_int_equal(m.copied, 7);
	assert_int_equal(m.target_entries, 7);
	assert_int_equal(m.v1_entries, 5);
	/* The same verification result on both backends. */
	mcr_audit_verify_result s, t;
	assert_int_equal(mcr_audit_verify(src, NULL, &s), 0);
	assert_int_equal(mcr_audit_verify_config(&cfg, NULL, &t), 0);
	assert_int_equal(s.entries, t.entries);
	assert_int_equal(s.v1_entries, t.v1_entries);
	assert_string_equal(s.head, t.head);
	assert_string_equal(m.head, s.head);
	assert_int_equal(sql_long("SELECT value FROM mcr.audit_meta WHERE key = 'chain_v2_from'"), 6);

	/* Again: nothing to copy. More in the source: only those. */
	assert_int_equal(mcr_audit_migrate(src, &cfg, &m), 0);
	assert_int_equal(m.copied, 0);
	mcr_audit *a = NULL;
	mcr_audit_entry e = entry("user8", 5);
	assert_int_equal(mcr_audit_open(&a, src), 0);
	assert_int_equal(mcr_audit_append(a, &e), 0);
	mcr_audit_close(a);
	assert_int_equal(mcr_audit_migrate(src, &cfg, &m), 0);
	assert_int_equal(m.copied, 1);
	assert_int_equal(m.target_entries, 8);
	/* Nodes appended after the migration: the source is a prefix, nothing copied. */
	append_log(2, "node");
	assert_int_equal(mcr_audit_migrate(src, &cfg, &m), 0);
	assert_int_equal(m.copied, 0);
	assert_int_equal(m.target_entries, 10);
	assert_int_equal(verify_ok(NULL), 10);

	/* A tampered source: refused, nothing copied. */
	char bad[256];
	snprintf(bad, sizeof(bad), "%s/tampered.sqlite", tmpdir);
	sqlite_log(bad, 2);
	fixture_audit_sql(bad, "UPDATE audit SET user = 'mallory' WHERE seq = 2");
	reset_log();
	assert_int_equal(mcr_audit_migrate(bad, &cfg, &m), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "audit entry 2: hash mismatch (edited); nothing copied"));
	assert_int_equal(sql_long("SELECT count(*) FROM mcr.audit"), 0);
	/* A target holding another chain: refused, left as it was. */
	append_log(3, "other");
	assert_int_equal(mcr_audit_migrate(src, &cfg, &m), MCR_EFORMAT);
	assert_non_null(strstr(mcr_error_message(), "holds another chain"));
	assert_int_equal(sql_long("SELECT count(*) FROM mcr.audit"), 3);
	/* Only into PostgreSQL. */
	mcr_config sq = cfg;
	sq.backend = MCR_BACKEND_SQLITE;
	assert_int_equal(mcr_audit_migrate(src, &sq, &m), MCR_EUSAGE);
}

/* Each entry as one line, for comparing what the two backends give. */
static int entry_line(void *ctx, const mcr_audit_entry *e)
{
	return mcr_buf_printf(ctx, "%ld|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%ld\n", e->seq, e->at, e->user, e->org,
	                      e->role, e->nhs, e->sections, e->basis, e->reason ? e->reason : "(null)", e->outcome,
	                      e->detail ? e->detail : "(null)", e->generation);
}

/* The reports' queries give the same entries on both backends. */
static void queries_agree_with_sqlite(void **state)
{
	(void)state;
	NEED_SERVER();
	char src[256];
	snprintf(src, sizeof(src), "%s/query.sqlite", tmpdir);
	sqlite_log(src, 3);
	reset_log();
	mcr_audit_migrate_result m;
	assert_int_equal(mcr_audit_migrate(src, &cfg, &m), 0);
	mcr_config sq = cfg;
	sq.backend = MCR_BACKEND_SQLITE;
	sq.audit_path = src;
	static const char *const users[] = { "user2", "user6", "nobody" };
	const mcr_audit_query queries[] = {
		{ .from = "", .to = "~" },
		{ .nhs = "9990000018", .from = "2026-11-21", .to = "~" },
		{ .nhs = "9990000026", .from = "", .to = "~" },
		{ .users = users, .nusers = 3, .from = "", .to = "~" },
		{ .break_glass = 1, .from = "", .to = "~" },
	};
	const int want[] = { 8, 6, 0, 4, 1 };
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		mcr_buf a = MCR_BUF_INIT, b = MCR_BUF_INIT;
		assert_int_equal(mcr_audit_query_config(&sq, &queries[i], entry_line, &a), 0);
		assert_int_equal(mcr_audit_query_config(&cfg, &queries[i], entry_line, &b), 0);
		assert_string_equal(mcr_buf_cstr(&a), mcr_buf_cstr(&b));
		int lines = 0;
		for (const char *p = mcr_buf_cstr(&a); *p; p++)
			lines += *p == '\n';
		if (lines != want[i])
			fail_msg("query %zu: %d entries, want %d", i, lines, want[i]);
		mcr_buf_free(&a);
		mcr_buf_free(&b);
	}
	assert_int_equal(mcr_audit_probe_config(&cfg), 0);
}

/* ---- the launch-token store ---------------------------------------------------------------- */

static void jti_replay_refused_across_connections(void **state)
{
	(void)state;
	NEED_SERVER();
	mcr_jti_store *one = NULL, *two = NULL;
	assert_int_equal(mcr_jti_open_config(&one, &cfg), 0);
	assert_int_equal(mcr_jti_open_config(&two, &cfg), 0);
	sql("DELETE FROM mcr.jti");
	assert_int_equal(mcr_jti_claim(one, "lcs", "token-1", 2000, 1000), 0);
	assert_int_equal(mcr_jti_claim(two, "lcs", "token-1", 2000, 1000), MCR_EDENIED);
	assert_int_equal(mcr_jti_claim(one, "lcs", "token-1", 2000, 1001), MCR_EDENIED);
	/* The same id from another launcher is another token. */
	assert_int_equal(mcr_jti_claim(two, "gp", "token-1", 2000, 1000), 0);
	/* Expired ids are purged on the way. */
	assert_int_equal(mcr_jti_claim(one, "lcs", "token-2", 1500, 1000), 0);
	assert_int_equal(sql_long("SELECT count(*) FROM mcr.jti"), 3);
	assert_int_equal(mcr_jti_claim(two, "lcs", "token-3", 3000, 1800), 0);
	assert_int_equal(sql_long("SELECT count(*) FROM mcr.jti WHERE jti = 'token-2'"), 0);
	assert_int_equal(sql_long("SELECT count(*) FROM mcr.jti"), 3);
	mcr_jti_close(one);
	mcr_jti_close(two);
}

int main(void)
{
	const char *conninfo = getenv("MCR_TEST_PG_CONNINFO");
	const char *password_file = getenv("MCR_TEST_PG_PASSWORD_FILE");
	(void)fixture_audit_rechain; /* the fixture's SQLite rechain; rechain() is this one's */
	cfg.backend = MCR_BACKEND_POSTGRESQL;
	cfg.pg.conninfo = (char *)conninfo;
	cfg.pg.password_file = (char *)password_file;
	if (conninfo) {
		if (mcr_pg_connect(&admin, &cfg, "test_audit_pg") != 0 || mcr_pg_schema_shared(admin) != 0 ||
		    mcr_pg_exec_script(admin, "triggers off", "SET session_replication_role = replica") != 0) {
			fprintf(stderr, "test_audit_pg: %s\n", mcr_error_message());
			return 1;
		}
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(appends_chain_and_verify),
		cmocka_unit_test(lost_connection_fails_then_reconnects),
		cmocka_unit_test(tamper_cases_with_and_without_checkpoints),
		cmocka_unit_test(processes_append_without_forks_or_gaps),
		cmocka_unit_test(waiting_entries_share_a_commit),
		cmocka_unit_test(migration_copies_and_verifies),
		cmocka_unit_test(queries_agree_with_sqlite),
		cmocka_unit_test(jti_replay_refused_across_connections),
	};
	int rc = cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
	mcr_pg_close(admin);
	return rc;
}
