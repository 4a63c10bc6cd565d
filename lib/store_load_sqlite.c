/*
 * mcr-load's store writer on SQLite (load_backend.h): one file per generation,
 * <store>/gen-NNNNNN.sqlite, built without a journal (it is private until
 * published), published by renaming the symlink <store>/current.tmp onto
 * <store>/current (docs/STORE.md). The previous generation is attached as prev
 * for carrying organisations over.
 */

#include "load_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mcr/db.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/schema.h"
#include "mcr/store_sqlite.h"

typedef struct sqlite_store {
	sqlite3 *db;
	sqlite3_stmt *ins_member, *ins_person, *ins_objection, *ins_item, *ins_pw;
	mcr_buf index_sql;            /* CREATE INDEX statements, run before or after the insert */
	int indexed;
	long objection_rows;          /* added by the stream in progress */
} sqlite_store;

static sqlite_store *S(load_run *r)
{
	return r->sb;
}

/* Remove a database file and its possible side files. */
static void unlink_db(const char *path)
{
	char side[4096];
	unlink(path);
	static const char *const suffix[] = { "-journal", "-wal", "-shm" };
	for (int i = 0; i < 3; i++) {
		snprintf(side, sizeof(side), "%s%s", path, suffix[i]);
		unlink(side);
	}
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mcr_error_set_errno(MCR_EIO, "cannot open %s", path);
	int rc = 0;
	if (fsync(fd) != 0)
		rc = mcr_error_set_errno(MCR_EIO, "cannot fsync %s", path);
	close(fd);
	return rc;
}

static long gen_of_name(const char *name)
{
	if (strncmp(name, "gen-", 4) != 0)
		return -1;
	char *end;
	long n = strtol(name + 4, &end, 10);
	if (end - (name + 4) < 6 || strcmp(end, ".sqlite") != 0)
		return -1;
	return n;
}

/* Delete generation files with number > above (crashed runs' orphans), or
 * <= upto (pruning); either bound may be -1 (unused). */
static int remove_generations(const char *store_dir, long above, long upto)
{
	DIR *d = opendir(store_dir);
	if (!d)
		return mcr_error_set_errno(MCR_EIO, "cannot list %s", store_dir);
	struct dirent *e;
	mcr_buf path = MCR_BUF_INIT;
	int rc = 0;
	while (!rc && (e = readdir(d))) {
		long g = gen_of_name(e->d_name);
		if (g < 0)
			continue;
		if ((above >= 0 && g > above) || (upto >= 0 && g <= upto)) {
			if ((rc = mcr_fs_join(&path, store_dir, e->d_name)))
				break;
			unlink_db(path.ptr);
		}
	}
	closedir(d);
	mcr_buf_free(&path);
	return rc;
}

static int sq_open(load_run *r)
{
	sqlite_store *s = calloc(1, sizeof(*s));
	if (!s)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	r->sb = s;
	int rc = mcr_store_current_generation(r->cfg->store_dir, &r->cur_gen);
	if (rc == MCR_ENOTFOUND) {
		r->cur_gen = 0;
		rc = 0;
		mcr_error_clear();
	}
	return rc;
}

static int sq_clean(load_run *r)
{
	int rc = remove_generations(r->cfg->store_dir, r->cur_gen, -1);
	mcr_buf tmp = MCR_BUF_INIT;
	if (!rc && mcr_fs_join(&tmp, r->cfg->store_dir, "current.tmp") == 0)
		unlink(tmp.ptr);
	mcr_buf_free(&tmp);
	return rc;
}

