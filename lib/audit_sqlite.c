/*
 * The audit log's SQLite backend: one database file (schema/audit.sql) in WAL
 * mode with synchronous=FULL, created race-free, appenders across processes
 * serialised by BEGIN IMMEDIATE. The rules are in lib/audit.c. docs/AUDIT.md.
 */
#include "audit_backend.h"
#include "mcr/db.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Concurrent lookups wait this long for another's append before failing. */
#define AUDIT_BUSY_MS 10000

#define ROW_COLUMNS "seq, at, user, org, role, nhs, sections, basis, reason, outcome, detail," \
	" generation, prev_hash, hash"

/* Every SQLite failure of the audit log is "audit log <path>: ..." (mcr/db.h). */
static int db_error(sqlite3 *db, const char *what, const char *path)
{
	return mcr_db_errorf(db, MCR_EIO, "audit log %s: %s", path, what);
}

static int exec(sqlite3 *db, const char *sql, const char *path)
{
	return mcr_db_execf(db, sql, "audit log %s", path);
}

/* The folder holding path into dir ("." when none). */
static int parent_of(const char *path, mcr_buf *dir)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return mcr_buf_puts(dir, ".");
	return mcr_buf_put(dir, path, slash == path ? 1 : (size_t)(slash - path));
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *path)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return db_error(db, "cannot prepare a statement", path);
	return 0;
}

/* ---- creation ----------------------------------------------------------------- */

/*
 * Build a complete new log (WAL mode, schema, scheme record) under a temporary
 * name, sync it once and link it to path. Nobody ever opens a half-made log,
 * which is what made concurrent first opens fail with "database is locked".
 * Creators take turns on a flock of the folder, so one builds the log and the
 * others find it made; link() would refuse to replace a log made meanwhile anyway.
 */
static int create_log(const char *path)
{
	static unsigned long counter;
	mcr_buf tmp = MCR_BUF_INIT, dir = MCR_BUF_INIT;
	sqlite3 *db = NULL;
	int rc, linked = 0, dfd = -1;
	unsigned long n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	if ((rc = mcr_buf_printf(&tmp, "%s.new-%ld-%lu", path, (long)getpid(), n)) ||
	    (rc = parent_of(path, &dir)))
		goto out;
	dfd = open(dir.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || flock(dfd, LOCK_EX) != 0) {
		rc = mcr_error_set_errno(MCR_EIO, "audit log %s: cannot lock its folder", path);
		goto out;
	}
	if (mcr_fs_exists(path))
		goto out; /* made by another process while this one waited */
	/* The log names who looked at whose record: not world-readable. SQLite gives
	 * its -wal and -shm files the database file's mode. */
	int fd = open(tmp.ptr, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0) {
		rc = mcr_error_set_errno(MCR_EIO, "audit log %s: cannot create", path);
		goto out;
	}
	close(fd);
	if (sqlite3_open_v2(tmp.ptr, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rc = db_error(db, "cannot create", path);
		goto out;
	}
	/* No syncs while building: the file is synced once below, before the link. */
	if ((rc = exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; BEGIN", path)) ||
	    (rc = exec(db, mcr_schema_audit_sql, path)) ||
	    (rc = exec(db, "INSERT INTO audit_meta (key, value) VALUES ('chain_v2_from', 1); COMMIT", path)))
		goto out;
	/* Closing the only connection checkpoints the WAL into the file. */
	if (sqlite3_close(db) != SQLITE_OK) {
		rc = db_error(db, "cannot close the new log", path);
		goto out;
	}
	db = NULL;
	fd = open(tmp.ptr, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		rc = mcr_error_set_errno(MCR_EIO, "audit log %s: cannot sync the new log", path);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	if (link(tmp.ptr, path) == 0)
		linked = 1;
	else if (errno != EEXIST)
		rc = mcr_error_set_errno(MCR_EIO, "audit log %s: cannot link the new log into place", path);
out:
	if (db) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(db);
	}
	if (tmp.ptr) {
		unlink(tmp.ptr);
		size_t len = tmp.len;
		if (!mcr_buf_puts(&tmp, "-wal"))
			unlink(tmp.ptr);
		tmp.len = len;
		if (!mcr_buf_puts(&tmp, "-shm"))
			unlink(tmp.ptr);
	}
	if (!rc && linked && fsync(dfd) != 0)
		rc = mcr_error_set_errno(MCR_EIO, "audit log %s: cannot sync its folder", path);
	if (dfd >= 0)
		close(dfd); /* and the flock with it */
	mcr_buf_free(&tmp);
	mcr_buf_free(&dir);
	return rc;
}

/* WAL: one fsync per commit with synchronous=FULL, and readers (reports) never
 * block appenders. Logs made by create_log are WAL already; older ones may not be. */
static int set_wal(sqlite3 *db, const char *path)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) != SQLITE_OK)
		return db_error(db, "cannot read the journal mode", path);
	int step = sqlite3_step(st);
	const char *mode = step == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	int is_wal = mode && strcmp(mode, "wal") == 0;
	if (step != SQLITE_ROW)
		rc = db_error(db, "cannot read the journal mode", path);
	sqlite3_finalize(st);
	if (!rc && !is_wal)
		rc = exec(db, "PRAGMA journal_mode=WAL", path);
	return rc;
}

