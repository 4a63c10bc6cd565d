/*
 * The information governance reports: coverage, access, break-glass, loads and
 * audit verification (docs/REPORTS.md). Every database is opened read-only;
 * coverage reads only the per-source aggregates the loader wrote (source,
 * source_section, withheld), so it costs the same for 1,000 or 1,000,000 people.
 */
#include "mcr/report.h"
#include "mcr/audit.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/nhs.h"
#include "mcr/store.h"
#include "mcr/vocab.h"
#include "store_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------- */

static char *dup_str(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *p = malloc(n + 1);
	if (p)
		memcpy(p, s, n + 1);
	return p;
}

/* Row column text, "" for NULL. */
static const char *row_text(const mcr_store_row *row, int i)
{
	return i < row->n && row->v[i] ? row->v[i] : "";
}

/* Row column duplicated; NULL for NULL. */
static int row_dup(const mcr_store_row *row, int i, char **out)
{
	*out = NULL;
	if (i >= row->n || !row->v[i])
		return 0;
	*out = dup_str(row->v[i]);
	return *out ? 0 : mcr_error_set(MCR_ENOMEM, "out of memory reading a report");
}

/*
 * Every report ends with the audit log's head as it was when the report was made
 * ("audit checkpoint N:HASH"): a copy of the checkpoint outside the audit database
 * that `verify-audit --checkpoint` (or --checkpoint-file on a saved report) checks
 * later. No footer when there is no audit log yet.
 */
static int render_report(const mcr_config *cfg, mcr_report_doc *d, mcr_report_format f, mcr_buf *out)
{
	mcr_audit_checkpoint head;
	mcr_buf text = MCR_BUF_INIT;
	int rc = 0, hrc = mcr_audit_read_head_config(cfg, &head);
	if (hrc == 0) {
		char cp[MCR_AUDIT_CHECKPOINT_MAX];
		mcr_audit_checkpoint_format(&head, cp);
		rc = mcr_buf_printf(&text, "Audit log at this report: " MCR_AUDIT_CHECKPOINT_WORDS " %s", cp);
	} else if (hrc != MCR_ENOTFOUND) {
		rc = mcr_buf_printf(&text, "Audit log at this report: head unreadable (%s); run mcr-report "
		                    "verify-audit", mcr_error_message());
	}
	mcr_error_clear();
	if (!rc && text.len)
		rc = mcr_report_doc_footer(d, text.ptr);
	if (!rc)
		rc = mcr_report_doc_render(d, f, out);
	mcr_buf_free(&text);
	return rc;
}

/* Each row (at most 16 text columns) into the current table of the report. */
static int row_to_table(void *arg, const mcr_store_row *row)
{
	const char *cells[16];
	for (int i = 0; i < row->n && i < 16; i++)
		cells[i] = row_text(row, i);
	return mcr_report_doc_row(arg, cells);
}

static const char *ltoa_buf(char buf[32], long v)
{
	snprintf(buf, 32, "%ld", v);
	return buf;
}

/* ---- coverage --------------------------------------------------------------- */

typedef struct cov_org {
	char *ods, *name, *dataset, *status, *extracted, *loaded, *shares_from;
	char *rejected_file, *rejected_reason;
	const mcr_source_warning *held; /* HELD: the held file's figures; NULL otherwise */
	const mcr_org *cfg;     /* NULL: in the store, no longer configured */
	long people, members, items, objections;
	long sec_people[MCR_SECTION_COUNT], sec_items[MCR_SECTION_COUNT];
	long withheld[MCR_REASON_COUNT];
} cov_org;

typedef struct coverage {
	cov_org *orgs;
	size_t n, cap;
	mcr_source_warning *warn; /* the generation's warnings, for the held files' figures */
	size_t nwarn;
} coverage;

static void coverage_free(coverage *c)
{
	for (size_t i = 0; i < c->n; i++) {
		cov_org *o = &c->orgs[i];
		free(o->ods);
		free(o->name);
		free(o->dataset);
		free(o->status);
		free(o->extracted);
		free(o->loaded);
		free(o->shares_from);
		free(o->rejected_file);
		free(o->rejected_reason);
	}
	free(c->orgs);
	mcr_source_warnings_free(c->warn, c->nwarn);
}

static cov_org *coverage_find(coverage *c, const char *ods)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->orgs[i].ods, ods) == 0)
			return &c->orgs[i];
	return NULL;
}

static cov_org *coverage_add(coverage *c, const char *ods)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		cov_org *no = realloc(c->orgs, cap * sizeof(*no));
		if (!no)
			return NULL;
		c->orgs = no;
		c->cap = cap;
	}
	cov_org *o = &c->orgs[c->n];
	memset(o, 0, sizeof(*o));
	if (!(o->ods = dup_str(ods)))
		return NULL;
	c->n++;
	return o;
}

static int cmp_cov_ods(const void *a, const void *b)
{
	return strcmp(((const cov_org *)a)->ods, ((const cov_org *)b)->ods);
}

static int coverage_source_row(void *arg, const mcr_store_row *row)
{
	coverage *c = arg;
	const char *ods = row_text(row, 0);
	cov_org *o = coverage_find(c, ods);
	int rc;
	if (!o && !(o = coverage_add(c, ods)))
		return mcr_error_set(MCR_ENOMEM, "out of memory reading sources");
	free(o->dataset);
	free(o->shares_from);
	if (!o->name && (rc = row_dup(row, 2, &o->name)))
		return rc;
	if ((rc = row_dup(row, 1, &o->dataset)) || (rc = row_dup(row, 3, &o->status)) ||
	    (rc = row_dup(row, 4, &o->extracted)) || (rc = row_dup(row, 5, &o->loaded)) ||
	    (rc = row_dup(row, 6, &o->shares_from)) || (rc = row_dup(row, 7, &o->rejected_file)) ||
	    (rc = row_dup(row, 8, &o->rejected_reason)))
		return rc;
	o->people = mcr_store_row_long(row, 9);
	o->members = mcr_store_row_long(row, 10);
	o->items = mcr_store_row_long(row, 11);
	o->objections = mcr_store_row_long(row, 12);
	return 0;
}

static int coverage_section_row(void *arg, const mcr_store_row *row)
{
	coverage *c = arg;
	cov_org *o = coverage_find(c, row_text(row, 0));
	mcr_section sec;
	if (mcr_section_parse(row_text(row, 1), &sec) != 0)
		return mcr_error_set(MCR_EFORMAT, "store source_section: unknown section '%s'",
		                     row_text(row, 1));
	if (o) {
		o->sec_people[sec] += mcr_store_row_long(row, 2);
		o->sec_items[sec] += mcr_store_row_long(row, 3);
	}
	return 0;
}

static int coverage_withheld_row(void *arg, const mcr_store_row *row)
{
	coverage *c = arg;
	cov_org *o = coverage_find(c, row_text(row, 0));
	mcr_reason r;
	if (mcr_reason_parse(row_text(row, 1), &r) != 0)
		return mcr_error_set(MCR_EFORMAT, "store withheld: unknown reason '%s'", row_text(row, 1));
	if (o)
		o->withheld[r] += mcr_store_row_long(row, 2);
	return 0;
}

