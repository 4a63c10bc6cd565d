/*
 * The audit log, whatever it is stored in: the chain hash (SHA-256, OpenSSL EVP),
 * group commit of appends across threads, checkpoints, and verification walking
 * the entries. The storage (and all SQL) is behind lib/audit_backend.h: SQLite
 * in lib/audit_sqlite.c, PostgreSQL in lib/audit_pg.c. docs/AUDIT.md.
 */
#include "audit_backend.h"
#include "mcr/audit.h"
#include "mcr/buf.h"
#include "mcr/error.h"
#include "mcr/fs.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Entries written in one group commit at most (bounds one transaction). */
#define BATCH_MAX 512

static const char zero_hash[65] = AUDIT_ZERO_HASH;

/* One caller's entry waiting for a group commit; lives on the caller's stack. */
typedef struct request {
	mcr_audit_entry *e;
	int done, rc;
	char msg[512];
	struct request *next;
} request;

struct mcr_audit {
	audit_writer *w;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	request *queue, **tail; /* waiting for the next commit */
	int leading;            /* a thread is writing a batch */
	mcr_audit_stats stats;
	mcr_audit_commit_fn on_commit;
	void *on_commit_ctx;
};

/* ---- opening -------------------------------------------------------------------- */

/* Wrap an open writer in a handle; the writer is closed on failure. */
static int wrap(audit_writer *w, mcr_audit **out)
{
	mcr_audit *a = calloc(1, sizeof(*a));
	if (!a) {
		w->ops->close(w);
		return mcr_error_set(MCR_ENOMEM, "out of memory opening the audit log");
	}
	a->w = w;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	a->tail = &a->queue;
	*out = a;
	return 0;
}

/* A writer of the log cfg names (or of the SQLite file at path when cfg is NULL). */
static int open_writer(const mcr_config *cfg, const char *path, audit_writer **out)
{
	if (cfg && cfg->backend == MCR_BACKEND_POSTGRESQL)
		return audit_pg_writer_open(cfg, out);
	return audit_sqlite_writer_open(cfg ? cfg->audit_path : path, out);
}

/* A reader of the log cfg names (or of the SQLite file at path when cfg is NULL). */
static int open_reader(const mcr_config *cfg, const char *path, audit_reader **out)
{
	if (cfg && cfg->backend == MCR_BACKEND_POSTGRESQL)
		return audit_pg_reader_open(cfg, out);
	return audit_sqlite_reader_open(cfg ? cfg->audit_path : path, out);
}

static int open_handle(const mcr_config *cfg, const char *path, mcr_audit **out)
{
	audit_writer *w = NULL;
	*out = NULL;
	int rc = open_writer(cfg, path, &w);
	return rc ? rc : wrap(w, out);
}

int mcr_audit_open(mcr_audit **out, const char *path)
{
	return open_handle(NULL, path, out);
}

int mcr_audit_open_config(mcr_audit **out, const mcr_config *cfg)
{
	return open_handle(cfg, NULL, out);
}

