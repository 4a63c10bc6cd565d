/*
 * The audit log: one SQLite database (schema/audit.sql), append-only, each entry
 * chained to the one before with SHA-256 (OpenSSL EVP), appends group-committed
 * across threads, the head checkpointed outside by the callers. docs/AUDIT.md.
 */
#include "mcr/audit.h"
#include "mcr/buf.h"
#include "mcr/db.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

/* Concurrent lookups wait this long for another's append before failing. */
#define AUDIT_BUSY_MS 10000
/* Entries written in one group commit at most (bounds one transaction). */
#define BATCH_MAX 512

static const char zero_hash[65] =
	"0000000000000000000000000000000000000000000000000000000000000000";

/* One caller's entry waiting for a group commit; lives on the caller's stack. */
typedef struct request {
	mcr_audit_entry *e;
	int done, rc;
	char msg[512];
	struct request *next;
} request;

struct mcr_audit {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *head, *count, *insert, *set_head;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	request *queue, **tail; /* waiting for the next commit */
	int leading;            /* a thread is writing a batch */
	mcr_audit_stats stats;
	mcr_audit_commit_fn on_commit;
	void *on_commit_ctx;
};

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

int mcr_audit_open(mcr_audit **out, const char *path)
{
	*out = NULL;
	mcr_audit *a = calloc(1, sizeof(*a));
	if (!a)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening the audit log");
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	a->tail = &a->queue;
	int rc;
	long from = 0;
	mcr_buf dir = MCR_BUF_INIT;
	a->path = strdup(path);
	if (!a->path) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory opening the audit log");
		goto fail;
	}
	if ((rc = parent_of(path, &dir)) || (rc = mcr_fs_mkdirs(dir.ptr)))
		goto fail;
	/* Opened without SQLITE_OPEN_CREATE: a log deleted between the creation and
	 * the open is created again rather than started empty by SQLite. */
	for (int attempt = 0;; attempt++) {
		if (!mcr_fs_exists(path) && (rc = create_log(path)))
			goto fail;
		if (sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK)
			break;
		if (attempt == 2 || mcr_fs_exists(path)) {
			rc = db_error(a->db, "cannot open", path);
			goto fail;
		}
		sqlite3_close(a->db);
		a->db = NULL;
	}
	sqlite3_busy_timeout(a->db, AUDIT_BUSY_MS);
	if ((rc = set_wal(a->db, path)) || (rc = exec(a->db, "PRAGMA synchronous=FULL", path)) ||
	    (rc = read_v2_from(a->db, path, &from)) || (from == LONG_MAX && (rc = upgrade(a->db, path))))
		goto fail;
	if ((rc = prepare(a->db, "SELECT last_seq, last_hash FROM audit_head WHERE id = 1", &a->head, path)) ||
	    (rc = prepare(a->db, "SELECT count(*) FROM audit", &a->count, path)) ||
	    (rc = prepare(a->db,
	                  "INSERT INTO audit (seq, at, user, org, role, nhs, sections, basis, reason,"
	                  " outcome, detail, generation, prev_hash, hash)"
	                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	                  &a->insert, path)) ||
	    (rc = prepare(a->db, "INSERT OR REPLACE INTO audit_head (id, last_seq, last_hash) VALUES (1, ?1, ?2)",
	                  &a->set_head, path)))
		goto fail;
	mcr_buf_free(&dir);
	*out = a;
	return 0;
fail:
	mcr_buf_free(&dir);
	mcr_audit_close(a);
	return rc;
}

void mcr_audit_close(mcr_audit *a)
{
	if (!a)
		return;
	sqlite3_finalize(a->head);
	sqlite3_finalize(a->count);
	sqlite3_finalize(a->insert);
	sqlite3_finalize(a->set_head);
	sqlite3_close(a->db);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a->path);
	free(a);
}

void mcr_audit_on_commit(mcr_audit *a, mcr_audit_commit_fn fn, void *ctx)
{
	a->on_commit = fn;
	a->on_commit_ctx = ctx;
}

void mcr_audit_get_stats(mcr_audit *a, mcr_audit_stats *out)
{
	pthread_mutex_lock(&a->mu);
	*out = a->stats;
	pthread_mutex_unlock(&a->mu);
}

/* ---- the chain hash ------------------------------------------------------------- */