/* Run schema/store.sql, keeping its CREATE INDEX statements for later. */
static int create_schema(load_run *r)
{
	sqlite_store *s = S(r);
	const char *sql = mcr_schema_store_sql;
	int rc = 0;
	while (!rc && sql && *sql) {
		sqlite3_stmt *st = NULL;
		const char *tail = NULL;
		if (sqlite3_prepare_v2(s->db, sql, -1, &st, &tail) != SQLITE_OK)
			return mcr_db_errorf(s->db, MCR_EIO, "%s: schema/store.sql", r->new_path);
		if (!st)
			break;   /* only comments or blanks left */
		const char *p = sql;
		for (;;) {
			while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
				p++;
			if (p[0] == '-' && p[1] == '-') {
				p += strcspn(p, "\n");
				continue;
			}
			break;
		}
		if (strncasecmp(p, "CREATE INDEX", 12) == 0 ||
		    strncasecmp(p, "CREATE UNIQUE INDEX", 19) == 0) {
			rc = mcr_buf_put(&s->index_sql, p, (size_t)(tail - p));
			if (!rc)
				rc = mcr_buf_putc(&s->index_sql, '\n');
		} else if (sqlite3_step(st) != SQLITE_DONE) {
			rc = mcr_db_errorf(s->db, MCR_EIO, "%s: schema/store.sql", r->new_path);
		}
		sqlite3_finalize(st);
		sql = tail;
	}
	return rc;
}

static int sq_begin(load_run *r)
{
	sqlite_store *s = S(r);
	int rc;
	if ((rc = mcr_store_generation_path(r->cfg->store_dir, r->new_gen, &r->new_path)))
		return rc;
	if (r->cur_gen && (rc = mcr_store_generation_path(r->cfg->store_dir, r->cur_gen, &r->prev_path)))
		return rc;
	if (r->prev_path && !mcr_fs_exists(r->prev_path))
		return mcr_error_set(MCR_EIO, "the published generation %s is missing", r->prev_path);
	unlink_db(r->new_path);
	/* One thread uses this connection: no per-call mutex. */
	if (sqlite3_open_v2(r->new_path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		return mcr_db_errorf(s->db, MCR_EIO, "cannot create %s", r->new_path);
	/* Speed (PERF-NOTES.md): the file is unpublished until it is complete and
	 * checked, so a crash only leaves an orphan; no journal is needed. */
	char pragmas[256];
	snprintf(pragmas, sizeof(pragmas),
	         "PRAGMA page_size = 65536; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
	         "PRAGMA cache_size = -65536; PRAGMA threads = 1; PRAGMA user_version = %d",
	         MCR_STORE_SCHEMA_VERSION);
	if ((rc = mcr_db_exec(s->db, pragmas)) || (rc = create_schema(r)))
		return rc;
	if (r->cur_gen) {
		sqlite3_stmt *st = NULL;
		if ((rc = mcr_db_prepare(s->db, "ATTACH ?1 AS prev", &st)))
			return rc;
		mcr_db_bind_text(st, 1, r->prev_path);
		rc = mcr_db_step_done(s->db, st, r->prev_path);
		sqlite3_finalize(st);
		if (rc)
			return rc;
	}
	if ((rc = mcr_db_exec(s->db, "BEGIN")))
		return rc;
	if ((rc = mcr_db_prepare(s->db, "INSERT INTO member(org, nhs) VALUES (?1, ?2)", &s->ins_member)) ||
	    (rc = mcr_db_prepare(s->db, "INSERT INTO person(org, nhs, family, given, birth_date, gender, "
	                                "address, postcode, phone) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
	                                "?9)", &s->ins_person)) ||
	    (rc = mcr_db_prepare(s->db, "INSERT OR IGNORE INTO objection(org, nhs, since) "
	                                "VALUES (?1, ?2, ?3)", &s->ins_objection)) ||
	    (rc = mcr_db_prepare(s->db, "INSERT INTO item(org, id, nhs, section, date, system, code, "
	                                "display, status, source_id, details) VALUES (?1, ?2, ?3, ?4, ?5, "
	                                "?6, ?7, ?8, ?9, ?10, ?11)", &s->ins_item)) ||
	    (rc = mcr_db_prepare(s->db, "INSERT INTO person_withheld(org, nhs, section, reason, count) "
	                                "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (nhs, org, section, "
	                                "reason) DO UPDATE SET count = count + excluded.count",
	                         &s->ins_pw)))
		return rc;
	return 0;
}

static int sq_read_prev(load_run *r, int (*row)(load_run *r, const load_prev_row *p))
{
	sqlite_store *s = S(r);
	sqlite3_stmt *st = NULL;
	int rc = mcr_db_prepare(s->db,
	                        "SELECT s.org, s.status, s.extracted, s.loaded, s.manifest, s.shares_from, "
	                        "s.people, s.members, s.items, s.objections, l.payload_length, "
	                        "l.payload_crc32, l.item_first, l.item_last "
	                        "FROM prev.source s LEFT JOIN prev.load_source l ON l.org = s.org",
	                        &st);
	if (rc)
		return rc;
	int step;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		load_prev_row p = {
			.org = (const char *)sqlite3_column_text(st, 0),
			.status = (const char *)sqlite3_column_text(st, 1),
			.extracted = (const char *)sqlite3_column_text(st, 2),
			.loaded = (const char *)sqlite3_column_text(st, 3),
			.manifest = (const char *)sqlite3_column_text(st, 4),
			.shares_from = (const char *)sqlite3_column_text(st, 5),
			.people = (long)sqlite3_column_int64(st, 6),
			.members = (long)sqlite3_column_int64(st, 7),
			.items = (long)sqlite3_column_int64(st, 8),
			.objections = (long)sqlite3_column_int64(st, 9),
			.len = sqlite3_column_int64(st, 10),
			.crc = sqlite3_column_int64(st, 11),
			.has_range = sqlite3_column_type(st, 12) != SQLITE_NULL,
			.first = sqlite3_column_int64(st, 12),
			.last = sqlite3_column_int64(st, 13),
		};
		rc = row(r, &p);
	}
	if (!rc && step != SQLITE_DONE)
		rc = mcr_db_error(s->db, r->prev_path);
	sqlite3_finalize(st);
	return rc;
}

static int sq_prev_sections(load_run *r, const char *ods, long *people, long *items)
{
	sqlite_store *s = S(r);
	sqlite3_stmt *st = NULL;
	int rc = mcr_db_prepare(s->db, "SELECT section, people, items FROM prev.source_section "
	                               "WHERE org = ?1", &st);
	if (rc)
		return rc;
	mcr_db_bind_text(st, 1, ods);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		mcr_section sec;
		if (mcr_section_parse((const char *)sqlite3_column_text(st, 0), &sec) == 0) {
			people[sec] = (long)sqlite3_column_int64(st, 1);
			items[sec] = (long)sqlite3_column_int64(st, 2);
		}
	}
	if (step != SQLITE_DONE)
		rc = mcr_db_errorf(s->db, MCR_EIO, "%s: reading the sections of %s", r->prev_path, ods);
	sqlite3_finalize(st);
	return rc;
}

