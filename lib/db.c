/* Small SQLite helpers shared by the loader, the audit log and the reports. */
#include "mcr/db.h"

void mcr_db_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}