static void to_hex(const unsigned char *md, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

static int sha256_hex(const void *data, size_t len, long seq, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return mcr_error_set(MCR_ERROR, "SHA-256 of audit entry %ld failed", seq);
	to_hex(md, out);
	return 0;
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

/* Scheme 1 (logs before audit_meta): prev_hash "\n" fields joined by 0x1f, NULL as
 * "" and a NULL generation as 0. Kept to verify those entries, never to write. */
static int entry_hash_v1(const mcr_audit_entry *e, const char *prev_hash, char out[65])
{
	mcr_buf b = MCR_BUF_INIT;
	int rc = mcr_buf_printf(&b, "%s\n%ld\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%ld",
	                        prev_hash, e->seq, e->at, nz(e->user), nz(e->org), nz(e->role),
	                        nz(e->nhs), nz(e->sections), nz(e->basis), nz(e->reason),
	                        nz(e->outcome), nz(e->detail), e->generation);
	if (!rc)
		rc = sha256_hex(b.ptr, b.len, e->seq, out);
	mcr_buf_free(&b);
	return rc;
}

/*
 * Scheme 2: every value as its SQLite type tag ('N' NULL, 'I' integer, 'R' real,
 * 'T' text, 'B' blob) then, unless NULL, an 8-byte big-endian length and the
 * bytes (integers in decimal, reals as %.17g). Lengths make any byte legal in a
 * field; tags tell NULL from '' and TEXT from BLOB.
 */
static int put_value(mcr_buf *b, char tag, const void *p, size_t len)
{
	unsigned char hdr[9];
	hdr[0] = (unsigned char)tag;
	if (tag == 'N')
		return mcr_buf_put(b, (const char *)hdr, 1);
	for (int i = 0; i < 8; i++)
		hdr[1 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	int rc = mcr_buf_put(b, (const char *)hdr, sizeof(hdr));
	return rc ? rc : mcr_buf_put(b, (const char *)p, len);
}

static int put_int(mcr_buf *b, long long v)
{
	char num[32];
	int n = snprintf(num, sizeof(num), "%lld", v);
	return put_value(b, 'I', num, (size_t)n);
}

static int put_text(mcr_buf *b, const char *s)
{
	return s ? put_value(b, 'T', s, strlen(s)) : put_value(b, 'N', NULL, 0);
}

#define V2_PREFIX "mcr-audit-chain-v2\n"

/* Hash under scheme 2 of prev_hash, seq and rest (the encoded fields after seq). */
static int hash_v2(const char *prev_hash, long seq, const mcr_buf *rest, char out[65])
{
	mcr_buf b = MCR_BUF_INIT;
	int rc = mcr_buf_puts(&b, V2_PREFIX);
	if (!rc)
		rc = mcr_buf_put(&b, prev_hash, strlen(prev_hash));
	if (!rc)
		rc = put_int(&b, seq);
	if (!rc)
		rc = mcr_buf_put(&b, rest->ptr ? rest->ptr : "", rest->len);
	if (!rc)
		rc = sha256_hex(b.ptr, b.len, seq, out);
	mcr_buf_free(&b);
	return rc;
}

/* The fields after seq of an entry as the appender stores them. */
static int encode_entry_rest(const mcr_audit_entry *e, mcr_buf *b)
{
	const char *f[] = { e->at, e->user, e->org, e->role, e->nhs, e->sections, e->basis,
	                    e->reason, e->outcome, e->detail };
	int rc = 0;
	for (size_t i = 0; !rc && i < sizeof(f) / sizeof(f[0]); i++)
		rc = put_text(b, f[i]);
	if (!rc)
		rc = e->generation ? put_int(b, e->generation) : put_value(b, 'N', NULL, 0);
	return rc;
}

int mcr_audit_entry_hash(const mcr_audit_entry *e, const char *prev_hash, char out[65])
{
	mcr_buf rest = MCR_BUF_INIT;
	int rc = encode_entry_rest(e, &rest);
	if (!rc)
		rc = hash_v2(prev_hash, e->seq, &rest, out);
	mcr_buf_free(&rest);
	return rc;
}

/* ---- appending: group commit ------------------------------------------------------ */

/* Inside the append transaction: the head to chain from. */
static int read_head(mcr_audit *a, long *seq, char hash[65])
{
	int rc = 0, step = sqlite3_step(a->head);
	if (step == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(a->head, 1);
		*seq = (long)sqlite3_column_int64(a->head, 0);
		if (!h || strlen(h) != 64)
			rc = mcr_error_set(MCR_EFORMAT, "audit log %s: head record damaged: run verification", a->path);
		else
			memcpy(hash, h, 65);
	} else if (step == SQLITE_DONE) {
		/* No head: only a new, empty log may start a chain. */
		if (sqlite3_step(a->count) != SQLITE_ROW)
			rc = db_error(a->db, "cannot count entries", a->path);
		else if (sqlite3_column_int64(a->count, 0) != 0)
			rc = mcr_error_set(MCR_EFORMAT, "audit log %s: head record missing: run verification", a->path);
		*seq = 0;
		memcpy(hash, zero_hash, 65);
	} else {
		rc = db_error(a->db, "cannot read the head record", a->path);
	}
	sqlite3_reset(a->head);
	sqlite3_reset(a->count);
	return rc;
}

static int insert_entry(mcr_audit *a, const mcr_audit_entry *e, const char *prev)
{
	sqlite3_stmt *st = a->insert;
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
	return step == SQLITE_DONE ? 0 : db_error(a->db, "cannot append an entry", a->path);
}

/* Write the batch in one transaction (one fsync): each entry gets the next seq,
 * the system time and its hash; the head moves to the last one. On failure
 * nothing was written. */
static int write_batch(mcr_audit *a, request *batch, long *head_seq, char head_hash[65])
{
	char prev[65], at[32];
	long last = 0;
	/* The audit time is the system clock's: $MCR_NOW (replaying nights) never
	 * applies here, so an entry cannot be back-dated out of a report's period. */
	mcr_time_iso(time(NULL), at);
	int rc = exec(a->db, "BEGIN IMMEDIATE", a->path);
	if (rc)
		return rc;
	if ((rc = read_head(a, &last, prev)))
		goto fail;
	for (request *r = batch; r; r = r->next) {
		mcr_audit_entry *e = r->e;
		e->seq = ++last;
		memcpy(e->at, at, sizeof(at));
		if ((rc = mcr_audit_entry_hash(e, prev, e->hash)) || (rc = insert_entry(a, e, prev)))
			goto fail;
		memcpy(prev, e->hash, 65);
	}
	sqlite3_bind_int64(a->set_head, 1, last);
	sqlite3_bind_text(a->set_head, 2, prev, 64, SQLITE_STATIC);
	int step = sqlite3_step(a->set_head);
	sqlite3_reset(a->set_head);
	sqlite3_clear_bindings(a->set_head);
	if (step != SQLITE_DONE) {
		rc = db_error(a->db, "cannot update the head record", a->path);
		goto fail;
	}
	if ((rc = exec(a->db, "COMMIT", a->path)))
		goto fail;
	*head_seq = last;
	memcpy(head_hash, prev, 65);
	return 0;
fail:
	sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Take up to BATCH_MAX waiting requests off the queue (lock held). */
static request *take_batch(mcr_audit *a, long *n)
{
	request *batch = a->queue, **end = &a->queue;
	*n = 0;
	while (*end && *n < BATCH_MAX) {
		end = &(*end)->next;
		(*n)++;
	}
	a->queue = *end;
	*end = NULL;
	if (!a->queue)
		a->tail = &a->queue;
	a->stats.queued -= *n;
	return batch;
}

/* As leader: write one batch and settle its requests. Called and returns with the
 * lock held; drops it while writing. */
static void lead(mcr_audit *a)
{
	long n = 0, head_seq = 0;
	char head_hash[65];
	request *batch = take_batch(a, &n);
	a->leading = 1;
	pthread_mutex_unlock(&a->mu);

	int rc = write_batch(a, batch, &head_seq, head_hash);
	if (rc) {
		for (request *r = batch; r; r = r->next) {
			r->e->seq = 0;
			snprintf(r->msg, sizeof(r->msg), "%s", mcr_error_message());
		}
	} else if (a->on_commit) {
		a->on_commit(a->on_commit_ctx, head_seq, head_hash);
	}

	pthread_mutex_lock(&a->mu);
	for (request *r = batch; r;) {
		request *next = r->next; /* r may be gone once done is seen */
		r->rc = rc;
		r->done = 1;
		r = next;
	}
	if (!rc) {
		a->stats.entries += n;
		a->stats.commits++;
	}
	a->leading = 0;
	pthread_cond_broadcast(&a->cv);
}

int mcr_audit_append(mcr_audit *a, mcr_audit_entry *e)
{
	e->seq = 0;
	e->hash[0] = '\0';
	if (!e->user || !e->org || !e->role || !e->nhs || !e->sections || !e->basis || !e->outcome)
		return mcr_error_set(MCR_EUSAGE, "audit entry lacks a required field");
	request r;
	memset(&r, 0, sizeof(r));
	r.e = e;
	pthread_mutex_lock(&a->mu);
	*a->tail = &r;
	a->tail = &r.next;
	a->stats.queued++;
	/* Whoever finds no commit in progress writes everything waiting; the others
	 * wait for it, and one of those still waiting leads the next commit. */
	while (!r.done) {
		if (!a->leading)
			lead(a);
		else
			pthread_cond_wait(&a->cv, &a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	if (r.rc)
		return mcr_error_set(r.rc, "%s", r.msg);
	return 0;
}

/* ---- checkpoints ------------------------------------------------------------------- */

static int is_hex64(const char *s, size_t len)
{
	if (len != 64)
		return 0;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

static void lower_hex(const char *s, char out[65])
{
	for (int i = 0; i < 64; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'F') ? (char)(s[i] - 'A' + 'a') : s[i];
	out[64] = '\0';
}

/* A checkpoint at the start of s ("N:HASH" then a non-hex character or the end);
 * returns its length or 0. */
static size_t checkpoint_at(const char *s, mcr_audit_checkpoint *out)
{
	size_t i = 0;
	long seq = 0;
	while (s[i] >= '0' && s[i] <= '9') {
		if (seq > (LONG_MAX - 9) / 10 || i >= 18)
			return 0;
		seq = seq * 10 + (s[i] - '0');
		i++;
	}
	if (i == 0 || s[i] != ':')
		return 0;
	const char *h = s + i + 1;
	size_t hl = 0;
	while (hl <= 64 && ((h[hl] >= '0' && h[hl] <= '9') || (h[hl] >= 'a' && h[hl] <= 'f') ||
	                    (h[hl] >= 'A' && h[hl] <= 'F')))
		hl++;
	if (!is_hex64(h, hl))
		return 0;
	out->seq = seq;
	lower_hex(h, out->hash);
	return i + 1 + 64;
}

int mcr_audit_checkpoint_parse(const char *s, const char *source, mcr_audit_checkpoint *out)
{
	memset(out, 0, sizeof(*out));
	size_t n = checkpoint_at(s, out);
	if (n == 0 || s[n] != '\0')
		return mcr_error_set(MCR_EUSAGE, "bad audit checkpoint '%s': expected N:HASH (entry count, "
		                     "colon, 64 hex digits)", s);
	snprintf(out->source, sizeof(out->source), "%s", source ? source : "given");
	return 0;
}

void mcr_audit_checkpoint_format(const mcr_audit_checkpoint *c, char out[MCR_AUDIT_CHECKPOINT_MAX])
{
	snprintf(out, MCR_AUDIT_CHECKPOINT_MAX, "%ld:%s", c->seq, c->hash);
}

int mcr_audit_checkpoints_add(mcr_audit_checkpoints *l, const mcr_audit_checkpoint *c)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		mcr_audit_checkpoint *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return mcr_error_set(MCR_ENOMEM, "out of memory collecting audit checkpoints");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *c;
	return 0;
}

void mcr_audit_checkpoints_free(mcr_audit_checkpoints *l)
{
	if (!l)
		return;
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int mcr_audit_checkpoints_scan(mcr_audit_checkpoints *l, const char *path, int missing_ok)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT && missing_ok)
			return 0;
		return mcr_error_set_errno(errno == ENOENT ? MCR_ENOTFOUND : MCR_EIO, "cannot read %s", path);
	}
	char *line = NULL;
	size_t cap = 0;
	long lineno = 0;
	int rc = 0;
	static const char words[] = MCR_AUDIT_CHECKPOINT_WORDS " ";
	while (!rc && getline(&line, &cap, f) >= 0) {
		lineno++;
		for (const char *p = strstr(line, words); !rc && p; p = strstr(p + 1, words)) {
			mcr_audit_checkpoint c;
			memset(&c, 0, sizeof(c));
			if (checkpoint_at(p + sizeof(words) - 1, &c)) {
				snprintf(c.source, sizeof(c.source), "%s:%ld", path, lineno);
				rc = mcr_audit_checkpoints_add(l, &c);
			}
		}
	}
	if (!rc && ferror(f))
		rc = mcr_error_set_errno(MCR_EIO, "cannot read %s", path);
	free(line);
	fclose(f);
	return rc;
}

/* Open the log at path read-only for reports and verification. */
static int open_ro(const char *path, sqlite3 **db)
{
	*db = NULL;
	if (!mcr_fs_exists(path))
		return mcr_error_set(MCR_ENOTFOUND, "audit log %s: no such file", path);
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		int rc = db_error(*db, "cannot open", path);
		sqlite3_close(*db);
		*db = NULL;
		return rc;
	}
	sqlite3_busy_timeout(*db, AUDIT_BUSY_MS);
	return 0;
}

static void copy_hash(char out[65], const unsigned char *s)
{
	out[0] = '\0';
	if (s && strlen((const char *)s) == 64)
		memcpy(out, s, 65);
}

/* The head record into seq and hash within the read transaction open on db;
 * *have 0 when there is none. */
static int head_record(sqlite3 *db, const char *path, int *have, long *seq, char hash[65])
{
	sqlite3_stmt *st = NULL;
	*have = 0;
	*seq = 0;
	hash[0] = '\0';
	if (sqlite3_prepare_v2(db, "SELECT last_seq, last_hash FROM audit_head WHERE id = 1", -1, &st, NULL) != SQLITE_OK)
		return mcr_db_errorf(db, MCR_EFORMAT, "audit log %s: not an audit log", path);
	int step = sqlite3_step(st), rc = 0;
	if (step == SQLITE_ROW) {
		*have = 1;
		*seq = (long)sqlite3_column_int64(st, 0);
		copy_hash(hash, sqlite3_column_text(st, 1));
	} else if (step != SQLITE_DONE) {
		rc = db_error(db, "cannot read the head record", path);
	}
	sqlite3_finalize(st);
	return rc;
}

int mcr_audit_read_head(const char *path, mcr_audit_checkpoint *out)
{
	sqlite3 *db = NULL;
	memset(out, 0, sizeof(*out));
	snprintf(out->source, sizeof(out->source), "%s", path);
	int rc = open_ro(path, &db), have = 0;
	if (!rc)
		rc = head_record(db, path, &have, &out->seq, out->hash);
	if (!rc && !have) {
		/* No head: an empty log, or one whose head was removed. */
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db, "SELECT count(*) FROM audit", -1, &st, NULL) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_ROW)
			rc = db_error(db, "cannot count entries", path);
		else if (sqlite3_column_int64(st, 0) != 0)
			rc = mcr_error_set(MCR_EFORMAT, "audit log %s: head record missing: run verification", path);
		else
			memcpy(out->hash, zero_hash, 65);
		sqlite3_finalize(st);
	} else if (!rc && strlen(out->hash) != 64) {
		rc = mcr_error_set(MCR_EFORMAT, "audit log %s: head record damaged: run verification", path);
	}
	sqlite3_close(db);
	return rc;
}

/* ---- verification --------------------------------------------------------- */

/* One stored entry: its text view for scheme 1, its typed encoding for scheme 2. */
typedef struct row {
	mcr_audit_entry e;
	char *f[9];      /* user org role nhs sections basis reason outcome detail */
	mcr_buf rest;    /* scheme 2 encoding of the columns after seq */
	char prev_hash[65], hash[65];
	int bad_field;   /* scheme 1: a field holds the separator 0x1f */
	int bad_type;    /* prev_hash or hash not stored as TEXT */
} row;

static void row_clear(row *r)
{
	for (int i = 0; i < 9; i++)
		free(r->f[i]);
	mcr_buf_free(&r->rest);
	memset(r, 0, sizeof(*r));
}

/* Column i of st in the scheme 2 encoding, as stored. */
static int encode_column(sqlite3_stmt *st, int i, mcr_buf *b)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		return put_value(b, 'N', NULL, 0);
	case SQLITE_INTEGER:
		return put_int(b, sqlite3_column_int64(st, i));
	case SQLITE_FLOAT: {
		char num[40];
		int n = snprintf(num, sizeof(num), "%.17g", sqlite3_column_double(st, i));
		return put_value(b, 'R', num, (size_t)n);
	}
	case SQLITE_BLOB: {
		const void *p = sqlite3_column_blob(st, i);
		return put_value(b, 'B', p ? p : "", (size_t)sqlite3_column_bytes(st, i));
	}
	default: {
		const unsigned char *p = sqlite3_column_text(st, i);
		return put_value(b, 'T', p ? (const char *)p : "", (size_t)sqlite3_column_bytes(st, i));
	}
	}
}

