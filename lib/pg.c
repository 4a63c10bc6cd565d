/* PostgreSQL through libpq (lib/pg.h): connection, errors, statements,
 * transactions, COPY and the DDL of schema/pg/. */
#include "pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcr/error.h"
#include "mcr/schema.h"

/* Bytes of escaped rows gathered before one PQputCopyData. */
#define COPY_CHUNK (256 * 1024)
/* A password file longer than this is not a password file. */
#define PASSWORD_MAX 1024
/* Seconds libpq waits for a connection before giving up (the conninfo may say otherwise). */
#define CONNECT_TIMEOUT "10"
/* pg_advisory_xact_lock key serialising mcr_pg_schema_shared across nodes ("mcr\0schm"). */
#define SCHEMA_LOCK_KEY "7885906935484475757"

static _Thread_local char last_sqlstate[6];

const char *mcr_pg_sqlstate(void)
{
	return last_sqlstate;
}

/* libpq's message as one line: newlines and tabs become spaces, runs of spaces
 * one space, trailing space dropped. */
static void one_line(char *dst, size_t n, const char *src)
{
	size_t o = 0;
	int space = 1; /* drop leading whitespace */
	for (const char *p = src ? src : ""; *p && o + 1 < n; p++) {
		int ws = *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t';
		if (ws) {
			if (!space)
				dst[o++] = ' ';
			space = 1;
		} else {
			dst[o++] = *p;
			space = 0;
		}
	}
	while (o > 0 && dst[o - 1] == ' ')
		o--;
	dst[o] = '\0';
}

/* Replace every occurrence of secret in s (in place) with "***": libpq does not
 * put the password in its messages, and this keeps it so whatever it says. */
static void redact(char *s, const char *secret)
{
	size_t sl = secret ? strlen(secret) : 0;
	if (!sl)
		return;
	char *p;
	while ((p = strstr(s, secret))) {
		size_t rest = strlen(p + sl);
		size_t stars = sl < 3 ? sl : 3;
		memcpy(p, "***", stars);
		memmove(p + stars, p + sl, rest + 1);
	}
}

static int error_with(PGconn *conn, const PGresult *res, int code, const char *what,
                      const char *secret)
{
	char msg[768];
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(last_sqlstate, sizeof(last_sqlstate), "%s", state ? state : "");
	const char *text = res ? PQresultErrorMessage(res) : NULL;
	if (!text || !*text)
		text = conn ? PQerrorMessage(conn) : "out of memory";
	one_line(msg, sizeof(msg), text && *text ? text : "unknown failure");
	redact(msg, secret);
	if (!code)
		code = MCR_EIO;
	return mcr_error_set(code, "%s: %s", what, msg);
}

int mcr_pg_error(PGconn *conn, const PGresult *res, int code, const char *what)
{
	return error_with(conn, res, code, what, NULL);
}