/* First scheme-2 entry of the log open on db into *from; LONG_MAX when the log
 * predates schemes (every entry is scheme 1). */
static int read_v2_from(sqlite3 *db, const char *path, long *from)
{
	sqlite3_stmt *st = NULL;
	*from = LONG_MAX;
	if (sqlite3_prepare_v2(db, "SELECT value FROM audit_meta WHERE key = 'chain_v2_from'", -1, &st,
	                       NULL) != SQLITE_OK)
		return 0; /* no audit_meta table: an older log */
	int step = sqlite3_step(st), rc = 0;
	if (step == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
		*from = (long)sqlite3_column_int64(st, 0);
	else if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = db_error(db, "cannot read the chain scheme", path);
	sqlite3_finalize(st);
	return rc;
}

/* An older log: add the schema's newer tables and record that entries from the
 * next one on are hashed under scheme 2. */
static int upgrade(sqlite3 *db, const char *path)
{
	long from = 0;
	int rc = exec(db, "BEGIN IMMEDIATE", path);
	if (rc)
		return rc;
	if ((rc = read_v2_from(db, path, &from)))
		goto fail;
	if (from != LONG_MAX)
		return exec(db, "COMMIT", path); /* another process upgraded it meanwhile */
	if ((rc = exec(db, mcr_schema_audit_sql, path)) ||
	    (rc = exec(db, "INSERT INTO audit_meta (key, value) SELECT 'chain_v2_from', 1 + max("
	                   " coalesce((SELECT last_seq FROM audit_head WHERE id = 1), 0),"
	                   " coalesce((SELECT max(seq) FROM audit), 0))", path)) ||
	    (rc = exec(db, "COMMIT", path)))
		goto fail;
	return 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static void copy_hash(char out[65], const unsigned char *s)
{
	out[0] = '\0';
	if (s && strlen((const char *)s) == 64)
		memcpy(out, s, 65);
}

/* The head record of the log open on db (one prepared or ad hoc statement). */
static int head_of(sqlite3 *db, sqlite3_stmt *st, const char *path, int *have, long *seq, char hash[65])
{
	*have = 0;
	*seq = 0;
	hash[0] = '\0';
	int step = sqlite3_step(st), rc = 0;
	if (step == SQLITE_ROW) {
		*have = 1;
		*seq = (long)sqlite3_column_int64(st, 0);
		copy_hash(hash, sqlite3_column_text(st, 1));
	} else if (step != SQLITE_DONE) {
		rc = db_error(db, "cannot read the head record", path);
	}
	sqlite3_reset(st);
	return rc;
}

static int count_of(sqlite3 *db, sqlite3_stmt *st, const char *path, long *n)
{
	int rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = (long)sqlite3_column_int64(st, 0);
	else
		rc = db_error(db, "cannot count entries", path);
	sqlite3_reset(st);
	return rc;
}

/* ---- the writer ------------------------------------------------------------------- */

typedef struct sqlite_writer {
	audit_writer base;
	sqlite3 *db;
	const char *path; /* base.label */
	sqlite3_stmt *head, *count, *insert, *set_head, *set_meta;
} sqlite_writer;

static int w_begin(audit_writer *w)
{
	sqlite_writer *s = (sqlite_writer *)w;
	return exec(s->db, "BEGIN IMMEDIATE", s->path);
}

static int w_head(audit_writer *w, int *have, long *seq, char hash[65])
{
	sqlite_writer *s = (sqlite_writer *)w;
	return head_of(s->db, s->head, s->path, have, seq, hash);
}

static int w_count(audit_writer *w, long *n)
{
	sqlite_writer *s = (sqlite_writer *)w;
	return count_of(s->db, s->count, s->path, n);
}

static int w_v2_from(audit_writer *w, long *from)
{
	sqlite_writer *s = (sqlite_writer *)w;
	return read_v2_from(s->db, s->path, from);
}

static int w_set_v2_from(audit_writer *w, long from)
{
	sqlite_writer *s = (sqlite_writer *)w;
	sqlite3_bind_int64(s->set_meta, 1, from);
	int step = sqlite3_step(s->set_meta);
	sqlite3_reset(s->set_meta);
	return step == SQLITE_DONE ? 0 : db_error(s->db, "cannot record the chain scheme", s->path);
}

static int w_insert(audit_writer *w, const mcr_audit_entry *e, const char *prev)
{
	sqlite_writer *s = (sqlite_writer *)w;
	sqlite3_stmt *st = s->insert;
	sqlite3_bind_int64(st, 1, e->seq);
	sqlite3_bind_text(st, 2, e->at, -1, SQLITE_STATIC);
	mcr_db_bind_text(st, 3, e->user);
	mcr_db_bind_text(st, 4, e->org);
	mcr_db_bind_text(st, 5, e->role);
	mcr_db_bind_text(st, 6, e->nhs);
	mcr_db_bind_text(st, 7, e->sections);
	mcr_db_bind_text(st, 8, e->basis);
	mcr_db_bind_text(st, 9, e->reason);
	mcr_db_bind_text(st, 10, e->outcome);
	mcr_db_bind_text(st, 11, e->detail);
	if (e->generation)
		sqlite3_bind_int64(st, 12, e->generation);
	else
		sqlite3_bind_null(st, 12);
	sqlite3_bind_text(st, 13, prev, 64, SQLITE_STATIC);
	sqlite3_bind_text(st, 14, e->hash, 64, SQLITE_STATIC);
	int step = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return step == SQLITE_DONE ? 0 : db_error(s->db, "cannot append an entry", s->path);
}

static int w_set_head(audit_writer *w, long seq, const char *hash)
{
	sqlite_writer *s = (sqlite_writer *)w;
	sqlite3_bind_int64(s->set_head, 1, seq);
	sqlite3_bind_text(s->set_head, 2, hash, 64, SQLITE_STATIC);
	int step = sqlite3_step(s->set_head);
	sqlite3_reset(s->set_head);
	sqlite3_clear_bindings(s->set_head);
	return step == SQLITE_DONE ? 0 : db_error(s->db, "cannot update the head record", s->path);
}

/* synchronous=FULL: the WAL is fdatasync'ed before COMMIT returns. */
static int w_commit(audit_writer *w)
{
	sqlite_writer *s = (sqlite_writer *)w;
	return exec(s->db, "COMMIT", s->path);
}

static void w_rollback(audit_writer *w)
{
	sqlite_writer *s = (sqlite_writer *)w;
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static void w_close(audit_writer *w)
{
	sqlite_writer *s = (sqlite_writer *)w;
	if (!s)
		return;
	sqlite3_finalize(s->head);
	sqlite3_finalize(s->count);
	sqlite3_finalize(s->insert);
	sqlite3_finalize(s->set_head);
	sqlite3_finalize(s->set_meta);
	sqlite3_close(s->db);
	free(s);
}

static const audit_writer_ops sqlite_writer_ops = {
	w_begin, w_head, w_count, w_v2_from, w_set_v2_from, w_insert, w_set_head, w_commit, w_rollback, w_close,
};

int audit_sqlite_writer_open(const char *path, audit_writer **out)
{
	*out = NULL;
	if (!path)
		return mcr_error_set(MCR_ECONFIG, "no audit log configured (paths.audit)");
	sqlite_writer *s = calloc(1, sizeof(*s));
	if (!s)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening the audit log");
	s->base.ops = &sqlite_writer_ops;
	snprintf(s->base.label, sizeof(s->base.label), "%s", path);
	s->path = path; /* the caller's, for messages while opening */
	int rc;
	long from = 0;
	mcr_buf dir = MCR_BUF_INIT;
	if ((rc = parent_of(path, &dir)) || (rc = mcr_fs_mkdirs(dir.ptr)))
		goto fail;
	/* Opened without SQLITE_OPEN_CREATE: a log deleted between the creation and
	 * the open is created again rather than started empty by SQLite. */
	for (int attempt = 0;; attempt++) {
		if (!mcr_fs_exists(path) && (rc = create_log(path)))
			goto fail;
		if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK)
			break;
		if (attempt == 2 || mcr_fs_exists(path)) {
			rc = db_error(s->db, "cannot open", path);
			goto fail;
		}
		sqlite3_close(s->db);
		s->db = NULL;
	}
	sqlite3_busy_timeout(s->db, AUDIT_BUSY_MS);
	if ((rc = set_wal(s->db, path)) || (rc = exec(s->db, "PRAGMA synchronous=FULL", path)) ||
	    (rc = read_v2_from(s->db, path, &from)) || (from == LONG_MAX && (rc = upgrade(s->db, path))))
		goto fail;
	if ((rc = prepare(s->db, "SELECT last_seq, last_hash FROM audit_head WHERE id = 1", &s->head, path)) ||
	    (rc = prepare(s->db, "SELECT count(*) FROM audit", &s->count, path)) ||
	    (rc = prepare(s->db,
	                  "INSERT INTO audit (" ROW_COLUMNS ")"
	                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	                  &s->insert, path)) ||
	    (rc = prepare(s->db, "INSERT OR REPLACE INTO audit_head (id, last_seq, last_hash) VALUES (1, ?1, ?2)",
	                  &s->set_head, path)) ||
	    (rc = prepare(s->db, "INSERT INTO audit_meta (key, value) VALUES ('chain_v2_from', ?1)",
	                  &s->set_meta, path)))
		goto fail;
	mcr_buf_free(&dir);
	s->path = s->base.label;
	*out = &s->base;
	return 0;
fail:
	mcr_buf_free(&dir);
	w_close(&s->base);
	return rc;
}

/* ---- the reader ------------------------------------------------------------------- */

typedef struct sqlite_reader {
	audit_reader base;
	sqlite3 *db;
	const char *path; /* base.label */
	sqlite3_stmt *scan, *after;
} sqlite_reader;

static int r_head(audit_reader *r, int *have, long *seq, char hash[65])
{
	sqlite_reader *s = (sqlite_reader *)r;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT last_seq, last_hash FROM audit_head WHERE id = 1", -1, &st, NULL) != SQLITE_OK)
		return mcr_db_errorf(s->db, MCR_EFORMAT, "audit log %s: not an audit log", s->path);
	int rc = head_of(s->db, st, s->path, have, seq, hash);
	sqlite3_finalize(st);
	return rc;
}

static int r_count(audit_reader *r, long *n)
{
	sqlite_reader *s = (sqlite_reader *)r;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM audit", -1, &st, NULL) != SQLITE_OK)
		return db_error(s->db, "cannot count entries", s->path);
	int rc = count_of(s->db, st, s->path, n);
	sqlite3_finalize(st);
	return rc;
}

static int r_v2_from(audit_reader *r, long *from)
{
	sqlite_reader *s = (sqlite_reader *)r;
	return read_v2_from(s->db, s->path, from);
}

/* The row st stands on into row, each column with its SQLite type. */
static int load_row(sqlite3_stmt *st, audit_row *row)
{
	audit_row_clear(row);
	int rc = 0;
	for (int i = 0; !rc && i < AUDIT_NCOLS; i++) {
		char num[40];
		int n;
		switch (sqlite3_column_type(st, i)) {
		case SQLITE_NULL:
			rc = audit_row_put(row, i, 'N', NULL, 0);
			break;
		case SQLITE_INTEGER:
			n = snprintf(num, sizeof(num), "%lld", (long long)sqlite3_column_int64(st, i));
			rc = audit_row_put(row, i, 'I', num, (size_t)n);
			break;
		case SQLITE_FLOAT:
			n = snprintf(num, sizeof(num), "%.17g", sqlite3_column_double(st, i));
			rc = audit_row_put(row, i, 'R', num, (size_t)n);
			break;
		case SQLITE_BLOB: {
			const void *p = sqlite3_column_blob(st, i);
			rc = audit_row_put(row, i, 'B', p ? p : "", (size_t)sqlite3_column_bytes(st, i));
			break;
		}
		default: {
			const unsigned char *p = sqlite3_column_text(st, i);
			rc = audit_row_put(row, i, 'T', p ? (const char *)p : "", (size_t)sqlite3_column_bytes(st, i));
			break;
		}
		}
	}
	return rc;
}

/* Step st: 1 with row filled, 0 at the end. */
static int step_row(sqlite_reader *s, sqlite3_stmt *st, audit_row *row)
{
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		int rc = load_row(st, row);
		return rc ? rc : 1;
	}
	if (step == SQLITE_DONE)
		return 0;
	return db_error(s->db, "cannot read entries", s->path);
}

static int r_scan_start(audit_reader *r, long after)
{
	sqlite_reader *s = (sqlite_reader *)r;
	sqlite3_finalize(s->scan);
	s->scan = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT " ROW_COLUMNS " FROM audit WHERE seq > ?1 ORDER BY seq", -1,
	                       &s->scan, NULL) != SQLITE_OK)
		return mcr_db_errorf(s->db, MCR_EFORMAT, "audit log %s: not an audit log", s->path);
	sqlite3_bind_int64(s->scan, 1, after);
	return 0;
}