/* Columns: seq at user org role nhs sections basis reason outcome detail generation prev_hash hash */
static int row_load(sqlite3_stmt *st, row *r)
{
	row_clear(r);
	int rc = 0;
	for (int i = 1; !rc && i <= 11; i++)
		rc = encode_column(st, i, &r->rest);
	if (rc)
		return rc;
	r->e.seq = (long)sqlite3_column_int64(st, 0);
	const unsigned char *at = sqlite3_column_text(st, 1);
	snprintf(r->e.at, sizeof(r->e.at), "%s", at ? (const char *)at : "");
	for (int i = 0; i < 9; i++) {
		const unsigned char *s = sqlite3_column_text(st, 2 + i);
		if (s) {
			r->f[i] = strdup((const char *)s);
			if (!r->f[i])
				return mcr_error_set(MCR_ENOMEM, "out of memory verifying the audit log");
			if (strchr(r->f[i], '\x1f'))
				r->bad_field = 1;
		}
	}
	r->e.user = r->f[0];
	r->e.org = r->f[1];
	r->e.role = r->f[2];
	r->e.nhs = r->f[3];
	r->e.sections = r->f[4];
	r->e.basis = r->f[5];
	r->e.reason = r->f[6];
	r->e.outcome = r->f[7];
	r->e.detail = r->f[8];
	r->e.generation = (long)sqlite3_column_int64(st, 11);
	r->bad_type = sqlite3_column_type(st, 12) != SQLITE_TEXT || sqlite3_column_type(st, 13) != SQLITE_TEXT;
	copy_hash(r->prev_hash, sqlite3_column_text(st, 12));
	copy_hash(r->hash, sqlite3_column_text(st, 13));
	return 0;
}

