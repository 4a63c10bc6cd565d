/*
 * The launch token store in PostgreSQL: table mcr.jti (schema/pg/shared.sql),
 * one row per (iss, jti) until it expires, shared by every mcr-serve node, so a
 * token used on one node is refused on all. The claim is one statement
 * (INSERT ... ON CONFLICT DO NOTHING, expired rows purged on the way) in a
 * transaction committed synchronously before the session starts. lib/jti_backend.h.
 */
#include "jti_backend.h"
#include "mcr/error.h"
#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jti_pg {
	jti_backend base;
	const mcr_config *cfg;
	PGconn *conn;
} jti_pg;

static void p_close(jti_backend *b)
{
	jti_pg *p = (jti_pg *)b;
	if (!p)
		return;
	mcr_pg_close(p->conn);
	free(p);
}

static int p_connect(jti_pg *p)
{
	return mcr_pg_connect(&p->conn, p->cfg, "mcr-serve-jti");
}

static int p_claim(jti_backend *b, const char *iss, const char *jti, long long expires, long long now)
{
	jti_pg *p = (jti_pg *)b;
	char exp[24], at[24];
	PGresult *res = NULL;
	/* A connection lost (server restarted) refuses that launch; the next connects again. */
	if (mcr_pg_lost(p->conn)) {
		mcr_pg_close(p->conn);
		p->conn = NULL;
		int rc = p_connect(p);
		if (rc)
			return rc;
	}
	snprintf(exp, sizeof(exp), "%lld", expires);
	snprintf(at, sizeof(at), "%lld", now);
	const char *params[] = { iss, jti, exp, at };
	/* Durable before the session starts (SET LOCAL: also through a transaction
	 * pooler). A token that reaches the claim has not expired, so its own row (if
	 * any) is never among those purged. Two nodes claiming at once: the second
	 * waits for the first's commit and then inserts nothing. */
	int rc = mcr_pg_exec_script(p->conn, "launch store mcr.jti",
	                            "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit = on");
	if (rc) {
		mcr_pg_rollback(p->conn);
		return rc;
	}
	if ((rc = mcr_pg_exec(p->conn, &res, "launch store mcr.jti",
	                      "WITH purged AS (DELETE FROM mcr.jti WHERE expires < $4::bigint)"
	                      " INSERT INTO mcr.jti (iss, jti, expires) VALUES ($1, $2, $3::bigint)"
	                      " ON CONFLICT (iss, jti) DO NOTHING", 4, params))) {
		mcr_pg_rollback(p->conn);
		return rc;
	}
	int inserted = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	if ((rc = mcr_pg_commit(p->conn))) {
		mcr_pg_rollback(p->conn);
		return rc;
	}
	return inserted ? 0 : mcr_error_set(MCR_EDENIED, "launch token already used");
}

static const jti_backend_ops pg_ops = { p_claim, p_close };

int jti_pg_open(const mcr_config *cfg, jti_backend **out)
{
	*out = NULL;
	jti_pg *p = calloc(1, sizeof(*p));
	if (!p)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening the launch store");
	p->base.ops = &pg_ops;
	p->cfg = cfg;
	int rc = p_connect(p);
	PGresult *res = NULL;
	/* The schema's DDL only where the table is missing: never against claims. */
	if (!rc && !(rc = mcr_pg_exec(p->conn, &res, "launch store mcr.jti",
	                              "SELECT to_regclass('mcr.jti') IS NOT NULL", 0, NULL))) {
		int there = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (!there)
			rc = mcr_pg_schema_shared(p->conn);
	}
	if (rc) {
		p_close(&p->base);
		return rc;
	}
	*out = &p->base;
	return 0;
}