static int r_scan_next(audit_reader *r, audit_row *row)
{
	sqlite_reader *s = (sqlite_reader *)r;
	return step_row(s, s->scan, row);
}

static int r_after(audit_reader *r, long seq, audit_row *row)
{
	sqlite_reader *s = (sqlite_reader *)r;
	if (!s->after && sqlite3_prepare_v2(s->db, "SELECT " ROW_COLUMNS " FROM audit WHERE seq > ?1 ORDER BY seq LIMIT 1",
	                                    -1, &s->after, NULL) != SQLITE_OK)
		return db_error(s->db, "cannot read entries", s->path);
	sqlite3_bind_int64(s->after, 1, seq);
	int rc = step_row(s, s->after, row);
	sqlite3_reset(s->after);
	return rc;
}

/* The query's SQL into sql: ?1 nhs, ?2 from, ?3 to, ?4... users. */
static int query_sql(const mcr_audit_query *q, mcr_buf *sql)
{
	int rc = mcr_buf_puts(sql, "SELECT seq, at, user, org, role, nhs, sections, basis, reason, outcome, detail,"
	                           " generation FROM audit WHERE at >= ?2 AND at < ?3");
	if (!rc && q->nhs)
		rc = mcr_buf_puts(sql, " AND nhs = ?1");
	if (!rc && q->break_glass)
		rc = mcr_buf_puts(sql, " AND (basis = 'break-glass' OR outcome = 'self-access')");
	if (!rc && q->nusers) {
		rc = mcr_buf_puts(sql, " AND user IN (");
		for (size_t i = 0; !rc && i < q->nusers; i++)
			rc = mcr_buf_printf(sql, "%s?%zu", i ? ", " : "", i + 4);
		if (!rc)
			rc = mcr_buf_puts(sql, ")");
	}
	return rc ? rc : mcr_buf_puts(sql, " ORDER BY at, seq");
}

