/*
 * The SQLite store backend (lib/store_backend.h, include/mcr/store_sqlite.h):
 * generation files, the 'current' link, read-only opens, and the reader's
 * named queries. Every SQL text of the store's and the load history's reads is
 * here.
 */
#include "mcr/store_sqlite.h"
#include "mcr/buf.h"
#include "mcr/db.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "store_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int mcr_store_generation_path(const char *store_dir, long generation, char **out)
{
	mcr_buf b = MCR_BUF_INIT;
	int rc = mcr_buf_printf(&b, "%s/gen-%06ld.sqlite", store_dir, generation);
	if (rc) {
		mcr_buf_free(&b);
		return rc;
	}
	*out = mcr_buf_detach(&b);
	return *out ? 0 : MCR_ENOMEM;
}

/* "gen-NNNNNN.sqlite" -> NNNNNN; -1 when name is not a generation file name. */
static long generation_of_name(const char *name)
{
	if (strncmp(name, "gen-", 4) != 0)
		return -1;
	const char *p = name + 4;
	long n = 0;
	int digits = 0;
	while (*p >= '0' && *p <= '9' && digits < 12) {
		n = n * 10 + (*p - '0');
		p++;
		digits++;
	}
	if (digits < 6 || strcmp(p, ".sqlite") != 0)
		return -1;
	return n;
}

int mcr_store_current_generation(const char *store_dir, long *generation)
{
	mcr_buf link = MCR_BUF_INIT;
	int rc = mcr_buf_printf(&link, "%s/current", store_dir);
	if (rc)
		return rc;
	char target[256];
	ssize_t n = readlink(link.ptr, target, sizeof(target) - 1);
	if (n < 0) {
		if (errno == ENOENT)
			rc = mcr_error_set(MCR_ENOTFOUND, "no store generation published in %s",
			                   store_dir);
		else
			rc = mcr_error_set_errno(MCR_EIO, "cannot read link %s", link.ptr);
		goto out;
	}
	target[n] = '\0';
	/* The link names a file beside it; tolerate a path prefix for robustness. */
	const char *slash = strrchr(target, '/');
	long g = generation_of_name(slash ? slash + 1 : target);
	if (g < 0) {
		rc = mcr_error_set(MCR_EFORMAT, "%s names %s, not a store generation", link.ptr,
		                   target);
		goto out;
	}
	*generation = g;
out:
	mcr_buf_free(&link);
	return rc;
}

