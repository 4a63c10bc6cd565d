/*
 * The PostgreSQL store reader (lib/store_backend.h; config store.backend:
 * postgresql): each generation is a schema mcr_gen_NNNNNN (schema/pg/store.sql),
 * the published one named by the pointer row mcr.published (schema/pg/shared.sql).
 *
 * One open of the published generation is one REPEATABLE READ, READ ONLY
 * transaction that reads the pointer row first and runs every later query in
 * that generation's schema (search_path set for the transaction): the lookup
 * sees the generation published when it began, never a mix, whatever is
 * published meanwhile.
 *
 * Each thread keeps one connection (a server's threads look people up all day)
 * with its statements prepared once; the generations a thread has open at once
 * (a break-glass report reads several) share it and its transaction. A
 * connection found lost (the database restarted, the network) is dropped; the
 * next open connects again, and an open that finds its kept connection dead
 * before reading anything reconnects at once. When the database cannot be
 * reached the open fails with MCR_EIO naming PostgreSQL: the lookup is
 * "failed" (mcr-serve answers 503, nothing shown).
 */
#include "mcr/error.h"
#include "mcr/fs.h"
#include "pg.h"
#include "store_backend.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Unqualified names: the transaction's search_path is the generation's schema. */
static const char *const store_sql[MCR_SQ_COUNT] = {
	[MCR_SQ_VIEW_SOURCES] = "SELECT org, kind, name, status, extracted FROM source ORDER BY org",
	[MCR_SQ_PERSON] = "SELECT org, family, given, birth_date, gender, address, postcode, phone"
	                  " FROM person WHERE nhs = $1 ORDER BY org",
	/* As SQLite orders them: newest first, undated items last. */
	[MCR_SQ_ITEMS] = "SELECT section, org, date, system, code, display, status, details"
	                 " FROM item WHERE nhs = $1 ORDER BY date DESC NULLS LAST, id",
	[MCR_SQ_OBJECTIONS] = "SELECT org, since FROM objection WHERE nhs = $1 ORDER BY org",
	[MCR_SQ_PERSON_WITHHELD] = "SELECT org, section, sum(count) FROM person_withheld WHERE nhs = $1"
	                           " GROUP BY org, section ORDER BY org, section",
	[MCR_SQ_MEMBER] = "SELECT 1 FROM member WHERE nhs = $1 AND org = $2",
	[MCR_SQ_FRESH_SOURCES] = "SELECT org, name, status, extracted, rejected_reason, people, items"
	                         " FROM source ORDER BY org",
	[MCR_SQ_HELD] = "SELECT manifest, extracted, people, items FROM source_held WHERE org = $1",
	[MCR_SQ_COVERAGE_SOURCES] = "SELECT org, dataset, name, status, extracted, loaded, shares_from, "
	                            "rejected_file, rejected_reason, people, members, items, objections "
	                            "FROM source ORDER BY org",
	[MCR_SQ_COVERAGE_SECTIONS] = "SELECT org, section, people, items FROM source_section",
	[MCR_SQ_COVERAGE_WITHHELD] = "SELECT org, reason, count FROM withheld",
	[MCR_SQ_BUILT_AT] = "SELECT value FROM meta WHERE key = 'built_at'",
	[MCR_SQ_HOLDERS] = "SELECT org, 'demographics' FROM person WHERE nhs = $1 "
	                   "UNION SELECT org, section FROM item WHERE nhs = $1 "
	                   "UNION SELECT org, '' FROM objection WHERE nhs = $1",
	[MCR_SQ_NIGHT_MANIFESTS] = "SELECT org, dataset, manifest FROM source "
	                           "WHERE status = 'current' AND manifest IS NOT NULL ORDER BY org",
	[MCR_SQ_NIGHT_SOURCE] = "SELECT status, extracted, rejected_reason FROM source WHERE org = $1",
};