/* Fill c from the store's source, source_section and withheld tables. */
static int coverage_read_store(coverage *c, mcr_store_gen *g, size_t nconfigured)
{
	int rc = mcr_store_query(g, MCR_SQ_COVERAGE_SOURCES, NULL, coverage_source_row, c);
	if (rc)
		return rc;
	/* Organisations the config no longer lists follow the configured ones. */
	if (c->n > nconfigured)
		qsort(c->orgs + nconfigured, c->n - nconfigured, sizeof(cov_org), cmp_cov_ods);
	if ((rc = mcr_store_query(g, MCR_SQ_COVERAGE_SECTIONS, NULL, coverage_section_row, c)))
		return rc;
	return mcr_store_query(g, MCR_SQ_COVERAGE_WITHHELD, NULL, coverage_withheld_row, c);
}

static int built_at_row(void *arg, const mcr_store_row *row)
{
	snprintf(arg, 64, "%s", row_text(row, 0));
	return 0;
}

/* "Store generation 3, built ..." from the store's meta table. */
static int note_generation(mcr_report_doc *d, mcr_store_gen *g, long gen)
{
	char built[64] = "";
	if (mcr_store_query(g, MCR_SQ_BUILT_AT, NULL, built_at_row, built))
		mcr_error_clear();
	if (built[0])
		return mcr_report_doc_note(d, "Store generation %ld, built %s.", gen, built);
	return mcr_report_doc_note(d, "Store generation %ld.", gen);
}

static int last_run_row(void *arg, const mcr_store_row *row)
{
	mcr_report_doc *d = arg;
	const char *fin = row_text(row, 2);
	if (!row->v[3])
		return mcr_report_doc_note(d, "Last load run %s: %s%s%s, no generation published.",
		                           row_text(row, 0), row_text(row, 1), fin[0] ? ", finished " : "",
		                           fin);
	return mcr_report_doc_note(d, "Last load run %s: %s%s%s, generation %ld.", row_text(row, 0),
	                           row_text(row, 1), fin[0] ? ", finished " : "", fin,
	                           mcr_store_row_long(row, 3));
}

/* The latest load run from the load history, when there is one. */
static int note_last_run(mcr_report_doc *d, const mcr_config *cfg)
{
	mcr_history *h = NULL;
	int rc = mcr_history_open(cfg, &h);
	if (rc == MCR_ENOTFOUND) {
		mcr_error_clear();
		return 0;
	}
	if (!rc)
		rc = mcr_history_query(h, MCR_HQ_LAST_RUN, NULL, last_run_row, d);
	mcr_history_close(h);
	return rc;
}

/* How far a held file falls from the data held: "people 120 -> 0 (-100%)". */
static void fall_text(const char *what, long before, long after, char *out, size_t n)
{
	if (before > 0)
		snprintf(out, n, "%s %ld -> %ld (%+.0f%%)", what, before, after,
		         100.0 * (double)(after - before) / (double)before);
	else
		snprintf(out, n, "%s %ld -> %ld", what, before, after);
}

/* Why a source has the freshness it has, in a few words. */
static void freshness_detail(const mcr_config *cfg, const cov_org *o, mcr_freshness f,
                             mcr_schedule sched, time_t now, char *out, size_t n)
{
	out[0] = '\0';
	time_t t;
	switch (f) {
	case MCR_FRESH_NEVER:
		snprintf(out, n, "no data loaded");
		break;
	case MCR_FRESH_FAILED:
		snprintf(out, n, "newest file rejected%s%s; older data held", o->rejected_reason ? ": " : "",
		         o->rejected_reason ? o->rejected_reason : "");
		break;
	case MCR_FRESH_HELD: {
		char p[96] = "", i[96] = "";
		if (o->held) {
			fall_text("people", o->people, o->held->held_people, p, sizeof(p));
			fall_text("items", o->items, o->held->held_items, i, sizeof(i));
		}
		snprintf(out, n, "newest file held%s%s%s%s: older data kept; if the fall is real, "
		         "accept it with: mcr-load --accept %s", o->held ? ": " : "", p,
		         o->held ? ", " : "", i, o->ods);
		break;
	}
	case MCR_FRESH_STALE:
		if (!o->extracted || mcr_time_parse(o->extracted, &t) != 0)
			snprintf(out, n, "extract time unknown");
		else {
			char ago[48];
			mcr_freshness_age_text((long)(now - t), ago, sizeof(ago));
			snprintf(out, n, "extracted %s ago; %s allows %ld h", ago,
			         mcr_schedule_name(sched), mcr_freshness_max_age(cfg, sched) / 3600);
		}
		break;
	case MCR_FRESH_OK:
		break;
	}
}

enum { COV_FIXED = 14 };
#define COV_CSV_COLS (COV_FIXED + 2 * MCR_SECTION_COUNT + MCR_REASON_COUNT + 6)

/* Sources: the freshness table. */
static int cov_sources(const mcr_config *cfg, mcr_report_doc *d, const coverage *c, time_t now)
{
	int rc;
	static const char *const src_cols[] = {
		"org", "name", "dataset", "schedule", "freshness", "extracted", "loaded",
		"shares_from", "people", "members", "items", "objections", "detail",
	};
	if ((rc = mcr_report_doc_table(d, "Sources and freshness", 13, src_cols,
	                               0xF00u, 1u << 4, 0)))
		return rc;
	for (size_t i = 0; i < c->n; i++) {
		cov_org *o = &c->orgs[i];
		mcr_schedule sched = o->cfg ? o->cfg->schedule : MCR_SCHEDULE_NIGHTLY;
		mcr_freshness f = mcr_freshness_judge(cfg, o->status, o->extracted, sched, now);
		char detail[600], n1[32], n2[32], n3[32], n4[32];
		freshness_detail(cfg, o, f, sched, now, detail, sizeof(detail));
		if (!o->cfg) {
			size_t l = strlen(detail);
			snprintf(detail + l, sizeof(detail) - l, "%snot in the config", l ? "; " : "");
		}
		const char *row[] = {
			o->ods, o->name, o->dataset, o->cfg ? mcr_schedule_name(sched) : "",
			mcr_freshness_name(f), o->extracted, o->loaded, o->shares_from,
			ltoa_buf(n1, o->people), ltoa_buf(n2, o->members), ltoa_buf(n3, o->items),
			ltoa_buf(n4, o->objections), detail,
		};
		if ((rc = mcr_report_doc_row(d, row)))
			return rc;
	}
	return 0;
}

