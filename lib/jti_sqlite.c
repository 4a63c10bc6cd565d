/*
 * The launch token store in SQLite: <state folder>/launch.sqlite, one row per
 * (iss, jti) until it expires; several processes on the folder share it through
 * SQLite's locking. lib/jti_backend.h.
 */
#include "jti_backend.h"
#include "mcr/buf.h"
#include "mcr/error.h"
#include "mcr/fs.h"

#include <sqlite3.h>
#include <stdlib.h>

typedef struct jti_sqlite {
	jti_backend base;
	sqlite3 *db;
	char *path;
} jti_sqlite;

static const char jti_schema[] =
	"PRAGMA journal_mode=WAL;"
	"CREATE TABLE IF NOT EXISTS launch_jti ("
	" iss TEXT NOT NULL, jti TEXT NOT NULL, expires INTEGER NOT NULL,"
	" PRIMARY KEY (iss, jti)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS launch_jti_expires ON launch_jti (expires);";

static void s_close(jti_backend *b)
{
	jti_sqlite *s = (jti_sqlite *)b;
	if (!s)
		return;
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

static int s_claim(jti_backend *b, const char *iss, const char *jti, long long expires, long long now)
{
	jti_sqlite *s = (jti_sqlite *)b;
	sqlite3_stmt *st = NULL;
	int rc = 0, step;
	/* Durable before the session starts: a replay after a crash is still refused. */
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return mcr_error_set(MCR_EIO, "launch store %s: %s", s->path, sqlite3_errmsg(s->db));
	if (sqlite3_prepare_v2(s->db, "DELETE FROM launch_jti WHERE expires < ?1", -1, &st, NULL) != SQLITE_OK)
		goto db_fail;
	sqlite3_bind_int64(st, 1, now);
	step = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (step != SQLITE_DONE)
		goto db_fail;
	if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO launch_jti (iss, jti, expires) VALUES (?1, ?2, ?3)",
	                       -1, &st, NULL) != SQLITE_OK)
		goto db_fail;
	sqlite3_bind_text(st, 1, iss, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, jti, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, expires);
	step = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (step != SQLITE_DONE)
		goto db_fail;
	if (sqlite3_changes(s->db) == 0)
		rc = mcr_error_set(MCR_EDENIED, "launch token already used");
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto db_fail;
	return rc;
db_fail:
	rc = mcr_error_set(MCR_EIO, "launch store %s: %s", s->path, sqlite3_errmsg(s->db));
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static const jti_backend_ops sqlite_ops = { s_claim, s_close };

int jti_sqlite_open(const char *dir, jti_backend **out)
{
	mcr_buf path = MCR_BUF_INIT;
	jti_sqlite *s = NULL;
	char *msg = NULL;
	int rc;
	*out = NULL;
	if ((rc = mcr_fs_mkdirs(dir)) || (rc = mcr_fs_join(&path, dir, "launch.sqlite")))
		goto fail;
	if (!(s = calloc(1, sizeof(*s)))) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory opening the launch store");
		goto fail;
	}
	s->base.ops = &sqlite_ops;
	s->path = mcr_buf_detach(&path);
	if (!s->path) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory opening the launch store");
		goto fail;
	}
	if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		rc = mcr_error_set(MCR_EIO, "launch store %s: cannot open: %s", s->path,
		                   s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if (sqlite3_exec(s->db, jti_schema, NULL, NULL, &msg) != SQLITE_OK) {
		rc = mcr_error_set(MCR_EIO, "launch store %s: %s", s->path, msg ? msg : "cannot create");
		sqlite3_free(msg);
		goto fail;
	}
	*out = &s->base;
	return 0;
fail:
	mcr_buf_free(&path);
	s_close(s ? &s->base : NULL);
	return rc;
}