int mcr_store_open_generation(const char *store_dir, long generation, sqlite3 **db)
{
	char *path = NULL;
	sqlite3 *d = NULL;
	sqlite3_stmt *st = NULL;
	int rc = mcr_store_generation_path(store_dir, generation, &path);
	if (rc)
		return rc;
	struct stat sb;
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT)
			rc = mcr_error_set(MCR_ENOTFOUND, "store generation %ld is not kept (%s)",
			                   generation, path);
		else
			rc = mcr_error_set_errno(MCR_EIO, "cannot open %s", path);
		goto out;
	}
	if (sqlite3_open_v2(path, &d, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = mcr_error_set(MCR_EIO, "cannot open %s: %s", path,
		                   d ? sqlite3_errmsg(d) : "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(d, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = mcr_error_set(MCR_EFORMAT, "cannot read %s: %s", path, sqlite3_errmsg(d));
		goto out;
	}
	int version = sqlite3_column_int(st, 0);
	if (version != MCR_STORE_SCHEMA_VERSION) {
		rc = mcr_error_set(MCR_EFORMAT, "%s has store schema version %d, expected %d", path,
		                   version, MCR_STORE_SCHEMA_VERSION);
		goto out;
	}
out:
	sqlite3_finalize(st);
	if (rc) {
		sqlite3_close(d);
		d = NULL;
	}
	*db = d;
	free(path);
	return rc;
}

int mcr_store_open_current(const char *store_dir, sqlite3 **db, long *generation)
{
	long g;
	int rc = mcr_store_current_generation(store_dir, &g);
	if (rc)
		return rc;
	rc = mcr_store_open_generation(store_dir, g, db);
	if (!rc && generation)
		*generation = g;
	return rc;
}

/* ---- the reader ------------------------------------------------------------------ */

static const char *const store_sql[MCR_SQ_COUNT] = {
	[MCR_SQ_VIEW_SOURCES] = "SELECT org, kind, name, status, extracted FROM source ORDER BY org",
	[MCR_SQ_PERSON] = "SELECT org, family, given, birth_date, gender, address, postcode, phone"
	                  " FROM person WHERE nhs = ?1 ORDER BY org",
	/* Newest first; undated items last (NULL sorts lowest). */
	[MCR_SQ_ITEMS] = "SELECT section, org, date, system, code, display, status, details"
	                 " FROM item WHERE nhs = ?1 ORDER BY date DESC, id",
	[MCR_SQ_OBJECTIONS] = "SELECT org, since FROM objection WHERE nhs = ?1 ORDER BY org",
	[MCR_SQ_PERSON_WITHHELD] = "SELECT org, section, sum(count) FROM person_withheld WHERE nhs = ?1"
	                           " GROUP BY org, section ORDER BY org, section",
	[MCR_SQ_MEMBER] = "SELECT 1 FROM member WHERE nhs = ?1 AND org = ?2",
	[MCR_SQ_FRESH_SOURCES] = "SELECT org, name, status, extracted, rejected_reason, people, items"
	                         " FROM source ORDER BY org",
	[MCR_SQ_HELD] = "SELECT manifest, extracted, people, items FROM source_held WHERE org = ?1",
	[MCR_SQ_COVERAGE_SOURCES] = "SELECT org, dataset, name, status, extracted, loaded, shares_from, "
	                            "rejected_file, rejected_reason, people, members, items, objections "
	                            "FROM source ORDER BY org",
	[MCR_SQ_COVERAGE_SECTIONS] = "SELECT org, section, people, items FROM source_section",
	[MCR_SQ_COVERAGE_WITHHELD] = "SELECT org, reason, count FROM withheld",
	[MCR_SQ_BUILT_AT] = "SELECT value FROM meta WHERE key = 'built_at'",
	[MCR_SQ_HOLDERS] = "SELECT org, 'demographics' FROM person WHERE nhs = ?1 "
	                   "UNION SELECT org, section FROM item WHERE nhs = ?1 "
	                   "UNION SELECT org, '' FROM objection WHERE nhs = ?1",
	[MCR_SQ_NIGHT_MANIFESTS] = "SELECT org, dataset, manifest FROM source "
	                           "WHERE status = 'current' AND manifest IS NOT NULL ORDER BY org",
	[MCR_SQ_NIGHT_SOURCE] = "SELECT status, extracted, rejected_reason FROM source WHERE org = ?1",
};

/* One connection to one generation file, with its prepared statements. */
typedef struct sq_conn {
	sqlite3 *db;
	sqlite3_stmt *st[MCR_SQ_COUNT];
	char *where;          /* "store <file>" */
	int held_known, has_held;
	/* What the thread's kept connection was opened on, to reuse it only for the
	 * same generation file. */
	long generation;
	char *dir;
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	int in_use;
} sq_conn;

typedef struct sq_gen {
	mcr_store_gen base;
	sq_conn *conn;
	int kept;             /* conn is the thread's kept connection */
} sq_gen;

static void conn_free(sq_conn *k)
{
	if (!k)
		return;
	for (int i = 0; i < MCR_SQ_COUNT; i++)
		sqlite3_finalize(k->st[i]);
	sqlite3_close(k->db);
	free(k->where);
	free(k->dir);
	free(k);
}

static int conn_open(const char *store_dir, long generation, sq_conn **out)
{
	sq_conn *k = calloc(1, sizeof(*k));
	char *path = NULL;
	mcr_buf where = MCR_BUF_INIT;
	int rc;
	*out = NULL;
	if (!k)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening the store");
	if ((rc = mcr_store_open_generation(store_dir, generation, &k->db)) ||
	    (rc = mcr_store_generation_path(store_dir, generation, &path)) ||
	    (rc = mcr_buf_printf(&where, "store %s", path)))
		goto fail;
	k->where = mcr_buf_detach(&where);
	if (!k->where) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory opening the store");
		goto fail;
	}
	k->generation = generation;
	free(path);
	*out = k;
	return 0;
fail:
	free(path);
	mcr_buf_free(&where);
	conn_free(k);
	return rc;
}

