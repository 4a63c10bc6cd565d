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

/* Record "<what>: <sqlite3_errmsg(db)>" as an MCR_EIO error; returns MCR_EIO. */
int mcr_db_error(sqlite3 *db, const char *what);

/* Run sql (one or more statements, no rows wanted). On failure the message is
 * "<sql>: <SQLite's message>"; returns 0 or MCR_EIO. */
int mcr_db_exec(sqlite3 *db, const char *sql);

/* Prepare sql into *st. On failure "cannot prepare <sql>: <SQLite's message>";
 * returns 0 or MCR_EIO. */
int mcr_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st);

/* Step a statement that returns no rows (a row is accepted and ignored), then
 * reset it. On failure "<what>: <SQLite's message>"; returns 0 or MCR_EIO. */
int mcr_db_step_done(sqlite3 *db, sqlite3_stmt *st, const char *what);

#endif