/* The first line of the password file into buf (n bytes), without its newline. */
static int read_password_file(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return mcr_error_set_errno(MCR_ECONFIG, "cannot read postgresql.password_file %s", path);
	size_t len = fread(buf, 1, n - 1, f);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		explicit_bzero(buf, n);
		return mcr_error_set(MCR_ECONFIG, "cannot read postgresql.password_file %s", path);
	}
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0])
		return mcr_error_set(MCR_ECONFIG, "postgresql.password_file %s is empty", path);
	if (len == n - 1 && strlen(buf) == len) {
		explicit_bzero(buf, n);
		return mcr_error_set(MCR_ECONFIG, "postgresql.password_file %s is too long for a password",
		                     path);
	}
	return 0;
}

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int mcr_pg_connect_with(PGconn **out, const char *conninfo, const char *password_file,
                        const char *application_name)
{
	*out = NULL;
	if (!conninfo || !*conninfo)
		return mcr_error_set(MCR_ECONFIG, "no postgresql.conninfo in the configuration");
	char password[PASSWORD_MAX];
	const char *from = NULL;
	password[0] = '\0';
	if (password_file) {
		int rc = read_password_file(password_file, password, sizeof(password));
		if (rc)
			return rc;
		from = " (password from postgresql.password_file)";
	} else {
		const char *env = getenv(MCR_PG_PASSWORD_ENV);
		if (env && *env) {
			snprintf(password, sizeof(password), "%s", env);
			from = " (password from " MCR_PG_PASSWORD_ENV ")";
		}
	}
	/* Keywords before dbname are defaults the conninfo may override; those after
	 * it override the conninfo (libpq's expand_dbname rule). */
	const char *keys[6], *vals[6];
	int k = 0;
	keys[k] = "connect_timeout", vals[k++] = CONNECT_TIMEOUT;
	keys[k] = "fallback_application_name", vals[k++] = application_name ? application_name : "mcr";
	keys[k] = "dbname", vals[k++] = conninfo;
	keys[k] = "client_encoding", vals[k++] = "UTF8";
	if (password[0])
		keys[k] = "password", vals[k++] = password;
	keys[k] = NULL, vals[k] = NULL;
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	int rc = 0;
	if (!conn)
		rc = mcr_error_set(MCR_ENOMEM, "cannot connect to PostgreSQL: out of memory");
	else if (PQstatus(conn) != CONNECTION_OK) {
		char what[128];
		snprintf(what, sizeof(what), "cannot connect to PostgreSQL%s", from ? from : "");
		rc = error_with(conn, NULL, MCR_EIO, what, password);
		PQfinish(conn);
		conn = NULL;
	} else {
		/* The library never prints: the server's NOTICEs ("relation ... already
		 * exists, skipping") would go to stderr by libpq's default. */
		PQsetNoticeProcessor(conn, ignore_notice, NULL);
	}
	explicit_bzero(password, sizeof(password));
	*out = conn;
	return rc;
}

int mcr_pg_connect(PGconn **out, const mcr_config *cfg, const char *application_name)
{
	return mcr_pg_connect_with(out, cfg->pg.conninfo, cfg->pg.password_file, application_name);
}

void mcr_pg_close(PGconn *conn)
{
	if (conn)
		PQfinish(conn);
}

int mcr_pg_lost(const PGconn *conn)
{
	return !conn || PQstatus(conn) == CONNECTION_BAD;
}

/* res's status is a success: clear it or hand it over. Else record the failure. */
static int result(PGconn *conn, PGresult *res, PGresult **out, const char *what)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		int rc = mcr_pg_error(conn, res, MCR_EIO, what);
		PQclear(res);
		return rc;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

int mcr_pg_exec(PGconn *conn, PGresult **out, const char *what, const char *sql, int nparams,
                const char *const *params)
{
	if (out)
		*out = NULL;
	PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	return result(conn, res, out, what);
}

int mcr_pg_exec_script(PGconn *conn, const char *what, const char *sql)
{
	/* PQexec returns the last statement's result; a failure stops the script there. */
	return result(conn, PQexec(conn, sql), NULL, what);
}

int mcr_pg_begin(PGconn *conn, mcr_pg_isolation iso, int read_only)
{
	static const char *const levels[] = {
		[MCR_PG_READ_COMMITTED] = "READ COMMITTED",
		[MCR_PG_REPEATABLE_READ] = "REPEATABLE READ",
		[MCR_PG_SERIALIZABLE] = "SERIALIZABLE",
	};
	char sql[96];
	snprintf(sql, sizeof(sql), "BEGIN ISOLATION LEVEL %s%s", levels[iso],
	         read_only ? " READ ONLY" : "");
	return mcr_pg_exec(conn, NULL, "starting a transaction", sql, 0, NULL);
}

int mcr_pg_commit(PGconn *conn)
{
	PGresult *res = PQexec(conn, "COMMIT");
	if (res && PQresultStatus(res) == PGRES_COMMAND_OK &&
	    strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
		PQclear(res);
		snprintf(last_sqlstate, sizeof(last_sqlstate), "25P02");
		return mcr_error_set(MCR_EIO, "committing a transaction: the transaction had failed and was rolled back");
	}
	return result(conn, res, NULL, "committing a transaction");
}

void mcr_pg_rollback(PGconn *conn)
{
	if (!conn || PQtransactionStatus(conn) == PQTRANS_IDLE ||
	    PQtransactionStatus(conn) == PQTRANS_UNKNOWN)
		return;
	PQclear(PQexec(conn, "ROLLBACK"));
}

