/* Small SQLite helpers shared by the loader, the audit log and the reports. */
#include "mcr/db.h"

#include <stddef.h>

#include "mcr/error.h"

void mcr_db_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

int mcr_db_error(sqlite3 *db, const char *what)
{
	return mcr_error_set(MCR_EIO, "%s: %s", what, sqlite3_errmsg(db));
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
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return mcr_error_set(MCR_EIO, "cannot prepare %s: %s", sql, sqlite3_errmsg(db));
	return 0;
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
