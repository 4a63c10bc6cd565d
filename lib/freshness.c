/*
 * Freshness of each source and the warnings views show about it
 * (include/mcr/freshness.h). The one place the age limits and the states are
 * judged: coverage, the nightly check and every lookup view call it.
 */
#include "mcr/freshness.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "store_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mcr_freshness_name(mcr_freshness f)
{
	switch (f) {
	case MCR_FRESH_OK: return "OK";
	case MCR_FRESH_STALE: return "STALE";
	case MCR_FRESH_FAILED: return "FAILED";
	case MCR_FRESH_NEVER: return "NEVER";
	case MCR_FRESH_HELD: return "HELD";
	}
	return "?";
}

long mcr_freshness_max_age(const mcr_config *cfg, mcr_schedule s)
{
	int hours;
	if (s == MCR_SCHEDULE_TWICE_DAILY)
		hours = cfg && cfg->fresh_twice_daily_hours > 0 ? cfg->fresh_twice_daily_hours
		                                                : MCR_FRESH_TWICE_DAILY_HOURS;
	else
		hours = cfg && cfg->fresh_nightly_hours > 0 ? cfg->fresh_nightly_hours
		                                            : MCR_FRESH_NIGHTLY_HOURS;
	return hours * 3600L;
}

mcr_freshness mcr_freshness_judge(const mcr_config *cfg, const char *status,
                                  const char *extracted, mcr_schedule s, time_t now)
{
	if (!status || strcmp(status, "never") == 0)
		return MCR_FRESH_NEVER;
	if (strcmp(status, "stale") == 0)
		return MCR_FRESH_FAILED;
	if (strcmp(status, "held") == 0)
		return MCR_FRESH_HELD;
	time_t t;
	if (!extracted || mcr_time_parse(extracted, &t) != 0)
		return MCR_FRESH_STALE;
	return (long)(now - t) > mcr_freshness_max_age(cfg, s) ? MCR_FRESH_STALE : MCR_FRESH_OK;
}

/* ---- the warnings of one generation ----------------------------------------- */

void mcr_source_warnings_free(mcr_source_warning *w, size_t n)
{
	for (size_t i = 0; w && i < n; i++) {
		free(w[i].org);
		free(w[i].name);
		free(w[i].extracted);
		free(w[i].reason);
		free(w[i].held_file);
		free(w[i].held_extracted);
	}
	free(w);
}

typedef struct wlist {
	mcr_source_warning *v;
	size_t n, cap;
	int oom;
} wlist;

static char *dup_str(const char *s, int *oom)
{
	if (!s)
		return NULL;
	char *p = strdup(s);
	if (!p)
		*oom = 1;
	return p;
}

static mcr_source_warning *wlist_add(wlist *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		mcr_source_warning *p = realloc(l->v, cap * sizeof(*p));
		if (!p) {
			l->oom = 1;
			return NULL;
		}
		l->v = p;
		l->cap = cap;
	}
	mcr_source_warning *w = &l->v[l->n++];
	memset(w, 0, sizeof(*w));
	w->age = -1;
	return w;
}

typedef struct held_arg {
	mcr_source_warning *w;
	int *oom;
} held_arg;

/* The held file's figures of one HELD warning. */
static int held_row(void *arg, const mcr_store_row *row)
{
	held_arg *h = arg;
	h->w->held_file = dup_str(row->v[0], h->oom);
	h->w->held_extracted = dup_str(row->v[1], h->oom);
	h->w->held_people = mcr_store_row_long(row, 2);
	h->w->held_items = mcr_store_row_long(row, 3);
	return 0;
}

typedef struct sources_arg {
	const mcr_config *cfg;
	time_t now;
	wlist *l;
	unsigned char *seen;
} sources_arg;

/* One source row: a warning unless it is OK. */
static int source_row(void *arg, const mcr_store_row *row)
{
	sources_arg *a = arg;
	const mcr_config *cfg = a->cfg;
	const char *org = row->v[0], *status = row->v[2], *extracted = row->v[3];
	const mcr_org *o = org && cfg ? mcr_config_org(cfg, org) : NULL;
	if (o)
		a->seen[o - cfg->orgs] = 1;
	mcr_schedule sched = o ? o->schedule : MCR_SCHEDULE_NIGHTLY;
	mcr_freshness f = mcr_freshness_judge(cfg, status, extracted, sched, a->now);
	if (f == MCR_FRESH_OK)
		return 0;
	wlist *l = a->l;
	mcr_source_warning *w = wlist_add(l);
	if (!w)
		return MCR_ENOMEM;
	w->state = f;
	w->schedule = sched;
	w->max_age = mcr_freshness_max_age(cfg, sched);
	w->org = dup_str(org, &l->oom);
	w->name = row->v[1] ? dup_str(row->v[1], &l->oom) : dup_str(o ? o->name : org, &l->oom);
	w->extracted = f == MCR_FRESH_NEVER ? NULL : dup_str(extracted, &l->oom);
	w->reason = f == MCR_FRESH_FAILED ? dup_str(row->v[4], &l->oom) : NULL;
	w->people = mcr_store_row_long(row, 5);
	w->items = mcr_store_row_long(row, 6);
	time_t t;
	if (w->extracted && mcr_time_parse(w->extracted, &t) == 0)
		w->age = (long)(a->now - t);
	return 0;
}

