/*
 * mcr-load: building the new generation (every organisation in, the index,
 * objections across organisations, the source rows), checking it (counts,
 * objections reconciled) before the store backend makes it durable, and
 * quarantining rejected files. The rules live here; the store backend
 * (load_backend.h) does what they decide.
 */

#include "load_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/store.h"

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

static int org_index(const load_run *r, const char *ods)
{
	for (size_t i = 0; ods && i < r->cfg->norgs; i++)
		if (strcmp(r->cfg->orgs[i].ods, ods) == 0)
			return (int)i;
	return -1;
}

static void objecting_items(load_run *r, const char *org, const char *section, long items,
                            long people)
{
	int k = org_index(r, org);
	mcr_section s;
	if (k < 0 || mcr_section_parse(section, &s) != 0)
		return;
	org_run *o = &r->orgs[k];
	o->items -= items;
	o->sec_items[s] -= items;
	o->sec_people[s] -= people;
	o->withheld[MCR_REASON_OBJECTION] += items;
}

static void objecting_people(load_run *r, const char *org, long rows, long demo)
{
	int k = org_index(r, org);
	if (k < 0)
		return;
	r->orgs[k].people -= rows;
	r->orgs[k].sec_people[MCR_SECTION_DEMOGRAPHICS] -= demo;
}

/*
 * An objection held by a GP stops that person's health data from every
 * organisation: their gp/ooh items, per-person withheld counts and person rows
 * go, counted as 'objection' under the organisation that held them. Social
 * care (a separate opt-in) and the organisations' own lists stay.
 */
static int apply_objections(load_run *r)
{
	size_t n = r->cfg->norgs, nby = 0, naff = 0;
	const char **by = calloc(n + 1, sizeof(*by)), **aff = calloc(n + 1, sizeof(*aff));
	int rc = 0;
	if (!by || !aff)
		rc = mcr_error_set(MCR_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < n; i++) {
		if (r->cfg->orgs[i].kind == MCR_KIND_GP)
			by[nby++] = r->cfg->orgs[i].ods;
		if (r->cfg->orgs[i].kind != MCR_KIND_LCS)
			aff[naff++] = r->cfg->orgs[i].ods;
	}
	if (!rc)
		rc = r->store->objections(r, by, nby, aff, naff, objecting_items, objecting_people);
	free(by);
	free(aff);
	return rc;
}

static int write_sources(load_run *r)
{
	char ver[16], num[32];
	snprintf(ver, sizeof(ver), "%d", MCR_STORE_SCHEMA_VERSION);
	snprintf(num, sizeof(num), "%ld", r->new_gen);
	const char *keys[4] = { "schema_version", "generation", "built_at", "region" };
	const char *vals[4] = { ver, num, r->now_iso, r->cfg->region ? r->cfg->region : "" };
	int rc = r->store->write_meta(r, keys, vals, 4);
	for (size_t i = 0; !rc && i < r->cfg->norgs; i++) {
		org_run *o = &r->orgs[i];
		const mcr_org *g = o->org;
		int data = o->action != ACT_NEVER;
		char iso[32] = "";
		load_source_row w = {
			.org = g->ods, .dataset = o->dataset, .kind = mcr_org_kind_name(g->kind),
			.name = g->name ? g->name : g->ods, .status = o->status,
			.extracted = data ? o->extracted : NULL, .loaded = data ? o->loaded : NULL,
			.shares_from = data && o->shares_from ? o->shares_from
			               : (g->shares_from[0] ? g->shares_from : NULL),
			.manifest = data ? o->manifest : NULL,
			.rejected_file = o->rejected_file, .rejected_reason = o->rejected_reason,
			.people = o->people, .members = o->members, .items = o->items,
			.objections = o->objections,
			.has_range = data, .len = o->len, .crc = o->crc, .first = o->first, .last = o->last,
			.held = o->guard_held,
		};
		memcpy(w.sec_people, o->sec_people, sizeof(w.sec_people));
		memcpy(w.sec_items, o->sec_items, sizeof(w.sec_items));
		memcpy(w.withheld, o->withheld, sizeof(w.withheld));
		if (o->guard_held) {
			mcr_time_iso(o->m->extracted, iso);
			w.held_manifest = o->manifest_path;
			w.held_extracted = iso;
			w.held_people = o->m->people;
			w.held_items = o->m->items;
			w.held_reason = o->guard_reason;
		}
		rc = r->store->write_source(r, &w);
	}
	return rc;
}

/* n rows of organisation ods into counts (by configured organisation). */
static int add_count(load_run *r, const char *ods, long n, long *counts)
{
	int k = org_index(r, ods);
	if (k < 0)
		return mcr_error_set(MCR_ERROR, "%s: rows of an unconfigured organisation %s",
		                     r->new_path, ods ? ods : "(null)");
	counts[k] += n;
	return 0;
}

/* The new file's rows against the sources, and the objections reconciled. */
static int verify_counts(load_run *r)
{
	size_t n = r->cfg->norgs;
	long *mem = calloc(n + 1, sizeof(long)), *per = calloc(n + 1, sizeof(long)),
	     *obj = calloc(n + 1, sizeof(long));
	int rc = 0;
	if (!mem || !per || !obj) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = r->store->count_rows(r, LOAD_TABLE_MEMBER, add_count, mem)) ||
	    (rc = r->store->count_rows(r, LOAD_TABLE_PERSON, add_count, per)) ||
	    (rc = r->store->count_rows(r, LOAD_TABLE_OBJECTION, add_count, obj)))
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
		long items = 0;
		/* A failed count (disk full, I/O error) is that error, not a mismatch. */
		if ((rc = r->store->count_items(r, o->first, o->last, &items)))
			goto out;
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
	free(mem);
	free(per);
	free(obj);
	return rc;
}

int mcr_load_build(load_run *r)
{
	const load_store_ops *st = r->store;
	int rc;
	if ((rc = st->begin(r)))
		return rc;
	if (r->cur_gen && (rc = mcr_load_read_prev_sources(r)))
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
	if (early_index && (rc = st->index(r, 0)))
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
	mcr_load_progress_phase(r, r->indexed_early ? "index built during the insert"
	                                            : "building the index");
	if ((rc = st->index(r, 1)))
		return rc;
	mcr_load_crash_point(r, "indexed");
	mcr_load_progress_phase(r, "applying objections across organisations");
	if ((rc = apply_objections(r)) || (rc = write_sources(r)))
		return rc;
	mcr_load_progress_phase(r, "checking counts");
	if ((rc = verify_counts(r)) || (rc = st->finish(r)))
		return rc;
	mcr_load_crash_point(r, "checked");
	mcr_load_progress_phase(r, "checked and synced; publishing");
	return 0;
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
