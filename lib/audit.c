/*
 * The audit log: one SQLite database (schema/audit.sql), append-only, each entry
 * chained to the one before with SHA-256 (OpenSSL EVP). docs/AUDIT.md.
 */
#include "mcr/audit.h"
#include "mcr/buf.h"
#include "mcr/db.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/schema.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Concurrent lookups wait this long for another's append before failing. */
#define AUDIT_BUSY_MS 10000

static const char zero_hash[65] =
	"0000000000000000000000000000000000000000000000000000000000000000";

struct mcr_audit {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *head, *count, *insert, *set_head;
};

static int db_error(sqlite3 *db, const char *what, const char *path)
{
	return mcr_error_set(MCR_EIO, "audit log %s: %s: %s", path, what,
	                     db ? sqlite3_errmsg(db) : "out of memory");
}

static int exec(sqlite3 *db, const char *sql, const char *path)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	int rc = mcr_error_set(MCR_EIO, "audit log %s: %s", path, msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return rc;
}

/* mkdir -p of the folder holding path. */
static int make_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return 0;
	mcr_buf dir = MCR_BUF_INIT;
	int rc = mcr_buf_put(&dir, path, (size_t)(slash - path));
	if (!rc)
		rc = mcr_fs_mkdirs(dir.ptr);
	mcr_buf_free(&dir);
	return rc;
}

/* WAL: one fsync per append with synchronous=FULL, and readers (reports) never
 * block appenders. The mode is persistent, so it is set once. */
static int set_wal(sqlite3 *db, const char *path)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) != SQLITE_OK)
		return db_error(db, "cannot read the journal mode", path);
	int is_wal = sqlite3_step(st) == SQLITE_ROW &&
	             strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	if (!is_wal)
		rc = exec(db, "PRAGMA journal_mode=WAL", path);
	return rc;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *path)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return db_error(db, "cannot prepare a statement", path);
	return 0;
}

int mcr_audit_open(mcr_audit **out, const char *path)
{
	*out = NULL;
	mcr_audit *a = calloc(1, sizeof(*a));
	if (!a)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening the audit log");
	int rc;
	a->path = strdup(path);
	if (!a->path) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory opening the audit log");
		goto fail;
	}
	if ((rc = make_parent(path)))
		goto fail;
	/* The log names who looked at whose record: not world-readable. SQLite gives
	 * its -wal and -shm files the database file's mode. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		rc = mcr_error_set_errno(MCR_EIO, "audit log %s: cannot open", path);
		goto fail;
	}
	close(fd);
	if (sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		rc = db_error(a->db, "cannot open", path);
		goto fail;
	}
	sqlite3_busy_timeout(a->db, AUDIT_BUSY_MS);
	if ((rc = set_wal(a->db, path)) ||
	    (rc = exec(a->db, "PRAGMA synchronous=FULL", path)) ||
	    (rc = exec(a->db, "BEGIN IMMEDIATE", path)))
		goto fail;
	if ((rc = exec(a->db, mcr_schema_audit_sql, path))) {
		sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	if ((rc = exec(a->db, "COMMIT", path)))
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
	*out = a;
	return 0;
fail:
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
	free(a->path);
	free(a);
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

int mcr_audit_entry_hash(const mcr_audit_entry *e, const char *prev_hash, char out[65])
{
	mcr_buf b = MCR_BUF_INIT;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int rc = mcr_buf_printf(&b, "%s\n%ld\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%ld",
	                        prev_hash, e->seq, e->at, nz(e->user), nz(e->org), nz(e->role),
	                        nz(e->nhs), nz(e->sections), nz(e->basis), nz(e->reason),
	                        nz(e->outcome), nz(e->detail), e->generation);
	if (rc)
		return rc;
	if (EVP_Digest(b.ptr, b.len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		rc = mcr_error_set(MCR_ERROR, "SHA-256 of audit entry %ld failed", e->seq);
	mcr_buf_free(&b);
	if (rc)
		return rc;
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	return 0;
}

/* The field separator inside a field would let two different entries share a
 * canonical line, so such an entry is refused (and flagged by verify). */
static int has_separator(const mcr_audit_entry *e)
{
	const char *f[] = { e->user, e->org, e->role, e->nhs, e->sections, e->basis,
	                    e->reason, e->outcome, e->detail };
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i] && strchr(f[i], '\x1f'))
			return 1;
	return 0;
}

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