/*
 * Each thread keeps the connection of the generation it last read, for its
 * next lookup of the same generation: a server's threads look people up all
 * day, and a new connection per lookup parsed the schema and re-read cold pages
 * every time (a third of a lookup's CPU). A published generation never changes,
 * so a kept connection reads what a new one would; it is used again only while
 * the store's current generation is the same file (same number, inode and
 * mtime), by one reader at a time, and closed when the thread ends or the
 * generation moves on.
 */
static pthread_key_t kept_key;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;
static int kept_ok;

static void kept_free(void *p)
{
	conn_free(p);
}

static void kept_init(void)
{
	kept_ok = pthread_key_create(&kept_key, kept_free) == 0;
}

static int same_file(const sq_conn *k, const char *dir, long g)
{
	char *path = NULL;
	struct stat sb;
	int same = k && !k->in_use && k->generation == g && k->dir && strcmp(k->dir, dir) == 0 &&
	           mcr_store_generation_path(dir, g, &path) == 0 && stat(path, &sb) == 0 &&
	           sb.st_dev == k->dev && sb.st_ino == k->ino && sb.st_mtim.tv_sec == k->mtime.tv_sec &&
	           sb.st_mtim.tv_nsec == k->mtime.tv_nsec;
	free(path);
	return same;
}

/* Make k this thread's kept connection (for generation g of dir), closing the
 * one kept before. 0 when kept; non-zero leaves k the caller's. */
static int keep(sq_conn *k, const char *dir, long g)
{
	char *path = NULL;
	struct stat sb;
	if (!kept_ok || mcr_store_generation_path(dir, g, &path) != 0 || stat(path, &sb) != 0 ||
	    !(k->dir = strdup(dir))) {
		free(path);
		return -1;
	}
	free(path);
	k->dev = sb.st_dev;
	k->ino = sb.st_ino;
	k->mtime = sb.st_mtim;
	sq_conn *old = pthread_getspecific(kept_key);
	if (pthread_setspecific(kept_key, k) != 0)
		return -1;
	conn_free(old);
	return 0;
}

