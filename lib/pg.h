/*
 * PostgreSQL through libpq: the one home of connecting, turning a libpq failure
 * into an mcr error, running statements, transactions, COPY and the DDL of
 * schema/pg/ (store.backend: postgresql; DESIGN.md "Beyond one machine").
 *
 * Internal to lib/: libpq's types never appear in include/mcr/. Only the backend
 * files (store_*.c, audit_*.c, history_*.c, jti_*.c, pg.c) include this header.
 *
 * Errors: every function returns 0 or a negative MCR_E* code and records a
 * one-line message with mcr_error_set() naming what failed first, then the
 * server's or libpq's own words ("reading the published generation: ERROR:
 * relation ... does not exist"). The password is never in a message or a log.
 *
 * Thread safety: a PGconn is used by one thread at a time (libpq's rule); the
 * functions keep no shared state (the last SQLSTATE is per thread).
 */
#ifndef MCR_PG_H
#define MCR_PG_H

#include <libpq-fe.h>
#include <stddef.h>

#include "mcr/buf.h"
#include "mcr/config.h"

/* Environment variable read for the password when postgresql.password_file is unset. */
#define MCR_PG_PASSWORD_ENV "MCR_PG_PASSWORD"

/*
 * Connect to cfg->pg. The password comes from cfg->pg.password_file (its first
 * line), else from $MCR_PG_PASSWORD, else from libpq's own means (~/.pgpass,
 * PGPASSFILE, certificates, peer). application_name (may be NULL) shows in
 * pg_stat_activity unless the conninfo names one. The client encoding is UTF8.
 * Our copy of the password is wiped once libpq has it. On success *out is a
 * connection the caller closes with mcr_pg_close().
 * Errors: MCR_ECONFIG (no postgresql.conninfo; password file unreadable or
 * empty), MCR_EIO "cannot connect to PostgreSQL: <libpq's reason>", MCR_ENOMEM.
 */
int mcr_pg_connect(PGconn **out, const mcr_config *cfg, const char *application_name);

/* As mcr_pg_connect, from a conninfo and an optional password file (NULL: the
 * environment, then libpq's own means). */
int mcr_pg_connect_with(PGconn **out, const char *conninfo, const char *password_file,
                        const char *application_name);

/* Close a connection; accepts NULL. */
void mcr_pg_close(PGconn *conn);

/* 1 when the connection is lost (server gone, restarted, network): the caller
 * answers "unavailable" (mcr-serve 503) and reconnects for the next request. */
int mcr_pg_lost(const PGconn *conn);

/*
 * Record "<what>: <the failure>" for a failed result (res may be NULL: the
 * connection's message) as the mcr error, one line, and remember its SQLSTATE.
 * Returns code (MCR_EIO when code is 0). For callers' own libpq calls.
 */
int mcr_pg_error(PGconn *conn, const PGresult *res, int code, const char *what);

/* The SQLSTATE of this thread's last failure recorded by these functions ("" when
 * none or when the connection failed before the server answered): "40001" for a
 * serialization failure, "23505" for a unique violation, "57P01" shut down... */
const char *mcr_pg_sqlstate(void);

/*
 * Run one statement with nparams text parameters (a NULL entry is SQL NULL).
 * what names the work for the error message. On success, if out is not NULL,
 * *out is the result (PGRES_TUPLES_OK or PGRES_COMMAND_OK) to PQclear(); with
 * out NULL it is cleared here. Errors: MCR_EIO with the server's message.
 */
int mcr_pg_exec(PGconn *conn, PGresult **out, const char *what, const char *sql, int nparams,
                const char *const *params);

/* Run a script of several statements without parameters (DDL: the files of schema/pg).
 * Outside a transaction the statements run as one implicit transaction. */
int mcr_pg_exec_script(PGconn *conn, const char *what, const char *sql);

typedef enum mcr_pg_isolation {
	MCR_PG_READ_COMMITTED,
	MCR_PG_REPEATABLE_READ, /* one snapshot for the whole transaction (reports) */
	MCR_PG_SERIALIZABLE,
} mcr_pg_isolation;

/* BEGIN with this isolation level, READ ONLY when read_only. */
int mcr_pg_begin(PGconn *conn, mcr_pg_isolation iso, int read_only);

/* COMMIT. A commit the server turns into a rollback (the transaction had
 * failed) is an error too. */
int mcr_pg_commit(PGconn *conn);