/* The load history in the shared schema. */
static const char *const history_sql[MCR_HQ_COUNT] = {
	[MCR_HQ_LAST_RUN] = "SELECT run_id, outcome, finished, generation FROM mcr.load "
	                    "ORDER BY started DESC, run_id DESC LIMIT 1",
	[MCR_HQ_RUNS] = "SELECT run_id, started, finished, outcome, generation, "
	                "files, rejected, people, items, message FROM mcr.load "
	                "ORDER BY started DESC, run_id DESC "
	                "LIMIT CASE WHEN $1::bigint > 0 THEN $1::bigint END",
	[MCR_HQ_REJECTED] = "SELECT f.run_id, f.org, f.dataset, f.manifest, f.reason "
	                    "FROM mcr.load_file f JOIN (SELECT run_id, started FROM mcr.load "
	                    "ORDER BY started DESC, run_id DESC "
	                    "LIMIT CASE WHEN $1::bigint > 0 THEN $1::bigint END) r "
	                    "ON f.run_id = r.run_id WHERE f.outcome = 'rejected' "
	                    "ORDER BY r.started DESC, f.run_id DESC, f.org, f.dataset, f.manifest",
	[MCR_HQ_GUARD] = "SELECT f.run_id, f.org, f.dataset, f.outcome, f.manifest, "
	                 "f.reason FROM mcr.load_file f JOIN (SELECT run_id, started FROM mcr.load "
	                 "ORDER BY started DESC, run_id DESC "
	                 "LIMIT CASE WHEN $1::bigint > 0 THEN $1::bigint END) r "
	                 "ON f.run_id = r.run_id WHERE f.outcome IN ('held', 'accepted') "
	                 "ORDER BY r.started DESC, f.run_id DESC, f.org, f.dataset, f.manifest",
	[MCR_HQ_CHECKPOINTS] = "SELECT run_id, seq, hash FROM mcr.audit_checkpoint ORDER BY seq",
};

static const char *const history_what[MCR_HQ_COUNT] = {
	[MCR_HQ_LAST_RUN] = "the last load run", [MCR_HQ_RUNS] = "load runs",
	[MCR_HQ_REJECTED] = "rejected files", [MCR_HQ_GUARD] = "held and accepted files",
	[MCR_HQ_CHECKPOINTS] = "audit checkpoints",
};

/* ---- the thread's connection ---------------------------------------------------- */

typedef struct pg_conn {
	PGconn *conn;
	char *conninfo, *password_file;   /* what it was opened with */
	unsigned char prepared[MCR_SQ_COUNT];
	int users;                        /* open generations and histories sharing it */
	int failed;                       /* a query failed: the transaction ends in ROLLBACK */
	char path[MCR_PG_SCHEMA_NAME_MAX]; /* the transaction's search_path; "" none set */
} pg_conn;

static pthread_key_t conn_key;
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;
static int conn_key_ok;

static void conn_drop(pg_conn *k)
{
	mcr_pg_close(k->conn);
	k->conn = NULL;
	memset(k->prepared, 0, sizeof(k->prepared));
	k->path[0] = '\0';
}

static void conn_free(void *p)
{
	pg_conn *k = p;
	if (!k)
		return;
	conn_drop(k);
	free(k->conninfo);
	free(k->password_file);
	free(k);
}

static void conn_init(void)
{
	conn_key_ok = pthread_key_create(&conn_key, conn_free) == 0;
}

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* BEGIN for the first user of a connection, and with it (one round trip) what
 * the caller reads first, when it has something. */
#define BEGIN_SQL "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

/* Run first (may be NULL) on k: as the statement after BEGIN_SQL when begin is
 * set. *res (when first is given) is its result, to PQclear. */
static int conn_first(pg_conn *k, int begin, const char *first, PGresult **res)
{
	char sql[512];
	snprintf(sql, sizeof(sql), "%s%s%s", begin ? BEGIN_SQL : "", begin && first ? "; " : "",
	         first ? first : "");
	PGresult *r = PQexec(k->conn, sql);
	ExecStatusType want = first ? PGRES_TUPLES_OK : PGRES_COMMAND_OK;
	if (PQresultStatus(r) != want) {
		int rc = mcr_pg_error(k->conn, r, MCR_EIO, first ? "reading the store" : "starting a transaction");
		PQclear(r);
		/* BEGIN may have run before the statement failed. */
		if (begin)
			mcr_pg_rollback(k->conn);
		return rc;
	}
	if (res)
		*res = r;
	else
		PQclear(r);
	return 0;
}

/* This thread's connection for cfg, connected, in the read transaction (the
 * first user begins it), with first (may be NULL) run and its result in *res. */