void mcr_audit_close(mcr_audit *a)
{
	if (!a)
		return;
	a->w->ops->close(a->w);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
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

static int put_int(mcr_buf *b, long long v)
{
	char num[32];
	int n = snprintf(num, sizeof(num), "%lld", v);
	return audit_put_value(b, 'I', num, (size_t)n);
}

static int put_text(mcr_buf *b, const char *s)
{
	return s ? audit_put_value(b, 'T', s, strlen(s)) : audit_put_value(b, 'N', NULL, 0);
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
		rc = e->generation ? put_int(b, e->generation) : audit_put_value(b, 'N', NULL, 0);
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
static int read_head(audit_writer *w, long *seq, char hash[65])
{
	int have = 0, rc = w->ops->head(w, &have, seq, hash);
	if (rc)
		return rc;
	if (have) {
		if (strlen(hash) != 64)
			return mcr_error_set(MCR_EFORMAT, "audit log %s: head record damaged: run verification", w->label);
		return 0;
	}
	/* No head: only a new, empty log may start a chain. */
	long n = 0;
	if ((rc = w->ops->count(w, &n)))
		return rc;
	if (n != 0)
		return mcr_error_set(MCR_EFORMAT, "audit log %s: head record missing: run verification", w->label);
	*seq = 0;
	memcpy(hash, zero_hash, 65);
	return 0;
}

/* A log's first entry records that it is hashed under scheme 2 throughout, where
 * the backend did not record that when it made the log. */
static int first_scheme(audit_writer *w)
{
	long from = 0;
	int rc = w->ops->v2_from(w, &from);
	if (!rc && from == LONG_MAX)
		rc = w->ops->set_v2_from(w, 1);
	return rc;
}

/* Write the batch in one transaction (one fsync): each entry gets the next seq,
 * the system time and its hash; the head moves to the last one. On failure
 * nothing was written. */
static int write_batch(audit_writer *w, request *batch, long *head_seq, char head_hash[65])
{
	char prev[65], at[32];
	long last = 0;
	/* The audit time is the system clock's: $MCR_NOW (replaying nights) never
	 * applies here, so an entry cannot be back-dated out of a report's period. */
	mcr_time_iso(time(NULL), at);
	int rc = w->ops->begin(w);
	if (rc)
		return rc;
	if ((rc = read_head(w, &last, prev)) || (last == 0 && (rc = first_scheme(w))))
		goto fail;
	for (request *r = batch; r; r = r->next) {
		mcr_audit_entry *e = r->e;
		e->seq = ++last;
		memcpy(e->at, at, sizeof(at));
		if ((rc = mcr_audit_entry_hash(e, prev, e->hash)) || (rc = w->ops->insert(w, e, prev)))
			goto fail;
		memcpy(prev, e->hash, 65);
	}
	if ((rc = w->ops->set_head(w, last, prev)) || (rc = w->ops->commit(w)))
		goto fail;
	*head_seq = last;
	memcpy(head_hash, prev, 65);
	return 0;
fail:
	w->ops->rollback(w);
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

	int rc = write_batch(a->w, batch, &head_seq, head_hash);
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

/* ---- reading the head ---------------------------------------------------------- */

/* The head of the log open on r; as mcr_audit_read_head. */
static int head_of(audit_reader *r, mcr_audit_checkpoint *out)
{
	int have = 0, rc = r->ops->head(r, &have, &out->seq, out->hash);
	if (rc)
		return rc;
	if (!have) {
		/* No head: an empty log, or one whose head was removed. */
		long n = 0;
		if ((rc = r->ops->count(r, &n)))
			return rc;
		if (n != 0)
			return mcr_error_set(MCR_EFORMAT, "audit log %s: head record missing: run verification", r->label);
		memcpy(out->hash, zero_hash, 65);
	} else if (strlen(out->hash) != 64) {
		return mcr_error_set(MCR_EFORMAT, "audit log %s: head record damaged: run verification", r->label);
	}
	return 0;
}

static int read_head_from(const mcr_config *cfg, const char *path, mcr_audit_checkpoint *out)
{
	audit_reader *r = NULL;
	memset(out, 0, sizeof(*out));
	int rc = open_reader(cfg, path, &r);
	if (!rc) {
		snprintf(out->source, sizeof(out->source), "%s", r->label);
		rc = head_of(r, out);
		r->ops->close(r);
	}
	return rc;
}

int mcr_audit_read_head(const char *path, mcr_audit_checkpoint *out)
{
	return read_head_from(NULL, path, out);
}

int mcr_audit_read_head_config(const mcr_config *cfg, mcr_audit_checkpoint *out)
{
	return read_head_from(cfg, NULL, out);
}

int mcr_audit_query_config(const mcr_config *cfg, const mcr_audit_query *q, mcr_audit_entry_fn fn, void *ctx)
{
	audit_reader *r = NULL;
	int rc = open_reader(cfg, NULL, &r);
	if (!rc) {
		rc = r->ops->query(r, q, fn, ctx);
		r->ops->close(r);
	}
	return rc;
}

int mcr_audit_probe_config(const mcr_config *cfg)
{
	if (cfg->backend == MCR_BACKEND_POSTGRESQL)
		return audit_pg_probe(cfg);
	return audit_sqlite_probe(cfg->audit_path);
}

/* ---- verification --------------------------------------------------------- */

/* The log being verified. */
typedef struct verifier {
	audit_reader *r;
	long v2_from; /* first entry hashed under scheme 2 */
} verifier;

/* *ok = 1 if r's stored hash is its content hashed as entry seq (under the scheme
 * entry seq was written with). */
static int hashes_as(const verifier *v, const audit_row *r, long seq, int *ok)
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
static int original_seq(const verifier *v, const audit_row *r, long *orig)
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

/* The seq the entry after r was written as (0: none or edited) into *orig, and
 * whether its prev_hash is prev. */
static int next_original(const verifier *v, const audit_row *r, const char *prev, long *orig, int *links)
{
	audit_row next;
	memset(&next, 0, sizeof(next));
	*orig = 0;
	*links = 0;
	int rc = v->r->ops->after(v->r, r->e.seq, &next);
	if (rc == 1) {
		rc = original_seq(v, &next, orig);
		*links = prev && strcmp(next.prev_hash, prev) == 0;
	}
	audit_row_clear(&next);
	return rc < 0 ? rc : 0;
}

/*
 * Explain why entry r (at the place where entry `want` belongs, after an entry
 * whose hash is prev and whose own prev_hash is prev_prev) breaks the chain.
 */
static int diagnose(const verifier *v, const audit_row *r, long want, const char *prev, const char *prev_prev)
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

/* Verify the log open on reader rd against cps; as mcr_audit_verify. */
static int verify_reader(audit_reader *rd, const mcr_audit_checkpoints *cps, mcr_audit_verify_result *res)
{
	verifier v = { rd, LONG_MAX };
	audit_row r;
	long want = 1, head_seq = 0;
	char head_hash[65] = "", prev[65], prev_prev[65];
	int rc = 0, have_head = 0;
	mcr_audit_checkpoint *cp = NULL;
	size_t ncp = cps ? cps->n : 0, next_cp = 0;
	memset(&r, 0, sizeof(r));
	memcpy(prev, zero_hash, 65);
	memcpy(prev_prev, zero_hash, 65);
	if (ncp) {
		cp = malloc(ncp * sizeof(*cp));
		if (!cp)
			return mcr_error_set(MCR_ENOMEM, "out of memory verifying the audit log");
		memcpy(cp, cps->v, ncp * sizeof(*cp));
		qsort(cp, ncp, sizeof(*cp), by_seq);
	}
	if ((rc = rd->ops->head(rd, &have_head, &head_seq, head_hash)) ||
	    (rc = rd->ops->v2_from(rd, &v.v2_from)) || (rc = rd->ops->scan_start(rd, 0)))
		goto out;
	/* Checkpoints of the empty log: entry 0's "hash" is the zeros. */
	for (; next_cp < ncp && cp[next_cp].seq == 0; next_cp++)
		if (strcmp(cp[next_cp].hash, zero_hash) != 0) {
			rc = checkpoint_error(&cp[next_cp], LONG_MAX);
			goto out;
		}
	for (;;) {
		int ok = 0;
		rc = rd->ops->scan_next(rd, &r);
		if (rc <= 0)
			break;
		rc = 0;
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
	if (rc)
		goto out;
	long last = want - 1;
	if (!have_head && last > 0)
		rc = mcr_error_set(MCR_EFORMAT, "audit log %s: head record missing (after entry %ld)", rd->label, last);
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
		snprintf(res->log, sizeof(res->log), "%s", rd->label);
	}
out:
	audit_row_clear(&r);
	free(cp);
	return rc;
}

static int verify_from(const mcr_config *cfg, const char *path, const mcr_audit_checkpoints *cps,
                       mcr_audit_verify_result *res)
{
	audit_reader *r = NULL;
	memset(res, 0, sizeof(*res));
	int rc = open_reader(cfg, path, &r);
	if (!rc) {
		rc = verify_reader(r, cps, res);
		r->ops->close(r);
	}
	if (rc)
		memset(res, 0, sizeof(*res));
	return rc;
}

int mcr_audit_verify(const char *path, const mcr_audit_checkpoints *cps, mcr_audit_verify_result *res)
{
	return verify_from(NULL, path, cps, res);
}

int mcr_audit_verify_config(const mcr_config *cfg, const mcr_audit_checkpoints *cps,
                            mcr_audit_verify_result *res)
{
	return verify_from(cfg, NULL, cps, res);
}

/* ---- migration ------------------------------------------------------------------- */

/* Entries copied per transaction: a long copy resumes where it stopped. */
#define MIGRATE_CHUNK 1000

/* Re-set the current error as "<what>: <it>; nothing copied" (or "...; <tail>"). */
static int prefixed(int rc, const char *what, const char *tail)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", mcr_error_message());
	return mcr_error_set(rc, "%s: %s; %s", what, msg, tail);
}

/* *same = 1 when entry seq of a and of b has one hash (the chains agree up to it). */
static int same_entry(audit_reader *a, audit_reader *b, long seq, int *same)
{
	audit_row x, y;
	memset(&x, 0, sizeof(x));
	memset(&y, 0, sizeof(y));
	int rc = a->ops->after(a, seq - 1, &x), rc2 = rc < 0 ? 0 : b->ops->after(b, seq - 1, &y);
	*same = rc == 1 && rc2 == 1 && x.e.seq == seq && y.e.seq == seq && strcmp(x.hash, y.hash) == 0;
	audit_row_clear(&x);
	audit_row_clear(&y);
	return rc < 0 ? rc : rc2 < 0 ? rc2 : 0;
}

/* Copy the next chunk of src's walk into w in one transaction after the head
 * (*seq, prev); the chain scheme recorded with the first entry. */
static int copy_chunk(audit_reader *src, audit_writer *w, long from, long *seq, char prev[65], long *copied)
{
	audit_row *rows = calloc(MIGRATE_CHUNK, sizeof(*rows));
	long head = 0, tfrom = 0;
	char hash[65];
	int rc, n = 0, more = 1;
	*copied = 0;
	if (!rows)
		return mcr_error_set(MCR_ENOMEM, "out of memory copying the audit log");
	if ((rc = w->ops->begin(w)))
		goto out;
	if ((rc = read_head(w, &head, hash)))
		goto fail;
	if (head != *seq || strcmp(hash, prev) != 0) {
		rc = mcr_error_set(MCR_EFORMAT, "audit log %s: appended to while copying (its head moved to entry %ld); "
		                   "stop every appender and run the migration again", w->label, head);
		goto fail;
	}
	if (head == 0 && (rc = w->ops->v2_from(w, &tfrom)) == 0) {
		if (tfrom == LONG_MAX)
			rc = w->ops->set_v2_from(w, from);
		else if (tfrom != from)
			rc = mcr_error_set(MCR_EFORMAT, "audit log %s: its chain scheme record (%ld) is not the "
			                   "source's (%ld)", w->label, tfrom, from);
	}
	if (rc)
		goto fail;
	while (n < MIGRATE_CHUNK && (more = src->ops->scan_next(src, &rows[n])) == 1) {
		audit_row *r = &rows[n++];
		memcpy(r->e.hash, r->hash, sizeof(r->hash));
		if ((rc = w->ops->insert(w, &r->e, r->prev_hash)))
			goto fail;
		head = r->e.seq;
		memcpy(hash, r->hash, 65);
	}
	if (more < 0) {
		rc = more;
		goto fail;
	}
	if (n == 0) {
		w->ops->rollback(w);
		goto out;
	}
	if ((rc = w->ops->set_head(w, head, hash)) || (rc = w->ops->commit(w)))
		goto fail;
	*seq = head;
	memcpy(prev, hash, 65);
	*copied = n;
	goto out;
fail:
	w->ops->rollback(w);
out:
	for (int i = 0; i < MIGRATE_CHUNK; i++)
		audit_row_clear(&rows[i]);
	free(rows);
	return rc;
}

int mcr_audit_migrate(const char *from_path, const mcr_config *cfg, mcr_audit_migrate_result *res)
{
	audit_reader *src = NULL, *dst = NULL;
	audit_writer *w = NULL;
	mcr_audit_verify_result sv, tv;
	mcr_audit_checkpoints cps = { 0 };
	long from = 0, seq = 0;
	char prev[65], what[400];
	int rc, same = 1;
	memset(res, 0, sizeof(*res));
	memset(&sv, 0, sizeof(sv));
	memset(&tv, 0, sizeof(tv));
	if (cfg->backend != MCR_BACKEND_POSTGRESQL)
		return mcr_error_set(MCR_EUSAGE, "migrate-audit copies an audit log into PostgreSQL, but the "
		                     "configuration's store.backend is %s", mcr_backend_name(cfg->backend));
	/* The source, verified whole before anything is copied. */
	if ((rc = audit_sqlite_reader_open(from_path, &src)))
		goto out;
	snprintf(res->source, sizeof(res->source), "%s", src->label);
	snprintf(what, sizeof(what), "source audit log %s", src->label);
	if ((rc = verify_reader(src, NULL, &sv)) || (rc = src->ops->v2_from(src, &from))) {
		rc = prefixed(rc, what, "nothing copied");
		goto out;
	}
	res->source_entries = sv.entries;
	memcpy(res->head, sv.head, 65);
	if (from == LONG_MAX)
		from = sv.entries + 1; /* a log from before schemes: scheme 1 throughout */
	/* The target (made when missing), verified as it is, must hold a prefix of the
	 * source's chain or the source's whole chain and more. */
	if ((rc = open_writer(cfg, NULL, &w)) || (rc = open_reader(cfg, NULL, &dst)))
		goto out;
	snprintf(res->target, sizeof(res->target), "%s", dst->label);
	snprintf(what, sizeof(what), "target audit log %s", dst->label);
	if ((rc = verify_reader(dst, NULL, &tv))) {
		rc = prefixed(rc, what, "nothing copied");
		goto out;
	}
	seq = tv.entries;
	memcpy(prev, tv.head, 65);
	long common = seq < sv.entries ? seq : sv.entries;
	if (common > 0 && (rc = same_entry(src, dst, common, &same)))
		goto out;
	if (!same) {
		rc = mcr_error_set(MCR_EFORMAT, "%s holds another chain: its entry %ld is not the source's; "
		                   "nothing copied", what, common);
		goto out;
	}
	if (seq > 0) {
		long tfrom = 0;
		if ((rc = dst->ops->v2_from(dst, &tfrom)))
			goto out;
		if (tfrom != from && !(tfrom == LONG_MAX && seq < from)) {
			rc = mcr_error_set(MCR_EFORMAT, "%s: its chain scheme record is not the source's; nothing "
			                   "copied", what);
			goto out;
		}
	}
	dst->ops->close(dst);
	dst = NULL;
	/* Copy what the target lacks, a chunk per transaction. */
	if (seq < sv.entries && (rc = src->ops->scan_start(src, seq)))
		goto out;
	while (seq < sv.entries) {
		long n = 0;
		if ((rc = copy_chunk(src, w, from, &seq, prev, &n)))
			goto out;
		res->copied += n;
		if (n == 0)
			break;
	}
	/* End to end: the target's whole chain, and the source's head in it. */
	mcr_audit_checkpoint c = { .seq = sv.entries };
	memcpy(c.hash, sv.head, 65);
	snprintf(c.source, sizeof(c.source), "the source's head");
	if ((rc = mcr_audit_checkpoints_add(&cps, &c)))
		goto out;
	if ((rc = verify_from(cfg, NULL, &cps, &tv))) {
		rc = prefixed(rc, what, "after copying");
		goto out;
	}
	res->target_entries = tv.entries;
	res->v1_entries = tv.v1_entries;
out:
	if (src)
		src->ops->close(src);
	if (dst)
		dst->ops->close(dst);
	if (w)
		w->ops->close(w);
	mcr_audit_checkpoints_free(&cps);
	return rc;
}