static const char *text_or_null(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static int r_query(audit_reader *r, const mcr_audit_query *q, mcr_audit_entry_fn fn, void *ctx)
{
	sqlite_reader *s = (sqlite_reader *)r;
	mcr_buf sql = MCR_BUF_INIT;
	sqlite3_stmt *st = NULL;
	int rc = query_sql(q, &sql), step;
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(s->db, sql.ptr, -1, &st, NULL) != SQLITE_OK) {
		rc = mcr_db_errorf(s->db, MCR_EFORMAT, "audit log %s: not an audit log", s->path);
		goto out;
	}
	mcr_db_bind_text(st, 1, q->nhs);
	mcr_db_bind_text(st, 2, q->from);
	mcr_db_bind_text(st, 3, q->to);
	for (size_t i = 0; i < q->nusers; i++)
		mcr_db_bind_text(st, (int)i + 4, q->users[i]);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		mcr_audit_entry e;
		memset(&e, 0, sizeof(e));
		const char *v[11];
		for (int i = 0; i < 11; i++)
			v[i] = text_or_null(st, i);
		e.seq = (long)sqlite3_column_int64(st, 0);
		snprintf(e.at, sizeof(e.at), "%s", v[1] ? v[1] : "");
		e.user = v[2], e.org = v[3], e.role = v[4], e.nhs = v[5], e.sections = v[6];
		e.basis = v[7], e.reason = v[8], e.outcome = v[9], e.detail = v[10];
		e.generation = (long)sqlite3_column_int64(st, 11);
		if ((rc = fn(ctx, &e)))
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = db_error(s->db, "cannot read entries", s->path);
out:
	sqlite3_finalize(st);
	mcr_buf_free(&sql);
	return rc;
}

