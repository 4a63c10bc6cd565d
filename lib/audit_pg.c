/*
 * The audit log's PostgreSQL backend: tables mcr.audit, mcr.audit_head and
 * mcr.audit_meta (schema/pg/shared.sql) shared by every process and node. An
 * appending transaction locks the head row (SELECT ... FOR UPDATE), so appenders
 * anywhere serialise on the chain head: no forks, no gaps. Commits are
 * synchronous (synchronous_commit on for the transaction): durable, and on the
 * synchronous standby where there is one, before mcr_audit_append returns.
 * A group commit's entries go to the server in one statement. The rules are in
 * lib/audit.c. docs/AUDIT.md.
 */
#include "audit_backend.h"
#include "mcr/error.h"
#include "pg.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROW_COLUMNS "seq, at, \"user\", org, role, nhs, sections, basis, reason, outcome, detail," \
	" generation, prev_hash, hash"
#define NCOLS 14
/* Rows fetched at a time while walking the log. */
#define FETCH_ROWS "1000"

/* "audit log <label>: <what>" as the what of a pg.h call. */
static const char *what_of(const char *label, const char *what, char *buf, size_t n)
{
	snprintf(buf, n, "audit log %s: %s", label, what);
	return buf;
}

static int exec_on(PGconn *conn, const char *label, PGresult **out, const char *what, const char *sql,
                   int nparams, const char *const *params)
{
	char w[256];
	return mcr_pg_exec(conn, out, what_of(label, what, w, sizeof(w)), sql, nparams, params);
}

/* Connect for the audit log of cfg, the shared schema made when its tables are
 * missing (write), or found (read: MCR_ENOTFOUND when there is none). */
static int connect_log(const mcr_config *cfg, int create, PGconn **conn, char label[160])
{
	int rc = mcr_pg_connect(conn, cfg, "mcr-audit");
	if (rc)
		return rc;
	snprintf(label, 160, "mcr.audit (PostgreSQL database %s)", PQdb(*conn));
	PGresult *res = NULL;
	if ((rc = exec_on(*conn, label, &res, "cannot look for the log",
	                  "SELECT to_regclass('mcr.audit') IS NOT NULL AND to_regclass('mcr.audit_head') IS NOT NULL",
	                  0, NULL)))
		return rc;
	int there = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	/* The schema's DDL only where it is missing: run while others append, it
	 * would take locks against their inserts (and could deadlock with them). */
	if (!there && create)
		return mcr_pg_schema_shared(*conn);
	return there ? 0 : mcr_error_set(MCR_ENOTFOUND, "no audit log at %s", label);
}

/* The head record from res (a SELECT last_seq, last_hash), which it clears. */
static void head_from(PGresult *res, int *have, long *seq, char hash[65])
{
	*have = 0;
	*seq = 0;
	hash[0] = '\0';
	if (PQntuples(res) == 1) {
		*have = 1;
		*seq = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		if (PQgetlength(res, 0, 1) == 64)
			memcpy(hash, PQgetvalue(res, 0, 1), 65);
	}
	PQclear(res);
}

static int head_of(PGconn *conn, const char *label, const char *sql, int *have, long *seq, char hash[65])
{
	PGresult *res = NULL;
	int rc = exec_on(conn, label, &res, "cannot read the head record", sql, 0, NULL);
	if (!rc)
		head_from(res, have, seq, hash);
	return rc;
}