/* The log being verified. */
typedef struct verifier {
	sqlite3 *db;
	const char *path;
	long v2_from; /* first entry hashed under scheme 2 */
} verifier;

/* *ok = 1 if r's stored hash is its content hashed as entry seq (under the scheme
 * entry seq was written with). */
static int hashes_as(const verifier *v, const row *r, long seq, int *ok)
{
	char h[65];
	int rc;
	*ok = 0;
	if (seq >= v->v2_from) {
		rc = hash_v2(r->prev_hash, seq, &r->rest, h);
	} else {
		mcr_audit_entry e = r->e;
		e.seq = seq;
		rc = entry_hash_v1(&e, r->prev_hash, h);
		if (r->bad_field)
			return rc;
	}
	if (rc)
		return rc;
	*ok = !r->bad_type && r->hash[0] && strcmp(h, r->hash) == 0;
	return 0;
}

/* Which entry r's content was written as (its hash verifies with that seq), searching
 * near its place; 0 when none: its content was edited. */
static int original_seq(const verifier *v, const row *r, long *orig)
{
	*orig = 0;
	for (long d = 1; d <= 1000; d++) {
		long cand[2] = { r->e.seq - d, r->e.seq + d };
		for (int k = 0; k < 2; k++) {
			int ok = 0, rc;
			if (cand[k] < 1)
				continue;
			if ((rc = hashes_as(v, r, cand[k], &ok)))
				return rc;
			if (ok) {
				*orig = cand[k];
				return 0;
			}
		}
	}
	return 0;
}