/* Chart (HTML): items by organisation and section. */
static int cov_chart(mcr_report_doc *d, const coverage *c)
{
	const char **labels = calloc(c->n ? c->n : 1, sizeof(*labels));
	char **label_text = calloc(c->n ? c->n : 1, sizeof(*label_text));
	long *values = calloc((c->n ? c->n : 1) * MCR_SECTION_COUNT, sizeof(long));
	const char *series[MCR_SECTION_COUNT];
	int rc = (!labels || !label_text || !values) ? mcr_error_set(MCR_ENOMEM, "out of memory") : 0;
	for (size_t i = 0; !rc && i < c->n; i++) {
		mcr_buf l = MCR_BUF_INIT;
		if (mcr_buf_printf(&l, "%s %s", c->orgs[i].ods, c->orgs[i].name ? c->orgs[i].name : "") ||
		    !(label_text[i] = mcr_buf_detach(&l)))
			rc = MCR_ENOMEM;
		labels[i] = label_text[i];
		for (int s = 0; s < MCR_SECTION_COUNT; s++)
			values[i * MCR_SECTION_COUNT + (size_t)s] = c->orgs[i].sec_items[s];
	}
	for (int s = 0; s < MCR_SECTION_COUNT; s++)
		series[s] = mcr_section_title((mcr_section)s);
	if (!rc)
		rc = mcr_report_doc_chart(d, "Items by organisation and section", c->n, labels,
		                          MCR_SECTION_COUNT, series, values);
	for (size_t i = 0; label_text && i < c->n; i++)
		free(label_text[i]);
	free(label_text);
	free(labels);
	free(values);
	return rc;
}

/* People and items by section. */
static int cov_sections(mcr_report_doc *d, const coverage *c)
{
	int rc;
	static const char *const sec_cols[] = { "org", "section", "people", "items" };
	if ((rc = mcr_report_doc_table(d, "People and items by section", 4, sec_cols, 0xCu, 0, 0)))
		return rc;
	for (size_t i = 0; i < c->n; i++)
		for (int s = 0; s < MCR_SECTION_COUNT; s++) {
			cov_org *o = &c->orgs[i];
			if (!o->sec_people[s] && !o->sec_items[s])
				continue;
			char n1[32], n2[32];
			const char *row[] = { o->ods, mcr_section_name((mcr_section)s),
			                      ltoa_buf(n1, o->sec_people[s]), ltoa_buf(n2, o->sec_items[s]) };
			if ((rc = mcr_report_doc_row(d, row)))
				return rc;
		}
	return 0;
}

/* Withheld by reason. */
static int cov_withheld(mcr_report_doc *d, const coverage *c)
{
	int rc;
	static const char *const wh_cols[] = { "org", "reason", "count" };
	if ((rc = mcr_report_doc_table(d, "Withheld by reason", 3, wh_cols, 0x4u, 0, 0)))
		return rc;
	for (size_t i = 0; i < c->n; i++)
		for (int r = 0; r < MCR_REASON_COUNT; r++) {
			cov_org *o = &c->orgs[i];
			if (!o->withheld[r])
				continue;
			char n1[32];
			const char *row[] = { o->ods, mcr_reason_name((mcr_reason)r),
			                      ltoa_buf(n1, o->withheld[r]) };
			if ((rc = mcr_report_doc_row(d, row)))
				return rc;
		}
	return 0;
}

/* Rejected files and why. */
static int cov_rejected(mcr_report_doc *d, const coverage *c)
{
	int rc;
	static const char *const rej_cols[] = { "org", "dataset", "file", "reason" };
	if ((rc = mcr_report_doc_table(d, "Rejected files", 4, rej_cols, 0, 0, 0)))
		return rc;
	for (size_t i = 0; i < c->n; i++) {
		cov_org *o = &c->orgs[i];
		if (!o->rejected_file && !o->rejected_reason)
			continue;
		const char *row[] = { o->ods, o->dataset, o->rejected_file, o->rejected_reason };
		if ((rc = mcr_report_doc_row(d, row)))
			return rc;
	}
	return 0;
}

/* Files the night-on-night guard held: the data kept against the held file
 * (a table only when there is one: the Sources table says HELD as well). */
static int cov_held(mcr_report_doc *d, const coverage *c)
{
	int rc;
	size_t nheld = 0;
	for (size_t i = 0; i < c->n; i++)
		nheld += c->orgs[i].held != NULL;
	static const char *const held_cols[] = {
		"org", "dataset", "file", "extracted", "people_held", "people_new", "items_held",
		"items_new", "to_accept",
	};
	if (nheld && (rc = mcr_report_doc_table(d, "Held files (not loaded: far fewer people or "
	                                        "items than the data held)", 9, held_cols, 0xF0u, 0, 0)))
		return rc;
	for (size_t i = 0; i < c->n; i++) {
		cov_org *o = &c->orgs[i];
		if (!o->held)
			continue;
		char n1[32], n2[32], n3[32], n4[32], accept[64];
		snprintf(accept, sizeof(accept), "mcr-load --accept %s", o->ods);
		const char *row[] = {
			o->ods, o->dataset, o->held->held_file, o->held->held_extracted,
			ltoa_buf(n1, o->people), ltoa_buf(n2, o->held->held_people),
			ltoa_buf(n3, o->items), ltoa_buf(n4, o->held->held_items), accept,
		};
		if ((rc = mcr_report_doc_row(d, row)))
			return rc;
	}
	return 0;
}

