/*
 * The load history on SQLite (load_backend.h): <store>/history.sqlite
 * (schema/history.sql), appended by every run, never rebuilt.
 */

#include "load_internal.h"

#include <sqlite3.h>
#include <stdlib.h>

#include "mcr/db.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/schema.h"

#define HIST "history.sqlite"

static sqlite3 *H(load_run *r)
{
	return r->hb;
}

static int hs_open(load_run *r, long *runs)
{
	mcr_buf path = MCR_BUF_INIT;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = mcr_fs_join(&path, r->cfg->store_dir, HIST);
	if (rc)
		goto out;
	int orc = sqlite3_open_v2(path.ptr, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	r->hb = db;
	if (orc != SQLITE_OK) {
		rc = mcr_db_errorf(db, MCR_EIO, "cannot open %s", path.ptr);
		goto out;
	}
	sqlite3_busy_timeout(db, 10000);
	if ((rc = mcr_db_exec(db, mcr_schema_history_sql)))
		goto out;
	/* We hold the lock: a run still 'running' was stopped before it recorded its
	 * end, so before it published (a run records its end, generation included,
	 * just before the rename that publishes). */
	if ((rc = mcr_db_prepare(db, "UPDATE load SET outcome = 'failed', finished = ?1, "
	                             "message = 'interrupted: the run ended without recording "
	                             "its end; nothing published' WHERE outcome = 'running'",
	                         &st)))
		goto out;
	mcr_db_bind_text(st, 1, r->now_iso);
	if ((rc = mcr_db_step_done(db, st, HIST)))
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	/* The last run recorded a generation that is not published: it was stopped
	 * between recording its end and the rename. (Stopped after the rename, its
	 * generation is current and its record stands as written.) */
	if ((rc = mcr_db_prepare(db, "UPDATE load SET outcome = 'failed', message = "
	                             "'interrupted before publishing generation ' || generation "
	                             "|| ': nothing published', generation = NULL "
	                             "WHERE rowid = (SELECT max(rowid) FROM load) "
	                             "AND generation > ?1", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, r->cur_gen);
	if ((rc = mcr_db_step_done(db, st, HIST)))
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = mcr_db_prepare(db, "SELECT count(*) FROM load", &st)))
		goto out;
	*runs = sqlite3_step(st) == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : -1;
out:
	sqlite3_finalize(st);
	mcr_buf_free(&path);
	return rc;
}

static int hs_insert_run(load_run *r)
{
	sqlite3_stmt *st = NULL;
	int rc = mcr_db_prepare(H(r), "INSERT INTO load(run_id, started, outcome) "
	                              "VALUES (?1, ?2, 'running')", &st);
	if (rc)
		return rc;
	mcr_db_bind_text(st, 1, r->run_id);
	mcr_db_bind_text(st, 2, r->now_iso);
	rc = mcr_db_step_done(H(r), st, HIST);
	sqlite3_finalize(st);
	return rc;
}

static int hs_checkpoint(load_run *r, const char *taken, long seq, const char *hash)
{
	sqlite3_stmt *st = NULL;
	int rc = mcr_db_prepare(H(r), "INSERT INTO audit_checkpoint (run_id, taken, seq, hash) "
	                              "VALUES (?1, ?2, ?3, ?4)", &st);
	if (rc)
		return rc;
	mcr_db_bind_text(st, 1, r->run_id);
	mcr_db_bind_text(st, 2, taken);
	sqlite3_bind_int64(st, 3, seq);
	mcr_db_bind_text(st, 4, hash);
	rc = mcr_db_step_done(H(r), st, HIST);
	sqlite3_finalize(st);
	return rc;
}

static int hs_end(load_run *r, const char *outcome, const char *message)
{
	sqlite3 *db = H(r);
	sqlite3_stmt *st = NULL;
	char fin[32];
	mcr_time_iso(mcr_time_now(), fin);
	int rc = mcr_db_exec(db, "BEGIN IMMEDIATE");
	if (rc)
		return rc;
	if ((rc = mcr_db_prepare(db, "UPDATE load SET finished = ?2, outcome = ?3, generation = ?4, "
	                             "files = ?5, rejected = ?6, people = ?7, items = ?8, "
	                             "message = ?9 WHERE run_id = ?1", &st)))
		goto out;
	mcr_db_bind_text(st, 1, r->run_id);
	mcr_db_bind_text(st, 2, fin);
	mcr_db_bind_text(st, 3, outcome);
	if (r->sum->generation)
		sqlite3_bind_int64(st, 4, r->sum->generation);
	sqlite3_bind_int64(st, 5, r->sum->files);
	sqlite3_bind_int64(st, 6, r->sum->rejected);
	sqlite3_bind_int64(st, 7, r->sum->people);
	sqlite3_bind_int64(st, 8, r->sum->items);
	mcr_db_bind_text(st, 9, message);
	if ((rc = mcr_db_step_done(db, st, HIST)))
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = mcr_db_prepare(db, "INSERT OR REPLACE INTO load_file(run_id, org, dataset, "
	                             "manifest, extracted, outcome, reason, items) "
	                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st)))
		goto out;
	for (size_t i = 0; i < r->nfiles; i++) {
		const file_entry *f = &r->files[i];
		mcr_db_bind_text(st, 1, r->run_id);
		mcr_db_bind_text(st, 2, f->org);
		mcr_db_bind_text(st, 3, f->dataset);
		mcr_db_bind_text(st, 4, f->manifest);
		mcr_db_bind_text(st, 5, f->extracted);
		mcr_db_bind_text(st, 6, f->outcome);
		mcr_db_bind_text(st, 7, f->reason);
		sqlite3_bind_int64(st, 8, f->items);
		if ((rc = mcr_db_step_done(db, st, HIST)))
			goto out;
	}
	rc = mcr_db_exec(db, "COMMIT");
out:
	sqlite3_finalize(st);
	if (rc)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int hs_was_held(load_run *r, const char *ods, const char *manifest, int *held)
{
	sqlite3_stmt *st = NULL;
	*held = 0;
	int rc = mcr_db_prepare(H(r), "SELECT 1 FROM load_file WHERE org = ?1 AND manifest = ?2 "
	                              "AND outcome = 'held' LIMIT 1", &st);
	if (rc)
		return rc;
	mcr_db_bind_text(st, 1, ods);
	mcr_db_bind_text(st, 2, manifest);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*held = 1;
	else if (step != SQLITE_DONE)
		rc = mcr_db_error(H(r), HIST);
	sqlite3_finalize(st);
	return rc;
}

static void hs_close(load_run *r)
{
	sqlite3_close(H(r));
	r->hb = NULL;
}

const load_history_ops mcr_load_history_sqlite = {
	.open = hs_open,
	.insert_run = hs_insert_run,
	.checkpoint = hs_checkpoint,
	.end = hs_end,
	.was_held = hs_was_held,
	.close = hs_close,
};