/* ROLLBACK, best effort, when a transaction is open or failed; keeps the error
 * message of the failure that made the caller roll back. Accepts NULL. */
void mcr_pg_rollback(PGconn *conn);

/*
 * Run fn(conn, arg) in a transaction: BEGIN, fn, COMMIT; ROLLBACK when fn
 * returns non-zero or the commit fails. Returns fn's code or the commit's.
 * The connection must not be in a transaction already.
 */
int mcr_pg_transaction(PGconn *conn, mcr_pg_isolation iso, int read_only,
                       int (*fn)(PGconn *conn, void *arg), void *arg);

/*
 * synchronous_commit on (1) or off (0): on, a COMMIT returns only once the
 * commit is on disk (and on the synchronous standby where one is configured),
 * which the audit log needs before a response. Inside a transaction it holds
 * for that transaction only (SET LOCAL, right under pgbouncer's transaction
 * pooling); outside, for the session.
 */
int mcr_pg_synchronous_commit(PGconn *conn, int on);

/*
 * COPY ... FROM STDIN in text format, streamed: fields are escaped into a
 * buffer sent with PQputCopyData every 256 KiB. Usage:
 *   mcr_pg_copy cp;
 *   mcr_pg_copy_begin(&cp, conn, "COPY mcr_gen_000002.member (nhs, org) FROM STDIN");
 *   for each row: mcr_pg_copy_text(&cp, nhs); mcr_pg_copy_text(&cp, org);
 *                 mcr_pg_copy_row(&cp);
 *   mcr_pg_copy_end(&cp, &rows);     // or mcr_pg_copy_abort(&cp) on a failure
 * After a failed call the COPY is aborted already; mcr_pg_copy_abort is still
 * safe to call. The struct is the caller's; its fields are private.
 */
typedef struct mcr_pg_copy {
	PGconn *conn;
	mcr_buf buf;      /* escaped rows not yet sent */
	int fields;       /* fields written in the current row */
	int active;       /* COPY IN in progress */
	long long rows;   /* rows ended */
} mcr_pg_copy;

int mcr_pg_copy_begin(mcr_pg_copy *cp, PGconn *conn, const char *sql);

/* One field: s (NUL-terminated; NULL writes SQL NULL, \N). */
int mcr_pg_copy_text(mcr_pg_copy *cp, const char *s);

/* One field of n bytes (s may hold no NUL). */
int mcr_pg_copy_textn(mcr_pg_copy *cp, const char *s, size_t n);

/* One integer field. */
int mcr_pg_copy_int(mcr_pg_copy *cp, long long v);

/* End the current row. */
int mcr_pg_copy_row(mcr_pg_copy *cp);

/* Send what is left and finish; *rows (may be NULL) gets the rows the server
 * stored. Errors: MCR_EIO with the server's message (e.g. a row it refused). */
int mcr_pg_copy_end(mcr_pg_copy *cp, long long *rows);

/* Abandon the COPY (the server discards its rows) and free the buffer; keeps
 * the current error message. Safe after a failed call or an end. */
void mcr_pg_copy_abort(mcr_pg_copy *cp);

/* Append s[0..n) to b escaped for COPY text format: backslash, tab, newline and
 * carriage return as \\ \t \n \r (a NULL s appends \N). Pure. */
int mcr_pg_copy_escape(mcr_buf *b, const char *s, size_t n);

/*
 * Create the shared schema "mcr" (schema/pg/shared.sql) if it is not there, or
 * complete it: idempotent, under an advisory lock so nodes starting together do
 * not race, in its own transaction (the connection must not be in one).
 */
int mcr_pg_schema_shared(PGconn *conn);

/* The schema of a generation: "mcr_gen_NNNNNN" (at least 6 digits). */
#define MCR_PG_SCHEMA_NAME_MAX 32
void mcr_pg_generation_schema(long long generation, char out[MCR_PG_SCHEMA_NAME_MAX]);

/*
 * Create the schema of a generation with its tables (schema/pg/store.sql), and
 * later build item's key and index after the bulk COPY (schema/pg/store_index.sql).
 * Each runs in the caller's transaction when one is open, else in its own; the
 * search_path is changed for that transaction only (SET LOCAL) and put back.
 */
int mcr_pg_generation_create(PGconn *conn, long long generation);
int mcr_pg_generation_index(PGconn *conn, long long generation);

/* Drop a generation's schema and everything in it (retention); no error when it
 * does not exist. */
int mcr_pg_generation_drop(PGconn *conn, long long generation);

#endif