static int sq_prev_withheld(load_run *r, const char *ods, long *withheld)
{
	sqlite_store *s = S(r);
	sqlite3_stmt *st = NULL;
	int rc = mcr_db_prepare(s->db, "SELECT reason, count FROM prev.withheld WHERE org = ?1", &st);
	if (rc)
		return rc;
	mcr_db_bind_text(st, 1, ods);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		mcr_reason why;
		if (mcr_reason_parse((const char *)sqlite3_column_text(st, 0), &why) == 0)
			withheld[why] = (long)sqlite3_column_int64(st, 1);
	}
	if (step != SQLITE_DONE)
		rc = mcr_db_errorf(s->db, MCR_EIO, "%s: reading the withheld counts of %s",
		                   r->prev_path, ods);
	sqlite3_finalize(st);
	return rc;
}

static int sq_index(load_run *r, int after_insert)
{
	sqlite_store *s = S(r);
	int rc;
	/* The index sorter takes as much memory as the cache allows (per thread):
	 * with the cache at its 64 KiB-page minimum for the sort (16 MiB) it spills
	 * to temporary files instead, so memory does not grow with the region. */
	if (after_insert && (rc = mcr_db_exec(s->db, "PRAGMA cache_size = -16384")))
		return rc;
	if (s->indexed)
		return 0;
	s->indexed = 1;
	r->indexed_early = !after_insert;
	return mcr_db_exec(s->db, mcr_buf_cstr(&s->index_sql));
}

static int sq_stream_begin(load_run *r, const org_run *o)
{
	sqlite_store *s = S(r);
	sqlite3_stmt *sts[] = { s->ins_member, s->ins_person, s->ins_objection, s->ins_item,
	                        s->ins_pw };
	s->objection_rows = 0;
	for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++)
		if (sqlite3_bind_text(sts[i], 1, o->org->ods, -1, SQLITE_TRANSIENT) != SQLITE_OK)
			return mcr_db_error(s->db, "bind");
	return 0;
}

