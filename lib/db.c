/* Small SQLite helpers shared by the loader, the audit log, lookups and reports:
 * the one home of turning a SQLite failure into an mcr error. */
#include "mcr/db.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mcr/error.h"

/* " (<the system's error>)" when SQLite's failure came from the file system, so
 * "database or disk is full" says No space left on device (or Disk quota
 * exceeded, File too large), else "". */
static const char *os_detail(sqlite3 *db, char *buf, size_t n)
{
	int primary = db ? sqlite3_errcode(db) & 0xff : 0;
	int err = db ? sqlite3_system_errno(db) : 0;
	/* SQLite reports a write that found no space as SQLITE_FULL without errno. */
	if (primary == SQLITE_FULL && !err)
		err = ENOSPC;
	buf[0] = '\0';
	if (err && (primary == SQLITE_FULL || primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN)) {
		char sys[96];
		if (strerror_r(err, sys, sizeof(sys)) != 0)
			snprintf(sys, sizeof(sys), "error %d", err);
		snprintf(buf, n, " (%s)", sys);
	}
	return buf;
}

__attribute__((format(printf, 3, 0)))
static int db_verrorf(sqlite3 *db, int code, const char *fmt, va_list ap)
{
	char what[512], os[128];
	vsnprintf(what, sizeof(what), fmt, ap);
	return mcr_error_set(code, "%s: %s%s", what, db ? sqlite3_errmsg(db) : "out of memory",
	                     os_detail(db, os, sizeof(os)));
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

int mcr_db_execf(sqlite3 *db, const char *sql, const char *fmt, ...)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK)
		return 0;
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	char os[128];
	int rc = mcr_error_set(MCR_EIO, "%s: %s%s", what, err ? err : sqlite3_errmsg(db),
	                       os_detail(db, os, sizeof(os)));
	sqlite3_free(err);
	return rc;
}

int mcr_db_exec(sqlite3 *db, const char *sql)
{
	return mcr_db_execf(db, sql, "%s", sql);
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