#define ROW_COLUMNS "seq, at, user, org, role, nhs, sections, basis, reason, outcome, detail," \
	" generation, prev_hash, hash"

/* The entry after seq, into r; 1 found, 0 none, negative on error. */
static int next_row(const verifier *v, long seq, row *r)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(v->db, "SELECT " ROW_COLUMNS " FROM audit WHERE seq > ?1 ORDER BY seq LIMIT 1",
	                       -1, &st, NULL) != SQLITE_OK)
		return db_error(v->db, "cannot read entries", v->path);
	sqlite3_bind_int64(st, 1, seq);
	int step = sqlite3_step(st), rc;
	if (step == SQLITE_ROW)
		rc = row_load(st, r) ? MCR_ENOMEM : 1;
	else if (step == SQLITE_DONE)
		rc = 0;
	else
		rc = db_error(v->db, "cannot read entries", v->path);
	sqlite3_finalize(st);
	return rc;
}

/* The seq the entry after r was written as (0: none or edited) into *orig, and
 * whether its prev_hash is prev. */
static int next_original(const verifier *v, const row *r, const char *prev, long *orig, int *links)
{
	row next;
	memset(&next, 0, sizeof(next));
	*orig = 0;
	*links = 0;
	int rc = next_row(v, r->e.seq, &next);
	if (rc == 1) {
		rc = original_seq(v, &next, orig);
		*links = prev && strcmp(next.prev_hash, prev) == 0;
	}
	row_clear(&next);
	return rc < 0 ? rc : 0;
}

