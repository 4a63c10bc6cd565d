/* Small SQLite helpers shared by the loader, the audit log and the reports. */
#ifndef MCR_DB_H
#define MCR_DB_H

#include <sqlite3.h>

/* Bind s (copied) to parameter i of st, or SQL NULL when s is NULL. */
void mcr_db_bind_text(sqlite3_stmt *st, int i, const char *s);

#endif