/* CSV: one wide row per organisation. */
static int cov_csv(const mcr_config *cfg, mcr_report_doc *d, const coverage *c, time_t now)
{
	int rc;
	const char *cols[COV_CSV_COLS];
	char names[2 * MCR_SECTION_COUNT + MCR_REASON_COUNT][48];
	static const char *const fixed[COV_FIXED] = {
		"org", "name", "dataset", "schedule", "status", "freshness", "detail", "extracted",
		"loaded", "shares_from", "people", "members", "items", "objections",
	};
	size_t k = 0, m = 0;
	for (; k < COV_FIXED; k++)
		cols[k] = fixed[k];
	for (int s = 0; s < MCR_SECTION_COUNT; s++) {
		snprintf(names[m], sizeof(names[m]), "%s_people", mcr_section_name((mcr_section)s));
		cols[k++] = names[m++];
		snprintf(names[m], sizeof(names[m]), "%s_items", mcr_section_name((mcr_section)s));
		cols[k++] = names[m++];
	}
	for (int r = 0; r < MCR_REASON_COUNT; r++) {
		snprintf(names[m], sizeof(names[m]), "withheld_%s", mcr_reason_name((mcr_reason)r));
		cols[k++] = names[m++];
	}
	cols[k++] = "rejected_file";
	cols[k++] = "rejected_reason";
	cols[k++] = "held_file";
	cols[k++] = "held_extracted";
	cols[k++] = "held_people";
	cols[k++] = "held_items";
	if ((rc = mcr_report_doc_table(d, NULL, COV_CSV_COLS, cols, 0, 0,
	                               MCR_REPORT_IN_CSV | MCR_REPORT_CSV_ONLY)))
		return rc;
	for (size_t i = 0; i < c->n; i++) {
		cov_org *o = &c->orgs[i];
		mcr_schedule sched = o->cfg ? o->cfg->schedule : MCR_SCHEDULE_NIGHTLY;
		mcr_freshness f = mcr_freshness_judge(cfg, o->status, o->extracted, sched, now);
		char detail[600];
		char nums[6 + 2 * MCR_SECTION_COUNT + MCR_REASON_COUNT][32];
		const char *row[COV_CSV_COLS];
		freshness_detail(cfg, o, f, sched, now, detail, sizeof(detail));
		size_t j = 0, q = 0;
		row[j++] = o->ods;
		row[j++] = o->name;
		row[j++] = o->dataset;
		row[j++] = o->cfg ? mcr_schedule_name(sched) : "";
		row[j++] = o->status ? o->status : "never";
		row[j++] = mcr_freshness_name(f);
		row[j++] = detail;
		row[j++] = o->extracted;
		row[j++] = o->loaded;
		row[j++] = o->shares_from;
		row[j++] = ltoa_buf(nums[q++], o->people);
		row[j++] = ltoa_buf(nums[q++], o->members);
		row[j++] = ltoa_buf(nums[q++], o->items);
		row[j++] = ltoa_buf(nums[q++], o->objections);
		for (int s = 0; s < MCR_SECTION_COUNT; s++) {
			row[j++] = ltoa_buf(nums[q++], o->sec_people[s]);
			row[j++] = ltoa_buf(nums[q++], o->sec_items[s]);
		}
		for (int r = 0; r < MCR_REASON_COUNT; r++)
			row[j++] = ltoa_buf(nums[q++], o->withheld[r]);
		row[j++] = o->rejected_file;
		row[j++] = o->rejected_reason;
		row[j++] = o->held ? o->held->held_file : NULL;
		row[j++] = o->held ? o->held->held_extracted : NULL;
		row[j++] = o->held ? ltoa_buf(nums[q++], o->held->held_people) : NULL;
		row[j++] = o->held ? ltoa_buf(nums[q++], o->held->held_items) : NULL;
		if ((rc = mcr_report_doc_row(d, row)))
			return rc;
	}
	return 0;
}

/* The coverage report: one function a table, in the order shown. */
static int coverage_doc(const mcr_config *cfg, mcr_report_doc *d, coverage *c, time_t now)
{
	int rc;
	if ((rc = cov_sources(cfg, d, c, now)) || (rc = cov_chart(d, c)) || (rc = cov_sections(d, c)) ||
	    (rc = cov_withheld(d, c)) || (rc = cov_rejected(d, c)) || (rc = cov_held(d, c)))
		return rc;
	return cov_csv(cfg, d, c, now);
}

int mcr_report_coverage(const mcr_config *cfg, time_t now, mcr_report_format f, mcr_buf *out)
{
	coverage c = { 0 };
	mcr_report_doc *d = NULL;
	mcr_store_gen *db = NULL;
	long gen = 0;
	char at[32];
	mcr_buf title = MCR_BUF_INIT;
	int rc = 0;

	for (size_t i = 0; i < cfg->norgs; i++) {
		const mcr_org *co = &cfg->orgs[i];
		cov_org *o = coverage_add(&c, co->ods);
		if (!o || !(o->name = dup_str(co->name)) ||
		    !(o->dataset = dup_str(mcr_org_dataset(co->kind))) ||
		    (co->shares_from[0] && !(o->shares_from = dup_str(co->shares_from)))) {
			rc = mcr_error_set(MCR_ENOMEM, "out of memory");
			goto out;
		}
		o->cfg = co;
	}
	rc = mcr_store_gen_open(cfg, &db, &gen);
	if (rc == MCR_ENOTFOUND) {
		rc = 0;
		mcr_error_clear();
	} else if (rc) {
		goto out;
	} else if ((rc = coverage_read_store(&c, db, cfg->norgs)) ||
	           (rc = mcr_source_warnings_read(cfg, db, now, &c.warn, &c.nwarn))) {
		goto out;
	}
	for (size_t i = 0; i < c.nwarn; i++) {
		cov_org *o = c.warn[i].state == MCR_FRESH_HELD ? coverage_find(&c, c.warn[i].org) : NULL;
		if (o)
			o->held = &c.warn[i];
	}

	if ((rc = mcr_buf_printf(&title, "Coverage%s%s", cfg->region ? ": " : "",
	                         cfg->region ? cfg->region : "")) ||
	    (rc = mcr_report_doc_new(&d, title.ptr)))
		goto out;
	mcr_time_iso(now, at);
	if ((rc = mcr_report_doc_note(d, "Report time %s.", at)))
		goto out;
	if (db)
		rc = note_generation(d, db, gen);
	else
		rc = mcr_report_doc_note(d, "No store generation has been published.");
	if (rc || (rc = note_last_run(d, cfg)))
		goto out;
	/* Worded without the freshness words themselves, so that a search of the
	 * report for STALE, FAILED or NEVER finds only organisations. */
	if ((rc = mcr_report_doc_note(d, "Freshness is judged from the extract time against each "
	                              "schedule: nightly data may be %ld h old, twice-daily %ld h "
	                              "(docs/REPORTS.md).",
	                              mcr_freshness_max_age(cfg, MCR_SCHEDULE_NIGHTLY) / 3600,
	                              mcr_freshness_max_age(cfg, MCR_SCHEDULE_TWICE_DAILY) / 3600)))
		goto out;
	if ((rc = coverage_doc(cfg, d, &c, now)))
		goto out;
	rc = render_report(cfg, d, f, out);
out:
	mcr_report_doc_free(d);
	mcr_store_gen_close(db);
	coverage_free(&c);
	mcr_buf_free(&title);
	return rc;
}

/* ---- audit entries ---------------------------------------------------------- */

typedef struct period_bounds {
	char lo[32], hi[32];  /* at >= lo AND at < hi, as ISO 8601 text */
	char text[160];       /* for the report's note */
} period_bounds;

static int parse_bound(const char *s, const char *opt, int upper, char out[32])
{
	time_t t;
	if (mcr_time_parse(s, &t) != 0)
		return mcr_error_set(MCR_EUSAGE, "bad %s '%s': expected YYYY-MM-DD or "
		                     "YYYY-MM-DDTHH:MM:SSZ", opt, s);
	/* A date alone is the whole day; a time, its whole second: --to is inclusive. */
	if (upper)
		t += strlen(s) == 10 ? 86400 : 1;
	mcr_time_iso(t, out);
	return 0;
}

