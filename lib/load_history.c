/* mcr-load: the load history (history.sqlite): the run's start, its end and
 * the staged files it examined. */

#include "load_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mcr/audit.h"
#include "mcr/db.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/schema.h"

/*
 * Copy the audit log's head into the history (DESIGN.md "Audit"): one more place
 * outside the audit database that verify-audit checks it against. A region with
 * no audit log yet, or one whose head is unreadable, gets no row: the load is not
 * the place to fail for it (verify-audit reports it).
 */
static int record_audit_checkpoint(load_run *r)
{
	mcr_audit_checkpoint head;
	sqlite3_stmt *st = NULL;
	if (mcr_audit_read_head_config(r->cfg, &head) != 0) {
		mcr_error_clear();
		return 0;
	}
	char taken[32];
	mcr_time_iso(time(NULL), taken);
	int rc = mcr_db_prepare(r->hist, "INSERT INTO audit_checkpoint (run_id, taken, seq, hash) "
	                                 "VALUES (?1, ?2, ?3, ?4)", &st);
	if (rc)
		return rc;
	mcr_db_bind_text(st, 1, r->run_id);
	mcr_db_bind_text(st, 2, taken);
	sqlite3_bind_int64(st, 3, head.seq);
	mcr_db_bind_text(st, 4, head.hash);
	rc = mcr_db_step_done(r->hist, st, "history.sqlite");
	sqlite3_finalize(st);
	return rc;
}

int mcr_load_history_start(load_run *r)
{
	mcr_buf path = MCR_BUF_INIT;
	sqlite3_stmt *st = NULL;
	int rc = mcr_fs_join(&path, r->cfg->store_dir, "history.sqlite");
	if (rc)
		goto out;
	if (sqlite3_open_v2(path.ptr, &r->hist, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	                    NULL) != SQLITE_OK) {
		rc = mcr_db_errorf(r->hist, MCR_EIO, "cannot open %s", path.ptr);
		goto out;
	}
	sqlite3_busy_timeout(r->hist, 10000);
	if ((rc = mcr_db_exec(r->hist, mcr_schema_history_sql)))
		goto out;
	/* We hold the lock: a run still 'running' was stopped before it recorded its
	 * end, so before it published (a run records its end, generation included,
	 * just before the rename that publishes). */
	if ((rc = mcr_db_prepare(r->hist, "UPDATE load SET outcome = 'failed', finished = ?1, "
	                                  "message = 'interrupted: the run ended without recording "
	                                  "its end; nothing published' WHERE outcome = 'running'",
	                         &st)))
		goto out;
	mcr_db_bind_text(st, 1, r->now_iso);
	if ((rc = mcr_db_step_done(r->hist, st, "history.sqlite")))
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	/* The last run recorded a generation that is not published: it was stopped
	 * between recording its end and the rename. (Stopped after the rename, its
	 * generation is current and its record stands as written.) */
	if ((rc = mcr_db_prepare(r->hist, "UPDATE load SET outcome = 'failed', message = "
	                                  "'interrupted before publishing generation ' || generation "
	                                  "|| ': nothing published', generation = NULL "
	                                  "WHERE rowid = (SELECT max(rowid) FROM load) "
	                                  "AND generation > ?1", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, r->cur_gen);
	if ((rc = mcr_db_step_done(r->hist, st, "history.sqlite")))
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	/* Unique even when $MCR_NOW replays the same time in one process. */
	if ((rc = mcr_db_prepare(r->hist, "SELECT count(*) + 1 FROM load", &st)))
		goto out;
	long seq = sqlite3_step(st) == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	st = NULL;
	char stamp[32];
	mcr_time_stamp(r->now, stamp);
	snprintf(r->run_id, sizeof(r->run_id), "%s-%ld-%ld", stamp, (long)getpid(), seq);
	if ((rc = mcr_db_prepare(r->hist, "INSERT INTO load(run_id, started, outcome) "
	                                  "VALUES (?1, ?2, 'running')", &st)))
		goto out;
	mcr_db_bind_text(st, 1, r->run_id);
	mcr_db_bind_text(st, 2, r->now_iso);
	if ((rc = mcr_db_step_done(r->hist, st, "history.sqlite")))
		goto out;
	rc = record_audit_checkpoint(r);
out:
	sqlite3_finalize(st);
	mcr_buf_free(&path);
	return rc;
}

int mcr_load_history_end(load_run *r, const char *outcome, const char *message)
{
	if (!r->hist)
		return 0;
	sqlite3_stmt *st = NULL;
	char fin[32];
	mcr_time_iso(mcr_time_now(), fin);
	int rc = mcr_db_exec(r->hist, "BEGIN IMMEDIATE");
	if (rc)
		return rc;
	if ((rc = mcr_db_prepare(r->hist, "UPDATE load SET finished = ?2, outcome = ?3, generation = ?4, "
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
	if ((rc = mcr_db_step_done(r->hist, st, "history.sqlite")))
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = mcr_db_prepare(r->hist, "INSERT OR REPLACE INTO load_file(run_id, org, dataset, "
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
		if ((rc = mcr_db_step_done(r->hist, st, "history.sqlite")))
			goto out;
	}
	rc = mcr_db_exec(r->hist, "COMMIT");
out:
	sqlite3_finalize(st);
	if (rc)
		sqlite3_exec(r->hist, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int mcr_load_history_was_held(load_run *r, const char *ods, const char *manifest, int *held)
{
	sqlite3_stmt *st = NULL;
	*held = 0;
	int rc = mcr_db_prepare(r->hist, "SELECT 1 FROM load_file WHERE org = ?1 AND manifest = ?2 "
	                                 "AND outcome = 'held' LIMIT 1", &st);
	if (rc)
		return rc;
	mcr_db_bind_text(st, 1, ods);
	mcr_db_bind_text(st, 2, manifest);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*held = 1;
	else if (step != SQLITE_DONE)
		rc = mcr_db_error(r->hist, "history.sqlite");
	sqlite3_finalize(st);
	return rc;
}

int mcr_load_note_file(load_run *r, const org_run *o, const char *manifest, const char *extracted,
                       const char *outcome, const char *reason, long items)
{
	file_entry *nf = realloc(r->files, (r->nfiles + 1) * sizeof(*nf));
	if (!nf)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	r->files = nf;
	file_entry *f = &nf[r->nfiles++];
	memset(f, 0, sizeof(*f));
	f->org = o->org->ods;
	f->dataset = o->dataset;
	f->outcome = outcome;
	f->items = items;
	r->sum->files++;
	int rc;
	if ((rc = mcr_load_dup(&f->manifest, manifest)) ||
	    (rc = mcr_load_dup(&f->extracted, extracted)) || (rc = mcr_load_dup(&f->reason, reason)))
		return rc;
	return 0;
}