int mcr_pg_transaction(PGconn *conn, mcr_pg_isolation iso, int read_only,
                       int (*fn)(PGconn *conn, void *arg), void *arg)
{
	int rc = mcr_pg_begin(conn, iso, read_only);
	if (rc)
		return rc;
	if ((rc = fn(conn, arg)) || (rc = mcr_pg_commit(conn)))
		mcr_pg_rollback(conn);
	return rc;
}

int mcr_pg_synchronous_commit(PGconn *conn, int on)
{
	const char *params[] = {on ? "on" : "off",
	                        PQtransactionStatus(conn) == PQTRANS_INTRANS ? "true" : "false"};
	return mcr_pg_exec(conn, NULL, "setting synchronous_commit",
	                   "SELECT set_config('synchronous_commit', $1, $2::boolean)", 2, params);
}

int mcr_pg_copy_escape(mcr_buf *b, const char *s, size_t n)
{
	if (!s)
		return mcr_buf_put(b, "\\N", 2);
	int rc = mcr_buf_grow(b, n);
	size_t start = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const char *esc;
		switch (s[i]) {
		case '\\': esc = "\\\\"; break;
		case '\t': esc = "\\t"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		default: continue;
		}
		if (!(rc = mcr_buf_put(b, s + start, i - start)))
			rc = mcr_buf_put(b, esc, 2);
		start = i + 1;
	}
	if (!rc)
		rc = mcr_buf_put(b, s + start, n - start);
	return rc;
}

int mcr_pg_copy_begin(mcr_pg_copy *cp, PGconn *conn, const char *sql)
{
	memset(cp, 0, sizeof(*cp));
	cp->conn = conn;
	PGresult *res = PQexec(conn, sql);
	if (!res || PQresultStatus(res) != PGRES_COPY_IN) {
		int rc = mcr_pg_error(conn, res, MCR_EIO, "starting a COPY");
		PQclear(res);
		return rc;
	}
	PQclear(res);
	cp->active = 1;
	return 0;
}

/* Send the gathered rows. */
static int copy_flush(mcr_pg_copy *cp)
{
	if (!cp->buf.len)
		return 0;
	if (PQputCopyData(cp->conn, cp->buf.ptr, (int)cp->buf.len) != 1) {
		int rc = mcr_pg_error(cp->conn, NULL, MCR_EIO, "sending COPY data");
		mcr_pg_copy_abort(cp);
		return rc;
	}
	mcr_buf_reset(&cp->buf);
	return 0;
}

/* The separator before a field, then its escaped text. */
static int copy_field(mcr_pg_copy *cp, const char *s, size_t n)
{
	if (!cp->active)
		return mcr_error_set(MCR_ERROR, "COPY field written with no COPY in progress");
	int rc = 0;
	if (cp->fields++)
		rc = mcr_buf_putc(&cp->buf, '\t');
	if (!rc)
		rc = mcr_pg_copy_escape(&cp->buf, s, n);
	if (rc) {
		mcr_pg_copy_abort(cp);
		return mcr_error_set(MCR_ENOMEM, "out of memory gathering COPY data");
	}
	return 0;
}

int mcr_pg_copy_text(mcr_pg_copy *cp, const char *s)
{
	return copy_field(cp, s, s ? strlen(s) : 0);
}

int mcr_pg_copy_textn(mcr_pg_copy *cp, const char *s, size_t n)
{
	return copy_field(cp, s ? s : "", n);
}

int mcr_pg_copy_int(mcr_pg_copy *cp, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", v);
	return copy_field(cp, num, (size_t)n);
}

int mcr_pg_copy_row(mcr_pg_copy *cp)
{
	if (!cp->active)
		return mcr_error_set(MCR_ERROR, "COPY row ended with no COPY in progress");
	if (mcr_buf_putc(&cp->buf, '\n')) {
		mcr_pg_copy_abort(cp);
		return mcr_error_set(MCR_ENOMEM, "out of memory gathering COPY data");
	}
	cp->fields = 0;
	cp->rows++;
	return cp->buf.len >= COPY_CHUNK ? copy_flush(cp) : 0;
}