static int conn_get(const mcr_config *cfg, const char *first, PGresult **res, pg_conn **out)
{
	pthread_once(&conn_once, conn_init);
	if (!conn_key_ok)
		return mcr_error_set(MCR_ERROR, "cannot keep a PostgreSQL connection per thread");
	pg_conn *k = pthread_getspecific(conn_key);
	if (!k) {
		if (!(k = calloc(1, sizeof(*k))))
			return mcr_error_set(MCR_ENOMEM, "out of memory connecting to PostgreSQL");
		if (pthread_setspecific(conn_key, k) != 0) {
			free(k);
			return mcr_error_set(MCR_ERROR, "cannot keep a PostgreSQL connection per thread");
		}
	}
	int rc;
	if (k->users) {
		/* Already in this thread's transaction (another open generation). */
		if (first && (rc = conn_first(k, 0, first, res))) {
			k->failed = 1;
			return rc;
		}
		k->users++;
		*out = k;
		return 0;
	}
	/* A reloaded config may name another database. */
	if (k->conn && (!same_str(k->conninfo, cfg->pg.conninfo) ||
	                !same_str(k->password_file, cfg->pg.password_file) || mcr_pg_lost(k->conn)))
		conn_drop(k);
	for (int attempt = 0;; attempt++) {
		int fresh = !k->conn;
		if (fresh) {
			free(k->conninfo);
			free(k->password_file);
			k->conninfo = cfg->pg.conninfo ? strdup(cfg->pg.conninfo) : NULL;
			k->password_file = cfg->pg.password_file ? strdup(cfg->pg.password_file) : NULL;
			if ((cfg->pg.conninfo && !k->conninfo) ||
			    (cfg->pg.password_file && !k->password_file))
				return mcr_error_set(MCR_ENOMEM, "out of memory connecting to PostgreSQL");
			if ((rc = mcr_pg_connect(&k->conn, cfg, "mcr")))
				return rc;
		}
		k->path[0] = '\0';
		rc = conn_first(k, 1, first, res);
		if (!rc)
			break;
		/* A kept connection the server dropped (restarted meanwhile): connect
		 * again once; nothing has been read yet. */
		if (!mcr_pg_lost(k->conn) || fresh || attempt)
			return rc;
		conn_drop(k);
	}
	k->users = 1;
	k->failed = 0;
	*out = k;
	return 0;
}

/* One user is done; the last ends the transaction (a read-only one: COMMIT and
 * ROLLBACK are the same, but a failed one needs ROLLBACK). */
static void conn_put(pg_conn *k)
{
	if (!k || --k->users > 0)
		return;
	if (k->failed || mcr_pg_commit(k->conn) != 0)
		mcr_pg_rollback(k->conn);
	if (mcr_pg_lost(k->conn))
		conn_drop(k);
	k->path[0] = '\0';
}

/* A failed statement: remember it for conn_put; a lost connection is dropped
 * there, so the next lookup connects again. */
static int conn_failed(pg_conn *k, const PGresult *res, int code, const char *what)
{
	k->failed = 1;
	return mcr_pg_error(k->conn, res, code, what);
}

/* The shared schema is not there yet (no load has run against this database):
 * SQLSTATE 42P01 undefined table, 3F000 undefined schema. */
static int no_shared_schema(void)
{
	const char *state = mcr_pg_sqlstate();
	return strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0;
}

/* ---- generations -------------------------------------------------------------- */

typedef struct pg_gen {
	mcr_store_gen base;
	pg_conn *k;
	long generation;
	char schema[MCR_PG_SCHEMA_NAME_MAX];
	char where[64];
} pg_gen;

static int gen_new(pg_conn *k, long generation, const char *schema, mcr_store_gen **out)
{
	pg_gen *g = calloc(1, sizeof(*g));
	if (!g)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening the store");
	g->base.ops = &mcr_store_pg_reader;
	g->k = k;
	g->generation = generation;
	snprintf(g->schema, sizeof(g->schema), "%s", schema);
	snprintf(g->where, sizeof(g->where), "store PostgreSQL %s", schema);
	*out = &g->base;
	return 0;
}

/* The pointer row, and the transaction's search_path set to the schema it
 * names, in one statement. */
static const char pointer_sql[] =
	"SELECT generation, schema_name, set_config('search_path', coalesce(schema_name, 'mcr'), true) "
	"FROM mcr.published WHERE id = 1";