static int gen_wrap(sq_conn *k, int kept, mcr_store_gen **out)
{
	sq_gen *g = calloc(1, sizeof(*g));
	if (!g)
		return mcr_error_set(MCR_ENOMEM, "out of memory opening the store");
	g->base.ops = &mcr_store_sqlite_reader;
	g->conn = k;
	g->kept = kept;
	k->in_use = 1;
	/* One read transaction: every read of this open sees one snapshot. */
	if (sqlite3_exec(k->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		int rc = mcr_db_errorf(k->db, MCR_EIO, "%s: cannot begin reading", k->where);
		k->in_use = 0;
		free(g);
		return rc;
	}
	*out = &g->base;
	return 0;
}

static int sq_open_current(const mcr_config *cfg, mcr_store_gen **out, long *generation)
{
	const char *dir = cfg->store_dir;
	long g;
	sq_conn *k = NULL;
	*out = NULL;
	int rc = mcr_store_current_generation(dir, &g);
	if (rc)
		return rc;
	pthread_once(&kept_once, kept_init);
	sq_conn *kept = kept_ok ? pthread_getspecific(kept_key) : NULL;
	int use_kept = same_file(kept, dir, g);
	if (use_kept) {
		k = kept;
	} else {
		if ((rc = conn_open(dir, g, &k)))
			return rc;
		/* Another open generation of this thread holds the kept one: this one is private. */
		use_kept = !(kept && kept->in_use) && keep(k, dir, g) == 0;
	}
	if ((rc = gen_wrap(k, use_kept, out))) {
		if (!use_kept)
			conn_free(k);
		return rc;
	}
	if (generation)
		*generation = g;
	return 0;
}

static int sq_open_generation(const mcr_config *cfg, long n, mcr_store_gen **out)
{
	sq_conn *k = NULL;
	*out = NULL;
	int rc = conn_open(cfg->store_dir, n, &k);
	if (!rc && (rc = gen_wrap(k, 0, out)))
		conn_free(k);
	return rc;
}

static void sq_close(mcr_store_gen *base)
{
	sq_gen *g = (sq_gen *)base;
	if (!g)
		return;
	sqlite3_exec(g->conn->db, "COMMIT", NULL, NULL, NULL);
	g->conn->in_use = 0;
	if (!g->kept)
		conn_free(g->conn);
	free(g);
}

static const char *sq_where(const mcr_store_gen *base)
{
	return ((const sq_gen *)base)->conn->where;
}

/* Step st to its end, handing each row to fn; reset and unbound after. */
static int rows(sqlite3 *db, sqlite3_stmt *st, const char *where, const char *what,
                mcr_store_row_fn fn, void *arg)
{
	const char *v[16];
	size_t len[16];
	mcr_store_row row = { v, len, sqlite3_column_count(st) };
	int step, rc = 0;
	if (row.n > 16)
		row.n = 16;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < row.n; i++) {
			v[i] = (const char *)sqlite3_column_text(st, i);
			len[i] = (size_t)sqlite3_column_bytes(st, i);
		}
		if ((rc = fn(arg, &row)))
			break;
	}
	if (!rc && step != SQLITE_DONE)
		rc = mcr_db_errorf(db, MCR_EIO, "%s: cannot read %s", where, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static void bind_params(sqlite3_stmt *st, int n, const char *const *params)
{
	for (int i = 0; i < n; i++)
		mcr_db_bind_text(st, i + 1, params[i]);
}

/* Generations written before source_held existed have no such table. */
static int has_table(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	int yes = 0;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
	                       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		yes = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return yes;
}

static int sq_query(mcr_store_gen *base, mcr_store_q q, const char *const *params,
                    mcr_store_row_fn fn, void *arg)
{
	sq_conn *k = ((sq_gen *)base)->conn;
	if (q < 0 || q >= MCR_SQ_COUNT)
		return mcr_error_set(MCR_ERROR, "unknown store query %d", (int)q);
	if (q == MCR_SQ_HELD) {
		if (!k->held_known) {
			k->has_held = has_table(k->db, "source_held");
			k->held_known = 1;
		}
		if (!k->has_held)
			return 0;
	}
	/* A statement prepared once per connection, kept with it. */
	if (!k->st[q] && sqlite3_prepare_v3(k->db, store_sql[q], -1, SQLITE_PREPARE_PERSISTENT,
	                                    &k->st[q], NULL) != SQLITE_OK)
		return mcr_db_errorf(k->db, MCR_EFORMAT, "%s: cannot read %s", k->where,
		                     mcr_store_q_what(q));
	bind_params(k->st[q], mcr_store_q_nparams(q), params);
	return rows(k->db, k->st[q], k->where, mcr_store_q_what(q), fn, arg);
}

static int sq_status(const mcr_config *cfg, long *generation, long long *age)
{
	char *path = NULL;
	struct stat sb;
	*age = -1;
	int rc = mcr_store_current_generation(cfg->store_dir, generation);
	if (rc)
		return rc;
	if (mcr_store_generation_path(cfg->store_dir, *generation, &path) == 0 && stat(path, &sb) == 0)
		*age = (long long)(time(NULL) - sb.st_mtime);
	free(path);
	return 0;
}

/* ---- the load history (<store>/history.sqlite, schema/history.sql) ---------------- */

static const char *const history_sql[MCR_HQ_COUNT] = {
	[MCR_HQ_LAST_RUN] = "SELECT run_id, outcome, finished, generation FROM load "
	                    "ORDER BY started DESC, run_id DESC LIMIT 1",
	[MCR_HQ_RUNS] = "SELECT run_id, started, finished, outcome, generation, "
	                "files, rejected, people, items, message FROM load "
	                "ORDER BY started DESC, run_id DESC LIMIT CAST(?1 AS INTEGER)",
	[MCR_HQ_REJECTED] = "SELECT f.run_id, f.org, f.dataset, f.manifest, f.reason "
	                    "FROM load_file f JOIN (SELECT run_id, started FROM load "
	                    "ORDER BY started DESC, run_id DESC LIMIT CAST(?1 AS INTEGER)) r "
	                    "ON f.run_id = r.run_id WHERE f.outcome = 'rejected' "
	                    "ORDER BY r.started DESC, f.run_id DESC, f.org, f.dataset, f.manifest",
	[MCR_HQ_GUARD] = "SELECT f.run_id, f.org, f.dataset, f.outcome, f.manifest, "
	                 "f.reason FROM load_file f JOIN (SELECT run_id, started FROM load "
	                 "ORDER BY started DESC, run_id DESC LIMIT CAST(?1 AS INTEGER)) r "
	                 "ON f.run_id = r.run_id WHERE f.outcome IN ('held', 'accepted') "
	                 "ORDER BY r.started DESC, f.run_id DESC, f.org, f.dataset, f.manifest",
	[MCR_HQ_CHECKPOINTS] = "SELECT run_id, seq, hash FROM audit_checkpoint ORDER BY seq",
};

static const char *const history_what[MCR_HQ_COUNT] = {
	[MCR_HQ_LAST_RUN] = "the last load run", [MCR_HQ_RUNS] = "load runs",
	[MCR_HQ_REJECTED] = "rejected files", [MCR_HQ_GUARD] = "held and accepted files",
	[MCR_HQ_CHECKPOINTS] = "audit checkpoints",
};

typedef struct sq_history {
	mcr_history base;
	sqlite3 *db;
	char *path;
} sq_history;

static int sq_history_open(const mcr_config *cfg, mcr_history **out)
{
	mcr_buf path = MCR_BUF_INIT;
	sq_history *h = NULL;
	int rc = mcr_fs_join(&path, cfg->store_dir, "history.sqlite");
	*out = NULL;
	if (rc)
		return rc;
	if (!mcr_fs_exists(path.ptr)) {
		rc = mcr_error_set(MCR_ENOTFOUND, "no %s", path.ptr);
		goto fail;
	}
	if (!(h = calloc(1, sizeof(*h)))) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory opening the load history");
		goto fail;
	}
	h->base.ops = &mcr_store_sqlite_reader;
	if (sqlite3_open_v2(path.ptr, &h->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = mcr_db_errorf(h->db, MCR_EIO, "cannot open %s", path.ptr);
		goto fail;
	}
	/* A load may hold the write lock for a moment. */
	sqlite3_busy_timeout(h->db, 5000);
	h->path = mcr_buf_detach(&path);
	*out = &h->base;
	return 0;
fail:
	if (h)
		sqlite3_close(h->db);
	free(h);
	mcr_buf_free(&path);
	return rc;
}

static int sq_history_query(mcr_history *base, mcr_history_q q, const char *const *params,
                            mcr_store_row_fn fn, void *arg)
{
	sq_history *h = (sq_history *)base;
	sqlite3_stmt *st = NULL;
	if (q < 0 || q >= MCR_HQ_COUNT)
		return mcr_error_set(MCR_ERROR, "unknown history query %d", (int)q);
	if (sqlite3_prepare_v2(h->db, history_sql[q], -1, &st, NULL) != SQLITE_OK) {
		/* A history older than the checkpoint table has none. */
		if (q == MCR_HQ_CHECKPOINTS)
			return 0;
		return mcr_db_errorf(h->db, MCR_EFORMAT, "cannot read %s in %s", history_what[q], h->path);
	}
	bind_params(st, q == MCR_HQ_RUNS || q == MCR_HQ_REJECTED || q == MCR_HQ_GUARD, params);
	int rc = rows(h->db, st, h->path, history_what[q], fn, arg);
	sqlite3_finalize(st);
	return rc;
}

static const char *sq_history_where(const mcr_history *base)
{
	return ((const sq_history *)base)->path;
}

static void sq_history_close(mcr_history *base)
{
	sq_history *h = (sq_history *)base;
	if (!h)
		return;
	sqlite3_close(h->db);
	free(h->path);
	free(h);
}

const mcr_store_reader_ops mcr_store_sqlite_reader = {
	.name = "sqlite",
	.open_current = sq_open_current,
	.open_generation = sq_open_generation,
	.query = sq_query,
	.where = sq_where,
	.close = sq_close,
	.status = sq_status,
	.history_open = sq_history_open,
	.history_query = sq_history_query,
	.history_where = sq_history_where,
	.history_close = sq_history_close,
};