int mcr_pg_copy_end(mcr_pg_copy *cp, long long *rows)
{
	if (!cp->active)
		return mcr_error_set(MCR_ERROR, "COPY ended with no COPY in progress");
	int rc = copy_flush(cp);
	if (rc)
		return rc;
	cp->active = 0;
	mcr_buf_free(&cp->buf);
	if (PQputCopyEnd(cp->conn, NULL) != 1)
		return mcr_pg_error(cp->conn, NULL, MCR_EIO, "finishing a COPY");
	PGresult *res = PQgetResult(cp->conn);
	if (res && PQresultStatus(res) == PGRES_COMMAND_OK && rows)
		*rows = strtoll(PQcmdTuples(res), NULL, 10);
	rc = result(cp->conn, res, NULL, "storing COPY data");
	/* Drain to the end of the command so the connection is ready for the next. */
	while ((res = PQgetResult(cp->conn)))
		PQclear(res);
	return rc;
}

void mcr_pg_copy_abort(mcr_pg_copy *cp)
{
	if (!cp)
		return;
	mcr_buf_free(&cp->buf);
	if (!cp->active)
		return;
	cp->active = 0;
	PGresult *res;
	if (PQputCopyEnd(cp->conn, "abandoned by the client") == 1)
		while ((res = PQgetResult(cp->conn)))
			PQclear(res);
}

/* Run one of schema/pg/'s generation scripts inside the generation's schema. */
static int generation_run(PGconn *conn, long long generation, const char *script,
                          const char *what, int create)
{
	char schema[MCR_PG_SCHEMA_NAME_MAX], msg[160];
	mcr_pg_generation_schema(generation, schema);
	snprintf(msg, sizeof(msg), "%s %s", what, schema);
	int own = PQtransactionStatus(conn) == PQTRANS_IDLE;
	PGresult *saved = NULL;
	int rc = own ? mcr_pg_begin(conn, MCR_PG_READ_COMMITTED, 0) : 0;
	if (!rc && create) {
		char sql[96];
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
		rc = mcr_pg_exec(conn, NULL, msg, sql, 0, NULL);
	}
	const char *params[] = {schema};
	if (!rc)
		rc = mcr_pg_exec(conn, &saved, msg, "SELECT current_setting('search_path')", 0, NULL);
	if (!rc)
		rc = mcr_pg_exec(conn, NULL, msg, "SELECT set_config('search_path', $1, true)", 1, params);
	if (!rc)
		rc = mcr_pg_exec_script(conn, msg, script);
	if (!rc) {
		params[0] = PQgetvalue(saved, 0, 0);
		rc = mcr_pg_exec(conn, NULL, msg, "SELECT set_config('search_path', $1, true)", 1, params);
	}
	PQclear(saved);
	if (own && (rc || (rc = mcr_pg_commit(conn))))
		mcr_pg_rollback(conn);
	return rc;
}

void mcr_pg_generation_schema(long long generation, char out[MCR_PG_SCHEMA_NAME_MAX])
{
	snprintf(out, MCR_PG_SCHEMA_NAME_MAX, "mcr_gen_%06lld", generation);
}

int mcr_pg_generation_create(PGconn *conn, long long generation)
{
	return generation_run(conn, generation, mcr_schema_pg_store_sql, "creating the generation schema", 1);
}

int mcr_pg_generation_index(PGconn *conn, long long generation)
{
	return generation_run(conn, generation, mcr_schema_pg_store_index_sql,
	                      "indexing the generation schema", 0);
}

int mcr_pg_generation_drop(PGconn *conn, long long generation)
{
	char schema[MCR_PG_SCHEMA_NAME_MAX], sql[96], what[96];
	mcr_pg_generation_schema(generation, schema);
	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
	snprintf(what, sizeof(what), "dropping the generation schema %s", schema);
	return mcr_pg_exec(conn, NULL, what, sql, 0, NULL);
}

static int schema_shared(PGconn *conn, void *arg)
{
	(void)arg;
	int rc = mcr_pg_exec(conn, NULL, "locking the shared schema",
	                     "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")", 0, NULL);
	return rc ? rc : mcr_pg_exec_script(conn, "creating the shared schema mcr", mcr_schema_pg_shared_sql);
}

int mcr_pg_schema_shared(PGconn *conn)
{
	return mcr_pg_transaction(conn, MCR_PG_READ_COMMITTED, 0, schema_shared, NULL);
}