static int pg_open_current(const mcr_config *cfg, mcr_store_gen **out, long *generation)
{
	pg_conn *k = NULL;
	PGresult *res = NULL;
	long g = 0;
	char schema[MCR_PG_SCHEMA_NAME_MAX] = "";
	*out = NULL;
	int rc = conn_get(cfg, pointer_sql, &res, &k);
	if (rc) {
		if (no_shared_schema())
			rc = mcr_error_set(MCR_ENOTFOUND, "no store generation published in PostgreSQL "
			                   "(no mcr.published)");
		return rc;
	}
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) && !PQgetisnull(res, 0, 1)) {
		g = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		snprintf(schema, sizeof(schema), "%s", PQgetvalue(res, 0, 1));
		snprintf(k->path, sizeof(k->path), "%s", schema);
	} else {
		k->path[0] = '\0';
	}
	PQclear(res);
	if (!g)
		rc = mcr_error_set(MCR_ENOTFOUND, "no store generation published in PostgreSQL "
		                   "(mcr.published is empty)");
	if (!rc)
		rc = gen_new(k, g, schema, out);
	if (rc) {
		conn_put(k);
		return rc;
	}
	if (generation)
		*generation = g;
	return 0;
}

static int pg_open_generation(const mcr_config *cfg, long n, mcr_store_gen **out)
{
	pg_conn *k = NULL;
	PGresult *res = NULL;
	char schema[MCR_PG_SCHEMA_NAME_MAX], sql[128];
	*out = NULL;
	/* The name is ours (mcr_gen_ and digits): safe as a literal. */
	mcr_pg_generation_schema(n, schema);
	snprintf(sql, sizeof(sql), "SELECT 1 FROM pg_namespace WHERE nspname = '%s'", schema);
	int rc = conn_get(cfg, sql, &res, &k);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = mcr_error_set(MCR_ENOTFOUND, "store generation %ld is not kept (no schema %s)", n,
		                   schema);
	PQclear(res);
	if (!rc)
		rc = gen_new(k, n, schema, out);
	if (rc)
		conn_put(k);
	return rc;
}

static void pg_close(mcr_store_gen *base)
{
	pg_gen *g = (pg_gen *)base;
	if (!g)
		return;
	conn_put(g->k);
	free(g);
}

static const char *pg_where(const mcr_store_gen *base)
{
	return ((const pg_gen *)base)->where;
}

/* Hand every row of res to fn. */
static int result_rows(PGresult *res, mcr_store_row_fn fn, void *arg)
{
	const char *v[16];
	size_t len[16];
	int ncols = PQnfields(res), rows = PQntuples(res), rc = 0;
	mcr_store_row row = { v, len, ncols > 16 ? 16 : ncols };
	for (int r = 0; r < rows && !rc; r++) {
		for (int i = 0; i < row.n; i++) {
			int null = PQgetisnull(res, r, i);
			v[i] = null ? NULL : PQgetvalue(res, r, i);
			len[i] = null ? 0 : (size_t)PQgetlength(res, r, i);
		}
		rc = fn(arg, &row);
	}
	return rc;
}

/* The transaction's search_path to g's schema (when another generation of this
 * thread set it to its own). */
static int use_schema(pg_gen *g)
{
	pg_conn *k = g->k;
	if (strcmp(k->path, g->schema) == 0)
		return 0;
	const char *params[] = { g->schema };
	PGresult *res = PQexecParams(k->conn, "SELECT set_config('search_path', $1, true)", 1, NULL,
	                             params, NULL, NULL, 0);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = conn_failed(k, res, MCR_EIO, g->where);
	else
		snprintf(k->path, sizeof(k->path), "%s", g->schema);
	PQclear(res);
	return rc;
}