static void r_close(audit_reader *r)
{
	sqlite_reader *s = (sqlite_reader *)r;
	if (!s)
		return;
	sqlite3_finalize(s->scan);
	sqlite3_finalize(s->after);
	if (s->db) {
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(s->db);
	}
	free(s);
}

static const audit_reader_ops sqlite_reader_ops = {
	r_head, r_count, r_v2_from, r_scan_start, r_scan_next, r_after, r_query, r_close,
};

int audit_sqlite_reader_open(const char *path, audit_reader **out)
{
	*out = NULL;
	if (!path || !mcr_fs_exists(path))
		return mcr_error_set(MCR_ENOTFOUND, "no audit log at %s", path ? path : "(not configured)");
	sqlite_reader *s = calloc(1, sizeof(*s));
	if (!s)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening the audit log");
	s->base.ops = &sqlite_reader_ops;
	snprintf(s->base.label, sizeof(s->base.label), "%s", path);
	s->path = path;
	int rc = 0;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = db_error(s->db, "cannot open", path);
		sqlite3_close(s->db);
		s->db = NULL;
		goto fail;
	}
	sqlite3_busy_timeout(s->db, AUDIT_BUSY_MS);
	/* One read transaction: appends made meanwhile are not half seen. */
	if ((rc = exec(s->db, "BEGIN", path)))
		goto fail;
	s->path = s->base.label;
	*out = &s->base;
	return 0;
fail:
	r_close(&s->base);
	return rc;
}

int audit_sqlite_probe(const char *path)
{
	if (!path || access(path, W_OK) != 0)
		return mcr_error_set_errno(MCR_EIO, "audit log %s: not writable", path ? path : "(not configured)");
	return 0;
}