static void bind_str(sqlite3_stmt *st, int i, load_str v)
{
	if (v.s)
		sqlite3_bind_text(st, i, v.s, v.len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Step an INSERT of a row from a staged file: a constraint failure is the
 * file's fault (MCR_EFORMAT), anything else the store's (MCR_EIO). */
static int step_insert(load_run *r, sqlite3_stmt *st, const org_run *o, const char *what,
                       load_str nhs)
{
	sqlite_store *s = S(r);
	int rc = sqlite3_step(st);
	int err = 0;
	if (rc != SQLITE_DONE) {
		if ((rc & 0xff) == SQLITE_CONSTRAINT)
			err = mcr_load_listed_twice(o, what, nhs.s, nhs.len);
		else
			err = mcr_db_error(s->db, r->new_path);
	}
	sqlite3_reset(st);
	return err;
}

static int sq_put_member(load_run *r, const org_run *o, load_str nhs)
{
	sqlite_store *s = S(r);
	bind_str(s->ins_member, 2, nhs);
	return step_insert(r, s->ins_member, o, "member", nhs);
}

static int sq_put_person(load_run *r, const org_run *o, load_str nhs, const load_str *fields)
{
	sqlite_store *s = S(r);
	bind_str(s->ins_person, 2, nhs);
	for (int i = 0; i < 7; i++)
		bind_str(s->ins_person, 3 + i, fields[i]);
	return step_insert(r, s->ins_person, o, "person", nhs);
}

static int sq_put_objection(load_run *r, const org_run *o, load_str nhs, load_str since)
{
	sqlite_store *s = S(r);
	(void)o;
	bind_str(s->ins_objection, 2, nhs);
	bind_str(s->ins_objection, 3, since);
	int rc = mcr_db_step_done(s->db, s->ins_objection, r->new_path);
	if (!rc)
		s->objection_rows += sqlite3_changes(s->db);
	return rc;
}

static int sq_put_item(load_run *r, const org_run *o, const load_item_row *it)
{
	sqlite3_stmt *st = S(r)->ins_item;
	sqlite3_bind_int64(st, 2, it->id);
	bind_str(st, 3, it->nhs);
	sqlite3_bind_text(st, 4, it->section, -1, SQLITE_STATIC);
	bind_str(st, 5, it->date);
	bind_str(st, 6, it->system);
	bind_str(st, 7, it->code);
	bind_str(st, 8, it->display);
	bind_str(st, 9, it->status);
	bind_str(st, 10, it->source_id);
	bind_str(st, 11, it->details);
	return step_insert(r, st, o, "item of person", it->nhs);
}

static int sq_put_withheld(load_run *r, const org_run *o, load_str nhs, mcr_section section,
                           mcr_reason reason, long count)
{
	sqlite_store *s = S(r);
	(void)o;
	bind_str(s->ins_pw, 2, nhs);
	sqlite3_bind_text(s->ins_pw, 3, mcr_section_name(section), -1, SQLITE_STATIC);
	sqlite3_bind_text(s->ins_pw, 4, mcr_reason_name(reason), -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->ins_pw, 5, count);
	return mcr_db_step_done(s->db, s->ins_pw, r->new_path);
}

static int sq_stream_end(load_run *r, const org_run *o, int ok, long *objection_rows)
{
	(void)o;
	(void)ok;
	*objection_rows = S(r)->objection_rows;
	return 0;
}

static int sq_discard_org(load_run *r, const org_run *o)
{
	sqlite_store *s = S(r);
	static const char *const tables[] = { "member", "person", "person_withheld",
	                                      "objection" };
	sqlite3_stmt *st = NULL;
	char sql[128];
	int rc = mcr_db_prepare(s->db, "DELETE FROM item WHERE id >= ?1", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, o->first);
	rc = mcr_db_step_done(s->db, st, r->new_path);
	sqlite3_finalize(st);
	for (int i = 0; !rc && i < 4; i++) {
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE org = ?1", tables[i]);
		if ((rc = mcr_db_prepare(s->db, sql, &st)))
			break;
		mcr_db_bind_text(st, 1, o->org->ods);
		rc = mcr_db_step_done(s->db, st, r->new_path);
		sqlite3_finalize(st);
	}
	return rc;
}

static int sq_carry_items(load_run *r, const org_run *o, int64_t to_first, long *copied)
{
	sqlite_store *s = S(r);
	sqlite3_stmt *st = NULL;
	int rc = mcr_db_prepare(s->db,
	                        "INSERT INTO item(id, nhs, org, section, date, system, code, display, "
	                        "status, source_id, details) SELECT id - ?1 + ?3, nhs, org, section, "
	                        "date, system, code, display, status, source_id, details "
	                        "FROM prev.item WHERE id BETWEEN ?1 AND ?2 AND org = ?4 ORDER BY id",
	                        &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, o->prev_first);
	sqlite3_bind_int64(st, 2, o->prev_last);
	sqlite3_bind_int64(st, 3, to_first);
	mcr_db_bind_text(st, 4, o->org->ods);
	rc = mcr_db_step_done(s->db, st, r->new_path);
	*copied = sqlite3_changes(s->db);
	sqlite3_finalize(st);
	return rc;
}

/* A temporary table name(org) holding ods[0..n). */
static int org_table(load_run *r, const char *name, const char *const *ods, size_t n)
{
	sqlite_store *s = S(r);
	sqlite3_stmt *st = NULL;
	char sql[160];
	snprintf(sql, sizeof(sql), "CREATE TEMP TABLE %s (org TEXT PRIMARY KEY) WITHOUT ROWID", name);
	int rc = mcr_db_exec(s->db, sql);
	if (rc)
		return rc;
	snprintf(sql, sizeof(sql), "INSERT INTO temp.%s(org) VALUES (?1)", name);
	if ((rc = mcr_db_prepare(s->db, sql, &st)))
		return rc;
	for (size_t i = 0; !rc && i < n; i++) {
		mcr_db_bind_text(st, 1, ods[i]);
		rc = mcr_db_step_done(s->db, st, r->new_path);
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_carry_tables(load_run *r, const char *const *ods, size_t n)
{
	int rc = org_table(r, "carry", ods, n);
	if (rc || !n)
		return rc;
	static const char *const copies[] = {
		"INSERT INTO member(nhs, org) SELECT nhs, org FROM prev.member "
		"WHERE org IN (SELECT org FROM temp.carry)",
		"INSERT INTO person(nhs, org, family, given, birth_date, gender, address, postcode, "
		"phone) SELECT nhs, org, family, given, birth_date, gender, address, postcode, phone "
		"FROM prev.person WHERE org IN (SELECT org FROM temp.carry)",
		"INSERT INTO person_withheld(nhs, org, section, reason, count) SELECT nhs, org, "
		"section, reason, count FROM prev.person_withheld "
		"WHERE org IN (SELECT org FROM temp.carry)",
		"INSERT INTO objection(nhs, org, since) SELECT nhs, org, since FROM prev.objection "
		"WHERE org IN (SELECT org FROM temp.carry)",
	};
	for (size_t i = 0; !rc && i < sizeof(copies) / sizeof(copies[0]); i++)
		rc = mcr_db_exec(S(r)->db, copies[i]);
	return rc;
}

static int sq_objections(load_run *r, const char *const *by, size_t nby,
                         const char *const *affected, size_t naff, load_obj_items_fn on_items,
                         load_obj_people_fn on_people)
{
	sqlite3 *db = S(r)->db;
	sqlite3_stmt *st = NULL;
	int rc;
	if ((rc = org_table(r, "objby", by, nby)) || (rc = org_table(r, "objaff", affected, naff)) ||
	    (rc = mcr_db_exec(db, "CREATE TEMP TABLE objnhs (nhs TEXT PRIMARY KEY) WITHOUT ROWID;"
	                          "INSERT OR IGNORE INTO temp.objnhs SELECT nhs FROM objection "
	                          "WHERE org IN (SELECT org FROM temp.objby)")))
		return rc;
	if ((rc = mcr_db_prepare(db,
	                         "SELECT i.org, i.section, count(*), count(DISTINCT i.nhs) "
	                         "FROM temp.objnhs o CROSS JOIN item i ON i.nhs = o.nhs "
	                         "WHERE i.org IN (SELECT org FROM temp.objaff) "
	                         "GROUP BY i.org, i.section", &st)))
		return rc;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		on_items(r, (const char *)sqlite3_column_text(st, 0),
		         (const char *)sqlite3_column_text(st, 1), (long)sqlite3_column_int64(st, 2),
		         (long)sqlite3_column_int64(st, 3));
	if (step != SQLITE_DONE) {
		rc = mcr_db_errorf(db, MCR_EIO, "%s: counting the objecting people's items",
		                   r->new_path);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = mcr_db_prepare(db,
	                         "SELECT p.org, count(*), sum(coalesce(p.family, p.given, p.birth_date, "
	                         "p.gender, p.address, p.postcode, p.phone) IS NOT NULL) "
	                         "FROM temp.objnhs o CROSS JOIN person p ON p.nhs = o.nhs "
	                         "WHERE p.org IN (SELECT org FROM temp.objaff) "
	                         "GROUP BY p.org", &st)))
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		on_people(r, (const char *)sqlite3_column_text(st, 0), (long)sqlite3_column_int64(st, 1),
		          (long)sqlite3_column_int64(st, 2));
	if (step != SQLITE_DONE) {
		rc = mcr_db_errorf(db, MCR_EIO, "%s: counting the objecting people", r->new_path);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	return mcr_db_exec(db,
	                   "DELETE FROM item WHERE id IN (SELECT i.id FROM temp.objnhs o CROSS JOIN item i "
	                   "ON i.nhs = o.nhs WHERE i.org IN (SELECT org FROM temp.objaff));"
	                   "DELETE FROM person WHERE nhs IN (SELECT nhs FROM temp.objnhs) "
	                   "AND org IN (SELECT org FROM temp.objaff);"
	                   "DELETE FROM person_withheld WHERE nhs IN (SELECT nhs FROM temp.objnhs) "
	                   "AND org IN (SELECT org FROM temp.objaff)");
}

static int sq_write_meta(load_run *r, const char *const *keys, const char *const *values, size_t n)
{
	sqlite_store *s = S(r);
	sqlite3_stmt *st = NULL;
	int rc = mcr_db_prepare(s->db, "INSERT INTO meta(key, value) VALUES (?1, ?2)", &st);
	for (size_t i = 0; !rc && i < n; i++) {
		mcr_db_bind_text(st, 1, keys[i]);
		mcr_db_bind_text(st, 2, values[i]);
		rc = mcr_db_step_done(s->db, st, r->new_path);
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_write_source(load_run *r, const load_source_row *w)
{
	sqlite3 *db = S(r)->db;
	sqlite3_stmt *src = NULL, *sec = NULL, *wh = NULL, *ls = NULL, *hd = NULL;
	int rc;
	if ((rc = mcr_db_prepare(db, "INSERT INTO source(org, dataset, kind, name, status, extracted, "
	                             "loaded, shares_from, manifest, rejected_file, rejected_reason, "
	                             "people, members, items, objections) VALUES (?1, ?2, ?3, ?4, ?5, "
	                             "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)", &src)) ||
	    (rc = mcr_db_prepare(db, "INSERT INTO source_section(org, section, people, items) "
	                             "VALUES (?1, ?2, ?3, ?4)", &sec)) ||
	    (rc = mcr_db_prepare(db, "INSERT INTO withheld(org, reason, count) VALUES (?1, ?2, ?3)",
	                         &wh)) ||
	    (rc = mcr_db_prepare(db, "INSERT INTO load_source(org, payload_length, payload_crc32, "
	                             "item_first, item_last) VALUES (?1, ?2, ?3, ?4, ?5)", &ls)) ||
	    (rc = mcr_db_prepare(db, "INSERT INTO source_held(org, manifest, extracted, people, "
	                             "items, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &hd)))
		goto out;
	const char *text[11] = { w->org, w->dataset, w->kind, w->name, w->status, w->extracted,
	                         w->loaded, w->shares_from, w->manifest, w->rejected_file,
	                         w->rejected_reason };
	for (int i = 0; i < 11; i++)
		mcr_db_bind_text(src, i + 1, text[i]);
	sqlite3_bind_int64(src, 12, w->people);
	sqlite3_bind_int64(src, 13, w->members);
	sqlite3_bind_int64(src, 14, w->items);
	sqlite3_bind_int64(src, 15, w->objections);
	if ((rc = mcr_db_step_done(db, src, r->new_path)))
		goto out;
	for (int s = 0; !rc && s < MCR_SECTION_COUNT; s++) {
		if (!w->sec_people[s] && !w->sec_items[s])
			continue;
		mcr_db_bind_text(sec, 1, w->org);
		mcr_db_bind_text(sec, 2, mcr_section_name(s));
		sqlite3_bind_int64(sec, 3, w->sec_people[s]);
		sqlite3_bind_int64(sec, 4, w->sec_items[s]);
		rc = mcr_db_step_done(db, sec, r->new_path);
	}
	for (int k = 0; !rc && k < MCR_REASON_COUNT; k++) {
		if (!w->withheld[k])
			continue;
		mcr_db_bind_text(wh, 1, w->org);
		mcr_db_bind_text(wh, 2, mcr_reason_name(k));
		sqlite3_bind_int64(wh, 3, w->withheld[k]);
		rc = mcr_db_step_done(db, wh, r->new_path);
	}
	if (!rc && w->has_range) {
		mcr_db_bind_text(ls, 1, w->org);
		sqlite3_bind_int64(ls, 2, w->len);
		sqlite3_bind_int64(ls, 3, w->crc);
		sqlite3_bind_int64(ls, 4, w->first);
		sqlite3_bind_int64(ls, 5, w->last);
		rc = mcr_db_step_done(db, ls, r->new_path);
	}
	if (!rc && w->held) {
		mcr_db_bind_text(hd, 1, w->org);
		mcr_db_bind_text(hd, 2, w->held_manifest);
		mcr_db_bind_text(hd, 3, w->held_extracted);
		sqlite3_bind_int64(hd, 4, w->held_people);
		sqlite3_bind_int64(hd, 5, w->held_items);
		mcr_db_bind_text(hd, 6, w->held_reason);
		rc = mcr_db_step_done(db, hd, r->new_path);
	}
out:
	sqlite3_finalize(hd);
	sqlite3_finalize(src);
	sqlite3_finalize(sec);
	sqlite3_finalize(wh);
	sqlite3_finalize(ls);
	return rc;
}

/* Row by row, in the table's own order (no sort): the caller tallies. */
static int sq_count_rows(load_run *r, load_table t, load_count_fn add, long *counts)
{
	static const char *const sql[] = { "SELECT org FROM member", "SELECT org FROM person",
	                                    "SELECT org FROM objection" };
	sqlite_store *s = S(r);
	sqlite3_stmt *st = NULL;
	int rc = mcr_db_prepare(s->db, sql[t], &st), step;
	if (rc)
		return rc;
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = add(r, (const char *)sqlite3_column_text(st, 0), 1, counts);
	if (!rc && step != SQLITE_DONE)
		rc = mcr_db_error(s->db, r->new_path);
	sqlite3_finalize(st);
	return rc;
}

static int sq_count_items(load_run *r, int64_t first, int64_t last, long *n)
{
	sqlite_store *s = S(r);
	sqlite3_stmt *st = NULL;
	int rc = mcr_db_prepare(s->db, "SELECT count(*) FROM item WHERE id BETWEEN ?1 AND ?2", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, first);
	sqlite3_bind_int64(st, 2, last);
	/* A failed count (disk full, I/O error) is that error, not a mismatch. */
	if (sqlite3_step(st) != SQLITE_ROW)
		rc = mcr_db_errorf(s->db, MCR_EIO, "%s: counting items", r->new_path);
	else
		*n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc;
}

static void finalize_inserts(sqlite_store *s)
{
	sqlite3_stmt **sts[] = { &s->ins_member, &s->ins_person, &s->ins_objection, &s->ins_item,
	                         &s->ins_pw };
	for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
		sqlite3_finalize(*sts[i]);
		*sts[i] = NULL;
	}
}

static int check_integrity(load_run *r)
{
	sqlite_store *s = S(r);
	struct stat sb;
	/* integrity_check on small stores; quick_check (no index cross-check) on big ones. */
	const char *sql = stat(r->new_path, &sb) == 0 && sb.st_size < (256L << 20)
	                  ? "PRAGMA integrity_check" : "PRAGMA quick_check";
	sqlite3_stmt *st = NULL;
	int rc = mcr_db_prepare(s->db, sql, &st);
	if (rc)
		return rc;
	if (sqlite3_step(st) != SQLITE_ROW)
		rc = mcr_db_error(s->db, r->new_path);
	else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
		rc = mcr_error_set(MCR_EIO, "%s: %s failed: %s", r->new_path, sql + 7,
		                   (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc;
}

static int sq_finish(load_run *r)
{
	sqlite_store *s = S(r);
	int rc;
	finalize_inserts(s);
	if ((rc = mcr_db_exec(s->db, "COMMIT")))
		return rc;
	if (r->cur_gen && (rc = mcr_db_exec(s->db, "DETACH prev")))
		return rc;
	mcr_load_progress_phase(r, "checking integrity");
	if ((rc = check_integrity(r)))
		return rc;
	if (sqlite3_close(s->db) != SQLITE_OK)
		return mcr_db_error(s->db, r->new_path);
	s->db = NULL;
	mcr_load_progress_phase(r, "syncing the new generation to disk");
	if ((rc = fsync_path(r->new_path)) || (rc = mcr_fs_fsync_dir(r->cfg->store_dir)))
		return rc;
	return 0;
}

static int sq_publish(load_run *r, int (*record)(load_run *r))
{
	mcr_buf tmp = MCR_BUF_INIT, cur = MCR_BUF_INIT;
	int rc;
	/* The history says generation N is published before the rename makes it so,
	 * so a run stopped after the rename is on record as it is; one stopped before
	 * it is corrected by the next run. */
	if ((rc = record(r)))
		return rc;
	if ((rc = mcr_fs_join(&tmp, r->cfg->store_dir, "current.tmp")) ||
	    (rc = mcr_fs_join(&cur, r->cfg->store_dir, "current")))
		goto out;
	unlink(tmp.ptr);
	if (symlink(mcr_load_base_name(r->new_path), tmp.ptr) != 0) {
		rc = mcr_error_set_errno(MCR_EIO, "cannot create link %s", tmp.ptr);
		goto out;
	}
	mcr_load_crash_point(r, "linked");
	/* Replaces the link, never a database: readers holding the old generation
	 * open keep reading it. */
	if (rename(tmp.ptr, cur.ptr) != 0) {
		rc = mcr_error_set_errno(MCR_EIO, "cannot rename %s to %s", tmp.ptr, cur.ptr);
		unlink(tmp.ptr);
		goto out;
	}
	r->renamed = 1;
	rc = mcr_fs_fsync_dir(r->cfg->store_dir);
	if (!rc)
		mcr_load_crash_point(r, "published");
out:
	mcr_buf_free(&tmp);
	mcr_buf_free(&cur);
	return rc;
}

static int sq_prune(load_run *r, long upto)
{
	return remove_generations(r->cfg->store_dir, -1, upto);
}

static void sq_close(load_run *r)
{
	sqlite_store *s = S(r);
	if (!s)
		return;
	/* Statements first: sqlite3_close refuses a connection with live statements. */
	finalize_inserts(s);
	sqlite3_close(s->db);
	if (!r->renamed && r->new_path)
		unlink_db(r->new_path);
	mcr_buf_free(&s->index_sql);
	free(s);
	r->sb = NULL;
}

const load_store_ops mcr_load_store_sqlite = {
	.name = "sqlite",
	.open = sq_open,
	.clean = sq_clean,
	.begin = sq_begin,
	.read_prev = sq_read_prev,
	.prev_sections = sq_prev_sections,
	.prev_withheld = sq_prev_withheld,
	.index = sq_index,
	.stream_begin = sq_stream_begin,
	.put_member = sq_put_member,
	.put_person = sq_put_person,
	.put_objection = sq_put_objection,
	.put_item = sq_put_item,
	.put_withheld = sq_put_withheld,
	.stream_end = sq_stream_end,
	.discard_org = sq_discard_org,
	.carry_items = sq_carry_items,
	.carry_tables = sq_carry_tables,
	.objections = sq_objections,
	.write_meta = sq_write_meta,
	.write_source = sq_write_source,
	.count_rows = sq_count_rows,
	.count_items = sq_count_items,
	.finish = sq_finish,
	.publish = sq_publish,
	.prune = sq_prune,
	.close = sq_close,
};