static int pg_query(mcr_store_gen *base, mcr_store_q q, const char *const *params,
                    mcr_store_row_fn fn, void *arg)
{
	pg_gen *g = (pg_gen *)base;
	pg_conn *k = g->k;
	char name[16], what[160];
	int rc;
	if (q < 0 || q >= MCR_SQ_COUNT)
		return mcr_error_set(MCR_ERROR, "unknown store query %d", (int)q);
	if (k->failed)
		return mcr_error_set(MCR_EIO, "%s: an earlier read failed", g->where);
	snprintf(what, sizeof(what), "%s: cannot read %s", g->where, mcr_store_q_what(q));
	if ((rc = use_schema(g)))
		return rc;
	/* Prepared once per connection; PostgreSQL plans again when the search_path
	 * names another generation. */
	snprintf(name, sizeof(name), "mcr_sq%d", (int)q);
	if (!k->prepared[q]) {
		PGresult *res = PQprepare(k->conn, name, store_sql[q], 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			rc = conn_failed(k, res, MCR_EIO, what);
			PQclear(res);
			return rc;
		}
		PQclear(res);
		k->prepared[q] = 1;
	}
	PGresult *res = PQexecPrepared(k->conn, name, mcr_store_q_nparams(q), params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = conn_failed(k, res, MCR_EIO, what);
	else
		rc = result_rows(res, fn, arg);
	PQclear(res);
	return rc;
}

static int built_at_row(void *arg, const mcr_store_row *row)
{
	time_t *t = arg;
	if (row->v[0] && mcr_time_parse(row->v[0], t) != 0)
		*t = 0;
	return 0;
}

static int pg_status(const mcr_config *cfg, long *generation, long long *age)
{
	mcr_store_gen *g = NULL;
	*age = -1;
	int rc = pg_open_current(cfg, &g, generation);
	if (rc)
		return rc;
	time_t built = 0;
	if (pg_query(g, MCR_SQ_BUILT_AT, NULL, built_at_row, &built) == 0 && built > 0)
		*age = (long long)(time(NULL) - built);
	mcr_error_clear();
	pg_close(g);
	return 0;
}

/* ---- the load history (mcr.load, mcr.load_file, mcr.audit_checkpoint) ---------------- */

typedef struct pg_history {
	mcr_history base;
	pg_conn *k;
} pg_history;

static int pg_history_open(const mcr_config *cfg, mcr_history **out)
{
	pg_conn *k = NULL;
	PGresult *res = NULL;
	*out = NULL;
	int rc = conn_get(cfg, "SELECT 1 FROM mcr.load LIMIT 1", &res, &k);
	if (rc) {
		if (no_shared_schema())
			rc = mcr_error_set(MCR_ENOTFOUND, "no load history in PostgreSQL (no mcr.load)");
		return rc;
	}
	if (PQntuples(res) == 0)
		rc = mcr_error_set(MCR_ENOTFOUND, "no run in PostgreSQL mcr.load");
	PQclear(res);
	pg_history *h = rc ? NULL : calloc(1, sizeof(*h));
	if (!rc && !h)
		rc = mcr_error_set(MCR_ENOMEM, "out of memory opening the load history");
	if (rc) {
		conn_put(k);
		return rc;
	}
	h->base.ops = &mcr_store_pg_reader;
	h->k = k;
	*out = &h->base;
	return 0;
}

static int pg_history_query(mcr_history *base, mcr_history_q q, const char *const *params,
                            mcr_store_row_fn fn, void *arg)
{
	pg_history *h = (pg_history *)base;
	char what[96];
	int rc;
	if (q < 0 || q >= MCR_HQ_COUNT)
		return mcr_error_set(MCR_ERROR, "unknown history query %d", (int)q);
	if (h->k->failed)
		return mcr_error_set(MCR_EIO, "load history: an earlier read failed");
	snprintf(what, sizeof(what), "cannot read %s in PostgreSQL mcr", history_what[q]);
	int nparams = q == MCR_HQ_RUNS || q == MCR_HQ_REJECTED || q == MCR_HQ_GUARD;
	PGresult *res = PQexecParams(h->k->conn, history_sql[q], nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = conn_failed(h->k, res, MCR_EIO, what);
	else
		rc = result_rows(res, fn, arg);
	PQclear(res);
	return rc;
}

static const char *pg_history_where(const mcr_history *base)
{
	(void)base;
	return "PostgreSQL mcr.load";
}

static void pg_history_close(mcr_history *base)
{
	pg_history *h = (pg_history *)base;
	if (!h)
		return;
	conn_put(h->k);
	free(h);
}

const mcr_store_reader_ops mcr_store_pg_reader = {
	.name = "postgresql",
	.open_current = pg_open_current,
	.open_generation = pg_open_generation,
	.query = pg_query,
	.where = pg_where,
	.close = pg_close,
	.status = pg_status,
	.history_open = pg_history_open,
	.history_query = pg_history_query,
	.history_where = pg_history_where,
	.history_close = pg_history_close,
};