/*
 * Explain why entry r (at the place where entry `want` belongs, after an entry
 * whose hash is prev and whose own prev_hash is prev_prev) breaks the chain.
 */
static int diagnose(const verifier *v, const row *r, long want, const char *prev, const char *prev_prev)
{
	int ok = 0, rc, links = 0;
	if (r->e.seq > want)
		return mcr_error_set(MCR_EFORMAT, "audit entry %ld: missing (deleted)", want);
	if (r->bad_type)
		return mcr_error_set(MCR_EFORMAT, "audit entry %ld: hash stored with the wrong type (edited)", want);
	if ((rc = hashes_as(v, r, r->e.seq, &ok)))
		return rc;
	if (ok) {
		/* The entry is intact but does not follow the one before: that one
		 * was replaced by a different entry with a recomputed hash. */
		if (strcmp(r->prev_hash, prev_prev) == 0)
			return mcr_error_set(MCR_EFORMAT, "audit entry %ld: inserted (not part of the chain)",
			                     want - 1);
		return mcr_error_set(MCR_EFORMAT, "audit entry %ld: hash mismatch (edited and rehashed)",
		                     want - 1);
	}
	long orig = 0, orig2 = 0;
	if ((rc = original_seq(v, r, &orig)))
		return rc;
	if (orig == 0) {
		/* Either edited, or a forged entry pushed the rest along by one. */
		if ((rc = next_original(v, r, prev, &orig2, &links)))
			return rc;
		if (orig2 == want && links)
			return mcr_error_set(MCR_EFORMAT, "audit entry %ld: inserted (later entries renumbered)",
			                     want);
		return mcr_error_set(MCR_EFORMAT, "audit entry %ld: hash mismatch (edited)", want);
	}
	if (orig == want - 1)
		return mcr_error_set(MCR_EFORMAT, "audit entry %ld: inserted (later entries renumbered)",
		                     want - 1);
	if (orig > want) {
		if ((rc = next_original(v, r, NULL, &orig2, &links)))
			return rc;
		if (orig2 == want)
			return mcr_error_set(MCR_EFORMAT, "audit entry %ld: swapped with entry %ld (out of order)",
			                     want, orig);
		return mcr_error_set(MCR_EFORMAT, "audit entry %ld: missing (deleted, later entries renumbered)",
		                     want);
	}
	return mcr_error_set(MCR_EFORMAT, "audit entry %ld: out of order (holds entry %ld)", want, orig);
}