int mcr_audit_append(mcr_audit *a, mcr_audit_entry *e)
{
	char prev[65], hash[65];
	long last = 0;
	int rc;
	e->seq = 0;
	if (!e->user || !e->org || !e->role || !e->nhs || !e->sections || !e->basis || !e->outcome)
		return mcr_error_set(MCR_EUSAGE, "audit entry lacks a required field");
	if (has_separator(e))
		return mcr_error_set(MCR_EUSAGE, "audit entry field holds a control character (0x1f)");
	if ((rc = exec(a->db, "BEGIN IMMEDIATE", a->path)))
		return rc;
	if ((rc = read_head(a, &last, prev)))
		goto fail;
	e->seq = last + 1;
	mcr_time_iso(mcr_time_now(), e->at);
	if ((rc = mcr_audit_entry_hash(e, prev, hash)))
		goto fail;
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
	sqlite3_bind_text(st, 14, hash, 64, SQLITE_STATIC);
	int step = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (step != SQLITE_DONE) {
		rc = db_error(a->db, "cannot append an entry", a->path);
		goto fail;
	}
	sqlite3_bind_int64(a->set_head, 1, e->seq);
	sqlite3_bind_text(a->set_head, 2, hash, 64, SQLITE_STATIC);
	step = sqlite3_step(a->set_head);
	sqlite3_reset(a->set_head);
	sqlite3_clear_bindings(a->set_head);
	if (step != SQLITE_DONE) {
		rc = db_error(a->db, "cannot update the head record", a->path);
		goto fail;
	}
	if ((rc = exec(a->db, "COMMIT", a->path)))
		goto fail;
	return 0;
fail:
	sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	e->seq = 0;
	return rc;
}

/* ---- verification --------------------------------------------------------- */

/* One stored entry with its own copies of the strings. */
typedef struct row {
	mcr_audit_entry e;
	char *f[9]; /* user org role nhs sections basis reason outcome detail */
	char prev_hash[65], hash[65];
	int bad_field; /* a field holds the separator */
} row;

static void row_clear(row *r)
{
	for (int i = 0; i < 9; i++)
		free(r->f[i]);
	memset(r, 0, sizeof(*r));
}

static void copy_hash(char out[65], const unsigned char *s)
{
	out[0] = '\0';
	if (s && strlen((const char *)s) == 64)
		memcpy(out, s, 65);
}

/* Columns: seq at user org role nhs sections basis reason outcome detail generation prev_hash hash */
static int row_load(sqlite3_stmt *st, row *r)
{
	row_clear(r);
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
	copy_hash(r->prev_hash, sqlite3_column_text(st, 12));
	copy_hash(r->hash, sqlite3_column_text(st, 13));
	return 0;
}

/* 1 if r's stored hash is its content hashed as entry seq. */
static int hashes_as(const row *r, long seq, int *ok)
{
	mcr_audit_entry e = r->e;
	char h[65];
	e.seq = seq;
	int rc = mcr_audit_entry_hash(&e, r->prev_hash, h);
	if (rc)
		return rc;
	*ok = !r->bad_field && r->hash[0] && strcmp(h, r->hash) == 0;
	return 0;
}

/* Which entry r's content was written as (its hash verifies with that seq), searching
 * near its place; 0 when none: its content was edited. */
static int original_seq(const row *r, long *orig)
{
	*orig = 0;
	for (long d = 1; d <= 1000; d++) {
		long cand[2] = { r->e.seq - d, r->e.seq + d };
		for (int k = 0; k < 2; k++) {
			int ok = 0, rc;
			if (cand[k] < 1)
				continue;
			if ((rc = hashes_as(r, cand[k], &ok)))
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
static int next_row(sqlite3 *db, const char *path, long seq, row *r)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT " ROW_COLUMNS " FROM audit WHERE seq > ?1 ORDER BY seq LIMIT 1",
	                       -1, &st, NULL) != SQLITE_OK)
		return db_error(db, "cannot read entries", path);
	sqlite3_bind_int64(st, 1, seq);
	int step = sqlite3_step(st), rc;
	if (step == SQLITE_ROW)
		rc = row_load(st, r) ? MCR_ENOMEM : 1;
	else if (step == SQLITE_DONE)
		rc = 0;
	else
		rc = db_error(db, "cannot read entries", path);
	sqlite3_finalize(st);
	return rc;
}