static int period_parse(const mcr_report_period *p, period_bounds *b)
{
	const char *from = p ? p->from : NULL, *to = p ? p->to : NULL;
	int rc;
	snprintf(b->lo, sizeof(b->lo), "0");
	snprintf(b->hi, sizeof(b->hi), "~");
	if (from && (rc = parse_bound(from, "--from", 0, b->lo)))
		return rc;
	if (to && (rc = parse_bound(to, "--to", 1, b->hi)))
		return rc;
	if (from && to && strcmp(b->lo, b->hi) >= 0)
		return mcr_error_set(MCR_EUSAGE, "--from %s is after --to %s", from, to);
	if (from && to)
		snprintf(b->text, sizeof(b->text), "Period: %.40s to %.40s inclusive (UTC).", from, to);
	else if (from)
		snprintf(b->text, sizeof(b->text), "Period: from %.40s (UTC).", from);
	else if (to)
		snprintf(b->text, sizeof(b->text), "Period: up to %.40s inclusive (UTC).", to);
	else
		snprintf(b->text, sizeof(b->text), "Period: all entries.");
	return 0;
}

/* One audit entry as report cells: entry, time, user, org, role, nhs, sections,
 * basis, reason, outcome, detail, generation. */
typedef struct entry_row {
	char *cell[12];
} entry_row;

static void entry_row_free(entry_row *e)
{
	for (int i = 0; i < 12; i++)
		free(e->cell[i]);
}

/* e as report cells: NULL text and a NULL (0) generation empty. */
static int entry_row_from(const mcr_audit_entry *e, entry_row *r)
{
	char seq[24], gen[24];
	snprintf(seq, sizeof(seq), "%ld", e->seq);
	snprintf(gen, sizeof(gen), "%ld", e->generation);
	const char *v[12] = { seq, e->at, e->user, e->org, e->role, e->nhs, e->sections, e->basis,
	                      e->reason, e->outcome, e->detail, e->generation ? gen : "" };
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 12; i++)
		if (!(r->cell[i] = dup_str(v[i] ? v[i] : ""))) {
			entry_row_free(r);
			return mcr_error_set(MCR_ENOMEM, "out of memory reading the audit log");
		}
	return 0;
}

static const char *const entry_cols[12] = {
	"entry", "time", "user", "org", "role", "nhs", "sections", "basis", "reason", "outcome",
	"detail", "generation",
};
#define ENTRY_NUMERIC ((1u << 0) | (1u << 11))
#define ENTRY_STATUS (1u << 9)

/* "3 entries: shown 2, denied 1" in the order outcomes first appear. */
typedef struct outcome_tally {
	char name[16][24];
	long count[16];
	int n;
	long total;
} outcome_tally;

static void tally_add(outcome_tally *t, const char *outcome)
{
	t->total++;
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->name[i], outcome) == 0) {
			t->count[i]++;
			return;
		}
	/* More kinds than fit are counted together as "other". */
	int i = t->n < 15 ? t->n++ : 15;
	if (i == 15 && t->n == 15) {
		t->n = 16;
		snprintf(t->name[15], sizeof(t->name[15]), "other");
	} else if (i < 15) {
		snprintf(t->name[i], sizeof(t->name[i]), "%s", outcome);
	}
	t->count[i]++;
}

static int tally_note(mcr_report_doc *d, const outcome_tally *t, const char *one,
                      const char *many)
{
	mcr_buf b = MCR_BUF_INIT;
	int rc = mcr_buf_printf(&b, "%ld %s", t->total, t->total == 1 ? one : many);
	for (int i = 0; !rc && i < t->n; i++)
		rc = mcr_buf_printf(&b, "%s%s %ld", i ? ", " : ": ", t->name[i], t->count[i]);
	if (!rc)
		rc = mcr_report_doc_note(d, "%s.", b.ptr);
	mcr_buf_free(&b);
	return rc;
}

/* The access report's rows as the audit log gives them. */
typedef struct access_state {
	mcr_report_doc *d;
	outcome_tally tally;
} access_state;

static int access_row(void *ctx, const mcr_audit_entry *e)
{
	access_state *a = ctx;
	entry_row r;
	int rc = entry_row_from(e, &r);
	if (rc)
		return rc;
	rc = mcr_report_doc_row(a->d, (const char *const *)r.cell);
	tally_add(&a->tally, r.cell[9]);
	entry_row_free(&r);
	return rc;
}

int mcr_report_access(const mcr_config *cfg, const char *nhs, const char *const *users,
                      size_t nusers, const mcr_report_period *period,
                      mcr_report_format f, mcr_buf *out)
{
	period_bounds pb;
	char number[11];
	mcr_buf title = MCR_BUF_INIT;
	access_state a;
	int rc;

	memset(&a, 0, sizeof(a));
	if ((nhs != NULL) == (nusers > 0))
		return mcr_error_set(MCR_EUSAGE, "access needs --nhs NUMBER or --user ID...");
	if (nhs && mcr_nhs_validate(nhs, number) != 0) {
		/* The message names the number and why; copied, as it is the buffer set. */
		char why[512];
		snprintf(why, sizeof(why), "%s", mcr_error_message());
		return mcr_error_set(MCR_EUSAGE, "--nhs: %s", why);
	}
	if ((rc = period_parse(period, &pb)))
		return rc;
	mcr_audit_query q = { .nhs = nhs ? number : NULL, .users = users, .nusers = nusers,
	                      .from = pb.lo, .to = pb.hi };
	if (nhs) {
		rc = mcr_buf_printf(&title, "Access to the record of NHS number %s", number);
	} else {
		rc = mcr_buf_puts(&title, nusers == 1 ? "Access by user " : "Access by users ");
		for (size_t i = 0; !rc && i < nusers; i++)
			rc = mcr_buf_printf(&title, "%s%s", i ? ", " : "", users[i]);
	}
	if (rc || (rc = mcr_report_doc_new(&a.d, title.ptr)) || (rc = mcr_report_doc_note(a.d, "%s", pb.text)) ||
	    (rc = mcr_report_doc_table(a.d, NULL, 12, entry_cols, ENTRY_NUMERIC, ENTRY_STATUS,
	                               MCR_REPORT_IN_CSV)) ||
	    (rc = mcr_audit_query_config(cfg, &q, access_row, &a)) ||
	    (rc = tally_note(a.d, &a.tally, "entry", "entries")))
		goto out;
	rc = render_report(cfg, a.d, f, out);
out:
	mcr_report_doc_free(a.d);
	mcr_buf_free(&title);
	return rc;
}

/* ---- break-glass -------------------------------------------------------------- */

typedef struct bg_entry {
	entry_row row;
	int self_access;
	char **orgs;          /* organisations holding data for the person */
	size_t norgs;
	char *note;           /* how the organisations were found, when not as asked */
} bg_entry;

typedef struct gen_db {
	long gen;
	mcr_store_gen *g;     /* NULL: generation not kept */
} gen_db;

typedef struct bg_state {
	const mcr_config *cfg;
	gen_db *gens;
	size_t ngens, gencap;
	mcr_store_gen *current;
	long current_gen;
	int current_tried;
} bg_state;

static void bg_state_free(bg_state *s)
{
	for (size_t i = 0; i < s->ngens; i++)
		mcr_store_gen_close(s->gens[i].g);
	free(s->gens);
	mcr_store_gen_close(s->current);
}

