/*
 * mcr-load: what to do with each organisation. Its previous data, its newest
 * staged file (load, carry over unchanged, or reject as corrupt or a replay),
 * .failed markers, and the rejected files bound for quarantine.
 */

#include "load_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcr/error.h"
#include "mcr/fs.h"

/* The file-name stamp of a staged path: its base name up to the first '.'. */
static char *stamp_of(const char *path)
{
	const char *b = mcr_load_base_name(path);
	const char *dot = strchr(b, '.');
	size_t n = dot ? (size_t)(dot - b) : strlen(b);
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, b, n);
		s[n] = '\0';
	}
	return s;
}

/* One source row of the previous generation into its org_run (rows of
 * organisations no longer configured are left behind). */
static int prev_source(load_run *r, const load_prev_row *p)
{
	for (size_t i = 0; i < r->cfg->norgs; i++) {
		org_run *o = &r->orgs[i];
		if (!p->org || strcmp(o->org->ods, p->org) != 0)
			continue;
		o->prev_row = 1;
		o->prev_data = p->status && strcmp(p->status, "never") != 0;
		int rc;
		if ((rc = mcr_load_dup(&o->prev_extracted, p->extracted)) ||
		    (rc = mcr_load_dup(&o->prev_loaded, p->loaded)) ||
		    (rc = mcr_load_dup(&o->prev_manifest, p->manifest)) ||
		    (rc = mcr_load_dup(&o->prev_shares_from, p->shares_from)))
			return rc;
		o->prev_people = p->people;
		o->prev_members = p->members;
		o->prev_items = p->items;
		o->prev_objections = p->objections;
		o->prev_len = p->len;
		o->prev_crc = p->crc;
		o->prev_range = p->has_range;
		o->prev_first = p->first;
		o->prev_last = p->last;
		if (o->prev_data && o->prev_extracted && mcr_time_parse(o->prev_extracted, &o->held) == 0)
			o->held_set = 1;
		if (o->prev_data && !o->prev_range)
			return mcr_error_set(MCR_EFORMAT, "%s: no item range for %s", r->prev_path,
			                     p->org);
	}
	return 0;
}

int mcr_load_read_prev_sources(load_run *r)
{
	return r->store->read_prev(r, prev_source);
}

static int add_reject(load_run *r, org_run *o, const char *stamp, const char *reason,
                      const char *p1, const char *p2, char **dest_out)
{
	reject_entry *nr = realloc(r->rejects, (r->nrejects + 1) * sizeof(*nr));
	if (!nr)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	r->rejects = nr;
	reject_entry *e = &nr[r->nrejects++];
	memset(e, 0, sizeof(*e));
	mcr_buf dir = MCR_BUF_INIT;
	if (mcr_buf_printf(&dir, "%s/%s/%s", r->cfg->quarantine_dir, o->org->ods, o->dataset))
		return MCR_ENOMEM;
	int rc;
	if (!(e->dir = mcr_buf_detach(&dir)))
		return MCR_ENOMEM;
	if ((rc = mcr_load_dup(&e->stamp, stamp)) || (rc = mcr_load_dup(&e->reason, reason)) ||
	    (rc = mcr_load_dup(&e->paths[0], p1)) || (rc = mcr_load_dup(&e->paths[1], p2)))
		return rc;
	if (dest_out) {
		mcr_buf d = MCR_BUF_INIT;
		if (mcr_buf_printf(&d, "%s/%s", e->dir, mcr_load_base_name(p1)))
			return MCR_ENOMEM;
		*dest_out = mcr_buf_detach(&d);
	}
	r->sum->rejected++;
	return 0;
}

