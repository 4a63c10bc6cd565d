/*
 * mcr-load: building the new generation (schema, every organisation in, the
 * index, objections across organisations, the source rows), checking it,
 * publishing it atomically, quarantining rejected files and pruning old
 * generations.
 */

#include "load_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mcr/db.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/schema.h"
#include "mcr/store_sqlite.h"

/* Up to this many items in the new generation, the index is created before the
 * insert: the inserting thread waits on the parser most of the time, so it
 * maintains the index while it would otherwise wait (faster, no sorter memory),
 * and the index (about 31 bytes an item when built so) with the person and
 * member trees stays within the 64 MiB insert cache. Above it the index is built
 * after the insert by a sort, as random inserts into it would miss the cache.
 * The threshold sits below a 100k-person region (1.4M items) so that every region
 * of that size and up takes the one path and has the same peak memory (105 MiB,
 * docs/LOAD.md); small regions and the tests take the early path. */
#define EARLY_INDEX_ITEMS 1000000L

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
int mcr_load_remove_generations(const char *store_dir, long above, long upto)
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
			mcr_load_unlink_db(path.ptr);
		}
	}
	closedir(d);
	mcr_buf_free(&path);
	return rc;
}

static int org_index(const load_run *r, const char *ods)
{
	for (size_t i = 0; ods && i < r->cfg->norgs; i++)
		if (strcmp(r->cfg->orgs[i].ods, ods) == 0)
			return (int)i;
	return -1;
}

/*
 * An objection held by a GP stops that person's health data from every
 * organisation: their gp/ooh items, per-person withheld counts and person rows
 * go, counted as 'objection' under the organisation that held them. Social
 * care (a separate opt-in) and the organisations' own lists stay.
 */
static int apply_objections(load_run *r)
{
	sqlite3_stmt *st = NULL;
	int rc = mcr_db_exec(r->db, "CREATE TEMP TABLE orgkind (org TEXT PRIMARY KEY, kind TEXT NOT NULL) "
	                            "WITHOUT ROWID;"
	                            "CREATE TEMP TABLE objnhs (nhs TEXT PRIMARY KEY) WITHOUT ROWID");
	if (rc)
		return rc;
	if ((rc = mcr_db_prepare(r->db, "INSERT INTO temp.orgkind(org, kind) VALUES (?1, ?2)", &st)))
		return rc;
	for (size_t i = 0; !rc && i < r->cfg->norgs; i++) {
		mcr_db_bind_text(st, 1, r->cfg->orgs[i].ods);
		mcr_db_bind_text(st, 2, mcr_org_kind_name(r->cfg->orgs[i].kind));
		rc = mcr_db_step_done(r->db, st, r->new_path);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc || (rc = mcr_db_exec(r->db, "INSERT OR IGNORE INTO temp.objnhs SELECT nhs FROM objection "
	                                   "WHERE org IN (SELECT org FROM temp.orgkind WHERE kind = 'gp')")))
		return rc;
	if ((rc = mcr_db_prepare(r->db,
	                         "SELECT i.org, i.section, count(*), count(DISTINCT i.nhs) "
	                         "FROM temp.objnhs o CROSS JOIN item i ON i.nhs = o.nhs "
	                         "WHERE i.org IN (SELECT org FROM temp.orgkind WHERE kind <> 'lcs') "
	                         "GROUP BY i.org, i.section", &st)))
		return rc;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int k = org_index(r, (const char *)sqlite3_column_text(st, 0));
		mcr_section s;
		if (k < 0 || mcr_section_parse((const char *)sqlite3_column_text(st, 1), &s) != 0)
			continue;
		org_run *o = &r->orgs[k];
		long n = (long)sqlite3_column_int64(st, 2);
		o->items -= n;
		o->sec_items[s] -= n;
		o->sec_people[s] -= (long)sqlite3_column_int64(st, 3);
		o->withheld[MCR_REASON_OBJECTION] += n;
	}
	if (step != SQLITE_DONE) {
		rc = mcr_db_errorf(r->db, MCR_EIO, "%s: counting the objecting people's items",
		                   r->new_path);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = mcr_db_prepare(r->db,
	                         "SELECT p.org, count(*), sum(coalesce(p.family, p.given, p.birth_date, "
	                         "p.gender, p.address, p.postcode, p.phone) IS NOT NULL) "
	                         "FROM temp.objnhs o CROSS JOIN person p ON p.nhs = o.nhs "
	                         "WHERE p.org IN (SELECT org FROM temp.orgkind WHERE kind <> 'lcs') "
	                         "GROUP BY p.org", &st)))
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int k = org_index(r, (const char *)sqlite3_column_text(st, 0));
		if (k < 0)
			continue;
		r->orgs[k].people -= (long)sqlite3_column_int64(st, 1);
		r->orgs[k].sec_people[MCR_SECTION_DEMOGRAPHICS] -= (long)sqlite3_column_int64(st, 2);
	}
	if (step != SQLITE_DONE) {
		rc = mcr_db_errorf(r->db, MCR_EIO, "%s: counting the objecting people", r->new_path);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	return mcr_db_exec(r->db,
	                   "DELETE FROM item WHERE id IN (SELECT i.id FROM temp.objnhs o CROSS JOIN item i "
	                   "ON i.nhs = o.nhs WHERE i.org IN (SELECT org FROM temp.orgkind "
	                   "WHERE kind <> 'lcs'));"
	                   "DELETE FROM person WHERE nhs IN (SELECT nhs FROM temp.objnhs) "
	                   "AND org IN (SELECT org FROM temp.orgkind WHERE kind <> 'lcs');"
	                   "DELETE FROM person_withheld WHERE nhs IN (SELECT nhs FROM temp.objnhs) "
	                   "AND org IN (SELECT org FROM temp.orgkind WHERE kind <> 'lcs')");
}