int mcr_source_warnings_read(const mcr_config *cfg, mcr_store_gen *gen, time_t now,
                             mcr_source_warning **out, size_t *n)
{
	wlist l = { 0 };
	int rc = 0;
	unsigned char *seen = NULL;
	*out = NULL;
	*n = 0;
	if (cfg && cfg->norgs && !(seen = calloc(cfg->norgs, 1)))
		return mcr_error_set(MCR_ENOMEM, "out of memory reading sources");
	sources_arg a = { cfg, now, &l, seen };
	rc = mcr_store_query(gen, MCR_SQ_FRESH_SOURCES, NULL, source_row, &a);
	if (rc == MCR_ENOMEM || (!rc && l.oom)) {
		rc = mcr_error_set(MCR_ENOMEM, "out of memory reading sources");
		goto out;
	}
	if (rc)
		goto out;
	/* A configured organisation the generation does not describe has shared nothing here. */
	for (size_t i = 0; cfg && i < cfg->norgs; i++) {
		if (seen[i])
			continue;
		mcr_source_warning *w = wlist_add(&l);
		if (!w)
			break;
		w->state = MCR_FRESH_NEVER;
		w->schedule = cfg->orgs[i].schedule;
		w->max_age = mcr_freshness_max_age(cfg, w->schedule);
		w->org = dup_str(cfg->orgs[i].ods, &l.oom);
		w->name = dup_str(cfg->orgs[i].name ? cfg->orgs[i].name : cfg->orgs[i].ods, &l.oom);
	}
	/* The held file's figures for the HELD warnings. */
	for (size_t i = 0; !rc && !l.oom && i < l.n; i++) {
		if (l.v[i].state != MCR_FRESH_HELD)
			continue;
		held_arg h = { &l.v[i], &l.oom };
		const char *params[] = { l.v[i].org };
		rc = mcr_store_query(gen, MCR_SQ_HELD, params, held_row, &h);
	}
	if (!rc && l.oom)
		rc = mcr_error_set(MCR_ENOMEM, "out of memory reading sources");
out:
	free(seen);
	if (rc) {
		mcr_source_warnings_free(l.v, l.n);
		return rc;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

void mcr_freshness_age_text(long seconds, char *out, size_t n)
{
	/* Minutes rounded up, so data a second past the limit never reads as exactly
	 * the limit. */
	long min = (seconds + 59) / 60;
	if (min % 60)
		snprintf(out, n, "%ld h %ld min", min / 60, min % 60);
	else
		snprintf(out, n, "%ld h", min / 60);
}

int mcr_source_warning_text(const mcr_source_warning *w, mcr_buf *out)
{
	const char *name = w->name ? w->name : w->org ? w->org : "?";
	char age[48];
	int rc;
	if (w->state == MCR_FRESH_NEVER)
		return mcr_buf_printf(out, "%s has not shared any data yet: its information is missing",
		                      name);
	if ((rc = mcr_buf_printf(out, "%s data is stale: as of %s", name,
	                         w->extracted ? w->extracted : "unknown")))
		return rc;
	switch (w->state) {
	case MCR_FRESH_FAILED:
		return mcr_buf_puts(out, "; latest extract rejected");
	case MCR_FRESH_HELD:
		return mcr_buf_printf(out, "; latest extract held: people %ld -> %ld, items %ld -> %ld, "
		                      "waiting for an operator to accept it", w->people, w->held_people,
		                      w->items, w->held_items);
	case MCR_FRESH_STALE:
		if (w->age < 0)
			return mcr_buf_puts(out, "; extract time unknown");
		mcr_freshness_age_text(w->age, age, sizeof(age));
		return mcr_buf_printf(out, ", %s old; its %s schedule allows %ld h", age,
		                      mcr_schedule_name(w->schedule), w->max_age / 3600);
	default:
		return 0;
	}
}