/*
 * Explain why entry r (at the place where entry `want` belongs, after an entry
 * whose hash is prev and whose own prev_hash is prev_prev) breaks the chain.
 */
static int diagnose(sqlite3 *db, const char *path, const row *r, long want, const char *prev,
                    const char *prev_prev)
{
	int ok = 0, rc;
	if (r->e.seq > want)
		return mcr_error_set(MCR_EFORMAT, "audit entry %ld: missing (deleted)", want);
	if ((rc = hashes_as(r, r->e.seq, &ok)))
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
	long orig = 0;
	if ((rc = original_seq(r, &orig)))
		return rc;
	if (orig == 0) {
		/* Either edited, or a forged entry pushed the rest along by one. */
		row next;
		long orig2 = 0;
		memset(&next, 0, sizeof(next));
		rc = next_row(db, path, r->e.seq, &next);
		if (rc == 1)
			rc = original_seq(&next, &orig2);
		int pushed = orig2 == want && strcmp(next.prev_hash, prev) == 0;
		row_clear(&next);
		if (rc < 0)
			return rc;
		if (pushed)
			return mcr_error_set(MCR_EFORMAT, "audit entry %ld: inserted (later entries renumbered)",
			                     want);
		return mcr_error_set(MCR_EFORMAT, "audit entry %ld: hash mismatch (edited)", want);
	}
	if (orig == want - 1)
		return mcr_error_set(MCR_EFORMAT, "audit entry %ld: inserted (later entries renumbered)",
		                     want - 1);
	if (orig > want) {
		row next;
		long orig2 = 0;
		memset(&next, 0, sizeof(next));
		rc = next_row(db, path, r->e.seq, &next);
		if (rc == 1)
			rc = original_seq(&next, &orig2);
		row_clear(&next);
		if (rc < 0)
			return rc;
		if (orig2 == want)
			return mcr_error_set(MCR_EFORMAT, "audit entry %ld: swapped with entry %ld (out of order)",
			                     want, orig);
		return mcr_error_set(MCR_EFORMAT, "audit entry %ld: missing (deleted, later entries renumbered)",
		                     want);
	}
	return mcr_error_set(MCR_EFORMAT, "audit entry %ld: out of order (holds entry %ld)", want, orig);
}

int mcr_audit_verify(const char *path, long *entries)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	row r;
	long want = 1, head_seq = 0;
	char head_hash[65] = "", prev[65], prev_prev[65];
	int rc = 0, have_head = 0;
	memset(&r, 0, sizeof(r));
	memcpy(prev, zero_hash, 65);
	memcpy(prev_prev, zero_hash, 65);
	if (entries)
		*entries = 0;
	if (!mcr_fs_exists(path))
		return mcr_error_set(MCR_ENOTFOUND, "audit log %s: no such file", path);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = db_error(db, "cannot open", path);
		goto out;
	}
	sqlite3_busy_timeout(db, AUDIT_BUSY_MS);
	/* One read transaction: appends made meanwhile are not half seen. */
	if ((rc = exec(db, "BEGIN", path)))
		goto out;
	if (sqlite3_prepare_v2(db, "SELECT last_seq, last_hash FROM audit_head WHERE id = 1", -1, &st, NULL) != SQLITE_OK) {
		rc = mcr_error_set(MCR_EFORMAT, "audit log %s: not an audit log: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		have_head = 1;
		head_seq = (long)sqlite3_column_int64(st, 0);
		copy_hash(head_hash, sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT " ROW_COLUMNS " FROM audit ORDER BY seq", -1, &st, NULL) != SQLITE_OK) {
		rc = mcr_error_set(MCR_EFORMAT, "audit log %s: not an audit log: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	for (;;) {
		int step = sqlite3_step(st), ok = 0;
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = db_error(db, "cannot read entries", path);
			goto out;
		}
		if ((rc = row_load(st, &r)))
			goto out;
		if (r.e.seq == want && strcmp(r.prev_hash, prev) == 0) {
			if ((rc = hashes_as(&r, r.e.seq, &ok)))
				goto out;
		}
		if (!ok) {
			rc = diagnose(db, path, &r, want, prev, prev_prev);
			goto out;
		}
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
	else if (entries)
		*entries = last;
out:
	row_clear(&r);
	sqlite3_finalize(st);
	if (db) {
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(db);
	}
	return rc;
}