static int write_sources(load_run *r)
{
	sqlite3_stmt *st = NULL;
	char num[32];
	int rc = mcr_db_prepare(r->db, "INSERT INTO meta(key, value) VALUES (?1, ?2)", &st);
	if (rc)
		return rc;
	const char *keys[4] = { "schema_version", "generation", "built_at", "region" };
	char ver[16];
	snprintf(ver, sizeof(ver), "%d", MCR_STORE_SCHEMA_VERSION);
	snprintf(num, sizeof(num), "%ld", r->new_gen);
	const char *vals[4] = { ver, num, r->now_iso, r->cfg->region ? r->cfg->region : "" };
	for (int i = 0; !rc && i < 4; i++) {
		mcr_db_bind_text(st, 1, keys[i]);
		mcr_db_bind_text(st, 2, vals[i]);
		rc = mcr_db_step_done(r->db, st, r->new_path);
	}
	sqlite3_finalize(st);
	if (rc)
		return rc;
	sqlite3_stmt *src = NULL, *sec = NULL, *wh = NULL, *ls = NULL, *hd = NULL;
	if ((rc = mcr_db_prepare(r->db, "INSERT INTO source(org, dataset, kind, name, status, extracted, "
	                                "loaded, shares_from, manifest, rejected_file, rejected_reason, "
	                                "people, members, items, objections) VALUES (?1, ?2, ?3, ?4, ?5, "
	                                "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)", &src)) ||
	    (rc = mcr_db_prepare(r->db, "INSERT INTO source_section(org, section, people, items) "
	                                "VALUES (?1, ?2, ?3, ?4)", &sec)) ||
	    (rc = mcr_db_prepare(r->db, "INSERT INTO withheld(org, reason, count) VALUES (?1, ?2, ?3)",
	                         &wh)) ||
	    (rc = mcr_db_prepare(r->db, "INSERT INTO load_source(org, payload_length, payload_crc32, "
	                                "item_first, item_last) VALUES (?1, ?2, ?3, ?4, ?5)", &ls)) ||
	    (rc = mcr_db_prepare(r->db, "INSERT INTO source_held(org, manifest, extracted, people, "
	                                "items, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &hd)))
		goto out;
	for (size_t i = 0; !rc && i < r->cfg->norgs; i++) {
		org_run *o = &r->orgs[i];
		const mcr_org *g = o->org;
		int data = o->action != ACT_NEVER;
		mcr_db_bind_text(src, 1, g->ods);
		mcr_db_bind_text(src, 2, o->dataset);
		mcr_db_bind_text(src, 3, mcr_org_kind_name(g->kind));
		mcr_db_bind_text(src, 4, g->name ? g->name : g->ods);
		mcr_db_bind_text(src, 5, o->status);
		mcr_db_bind_text(src, 6, data ? o->extracted : NULL);
		mcr_db_bind_text(src, 7, data ? o->loaded : NULL);
		mcr_db_bind_text(src, 8, data && o->shares_from ? o->shares_from
		                  : (g->shares_from[0] ? g->shares_from : NULL));
		mcr_db_bind_text(src, 9, data ? o->manifest : NULL);
		mcr_db_bind_text(src, 10, o->rejected_file);
		mcr_db_bind_text(src, 11, o->rejected_reason);
		sqlite3_bind_int64(src, 12, o->people);
		sqlite3_bind_int64(src, 13, o->members);
		sqlite3_bind_int64(src, 14, o->items);
		sqlite3_bind_int64(src, 15, o->objections);
		if ((rc = mcr_db_step_done(r->db, src, r->new_path)))
			break;
		for (int s = 0; !rc && s < MCR_SECTION_COUNT; s++) {
			if (!o->sec_people[s] && !o->sec_items[s])
				continue;
			mcr_db_bind_text(sec, 1, g->ods);
			mcr_db_bind_text(sec, 2, mcr_section_name(s));
			sqlite3_bind_int64(sec, 3, o->sec_people[s]);
			sqlite3_bind_int64(sec, 4, o->sec_items[s]);
			rc = mcr_db_step_done(r->db, sec, r->new_path);
		}
		for (int w = 0; !rc && w < MCR_REASON_COUNT; w++) {
			if (!o->withheld[w])
				continue;
			mcr_db_bind_text(wh, 1, g->ods);
			mcr_db_bind_text(wh, 2, mcr_reason_name(w));
			sqlite3_bind_int64(wh, 3, o->withheld[w]);
			rc = mcr_db_step_done(r->db, wh, r->new_path);
		}
		if (!rc && data) {
			mcr_db_bind_text(ls, 1, g->ods);
			sqlite3_bind_int64(ls, 2, o->len);
			sqlite3_bind_int64(ls, 3, o->crc);
			sqlite3_bind_int64(ls, 4, o->first);
			sqlite3_bind_int64(ls, 5, o->last);
			rc = mcr_db_step_done(r->db, ls, r->new_path);
		}
		if (!rc && o->guard_held) {
			char iso[32];
			mcr_time_iso(o->m->extracted, iso);
			mcr_db_bind_text(hd, 1, g->ods);
			mcr_db_bind_text(hd, 2, o->manifest_path);
			mcr_db_bind_text(hd, 3, iso);
			sqlite3_bind_int64(hd, 4, o->m->people);
			sqlite3_bind_int64(hd, 5, o->m->items);
			mcr_db_bind_text(hd, 6, o->guard_reason);
			rc = mcr_db_step_done(r->db, hd, r->new_path);
		}
	}
out:
	sqlite3_finalize(hd);
	sqlite3_finalize(src);
	sqlite3_finalize(sec);
	sqlite3_finalize(wh);
	sqlite3_finalize(ls);
	return rc;
}

/* Rows per organisation of a table (one pass; the org column first in sql). */
static int tally(load_run *r, const char *sql, long *counts)
{
	sqlite3_stmt *st = NULL;
	int rc = mcr_db_prepare(r->db, sql, &st), step, last = -1;
	if (rc)
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ods = (const char *)sqlite3_column_text(st, 0);
		if (last < 0 || !ods || strcmp(r->cfg->orgs[last].ods, ods) != 0)
			last = org_index(r, ods);
		if (last < 0) {
			rc = mcr_error_set(MCR_ERROR, "%s: rows of an unconfigured organisation %s",
			                   r->new_path, ods ? ods : "(null)");
			break;
		}
		counts[last]++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = mcr_db_error(r->db, r->new_path);
	sqlite3_finalize(st);
	return rc;
}

/* The new file's rows against the sources, and the objections reconciled. */
static int verify_counts(load_run *r)
{
	size_t n = r->cfg->norgs;
	long *mem = calloc(n + 1, sizeof(long)), *per = calloc(n + 1, sizeof(long)),
	     *obj = calloc(n + 1, sizeof(long));
	sqlite3_stmt *st = NULL;
	int rc = 0;
	if (!mem || !per || !obj) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = tally(r, "SELECT org FROM member", mem)) ||
	    (rc = tally(r, "SELECT org FROM person", per)) ||
	    (rc = tally(r, "SELECT org FROM objection", obj)) ||
	    (rc = mcr_db_prepare(r->db, "SELECT count(*) FROM item WHERE id BETWEEN ?1 AND ?2", &st)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		org_run *o = &r->orgs[i];
		if (obj[i] != o->expect_objections) {
			rc = mcr_error_set(MCR_ERROR,
			                   "objections not reconciled for %s: %ld in its %s, %ld in the "
			                   "new generation; nothing published", o->org->ods,
			                   o->expect_objections,
			                   o->action == ACT_CARRY ? "previous generation" : "staged file",
			                   obj[i]);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		org_run *o = &r->orgs[i];
		sqlite3_bind_int64(st, 1, o->first);
		sqlite3_bind_int64(st, 2, o->last);
		/* A failed count (disk full, I/O error) is that error, not a mismatch. */
		if (sqlite3_step(st) != SQLITE_ROW) {
			rc = mcr_db_errorf(r->db, MCR_EIO, "%s: counting the items of %s", r->new_path,
			                   o->org->ods);
			goto out;
		}
		long items = (long)sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (mem[i] != o->members || per[i] + obj[i] != o->people || items != o->items ||
		    obj[i] != o->objections) {
			rc = mcr_error_set(MCR_ERROR,
			                   "%s: counts for %s differ from its source: members %ld (expected "
			                   "%ld), people %ld (%ld), items %ld (%ld), objections %ld (%ld)",
			                   r->new_path, o->org->ods, mem[i], o->members, per[i] + obj[i],
			                   o->people, items, o->items, obj[i], o->objections);
			goto out;
		}
	}
out:
	sqlite3_finalize(st);
	free(mem);
	free(per);
	free(obj);
	return rc;
}

/* Run schema/store.sql, keeping its CREATE INDEX statements for after the insert. */
static int create_schema(load_run *r)
{
	const char *sql = mcr_schema_store_sql;
	int rc = 0;
	while (!rc && sql && *sql) {
		sqlite3_stmt *st = NULL;
		const char *tail = NULL;
		if (sqlite3_prepare_v2(r->db, sql, -1, &st, &tail) != SQLITE_OK)
			return mcr_db_errorf(r->db, MCR_EIO, "%s: schema/store.sql", r->new_path);
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
			rc = mcr_buf_put(&r->index_sql, p, (size_t)(tail - p));
			if (!rc)
				rc = mcr_buf_putc(&r->index_sql, '\n');
		} else if (sqlite3_step(st) != SQLITE_DONE) {
			rc = mcr_db_errorf(r->db, MCR_EIO, "%s: schema/store.sql", r->new_path);
		}
		sqlite3_finalize(st);
		sql = tail;
	}
	return rc;
}

static int check_integrity(load_run *r)
{
	struct stat sb;
	/* integrity_check on small stores; quick_check (no index cross-check) on big ones. */
	const char *sql = stat(r->new_path, &sb) == 0 && sb.st_size < (256L << 20)
	                  ? "PRAGMA integrity_check" : "PRAGMA quick_check";
	sqlite3_stmt *st = NULL;
	int rc = mcr_db_prepare(r->db, sql, &st);
	if (rc)
		return rc;
	if (sqlite3_step(st) != SQLITE_ROW)
		rc = mcr_db_error(r->db, r->new_path);
	else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
		rc = mcr_error_set(MCR_EIO, "%s: %s failed: %s", r->new_path, sql + 7,
		                   (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc;
}

int mcr_load_build(load_run *r)
{
	int rc;
	mcr_load_unlink_db(r->new_path);
	/* One thread uses this connection: no per-call mutex. */
	if (sqlite3_open_v2(r->new_path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		return mcr_db_errorf(r->db, MCR_EIO, "cannot create %s", r->new_path);
	/* Speed (PERF-NOTES.md): the file is unpublished until it is complete and
	 * checked, so a crash only leaves an orphan; no journal is needed. */
	char pragmas[256];
	snprintf(pragmas, sizeof(pragmas),
	         "PRAGMA page_size = 65536; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
	         "PRAGMA cache_size = -65536; PRAGMA threads = 1; PRAGMA user_version = %d",
	         MCR_STORE_SCHEMA_VERSION);
	if ((rc = mcr_db_exec(r->db, pragmas)) || (rc = create_schema(r)))
		return rc;
	if (r->cur_gen) {
		sqlite3_stmt *st = NULL;
		if ((rc = mcr_db_prepare(r->db, "ATTACH ?1 AS prev", &st)))
			return rc;
		mcr_db_bind_text(st, 1, r->prev_path);
		rc = mcr_db_step_done(r->db, st, r->prev_path);
		sqlite3_finalize(st);
		if (rc)
			return rc;
		if ((rc = mcr_load_read_prev_sources(r)))
			return rc;
	}
	if ((rc = mcr_db_exec(r->db, "BEGIN")))
		return rc;
	if ((rc = mcr_db_prepare(r->db, "INSERT INTO member(org, nhs) VALUES (?1, ?2)", &r->ins_member)) ||
	    (rc = mcr_db_prepare(r->db, "INSERT INTO person(org, nhs, family, given, birth_date, gender, "
	                                "address, postcode, phone) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
	                                "?9)", &r->ins_person)) ||
	    (rc = mcr_db_prepare(r->db, "INSERT OR IGNORE INTO objection(org, nhs, since) "
	                                "VALUES (?1, ?2, ?3)", &r->ins_objection)) ||
	    (rc = mcr_db_prepare(r->db, "INSERT INTO item(org, id, nhs, section, date, system, code, "
	                                "display, status, source_id, details) VALUES (?1, ?2, ?3, ?4, ?5, "
	                                "?6, ?7, ?8, ?9, ?10, ?11)", &r->ins_item)) ||
	    (rc = mcr_db_prepare(r->db, "INSERT INTO person_withheld(org, nhs, section, reason, count) "
	                                "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (nhs, org, section, "
	                                "reason) DO UPDATE SET count = count + excluded.count",
	                         &r->ins_pw)))
		return rc;
	r->next_id = 1;
	for (size_t i = 0; i < r->cfg->norgs; i++)
		if ((rc = mcr_load_decide_org(r, &r->orgs[i])))
			return rc;
	long expect_items = 0;
	for (size_t i = 0; i < r->cfg->norgs; i++) {
		const org_run *o = &r->orgs[i];
		if (o->action == ACT_LOAD)
			r->total_items += o->m->items;
		else if (o->action == ACT_CARRY)
			expect_items += o->prev_items;
	}
	expect_items += r->total_items;
	/* $MCR_LOAD_EARLY_INDEX_ITEMS moves the threshold, so tests on small regions
	 * also exercise the build-after path. */
	long early_limit = EARLY_INDEX_ITEMS;
	const char *knob = getenv("MCR_LOAD_EARLY_INDEX_ITEMS");
	if (knob && *knob)
		early_limit = strtol(knob, NULL, 10);
	int early_index = expect_items <= early_limit;
	if (early_index && (rc = mcr_db_exec(r->db, mcr_buf_cstr(&r->index_sql))))
		return rc;
	for (size_t i = 0; i < r->cfg->norgs; i++) {
		org_run *o = &r->orgs[i];
		if (o->action == ACT_LOAD)
			rc = mcr_load_org(r, o);
		else if (o->action == ACT_CARRY)
			rc = mcr_load_carry_org(r, o);
		else {
			o->first = r->next_id;
			o->last = r->next_id - 1;
		}
		if (!rc)
			rc = mcr_load_check_markers(r, o);
		if (rc)
			return rc;
	}
	mcr_load_progress_print(r, "all", 1);
	if (r->progress) {
		struct timespec ts;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		mcr_load_event ev = { .kind = MCR_LOAD_EVENT_CPU, .parse_cpu = r->parse_cpu,
		                      .insert_cpu = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 };
		mcr_load_report(r, &ev);
	}
	if ((rc = mcr_load_carry_tables(r)))
		return rc;
	mcr_load_crash_point(r, "inserted");
	mcr_load_progress_phase(r, early_index ? "index built during the insert" : "building the index");
	/* The index sorter takes as much memory as the cache allows (per thread):
	 * with the cache at its 64 KiB-page minimum for the sort (16 MiB) it spills
	 * to temporary files instead, so memory does not grow with the region. */
	if ((rc = mcr_db_exec(r->db, "PRAGMA cache_size = -16384")) ||
	    (!early_index && (rc = mcr_db_exec(r->db, mcr_buf_cstr(&r->index_sql)))))
		return rc;
	mcr_load_crash_point(r, "indexed");
	mcr_load_progress_phase(r, "applying objections across organisations");
	if ((rc = apply_objections(r)) || (rc = write_sources(r)))
		return rc;
	mcr_load_progress_phase(r, "checking counts");
	if ((rc = verify_counts(r)))
		return rc;
	sqlite3_stmt **sts[] = { &r->ins_member, &r->ins_person, &r->ins_objection, &r->ins_item,
	                         &r->ins_pw };
	for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
		sqlite3_finalize(*sts[i]);
		*sts[i] = NULL;
	}
	if ((rc = mcr_db_exec(r->db, "COMMIT")))
		return rc;
	if (r->cur_gen && (rc = mcr_db_exec(r->db, "DETACH prev")))
		return rc;
	mcr_load_progress_phase(r, "checking integrity");
	if ((rc = check_integrity(r)))
		return rc;
	if (sqlite3_close(r->db) != SQLITE_OK)
		return mcr_db_error(r->db, r->new_path);
	r->db = NULL;
	mcr_load_progress_phase(r, "syncing the new generation to disk");
	if ((rc = fsync_path(r->new_path)) || (rc = mcr_fs_fsync_dir(r->cfg->store_dir)))
		return rc;
	mcr_load_crash_point(r, "checked");
	mcr_load_progress_phase(r, "checked and synced; publishing");
	return 0;
}

int mcr_load_publish(load_run *r)
{
	mcr_buf tmp = MCR_BUF_INIT, cur = MCR_BUF_INIT;
	int rc;
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

/* Move rejected files to quarantine with a reason file beside them. Failures
 * are WARNING events: the generation is already published. */
void mcr_load_quarantine(load_run *r)
{
	mcr_buf dest = MCR_BUF_INIT, reason = MCR_BUF_INIT, line = MCR_BUF_INIT;
	for (size_t i = 0; i < r->nrejects; i++) {
		reject_entry *e = &r->rejects[i];
		int rc = mcr_fs_mkdirs(e->dir);
		for (int k = 0; !rc && k < 2; k++) {
			if (!e->paths[k] || !mcr_fs_exists(e->paths[k]))
				continue;
			if ((rc = mcr_fs_join(&dest, e->dir, mcr_load_base_name(e->paths[k]))))
				break;
			if (rename(e->paths[k], dest.ptr) != 0)
				rc = mcr_error_set_errno(MCR_EIO, "cannot move %s to %s", e->paths[k],
				                         dest.ptr);
		}
		if (!rc) {
			mcr_buf_reset(&line);
			rc = mcr_buf_printf(&line, "%s.reason", e->stamp);
		}
		if (!rc)
			rc = mcr_fs_join(&reason, e->dir, line.ptr);
		if (!rc) {
			mcr_buf_reset(&line);
			rc = mcr_buf_printf(&line, "%s\n", e->reason);
		}
		if (!rc)
			rc = mcr_fs_write_atomic(reason.ptr, line.ptr, line.len);
		if (!rc && e->paths[0]) {
			const char *slash = strrchr(e->paths[0], '/');
			if (slash) {
				mcr_buf_reset(&line);
				rc = mcr_buf_put(&line, e->paths[0], (size_t)(slash - e->paths[0]));
				if (!rc)
					rc = mcr_fs_fsync_dir(line.ptr);
			}
		}
		if (rc)
			mcr_load_warn(r, "quarantine");
	}
	mcr_buf_free(&dest);
	mcr_buf_free(&reason);
	mcr_buf_free(&line);
}