static int bg_current(bg_state *s, mcr_store_gen **g)
{
	if (!s->current_tried) {
		s->current_tried = 1;
		int rc = mcr_store_gen_open(s->cfg, &s->current, &s->current_gen);
		if (rc == MCR_ENOTFOUND)
			mcr_error_clear();
		else if (rc)
			return rc;
	}
	*g = s->current;
	return 0;
}

/* Kept generation gen, or NULL when it has been pruned. */
static int bg_generation(bg_state *s, long gen, mcr_store_gen **out)
{
	for (size_t i = 0; i < s->ngens; i++)
		if (s->gens[i].gen == gen) {
			*out = s->gens[i].g;
			return 0;
		}
	mcr_store_gen *g = NULL;
	int rc = mcr_store_gen_open_kept(s->cfg, gen, &g);
	if (rc == MCR_ENOTFOUND) {
		mcr_error_clear();
		rc = 0;
	} else if (rc) {
		return rc;
	}
	if (s->ngens == s->gencap) {
		size_t cap = s->gencap ? s->gencap * 2 : 8;
		gen_db *ng = realloc(s->gens, cap * sizeof(*ng));
		if (!ng) {
			mcr_store_gen_close(g);
			return mcr_error_set(MCR_ENOMEM, "out of memory");
		}
		s->gens = ng;
		s->gencap = cap;
	}
	s->gens[s->ngens].gen = gen;
	s->gens[s->ngens].g = g;
	s->ngens++;
	*out = g;
	return 0;
}

/* 1 if name is one of the comma-separated sections in list (an empty list: all). */
static int in_sections(const char *list, const char *name)
{
	if (!list[0])
		return 1;
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		while (len && *p == ' ') {
			p++;
			len--;
		}
		if (len == n && memcmp(p, name, n) == 0)
			return 1;
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

static int bg_add_org(bg_entry *e, const char *org)
{
	for (size_t i = 0; i < e->norgs; i++)
		if (strcmp(e->orgs[i], org) == 0)
			return 0;
	char **no = realloc(e->orgs, (e->norgs + 1) * sizeof(*no));
	if (!no)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	e->orgs = no;
	if (!(e->orgs[e->norgs] = dup_str(org)))
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	e->norgs++;
	return 0;
}

/*
 * The organisations whose data the entry's lookup could show: items in the
 * sections it asked for, demographics when it asked for them, and objection
 * markers (always shown), in the generation the entry read.
 */
typedef struct holders_arg {
	bg_entry *e;
	const char *sections;
} holders_arg;

static int holder_row(void *arg, const mcr_store_row *row)
{
	holders_arg *h = arg;
	const char *sec = row_text(row, 1);
	return !sec[0] || in_sections(h->sections, sec) ? bg_add_org(h->e, row_text(row, 0)) : 0;
}

static int bg_holders(bg_state *s, bg_entry *e)
{
	const char *nhs = e->row.cell[5], *sections = e->row.cell[6];
	long gen = atol(e->row.cell[11]);
	mcr_store_gen *g = NULL;
	char note[160] = "";
	int rc = 0;

	if (gen > 0 && (rc = bg_generation(s, gen, &g)))
		return rc;
	if (!g) {
		if ((rc = bg_current(s, &g)))
			return rc;
		if (g && gen > 0)
			snprintf(note, sizeof(note), "generation %ld not kept: organisations from "
			         "current generation %ld", gen, s->current_gen);
		else if (g)
			snprintf(note, sizeof(note), "no generation recorded: organisations from "
			         "current generation %ld", s->current_gen);
		else
			snprintf(note, sizeof(note), "no store generation available");
	}
	if (note[0] && !(e->note = dup_str(note)))
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	if (!g)
		return 0;
	holders_arg h = { e, sections };
	const char *params[] = { nhs };
	return mcr_store_query(g, MCR_SQ_HOLDERS, params, holder_row, &h);
}

static int bg_holds(const bg_entry *e, const char *org)
{
	for (size_t i = 0; i < e->norgs; i++)
		if (strcmp(e->orgs[i], org) == 0)
			return 1;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *const bg_cols[13] = {
	"entry", "time", "user", "org", "role", "nhs", "sections", "basis", "reason", "outcome",
	"detail", "generation", "note",
};

static const char *const bg_csv_cols[17] = {
	"part", "data_org", "data_org_name", "caldicott", "entry", "time", "user", "org", "role",
	"nhs", "sections", "basis", "reason", "outcome", "detail", "generation", "note",
};

/* A group's table (text, HTML) and its rows in the flat CSV table. */
static int bg_group(mcr_report_doc *d, const char *part, const char *heading, const char *ods,
                    const char *name, const char *caldicott, bg_entry *es, size_t n,
                    int (*member)(const bg_entry *, const char *), const char *filter,
                    int always)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		count += member(&es[i], filter) != 0;
	if (!count && !always)
		return 0;
	int rc = mcr_report_doc_table(d, heading, 13, bg_cols, ENTRY_NUMERIC, ENTRY_STATUS, 0);
	for (size_t i = 0; !rc && i < n; i++) {
		if (!member(&es[i], filter))
			continue;
		const char *row[13];
		memcpy(row, es[i].row.cell, 12 * sizeof(char *));
		row[12] = es[i].note;
		rc = mcr_report_doc_row(d, row);
	}
	if (rc || (rc = mcr_report_doc_table(d, NULL, 17, bg_csv_cols, 0, 0,
	                                     MCR_REPORT_IN_CSV | MCR_REPORT_CSV_ONLY)))
		return rc;
	for (size_t i = 0; !rc && i < n; i++) {
		if (!member(&es[i], filter))
			continue;
		const char *row[17] = { part, ods, name, caldicott };
		memcpy(row + 4, es[i].row.cell, 12 * sizeof(char *));
		row[16] = es[i].note;
		rc = mcr_report_doc_row(d, row);
	}
	return rc;
}

static int member_holder(const bg_entry *e, const char *ods)
{
	return !e->self_access && bg_holds(e, ods);
}

static int member_no_holder(const bg_entry *e, const char *ods)
{
	(void)ods;
	return !e->self_access && e->norgs == 0;
}

static int member_self(const bg_entry *e, const char *ods)
{
	return e->self_access && (!ods || strcmp(e->row.cell[3], ods) == 0);
}

/* The break-glass and self-access entries, each with the organisations that held
 * data for the person then. */
typedef struct bg_collect {
	bg_state *state;
	bg_entry *es;
	size_t n, cap;
} bg_collect;

static int bg_collect_entry(void *ctx, const mcr_audit_entry *ae)
{
	bg_collect *c = ctx;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 64;
		bg_entry *ne = realloc(c->es, nc * sizeof(*ne));
		if (!ne)
			return mcr_error_set(MCR_ENOMEM, "out of memory");
		c->es = ne;
		c->cap = nc;
	}
	bg_entry *e = &c->es[c->n];
	memset(e, 0, sizeof(*e));
	int rc = entry_row_from(ae, &e->row);
	if (rc)
		return rc;
	c->n++;
	/* Break-glass never overrides self-access: nothing was seen. */
	e->self_access = strcmp(e->row.cell[9], "self-access") == 0;
	return e->self_access ? 0 : bg_holders(c->state, e);
}

