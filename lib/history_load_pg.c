/*
 * The load history on PostgreSQL (load_backend.h): the tables mcr.load,
 * mcr.load_file and mcr.audit_checkpoint of schema/pg/shared.sql, on the store
 * writer's connection (load_pg.h), so that the record of a run's end commits in
 * the transaction that flips mcr.published.
 */

#include "load_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcr/error.h"
#include "mcr/fs.h"

static int hp_open(load_run *r, long *runs)
{
	PGconn *c = mcr_load_pg_conn(r);
	PGresult *res = NULL;
	const char *p[] = { r->now_iso };
	char cur[24];
	snprintf(cur, sizeof(cur), "%ld", r->cur_gen);
	const char *pc[] = { cur };
	r->hb = c;
	if (!c)
		return mcr_error_set(MCR_ERROR, "internal error: the load history before the store");
	/* We hold the load lock: a run still 'running' was stopped before it recorded
	 * its end, so before it published (its end commits with the publication). */
	int rc = mcr_pg_exec(c, NULL, "marking interrupted runs",
	                     "UPDATE mcr.load SET outcome = 'failed', finished = $1, message = "
	                     "'interrupted: the run ended without recording its end; nothing "
	                     "published' WHERE outcome = 'running'", 1, p);
	/* A run that recorded a generation never published (the record and the flip
	 * commit together, so only a run whose end was recorded otherwise). */
	if (!rc)
		rc = mcr_pg_exec(c, NULL, "marking unpublished runs",
		                 "UPDATE mcr.load SET outcome = 'failed', message = 'interrupted before "
		                 "publishing generation ' || generation || ': nothing published', "
		                 "generation = NULL WHERE generation > $1::bigint", 1, pc);
	if (!rc)
		rc = mcr_pg_exec(c, &res, "counting runs", "SELECT count(*) FROM mcr.load", 0, NULL);
	if (!rc)
		*runs = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return rc;
}

static int hp_insert_run(load_run *r)
{
	const char *p[] = { r->run_id, r->now_iso };
	return mcr_pg_exec(r->hb, NULL, "recording the run", "INSERT INTO mcr.load (run_id, started, "
	                   "outcome) VALUES ($1, $2, 'running')", 2, p);
}

static int hp_checkpoint(load_run *r, const char *taken, long seq, const char *hash)
{
	char n[24];
	snprintf(n, sizeof(n), "%ld", seq);
	const char *p[] = { r->run_id, taken, n, hash };
	return mcr_pg_exec(r->hb, NULL, "recording the audit checkpoint",
	                   "INSERT INTO mcr.audit_checkpoint (run_id, taken, seq, hash) "
	                   "VALUES ($1, $2, $3, $4)", 4, p);
}

static int end_rows(PGconn *c, load_run *r, const char *outcome, const char *message)
{
	char fin[32], n[5][24];
	mcr_time_iso(mcr_time_now(), fin);
	long v[5] = { r->sum->generation, r->sum->files, r->sum->rejected, r->sum->people,
	              r->sum->items };
	for (int i = 0; i < 5; i++)
		snprintf(n[i], sizeof(n[i]), "%ld", v[i]);
	const char *p[] = { r->run_id, fin, outcome, r->sum->generation ? n[0] : NULL, n[1], n[2],
	                    n[3], n[4], message };
	int rc = mcr_pg_exec(c, NULL, "recording the run's end",
	                     "UPDATE mcr.load SET finished = $2, outcome = $3, generation = $4, "
	                     "files = $5, rejected = $6, people = $7, items = $8, message = $9 "
	                     "WHERE run_id = $1", 9, p);
	for (size_t i = 0; !rc && i < r->nfiles; i++) {
		const file_entry *f = &r->files[i];
		char items[24];
		snprintf(items, sizeof(items), "%ld", f->items);
		const char *pf[] = { r->run_id, f->org, f->dataset, f->manifest, f->extracted,
		                     f->outcome, f->reason, items };
		rc = mcr_pg_exec(c, NULL, "recording the files examined",
		                 "INSERT INTO mcr.load_file (run_id, org, dataset, manifest, extracted, "
		                 "outcome, reason, items) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
		                 "ON CONFLICT (run_id, org, dataset, manifest) DO UPDATE SET "
		                 "extracted = excluded.extracted, outcome = excluded.outcome, "
		                 "reason = excluded.reason, items = excluded.items", 8, pf);
	}
	return rc;
}

/* In the publishing transaction when one is open (store_load_pg.c), else in its own. */
static int hp_end(load_run *r, const char *outcome, const char *message)
{
	PGconn *c = r->hb;
	if (mcr_pg_lost(c))
		return mcr_error_set(MCR_EIO, "recording the run's end: the connection to PostgreSQL "
		                              "is lost");
	if (PQtransactionStatus(c) == PQTRANS_INTRANS)
		return end_rows(c, r, outcome, message);
	if (PQtransactionStatus(c) == PQTRANS_INERROR)
		mcr_pg_rollback(c);
	int rc = mcr_pg_begin(c, MCR_PG_READ_COMMITTED, 0);
	if (!rc)
		rc = end_rows(c, r, outcome, message);
	if (!rc)
		rc = mcr_pg_commit(c);
	if (rc)
		mcr_pg_rollback(c);
	return rc;
}

static int hp_was_held(load_run *r, const char *ods, const char *manifest, int *held)
{
	const char *p[] = { ods, manifest };
	PGresult *res = NULL;
	int rc = mcr_pg_exec(r->hb, &res, "reading the load history",
	                     "SELECT 1 FROM mcr.load_file WHERE org = $1 AND manifest = $2 "
	                     "AND outcome = 'held' LIMIT 1", 2, p);
	*held = !rc && PQntuples(res) > 0;
	PQclear(res);
	return rc;
}

/* The connection is the store writer's, closed with it. */
static void hp_close(load_run *r)
{
	r->hb = NULL;
}

const load_history_ops mcr_load_history_pg = {
	.open = hp_open,
	.insert_run = hp_insert_run,
	.checkpoint = hp_checkpoint,
	.end = hp_end,
	.was_held = hp_was_held,
	.close = hp_close,
};
