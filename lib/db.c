/* Small SQLite helpers shared by the loader, the audit log, lookups and reports:
 * the one home of turning a SQLite failure into an mcr error. */
#include "mcr/db.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "mcr/error.h"

__attribute__((format(printf, 3, 0)))
static int db_verrorf(sqlite3 *db, int code, const char *fmt, va_list ap)
{
	char what[512];
	vsnprintf(what, sizeof(what), fmt, ap);
	return mcr_error_set(code, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

int mcr_db_errorf(sqlite3 *db, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = db_verrorf(db, code, fmt, ap);
	va_end(ap);
	return rc;
}

int mcr_db_preparef(sqlite3 *db, const char *sql, sqlite3_stmt **st, int code, const char *fmt,
                    ...)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK)
		return 0;
	va_list ap;
	va_start(ap, fmt);
	int rc = db_verrorf(db, code, fmt, ap);
	va_end(ap);
	return rc;
}

void mcr_db_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

int mcr_db_error(sqlite3 *db, const char *what)
{
	return mcr_db_errorf(db, MCR_EIO, "%s", what);
}

int mcr_db_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		int rc = mcr_error_set(MCR_EIO, "%s: %s", sql, err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return rc;
	}
	return 0;
}

int mcr_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	return mcr_db_preparef(db, sql, st, MCR_EIO, "cannot prepare %s", sql);
}

int mcr_db_step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	int err = 0;
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = mcr_db_error(db, what);
	sqlite3_reset(st);
	return err;
}