int mcr_report_break_glass(const mcr_config *cfg, const char *org,
                           const mcr_report_period *period, mcr_report_format f,
                           mcr_buf *out)
{
	period_bounds pb;
	bg_state state = { .cfg = cfg };
	bg_entry *es = NULL;
	size_t n = 0;
	char **extra = NULL;
	size_t nextra = 0;
	mcr_report_doc *d = NULL;
	mcr_buf title = MCR_BUF_INIT, heading = MCR_BUF_INIT;
	int rc;

	if (org && !mcr_config_org(cfg, org))
		return mcr_error_set(MCR_EUSAGE, "unknown organisation '%s' (not in %s)", org,
		                     cfg->path ? cfg->path : "the config");
	if ((rc = period_parse(period, &pb)))
		return rc;
	bg_collect col = { &state, NULL, 0, 0 };
	mcr_audit_query q = { .break_glass = 1, .from = pb.lo, .to = pb.hi };
	rc = mcr_audit_query_config(cfg, &q, bg_collect_entry, &col);
	es = col.es;
	n = col.n;
	if (rc)
		goto out;

	if ((rc = mcr_buf_printf(&title, "Break-glass access%s%s", org ? " to data of " : "",
	                         org ? org : "")) ||
	    (rc = mcr_report_doc_new(&d, title.ptr)) || (rc = mcr_report_doc_note(d, "%s", pb.text)))
		goto out;

	/* Groups: configured organisations in config order, then any others found. */
	for (size_t i = 0; i < cfg->norgs; i++) {
		const mcr_org *o = &cfg->orgs[i];
		if (org && strcmp(org, o->ods) != 0)
			continue;
		mcr_buf_reset(&heading);
		if ((rc = mcr_buf_printf(&heading, "Data of %s %s; Caldicott Guardian: %s", o->ods,
		                         o->name, o->caldicott ? o->caldicott : "(none recorded)")) ||
		    (rc = bg_group(d, "break-glass", heading.ptr, o->ods, o->name, o->caldicott, es, n,
		                   member_holder, o->ods, org != NULL)))
			goto out;
	}
	if (!org) {
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < es[i].norgs; j++) {
				const char *ods = es[i].orgs[j];
				int known = mcr_config_org(cfg, ods) != NULL;
				for (size_t k = 0; !known && k < nextra; k++)
					known = strcmp(extra[k], ods) == 0;
				if (known)
					continue;
				char **ne = realloc(extra, (nextra + 1) * sizeof(*ne));
				if (!ne) {
					rc = mcr_error_set(MCR_ENOMEM, "out of memory");
					goto out;
				}
				extra = ne;
				extra[nextra++] = es[i].orgs[j];
			}
		if (nextra)
			qsort(extra, nextra, sizeof(*extra), cmp_str);
		for (size_t k = 0; k < nextra; k++) {
			mcr_buf_reset(&heading);
			if ((rc = mcr_buf_printf(&heading, "Data of %s (not in the config)", extra[k])) ||
			    (rc = bg_group(d, "break-glass", heading.ptr, extra[k], "", "", es, n,
			                   member_holder, extra[k], 0)))
				goto out;
		}
		if ((rc = bg_group(d, "break-glass", "No organisation holds data for the person",
		                   "", "", "", es, n, member_no_holder, NULL, 0)))
			goto out;
	}
	/* Self-access rows hold no other organisation's data: data_org stays empty. */
	if ((rc = bg_group(d, "self-access", "Self-access attempts (looking up one's own record)",
	                   "", "", "", es, n, member_self, org, 1)))
		goto out;
	size_t nbg = 0, nself = 0;
	for (size_t i = 0; i < n; i++) {
		if (es[i].self_access)
			nself += member_self(&es[i], org);
		else
			nbg += !org || bg_holds(&es[i], org);
	}
	if ((rc = mcr_report_doc_note(d, "%zu break-glass %s; %zu self-access %s.", nbg,
	                              nbg == 1 ? "entry" : "entries", nself,
	                              nself == 1 ? "attempt" : "attempts")) ||
	    (rc = render_report(cfg, d, f, out)))
		goto out;
out:
	for (size_t i = 0; i < n; i++) {
		entry_row_free(&es[i].row);
		for (size_t j = 0; j < es[i].norgs; j++)
			free(es[i].orgs[j]);
		free(es[i].orgs);
		free(es[i].note);
	}
	free(es);
	free(extra);
	bg_state_free(&state);
	mcr_report_doc_free(d);
	mcr_buf_free(&title);
	mcr_buf_free(&heading);
	return rc;
}

/* ---- loads ---------------------------------------------------------------------- */

/* The night-on-night guard's work in the runs shown: files held (far fewer people
 * or items than the data held) and files loaded on the operator's acceptance. A
 * table only when there is one. */
typedef struct guard_arg {
	mcr_report_doc *d;
	int table;
} guard_arg;

static int guard_row(void *arg, const mcr_store_row *row)
{
	static const char *const cols[] = { "run_id", "org", "dataset", "outcome", "manifest",
	                                    "reason" };
	guard_arg *g = arg;
	int rc;
	if (!g->table) {
		g->table = 1;
		if ((rc = mcr_report_doc_table(g->d, "Held and accepted files (night-on-night guard; "
		                               "accept a held file with mcr-load --accept ODS)", 6, cols,
		                               0, 1u << 3, 0)))
			return rc;
	}
	return row_to_table(g->d, row);
}

int mcr_report_loads(const mcr_config *cfg, long limit, mcr_report_format f, mcr_buf *out)
{
	mcr_report_doc *d = NULL;
	mcr_history *h = NULL;
	char lim[32];
	const char *params[] = { ltoa_buf(lim, limit > 0 ? limit : -1) };
	int rc;
	static const char *const cols[] = {
		"run_id", "started", "finished", "outcome", "generation", "files", "rejected",
		"people", "items", "message",
	};
	static const char *const fcols[] = { "run_id", "org", "dataset", "manifest", "reason" };

	if ((rc = mcr_report_doc_new(&d, "Load history")))
		goto out;
	if (limit > 0)
		rc = mcr_report_doc_note(d, "Newest run first; the last %ld runs.", limit);
	else
		rc = mcr_report_doc_note(d, "Newest run first.");
	if (rc)
		goto out;
	rc = mcr_history_open(cfg, &h);
	if (rc == MCR_ENOTFOUND) {
		/* The message says where the history would be: "no <store>/history.sqlite". */
		char why[512];
		snprintf(why, sizeof(why), "%s", mcr_error_message());
		mcr_error_clear();
		if ((rc = mcr_report_doc_note(d, "No load has run yet (%s).", why)) ||
		    (rc = mcr_report_doc_table(d, "Runs", 10, cols, 0x1F0u, 1u << 3, MCR_REPORT_IN_CSV)))
			goto out;
		rc = render_report(cfg, d, f, out);
		goto out;
	}
	if (rc || (rc = mcr_report_doc_table(d, "Runs", 10, cols, 0x1F0u, 1u << 3, MCR_REPORT_IN_CSV)) ||
	    (rc = mcr_history_query(h, MCR_HQ_RUNS, params, row_to_table, d)) ||
	    (rc = mcr_report_doc_table(d, "Rejected files", 5, fcols, 0, 0, 0)) ||
	    (rc = mcr_history_query(h, MCR_HQ_REJECTED, params, row_to_table, d)))
		goto out;
	guard_arg g = { d, 0 };
	if ((rc = mcr_history_query(h, MCR_HQ_GUARD, params, guard_row, &g)))
		goto out;
	rc = render_report(cfg, d, f, out);
out:
	mcr_history_close(h);
	mcr_report_doc_free(d);
	return rc;
}