static int by_seq(const void *x, const void *y)
{
	const mcr_audit_checkpoint *a = x, *b = y;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

static int checkpoint_error(const mcr_audit_checkpoint *c, long entries)
{
	char cp[MCR_AUDIT_CHECKPOINT_MAX];
	mcr_audit_checkpoint_format(c, cp);
	if (c->seq > entries)
		return mcr_error_set(MCR_EFORMAT, "audit entry %ld: missing (the log ends at entry %ld, but "
		                     "checkpoint %s from %s names entry %ld: truncated or replaced)",
		                     entries + 1, entries, cp, c->source, c->seq);
	return mcr_error_set(MCR_EFORMAT, "audit entry %ld: hash differs from checkpoint %s from %s "
	                     "(the log was rewritten or replaced)", c->seq, cp, c->source);
}

int mcr_audit_verify(const char *path, const mcr_audit_checkpoints *cps, mcr_audit_verify_result *res)
{
	verifier v = { NULL, path, LONG_MAX };
	sqlite3_stmt *st = NULL;
	row r;
	long want = 1, head_seq = 0;
	char head_hash[65] = "", prev[65], prev_prev[65];
	int rc = 0, have_head = 0, in_tx = 0;
	mcr_audit_checkpoint *cp = NULL;
	size_t ncp = cps ? cps->n : 0, next_cp = 0;
	memset(&r, 0, sizeof(r));
	memcpy(prev, zero_hash, 65);
	memcpy(prev_prev, zero_hash, 65);
	memset(res, 0, sizeof(*res));
	if (ncp) {
		cp = malloc(ncp * sizeof(*cp));
		if (!cp)
			return mcr_error_set(MCR_ENOMEM, "out of memory verifying the audit log");
		memcpy(cp, cps->v, ncp * sizeof(*cp));
		qsort(cp, ncp, sizeof(*cp), by_seq);
	}
	if ((rc = open_ro(path, &v.db)))
		goto out;
	/* One read transaction: appends made meanwhile are not half seen. */
	if ((rc = exec(v.db, "BEGIN", path)))
		goto out;
	in_tx = 1;
	if ((rc = head_record(v.db, path, &have_head, &head_seq, head_hash)) ||
	    (rc = read_v2_from(v.db, path, &v.v2_from)))
		goto out;
	if (sqlite3_prepare_v2(v.db, "SELECT " ROW_COLUMNS " FROM audit ORDER BY seq", -1, &st, NULL) != SQLITE_OK) {
		rc = mcr_db_errorf(v.db, MCR_EFORMAT, "audit log %s: not an audit log", path);
		goto out;
	}
	/* Checkpoints of the empty log: entry 0's "hash" is the zeros. */
	for (; next_cp < ncp && cp[next_cp].seq == 0; next_cp++)
		if (strcmp(cp[next_cp].hash, zero_hash) != 0) {
			rc = checkpoint_error(&cp[next_cp], LONG_MAX);
			goto out;
		}
	for (;;) {
		int step = sqlite3_step(st), ok = 0;
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = db_error(v.db, "cannot read entries", path);
			goto out;
		}
		if ((rc = row_load(st, &r)))
			goto out;
		if (r.e.seq == want && strcmp(r.prev_hash, prev) == 0) {
			if ((rc = hashes_as(&v, &r, r.e.seq, &ok)))
				goto out;
		}
		if (!ok) {
			rc = diagnose(&v, &r, want, prev, prev_prev);
			goto out;
		}
		for (; next_cp < ncp && cp[next_cp].seq == want; next_cp++)
			if (strcmp(cp[next_cp].hash, r.hash) != 0) {
				rc = checkpoint_error(&cp[next_cp], LONG_MAX);
				goto out;
			}
		if (want < v.v2_from)
			res->v1_entries++;
		memcpy(prev_prev, prev, 65);
		memcpy(prev, r.hash, 65);
		want++;
	}
	long last = want - 1;
	if (!have_head && last > 0)
		rc = mcr_error_set(MCR_EFORMAT, "audit log %s: head record missing (after entry %ld)", path, last);
	else if (head_seq > last)
		rc = mcr_error_set(MCR_EFORMAT, "audit entry %ld: missing (log truncated: head record names entry %ld)",
		                   last + 1, head_seq);
	else if (head_seq < last)
		rc = mcr_error_set(MCR_EFORMAT, "audit entry %ld: inserted (after the head record's last entry %ld)",
		                   head_seq + 1, head_seq);
	else if (last > 0 && strcmp(head_hash, prev) != 0)
		rc = mcr_error_set(MCR_EFORMAT, "audit entry %ld: hash differs from the head record (replaced)", last);
	else if (next_cp < ncp)
		rc = checkpoint_error(&cp[ncp - 1], last);
	if (!rc) {
		res->entries = last;
		memcpy(res->head, prev, 65);
		res->checkpoints = ncp;
	}
out:
	row_clear(&r);
	sqlite3_finalize(st);
	if (v.db) {
		if (in_tx)
			sqlite3_exec(v.db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(v.db);
	}
	free(cp);
	return rc;
}