static int count_of(PGconn *conn, const char *label, long *n)
{
	PGresult *res = NULL;
	int rc = exec_on(conn, label, &res, "cannot count entries", "SELECT count(*) FROM mcr.audit", 0, NULL);
	if (!rc) {
		*n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	return rc;
}

static int v2_from_of(PGconn *conn, const char *label, long *from)
{
	PGresult *res = NULL;
	*from = LONG_MAX;
	int rc = exec_on(conn, label, &res, "cannot read the chain scheme",
	                 "SELECT value FROM mcr.audit_meta WHERE key = 'chain_v2_from'", 0, NULL);
	if (!rc) {
		if (PQntuples(res) == 1)
			*from = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	return rc;
}

/* ---- the writer ------------------------------------------------------------------- */

/* An entry inserted in the transaction, sent with the head at set_head. */
typedef struct pending {
	const mcr_audit_entry *e;
	char seq[24], generation[24], prev[65];
} pending;

typedef struct pg_writer {
	audit_writer base;
	const mcr_config *cfg;
	PGconn *conn;
	pending *rows;
	size_t nrows, cap;
	mcr_buf sql; /* the batch's statement */
	int begun;   /* begin was called; BEGIN goes to the server with the head's read */
} pg_writer;

/* BEGIN with SET LOCAL: durable commits whatever the server's or role's default,
 * also through a pooler that hands the connection on between transactions. */
#define BEGIN_SQL "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit = on"
#define HEAD_FOR_UPDATE "SELECT last_seq, last_hash FROM mcr.audit_head WHERE id = 1 FOR UPDATE"

static int w_begin(audit_writer *w)
{
	pg_writer *p = (pg_writer *)w;
	p->nrows = 0;
	/* A connection lost (server restarted, network) fails that commit; the next
	 * one connects again. */
	if (mcr_pg_lost(p->conn)) {
		mcr_pg_close(p->conn);
		p->conn = NULL;
		int rc = mcr_pg_connect(&p->conn, p->cfg, "mcr-audit");
		if (rc)
			return rc;
	}
	p->begun = 1;
	return 0;
}

/* The transaction started, if the head's read has not started it. */
static int begin_now(pg_writer *p)
{
	char what[256];
	if (!p->begun)
		return 0;
	p->begun = 0;
	return mcr_pg_exec_script(p->conn, what_of(p->base.label, "cannot begin an append", what, sizeof(what)),
	                          BEGIN_SQL);
}

/* The head row locked until the commit: every other appender waits here and then
 * reads the head this transaction leaves (READ COMMITTED re-reads a locked row).
 * Sent with the BEGIN as one simple query: one round trip. */
static int w_head(audit_writer *w, int *have, long *seq, char hash[65])
{
	pg_writer *p = (pg_writer *)w;
	if (!p->begun)
		return head_of(p->conn, w->label, HEAD_FOR_UPDATE, have, seq, hash);
	p->begun = 0;
	PGresult *res = PQexec(p->conn, BEGIN_SQL "; " HEAD_FOR_UPDATE);
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		char what[256];
		int rc = mcr_pg_error(p->conn, res, MCR_EIO, what_of(w->label, "cannot read the head record", what,
		                                                     sizeof(what)));
		PQclear(res);
		return rc;
	}
	head_from(res, have, seq, hash);
	return 0;
}

static int w_count(audit_writer *w, long *n)
{
	pg_writer *p = (pg_writer *)w;
	int rc = begin_now(p);
	return rc ? rc : count_of(p->conn, w->label, n);
}

static int w_v2_from(audit_writer *w, long *from)
{
	pg_writer *p = (pg_writer *)w;
	int rc = begin_now(p);
	return rc ? rc : v2_from_of(p->conn, w->label, from);
}

static int w_set_v2_from(audit_writer *w, long from)
{
	pg_writer *p = (pg_writer *)w;
	char v[24];
	snprintf(v, sizeof(v), "%ld", from);
	const char *params[] = { v };
	int rc = begin_now(p);
	return rc ? rc : exec_on(p->conn, w->label, NULL, "cannot record the chain scheme",
	               "INSERT INTO mcr.audit_meta (key, value) VALUES ('chain_v2_from', $1)", 1, params);
}

/* Kept until set_head, which sends every entry of the transaction at once. */
static int w_insert(audit_writer *w, const mcr_audit_entry *e, const char *prev)
{
	pg_writer *p = (pg_writer *)w;
	if (p->nrows == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		pending *v = realloc(p->rows, cap * sizeof(*v));
		if (!v)
			return mcr_error_set(MCR_ENOMEM, "out of memory appending to the audit log");
		p->rows = v;
		p->cap = cap;
	}
	pending *r = &p->rows[p->nrows++];
	r->e = e;
	snprintf(r->seq, sizeof(r->seq), "%ld", e->seq);
	snprintf(r->generation, sizeof(r->generation), "%ld", e->generation);
	snprintf(r->prev, sizeof(r->prev), "%s", prev);
	return 0;
}

/* One statement: the entries inserted and the head moved (a data-modifying WITH),
 * so a group commit costs the same round trips whatever its size. */
static int w_set_head(audit_writer *w, long seq, const char *hash)
{
	pg_writer *p = (pg_writer *)w;
	size_t nparams = 2 + NCOLS * p->nrows;
	const char **params = calloc(nparams, sizeof(*params));
	char last[24];
	int rc = 0;
	if (!params)
		return mcr_error_set(MCR_ENOMEM, "out of memory appending to the audit log");
	snprintf(last, sizeof(last), "%ld", seq);
	if ((rc = begin_now(p))) {
		free(params);
		return rc;
	}
	params[0] = last;
	params[1] = hash;
	p->sql.len = 0;
	if (p->nrows)
		rc = mcr_buf_puts(&p->sql, "WITH entries AS (INSERT INTO mcr.audit (" ROW_COLUMNS ") VALUES ");
	for (size_t i = 0; !rc && i < p->nrows; i++) {
		const pending *r = &p->rows[i];
		const mcr_audit_entry *e = r->e;
		const char *v[NCOLS] = { r->seq, e->at, e->user, e->org, e->role, e->nhs, e->sections, e->basis,
		                         e->reason, e->outcome, e->detail, e->generation ? r->generation : NULL,
		                         r->prev, e->hash };
		size_t base = 2 + NCOLS * i;
		memcpy(&params[base], v, sizeof(v));
		rc = mcr_buf_printf(&p->sql, "%s($%zu", i ? ", " : "", base + 1);
		for (size_t c = 1; !rc && c < NCOLS; c++)
			rc = mcr_buf_printf(&p->sql, ", $%zu%s", base + 1 + c,
			                    c == AUDIT_COL_GENERATION ? "::bigint" : "");
		if (!rc)
			rc = mcr_buf_puts(&p->sql, ")");
	}
	if (!rc && p->nrows)
		rc = mcr_buf_puts(&p->sql, ") ");
	if (!rc)
		rc = mcr_buf_puts(&p->sql, "INSERT INTO mcr.audit_head (id, last_seq, last_hash) VALUES (1, $1, $2)"
		                           " ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq,"
		                           " last_hash = excluded.last_hash");
	if (!rc)
		rc = exec_on(p->conn, w->label, NULL, "cannot append entries", p->sql.ptr, (int)nparams, params);
	free(params);
	p->nrows = 0;
	return rc;
}

static int w_commit(audit_writer *w)
{
	pg_writer *p = (pg_writer *)w;
	int rc = begin_now(p);
	return rc ? rc : mcr_pg_commit(p->conn);
}

static void w_rollback(audit_writer *w)
{
	pg_writer *p = (pg_writer *)w;
	p->nrows = 0;
	p->begun = 0;
	mcr_pg_rollback(p->conn);
}

static void w_close(audit_writer *w)
{
	pg_writer *p = (pg_writer *)w;
	if (!p)
		return;
	mcr_pg_close(p->conn);
	mcr_buf_free(&p->sql);
	free(p->rows);
	free(p);
}

static const audit_writer_ops pg_writer_ops = {
	w_begin, w_head, w_count, w_v2_from, w_set_v2_from, w_insert, w_set_head, w_commit, w_rollback, w_close,
};

int audit_pg_writer_open(const mcr_config *cfg, audit_writer **out)
{
	*out = NULL;
	pg_writer *p = calloc(1, sizeof(*p));
	if (!p)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening the audit log");
	p->base.ops = &pg_writer_ops;
	p->cfg = cfg;
	int rc = connect_log(cfg, 1, &p->conn, p->base.label);
	if (rc) {
		w_close(&p->base);
		return rc;
	}
	*out = &p->base;
	return 0;
}

/* ---- the reader ------------------------------------------------------------------- */

typedef struct pg_reader {
	audit_reader base;
	PGconn *conn;
	PGresult *chunk; /* rows of the walk fetched and not yet taken */
	int next, scanning;
} pg_reader;

static int r_head(audit_reader *r, int *have, long *seq, char hash[65])
{
	pg_reader *p = (pg_reader *)r;
	return head_of(p->conn, r->label, "SELECT last_seq, last_hash FROM mcr.audit_head WHERE id = 1", have, seq,
	               hash);
}

static int r_count(audit_reader *r, long *n)
{
	pg_reader *p = (pg_reader *)r;
	return count_of(p->conn, r->label, n);
}

static int r_v2_from(audit_reader *r, long *from)
{
	pg_reader *p = (pg_reader *)r;
	return v2_from_of(p->conn, r->label, from);
}

/* Row i of res into row: the columns' types are fixed by the table (seq and
 * generation bigint, the rest text), so the encoding is what SQLite's would be. */
static int load_row(const PGresult *res, int i, audit_row *row)
{
	audit_row_clear(row);
	int rc = 0;
	for (int c = 0; !rc && c < NCOLS; c++) {
		if (PQgetisnull(res, i, c))
			rc = audit_row_put(row, c, 'N', NULL, 0);
		else
			rc = audit_row_put(row, c, c == AUDIT_COL_SEQ || c == AUDIT_COL_GENERATION ? 'I' : 'T',
			                   PQgetvalue(res, i, c), (size_t)PQgetlength(res, i, c));
	}
	return rc;
}

static int r_scan_start(audit_reader *r, long after)
{
	pg_reader *p = (pg_reader *)r;
	char a[24];
	snprintf(a, sizeof(a), "%ld", after);
	const char *params[] = { a };
	PQclear(p->chunk);
	p->chunk = NULL;
	if (p->scanning &&
	    exec_on(p->conn, r->label, NULL, "cannot read entries", "CLOSE audit_walk", 0, NULL))
		return MCR_EIO;
	p->scanning = 0;
	int rc = exec_on(p->conn, r->label, NULL, "cannot read entries",
	                 "DECLARE audit_walk NO SCROLL CURSOR FOR SELECT " ROW_COLUMNS
	                 " FROM mcr.audit WHERE seq > $1 ORDER BY seq", 1, params);
	p->scanning = !rc;
	return rc;
}

static int r_scan_next(audit_reader *r, audit_row *row)
{
	pg_reader *p = (pg_reader *)r;
	if (!p->chunk || p->next >= PQntuples(p->chunk)) {
		PQclear(p->chunk);
		p->chunk = NULL;
		p->next = 0;
		int rc = exec_on(p->conn, r->label, &p->chunk, "cannot read entries",
		                 "FETCH " FETCH_ROWS " FROM audit_walk", 0, NULL);
		if (rc)
			return rc;
		if (PQntuples(p->chunk) == 0)
			return 0;
	}
	int rc = load_row(p->chunk, p->next++, row);
	return rc ? rc : 1;
}

static int r_after(audit_reader *r, long seq, audit_row *row)
{
	pg_reader *p = (pg_reader *)r;
	PGresult *res = NULL;
	char s[24];
	snprintf(s, sizeof(s), "%ld", seq);
	const char *params[] = { s };
	int rc = exec_on(p->conn, r->label, &res, "cannot read entries",
	                 "SELECT " ROW_COLUMNS " FROM mcr.audit WHERE seq > $1 ORDER BY seq LIMIT 1", 1, params);
	if (rc)
		return rc;
	if (PQntuples(res) == 1)
		rc = load_row(res, 0, row) ? MCR_ENOMEM : 1;
	PQclear(res);
	return rc;
}

static int r_query(audit_reader *r, const mcr_audit_query *q, mcr_audit_entry_fn fn, void *ctx)
{
	pg_reader *p = (pg_reader *)r;
	mcr_buf sql = MCR_BUF_INIT;
	PGresult *res = NULL;
	const char **params = calloc(3 + q->nusers, sizeof(*params));
	int rc = params ? 0 : mcr_error_set(MCR_ENOMEM, "out of memory reading the audit log");
	if (!rc)
		rc = mcr_buf_puts(&sql, "SELECT seq, at, \"user\", org, role, nhs, sections, basis, reason, outcome,"
		                        " detail, generation FROM mcr.audit WHERE at >= $2 AND at < $3"
		                        " AND ($1::text IS NULL OR nhs = $1)");
	if (!rc && q->break_glass)
		rc = mcr_buf_puts(&sql, " AND (basis = 'break-glass' OR outcome = 'self-access')");
	if (!rc && q->nusers) {
		rc = mcr_buf_puts(&sql, " AND \"user\" IN (");
		for (size_t i = 0; !rc && i < q->nusers; i++)
			rc = mcr_buf_printf(&sql, "%s$%zu", i ? ", " : "", i + 4);
		if (!rc)
			rc = mcr_buf_puts(&sql, ")");
	}
	if (!rc)
		rc = mcr_buf_puts(&sql, " ORDER BY at, seq");
	if (rc)
		goto out;
	params[0] = q->nhs;
	params[1] = q->from;
	params[2] = q->to;
	for (size_t i = 0; i < q->nusers; i++)
		params[3 + i] = q->users[i];
	if ((rc = exec_on(p->conn, r->label, &res, "cannot read entries", sql.ptr, (int)(3 + q->nusers), params)))
		goto out;
	for (int i = 0; !rc && i < PQntuples(res); i++) {
		mcr_audit_entry e;
		const char *v[12];
		memset(&e, 0, sizeof(e));
		for (int c = 0; c < 12; c++)
			v[c] = PQgetisnull(res, i, c) ? NULL : PQgetvalue(res, i, c);
		e.seq = strtol(v[0], NULL, 10);
		snprintf(e.at, sizeof(e.at), "%s", v[1]);
		e.user = v[2], e.org = v[3], e.role = v[4], e.nhs = v[5], e.sections = v[6];
		e.basis = v[7], e.reason = v[8], e.outcome = v[9], e.detail = v[10];
		e.generation = v[11] ? strtol(v[11], NULL, 10) : 0;
		rc = fn(ctx, &e);
	}
out:
	PQclear(res);
	free(params);
	mcr_buf_free(&sql);
	return rc;
}

static void r_close(audit_reader *r)
{
	pg_reader *p = (pg_reader *)r;
	if (!p)
		return;
	PQclear(p->chunk);
	mcr_pg_rollback(p->conn); /* read only: nothing to keep */
	mcr_pg_close(p->conn);
	free(p);
}

static const audit_reader_ops pg_reader_ops = {
	r_head, r_count, r_v2_from, r_scan_start, r_scan_next, r_after, r_query, r_close,
};

int audit_pg_reader_open(const mcr_config *cfg, audit_reader **out)
{
	*out = NULL;
	pg_reader *p = calloc(1, sizeof(*p));
	if (!p)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening the audit log");
	p->base.ops = &pg_reader_ops;
	/* One snapshot for everything read: appends committed meanwhile are not seen. */
	int rc = connect_log(cfg, 0, &p->conn, p->base.label);
	if (!rc)
		rc = mcr_pg_begin(p->conn, MCR_PG_REPEATABLE_READ, 1);
	if (rc) {
		r_close(&p->base);
		return rc;
	}
	*out = &p->base;
	return 0;
}

/* The last probe's answer, reused within the same second: /healthz may be polled
 * hard, and each probe is a connection. */
static pthread_mutex_t probe_mu = PTHREAD_MUTEX_INITIALIZER;
static time_t probe_at;
static int probe_rc;
static char probe_msg[512];

static int probe(const mcr_config *cfg)
{
	PGconn *conn = NULL;
	PGresult *res = NULL;
	char label[160];
	int rc = connect_log(cfg, 0, &conn, label);
	if (!rc)
		rc = exec_on(conn, label, &res, "cannot check the log",
		             "SELECT has_table_privilege('mcr.audit', 'INSERT')", 0, NULL);
	if (!rc && strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		rc = mcr_error_set(MCR_EIO, "audit log %s: no INSERT privilege", label);
	PQclear(res);
	mcr_pg_close(conn);
	return rc;
}

int audit_pg_probe(const mcr_config *cfg)
{
	time_t now = time(NULL);
	pthread_mutex_lock(&probe_mu);
	int cached = probe_at == now, rc = probe_rc;
	char msg[sizeof(probe_msg)];
	memcpy(msg, probe_msg, sizeof(msg));
	pthread_mutex_unlock(&probe_mu);
	if (cached)
		return rc ? mcr_error_set(rc, "%s", msg) : 0;
	rc = probe(cfg);
	pthread_mutex_lock(&probe_mu);
	probe_at = now;
	probe_rc = rc;
	snprintf(probe_msg, sizeof(probe_msg), "%s", rc ? mcr_error_message() : "");
	pthread_mutex_unlock(&probe_mu);
	return rc;
}