/* ---- verify-audit ----------------------------------------------------------------- */

typedef struct checkpoints_arg {
	mcr_audit_checkpoints *l;
	const char *where;
} checkpoints_arg;

static int checkpoint_row(void *arg, const mcr_store_row *row)
{
	checkpoints_arg *a = arg;
	mcr_audit_checkpoint c;
	mcr_buf text = MCR_BUF_INIT, src = MCR_BUF_INIT;
	int rc = mcr_buf_printf(&text, "%ld:%s", mcr_store_row_long(row, 1), row_text(row, 2));
	if (!rc)
		rc = mcr_buf_printf(&src, "load history run %s", row_text(row, 0));
	if (!rc && mcr_audit_checkpoint_parse(text.ptr, src.ptr, &c) != 0)
		rc = mcr_error_set(MCR_EFORMAT, "%s: bad audit checkpoint '%s' in %s", a->where, text.ptr,
		                   src.ptr);
	if (!rc)
		rc = mcr_audit_checkpoints_add(a->l, &c);
	mcr_buf_free(&text);
	mcr_buf_free(&src);
	return rc;
}

/* Checkpoints mcr-load recorded in the load history (table audit_checkpoint), if any. */
static int history_checkpoints(const mcr_config *cfg, mcr_audit_checkpoints *l, size_t *found)
{
	mcr_history *h = NULL;
	size_t before = l->n;
	int rc = mcr_history_open(cfg, &h);
	if (rc == MCR_ENOTFOUND) {
		mcr_error_clear();
		rc = 0;
	} else if (!rc) {
		checkpoints_arg a = { l, mcr_history_where(h) };
		rc = mcr_history_query(h, MCR_HQ_CHECKPOINTS, NULL, checkpoint_row, &a);
	}
	*found = l->n - before;
	mcr_history_close(h);
	return rc;
}

int mcr_report_verify_audit(const mcr_config *cfg, mcr_report_format f, mcr_buf *out)
{
	return mcr_report_verify_audit_with(cfg, NULL, f, out);
}

int mcr_report_verify_audit_with(const mcr_config *cfg, const mcr_audit_checkpoints *given,
                                 mcr_report_format f, mcr_buf *out)
{
	static const char *const cols[] = { "audit_log", "entries", "result", "head", "checkpoints" };
	mcr_report_doc *d = NULL;
	mcr_audit_verify_result res;
	mcr_audit_checkpoints all = { 0 };
	mcr_buf checked = MCR_BUF_INIT;
	size_t from_history = 0, from_log = 0;
	char n[32], head[MCR_AUDIT_CHECKPOINT_MAX];
	int rc;
	if ((rc = history_checkpoints(cfg, &all, &from_history)))
		goto out;
	if (cfg->log_path) {
		size_t before = all.n;
		if ((rc = mcr_audit_checkpoints_scan(&all, cfg->log_path, 1)))
			goto out;
		from_log = all.n - before;
	}
	for (size_t i = 0; given && i < given->n; i++)
		if ((rc = mcr_audit_checkpoints_add(&all, &given->v[i])))
			goto out;
	if ((rc = mcr_audit_verify_config(cfg, &all, &res)))
		goto out;
	mcr_audit_checkpoint h = { .seq = res.entries };
	memcpy(h.hash, res.head, sizeof(h.hash));
	mcr_audit_checkpoint_format(&h, head);
	if (all.n)
		rc = mcr_buf_printf(&checked, "%zu matched: load history %zu; log %zu; given %zu", all.n,
		                    from_history, from_log, given ? given->n : 0);
	else
		rc = mcr_buf_puts(&checked, "none found");
	const char *row[] = { res.log, ltoa_buf(n, res.entries), "chain intact", head, checked.ptr };
	if (rc || (rc = mcr_report_doc_new(&d, "Audit log verification")) ||
	    (rc = mcr_report_doc_table(d, NULL, 5, cols, 0x2u, 0x4u, MCR_REPORT_IN_CSV)) ||
	    (rc = mcr_report_doc_row(d, row)))
		goto out;
	if (!all.n)
		rc = mcr_report_doc_note(d, "No checkpoint was found to check against, so deleting the newest "
		                         "entries or replacing the whole log would not be found: give one with "
		                         "--checkpoint N:HASH (from a report, the log or syslog).");
	if (!rc)
		rc = render_report(cfg, d, f, out);
out:
	mcr_report_doc_free(d);
	mcr_audit_checkpoints_free(&all);
	mcr_buf_free(&checked);
	return rc;
}

int mcr_report_migrate_audit(const mcr_config *cfg, const char *source, mcr_report_format f,
                             mcr_buf *out)
{
	static const char *const cols[] = { "source", "target", "source_entries", "copied", "target_entries",
	                                    "result", "head" };
	mcr_report_doc *d = NULL;
	mcr_audit_migrate_result res;
	char n1[32], n2[32], n3[32], head[MCR_AUDIT_CHECKPOINT_MAX];
	int rc = mcr_audit_migrate(source, cfg, &res);
	if (rc)
		return rc;
	mcr_audit_checkpoint h = { .seq = res.source_entries };
	memcpy(h.hash, res.head, sizeof(h.hash));
	mcr_audit_checkpoint_format(&h, head);
	const char *row[] = { res.source, res.target, ltoa_buf(n1, res.source_entries), ltoa_buf(n2, res.copied),
	                      ltoa_buf(n3, res.target_entries), "chain intact", head };
	if ((rc = mcr_report_doc_new(&d, "Audit log migration")) ||
	    (rc = mcr_report_doc_table(d, NULL, 7, cols, 0x1cu, 0x20u, MCR_REPORT_IN_CSV)) ||
	    (rc = mcr_report_doc_row(d, row)))
		goto out;
	if (res.target_entries > res.source_entries)
		rc = mcr_report_doc_note(d, "The target already held the whole source and %ld entries appended after it.",
		                         res.target_entries - res.source_entries);
	if (!rc)
		rc = render_report(cfg, d, f, out);
out:
	mcr_report_doc_free(d);
	return rc;
}