/* Record that o's file at manifest path mp (payload pp) is rejected for why. */
static int reject_file(load_run *r, org_run *o, const char *mp, const char *pp,
                       const char *extracted, const char *why)
{
	char *stamp = stamp_of(mp);
	char *dest = NULL;
	if (!stamp)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	int rc = add_reject(r, o, stamp, why, mp, pp, &dest);
	free(stamp);
	if (!rc)
		rc = mcr_load_note_file(r, o, mp, extracted, "rejected", why, 0);
	if (!rc) {
		free(o->rejected_file);
		free(o->rejected_reason);
		o->rejected_file = dest;
		rc = mcr_load_dup(&o->rejected_reason, why);
		dest = NULL;
	}
	free(dest);
	if (r->progress) {
		mcr_load_event ev = { .kind = MCR_LOAD_EVENT_REJECTED, .org = o->org->ods, .path = mp,
		                      .text = why };
		mcr_load_report(r, &ev);
	}
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* .failed markers newer than the data o holds are rejected files too. */
int mcr_load_check_markers(load_run *r, org_run *o)
{
	mcr_buf dir = MCR_BUF_INIT, path = MCR_BUF_INIT, text = MCR_BUF_INIT;
	char **names = NULL;
	size_t n = 0;
	int rc = mcr_buf_printf(&dir, "%s/%s/%s", r->cfg->staging_dir, o->org->ods, o->dataset);
	if (rc)
		return rc;
	DIR *d = opendir(dir.ptr);
	if (!d) {
		mcr_buf_free(&dir);
		return 0;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 8 || strcmp(e->d_name + l - 7, ".failed") != 0)
			continue;
		char **nn = realloc(names, (n + 1) * sizeof(*nn));
		if (!nn || !(nn[n] = strdup(e->d_name))) {
			if (nn)
				names = nn;
			rc = mcr_error_set(MCR_ENOMEM, "out of memory");
			break;
		}
		names = nn;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; !rc && i < n; i++) {
		time_t t;
		int newer = mcr_time_parse_stamp(names[i], &t) == 0 &&
		            names[i][MCR_TIME_STAMP_LEN] == '.' && (!o->held_set || t > o->held);
		if (!newer)
			continue;
		if ((rc = mcr_fs_join(&path, dir.ptr, names[i])))
			break;
		mcr_buf_reset(&text);
		if (mcr_fs_read_file(path.ptr, 4096, &text) != 0)
			mcr_buf_reset(&text);
		/* The marker's first line says why the extract failed. */
		char why[1100];
		const char *t0 = mcr_buf_cstr(&text);
		size_t l = strcspn(t0, "\r\n");
		snprintf(why, sizeof(why), "extract failed: %.*s", (int)(l > 1000 ? 1000 : l),
		         l ? t0 : "(no reason given)");
		rc = reject_file(r, o, path.ptr, NULL, NULL, why);
		if (!rc)
			o->status = o->action == ACT_NEVER ? "never" : "stale";
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	mcr_buf_free(&dir);
	mcr_buf_free(&path);
	mcr_buf_free(&text);
	return rc;
}

static int set_loaded_fields(load_run *r, org_run *o)
{
	char iso[32];
	const mcr_staged_manifest *m = o->m;
	mcr_time_iso(m->extracted, iso);
	free(o->extracted);
	free(o->loaded);
	free(o->shares_from);
	free(o->manifest);
	o->extracted = strdup(iso);
	o->loaded = strdup(r->now_iso);
	o->shares_from = strdup(m->shares_from[0] ? m->shares_from : o->org->shares_from);
	o->manifest = strdup(o->manifest_path);
	o->len = (int64_t)m->payload_length;
	o->crc = (int64_t)m->payload_crc32;
	o->has_payload = 1;
	o->held = m->extracted;
	o->held_set = 1;
	if (!o->extracted || !o->loaded || !o->shares_from || !o->manifest)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	return 0;
}

/* The payload file a manifest names (or would name): beside it. */
static char *payload_path(const char *manifest_path, const mcr_staged_manifest *m)
{
	mcr_buf b = MCR_BUF_INIT;
	const char *slash = strrchr(manifest_path, '/');
	size_t dl = slash ? (size_t)(slash - manifest_path) : 1;
	const char *dir = slash ? manifest_path : ".";
	char *stamp = NULL;
	int rc = mcr_buf_put(&b, dir, dl);
	if (!rc)
		rc = mcr_buf_putc(&b, '/');
	if (!rc && m && m->payload && !strchr(m->payload, '/')) {
		rc = mcr_buf_puts(&b, m->payload);
	} else if (!rc) {
		stamp = stamp_of(manifest_path);
		rc = stamp ? mcr_buf_printf(&b, "%s.xml.gz", stamp) : MCR_ENOMEM;
	}
	free(stamp);
	if (rc) {
		mcr_buf_free(&b);
		return NULL;
	}
	return mcr_buf_detach(&b);
}

/* Whether a count falls from before to after to none, or by more than pct
 * percent and by at least min (smaller falls are a small source's churn). */
static int falls(long before, long after, int pct, int min)
{
	if (before <= 0 || after >= before)
		return 0;
	return after <= 0 || ((long long)(before - after) * 100 > (long long)before * pct &&
	                      before - after >= min);
}

static int accepted(const load_run *r, const char *ods)
{
	for (size_t i = 0; i < r->naccept; i++)
		if (strcmp(r->accept[i], ods) == 0)
			return 1;
	return 0;
}

/*
 * The night-on-night guard (DESIGN.md "Store", docs/LOAD.md): o's newest file
 * would replace data it holds with none, or with more than the configured share
 * fewer, people or items. A failed export must never silently empty a source, so
 * the file is held: left in staging, the data carried over and flagged, until the
 * operator accepts it (mcr-load --accept ODS) or a newer file passes. A first
 * load has nothing to fall from. Members (the organisation's own list: every
 * lookup's relationship) are guarded like people.
 */
/* The items o's data held has in each section (the previous generation's
 * source_section; demographics counts people there, not items, and is left 0). */
static int prev_section_items(load_run *r, const org_run *o, long *items)
{
	long people[MCR_SECTION_COUNT] = { 0 };
	int rc = r->store->prev_sections(r, o->org->ods, people, items);
	items[MCR_SECTION_DEMOGRAPHICS] = 0;
	return rc;
}

static int guard(load_run *r, org_run *o, const char *iso)
{
	const mcr_staged_manifest *m = o->m;
	int pct = r->cfg->hold_drop_percent, min = r->cfg->hold_min_fall;
	if (!o->prev_data)
		return 0;
	long sec[MCR_SECTION_COUNT] = { 0 };
	int rc = prev_section_items(r, o, sec);
	if (rc)
		return rc;
	/* A whole section gone (a resource type missing from a bulk export) would show
	 * "No items shared" where there were many: held like a fall of the whole. */
	char gone[200] = "";
	size_t gl = 0;
	for (int s = 0; s < MCR_SECTION_COUNT && gl < sizeof(gone); s++)
		if (sec[s] >= min && m->section_items[s] == 0)
			gl += (size_t)snprintf(gone + gl, sizeof(gone) - gl, ", %s %ld -> 0",
			                       mcr_section_name((mcr_section)s), sec[s]);
	int people = falls(o->prev_people, m->people, pct, min);
	int members = falls(o->prev_members, m->members, pct, min);
	int items = falls(o->prev_items, m->items, pct, min);
	if (!people && !members && !items && !gone[0])
		return 0;
	int none = (o->prev_people > 0 && m->people <= 0) || (o->prev_items > 0 && m->items <= 0) ||
	           (o->prev_members > 0 && m->members <= 0);
	char verdict[80];
	if (none)
		snprintf(verdict, sizeof(verdict), "none left of the data held");
	else if (people || members || items)
		snprintf(verdict, sizeof(verdict), "more than %d%% fewer than the data held", pct);
	else
		snprintf(verdict, sizeof(verdict), "a whole section gone");
	char why[720];
	snprintf(why, sizeof(why), "people %ld -> %ld, members %ld -> %ld, items %ld -> %ld%s: %s",
	         o->prev_people, m->people, o->prev_members, m->members, o->prev_items, m->items,
	         none ? "" : gone, verdict);
	free(o->guard_reason);
	if (!(o->guard_reason = strdup(why)))
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	mcr_load_event ev = { .org = o->org->ods, .path = o->manifest_path, .text = why };
	if (accepted(r, o->org->ods)) {
		/* The operator accepts the fall they were shown: a file an earlier run
		 * held. A newer file that arrived since is judged afresh and held. */
		int was_held = 0;
		if ((rc = mcr_load_history_was_held(r, o->org->ods, o->manifest_path, &was_held)))
			return rc;
		if (was_held) {
			/* Recorded in the history once the file is in (mcr_load_org). */
			o->guard_accepted = 1;
			ev.kind = MCR_LOAD_EVENT_ACCEPTED;
			mcr_load_report(r, &ev);
			return 0;
		}
		size_t wl = strlen(why);
		snprintf(why + wl, sizeof(why) - wl, " (a newer file than the one held: not accepted; "
		                                     "check it, then accept again)");
		free(o->guard_reason);
		if (!(o->guard_reason = strdup(why)))
			return mcr_error_set(MCR_ENOMEM, "out of memory");
		ev.text = why;
	}
	o->guard_held = 1;
	o->action = ACT_CARRY;
	o->status = "held";
	r->sum->held_files++;
	ev.kind = MCR_LOAD_EVENT_HELD;
	mcr_load_report(r, &ev);
	return mcr_load_note_file(r, o, o->manifest_path, iso, "held", why, m->items);
}

int mcr_load_decide_org(load_run *r, org_run *o)
{
	int rc = mcr_staged_find_latest(r->cfg->staging_dir, o->org->ods, o->dataset,
	                                &o->manifest_path);
	o->action = o->prev_data ? ACT_CARRY : ACT_NEVER;
	o->status = o->prev_data ? "unchanged" : "never";
	if (rc == MCR_ENOTFOUND) {
		mcr_error_clear();
		return 0;
	}
	if (rc)
		return rc;
	char *pp = NULL;
	rc = mcr_staged_manifest_read(o->manifest_path, &o->m);
	if (!rc && (strcmp(o->m->org, o->org->ods) != 0 || strcmp(o->m->dataset, o->dataset) != 0))
		rc = mcr_error_set(MCR_EFORMAT, "%s: manifest is for %s/%s, found under %s/%s",
		                   o->manifest_path, o->m->org, o->m->dataset, o->org->ods, o->dataset);
	if (rc == MCR_ENOMEM)
		return rc;
	if (rc) {
		char *why = strdup(mcr_error_message());
		pp = payload_path(o->manifest_path, o->m);
		rc = why && pp ? reject_file(r, o, o->manifest_path, pp, NULL, why) : MCR_ENOMEM;
		if (!rc)
			o->status = o->prev_data ? "stale" : "never";
		free(why);
		free(pp);
		return rc;
	}
	char iso[32];
	mcr_time_iso(o->m->extracted, iso);
	if (o->prev_data && o->prev_manifest && o->held_set && o->m->extracted == o->held &&
	    strcmp(mcr_load_base_name(o->prev_manifest), mcr_load_base_name(o->manifest_path)) == 0 &&
	    o->prev_len == (int64_t)o->m->payload_length &&
	    o->prev_crc == (int64_t)o->m->payload_crc32)
		return 0;   /* the file already loaded: unchanged */
	if (o->held_set && o->m->extracted <= o->held) {
		char why[256];
		snprintf(why, sizeof(why), "replay: extract of %s is not newer than the one loaded (%s)",
		         iso, o->prev_extracted ? o->prev_extracted : "?");
		if (!(pp = payload_path(o->manifest_path, o->m)))
			return MCR_ENOMEM;
		rc = reject_file(r, o, o->manifest_path, pp, iso, why);
		free(pp);
		o->status = "stale";
		return rc;
	}
	o->action = ACT_LOAD;
	return guard(r, o, iso);
}

int mcr_load_org(load_run *r, org_run *o)
{
	char *why = NULL;
	char iso[32];
	mcr_time_iso(o->m->extracted, iso);
	int rc = mcr_load_stream_org(r, o, &why);
	if (!r->parsed_once) {
		r->parsed_once = 1;
		mcr_load_crash_point(r, "parsed");
	}
	if (rc == 0) {
		o->status = "current";
		rc = set_loaded_fields(r, o);
		if (!rc && o->guard_accepted) {
			char line[400];
			snprintf(line, sizeof(line), "accepted by the operator (mcr-load --accept %s): %s",
			         o->org->ods, o->guard_reason);
			r->sum->accepted++;
			rc = mcr_load_note_file(r, o, o->manifest_path, iso, "accepted", line, o->items);
		} else if (!rc) {
			rc = mcr_load_note_file(r, o, o->manifest_path, iso, "loaded", NULL, o->items);
		}
		return rc;
	}
	if (!why)
		return rc;
	char *pp = payload_path(o->manifest_path, o->m);
	rc = pp ? reject_file(r, o, o->manifest_path, pp, iso, why) : MCR_ENOMEM;
	free(pp);
	free(why);
	if (rc)
		return rc;
	if (o->prev_data) {
		o->action = ACT_CARRY;
		o->status = "stale";
		return mcr_load_carry_org(r, o);
	}
	o->action = ACT_NEVER;
	o->status = "never";
	o->first = r->next_id;
	o->last = r->next_id - 1;
	return 0;
}
