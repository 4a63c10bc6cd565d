/*
 * Small SQLite helpers shared by the loader, the audit log and the reports: one
 * home for prepare / step / error reporting. Each takes the connection it acts
 * on and keeps no state: safe from several threads on separate connections.
 */
#ifndef MCR_DB_H
#define MCR_DB_H

#include <sqlite3.h>

/* Bind s (copied) to parameter i of st, or SQL NULL when s is NULL. */
void mcr_db_bind_text(sqlite3_stmt *st, int i, const char *s);

/* Record code with the message "<fmt, formatted>: <sqlite3_errmsg(db)>" ("out of
 * memory" when db is NULL, as sqlite3_open leaves it); returns code. Every SQLite
 * failure message is made here; the context says which database and what. */
int mcr_db_errorf(sqlite3 *db, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepare sql into *st; on failure as mcr_db_errorf(db, code, fmt, ...). */
int mcr_db_preparef(sqlite3 *db, const char *sql, sqlite3_stmt **st, int code, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));

/* Record "<what>: <sqlite3_errmsg(db)>" as an MCR_EIO error; returns MCR_EIO. */
int mcr_db_error(sqlite3 *db, const char *what);

/* Run sql (one or more statements, no rows wanted). On failure the message is
 * "<sql>: <SQLite's message>"; returns 0 or MCR_EIO. */
int mcr_db_exec(sqlite3 *db, const char *sql);

/* The same with the context "<fmt, formatted>: <SQLite's message>" instead. */
int mcr_db_execf(sqlite3 *db, const char *sql, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepare sql into *st. On failure "cannot prepare <sql>: <SQLite's message>";
 * returns 0 or MCR_EIO. */
int mcr_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st);

/* Step a statement that returns no rows (a row is accepted and ignored), then
 * reset it. On failure "<what>: <SQLite's message>"; returns 0 or MCR_EIO. */
int mcr_db_step_done(sqlite3 *db, sqlite3_stmt *st, const char *what);

#endif
