/*
 * The Health link: access decision, audit, and the person's view (text or HTML).
 * The rules and their order are in include/mcr/lookup.h and docs/LOOKUP.md.
 */
#include "mcr/lookup.h"
#include "mcr/db.h"
#include "mcr/error.h"
#include "mcr/freshness.h"
#include "mcr/fs.h"
#include "mcr/nhs.h"
#include "mcr/store.h"
#include "mcr/view.h"
#include "mcr/vocab.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SC_BIT (1u << MCR_SECTION_SOCIAL_CARE)
#define ALL_BITS ((1u << MCR_SECTION_COUNT) - 1)

/* ---- a small arena: every string of one lookup, freed at once ------------- */

typedef struct block {
	struct block *next;
	size_t used, cap;
	char data[];
} block;

typedef struct arena {
	block *head;
} arena;

static void *arena_alloc(arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (!a->head || a->head->cap - a->head->used < n) {
		size_t cap = n > 16384 ? n : 16384;
		block *b = malloc(sizeof(*b) + cap);
		if (!b) {
			mcr_error_set(MCR_ENOMEM, "out of memory reading a record");
			return NULL;
		}
		b->next = a->head;
		b->used = 0;
		b->cap = cap;
		a->head = b;
	}
	void *p = a->head->data + a->head->used;
	a->head->used += n;
	return p;
}

static void arena_free(arena *a)
{
	while (a->head) {
		block *n = a->head->next;
		free(a->head);
		a->head = n;
	}
}

/* Copy column i of st (NULL stays NULL). Sets *fail on ENOMEM. */
static const char *col(arena *a, sqlite3_stmt *st, int i, int *fail)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	if (!s)
		return NULL;
	size_t n = (size_t)sqlite3_column_bytes(st, i);
	char *p = arena_alloc(a, n + 1);
	if (!p) {
		*fail = 1;
		return NULL;
	}
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* ---- what the store holds about one person ---------------------------------- */

typedef struct source {
	const char *org, *kind, *name, *status, *extracted;
	int used; /* something of this source is in the view */
} source;

typedef struct person {
	const char *org;
	const char *family, *given, *birth_date, *gender, *address, *postcode, *phone;
} person;

/* An item's [name, value] pairs, in the view's own type so the view borrows them. */
typedef mcr_view_detail detail;

typedef struct item {
	mcr_section section;
	const char *org, *date, *system, *code, *display, *status;
	detail *details;
	size_t ndetails;
	int details_bad;
} item;

typedef struct objection {
	const char *org, *since;
} objection;

typedef struct withheld {
	const char *org;
	mcr_section section;
	long count;
} withheld;

#define GROW(arr, n, cap)                                                        \
	do {                                                                     \
		if ((n) == (cap)) {                                              \
			size_t c_ = (cap) ? (cap) * 2 : 16;                      \
			void *p_ = realloc((arr), c_ * sizeof(*(arr)));          \
			if (!p_)                                                 \
				return mcr_error_set(MCR_ENOMEM, "out of memory reading a record"); \
			(arr) = p_;                                              \
			(cap) = c_;                                              \
		}                                                                \
	} while (0)

typedef struct record {
	arena mem;
	source *sources;
	size_t nsources, csources;
	person *persons;
	size_t npersons, cpersons;
	item *items;
	size_t nitems, citems;
	objection *objections;
	size_t nobjections, cobjections;
	withheld *withheld;
	size_t nwithheld, cwithheld;
	int member; /* on the viewing organisation's own list */
	/* Sources every view names at its top (stale by age, rejected, held, never),
	 * whatever the person: the renderer-neutral list the banners are drawn from. */
	mcr_source_warning *warnings;
	size_t nwarnings;
} record;

static void record_free(record *r)
{
	arena_free(&r->mem);
	free(r->sources);
	free(r->persons);
	free(r->items);
	free(r->objections);
	free(r->withheld);
	mcr_source_warnings_free(r->warnings, r->nwarnings);
	memset(r, 0, sizeof(*r));
}

struct mcr_lookup {
	const mcr_config *cfg;
	const mcr_lookup_request *req;
	const char *store_path; /* for messages */
	sqlite3 *db;
	char nhs[11];
	char reason[512];       /* break-glass reason, trimmed */
	unsigned sections;      /* effective sections */
	record rec;
	char at[32];            /* audit time, set once audited */
	long generation;        /* store generation read */
	mcr_buf secs, why;      /* audited section list; why not shown */
	const char *outcome;    /* static */
	int denied_rc;          /* 0 shown, MCR_EDENIED, MCR_ENOTFOUND or MCR_EIO (store failed) */
	int not_on_list, consent_needed, audited;
	int db_kept;            /* db is this thread's kept connection: not closed at free */
};
typedef struct mcr_lookup ctx;

static int store_error(ctx *c, const char *what)
{
	return mcr_db_errorf(c->db, MCR_EIO, "store %s: %s", c->store_path, what);
}

static int prep(ctx *c, const char *sql, sqlite3_stmt **st)
{
	int rc = mcr_db_preparef(c->db, sql, st, MCR_EIO, "store %s: cannot read", c->store_path);
	if (rc)
		return rc;
	sqlite3_bind_text(*st, 1, c->nhs, -1, SQLITE_STATIC);
	return 0;
}

static int load_sources(ctx *c)
{
	sqlite3_stmt *st = NULL;
	record *r = &c->rec;
	int rc, step, fail = 0;
	if (sqlite3_prepare_v2(c->db, "SELECT org, kind, name, status, extracted FROM source ORDER BY org",
	                       -1, &st, NULL) != SQLITE_OK)
		return store_error(c, "cannot read sources");
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->nsources == r->csources) {
			size_t cap = r->csources ? r->csources * 2 : 16;
			source *p = realloc(r->sources, cap * sizeof(*p));
			if (!p) {
				sqlite3_finalize(st);
				return mcr_error_set(MCR_ENOMEM, "out of memory reading sources");
			}
			r->sources = p;
			r->csources = cap;
		}
		source *s = &r->sources[r->nsources++];
		memset(s, 0, sizeof(*s));
		s->org = col(&r->mem, st, 0, &fail);
		s->kind = col(&r->mem, st, 1, &fail);
		s->name = col(&r->mem, st, 2, &fail);
		s->status = col(&r->mem, st, 3, &fail);
		s->extracted = col(&r->mem, st, 4, &fail);
	}
	rc = step == SQLITE_DONE ? 0 : store_error(c, "cannot read sources");
	sqlite3_finalize(st);
	if (!rc && fail)
		rc = MCR_ENOMEM;
	return rc;
}

static source *find_source(record *r, const char *org)
{
	for (size_t i = 0; i < r->nsources; i++)
		if (r->sources[i].org && org && strcmp(r->sources[i].org, org) == 0)
			return &r->sources[i];
	return NULL;
}

/* Social care data (an LCS organisation's) is gated by the social-care section:
 * its very presence is social care information. An organisation the store does
 * not describe is treated the same way, the safe side. */
static int org_is_social(ctx *c, const char *org)
{
	source *s = find_source(&c->rec, org);
	if (s && s->kind)
		return strcmp(s->kind, "lcs") == 0;
	const mcr_org *o = mcr_config_org(c->cfg, org);
	return o ? o->kind == MCR_KIND_LCS : 1;
}

static int load_persons(ctx *c)
{
	sqlite3_stmt *st = NULL;
	record *r = &c->rec;
	int rc, step, fail = 0;
	if ((rc = prep(c, "SELECT org, family, given, birth_date, gender, address, postcode, phone"
	                  " FROM person WHERE nhs = ?1 ORDER BY org", &st)))
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->npersons == r->cpersons) {
			size_t cap = r->cpersons ? r->cpersons * 2 : 8;
			person *p = realloc(r->persons, cap * sizeof(*p));
			if (!p) {
				fail = 1;
				break;
			}
			r->persons = p;
			r->cpersons = cap;
		}
		person *p = &r->persons[r->npersons++];
		p->org = col(&r->mem, st, 0, &fail);
		p->family = col(&r->mem, st, 1, &fail);
		p->given = col(&r->mem, st, 2, &fail);
		p->birth_date = col(&r->mem, st, 3, &fail);
		p->gender = col(&r->mem, st, 4, &fail);
		p->address = col(&r->mem, st, 5, &fail);
		p->postcode = col(&r->mem, st, 6, &fail);
		p->phone = col(&r->mem, st, 7, &fail);
	}
	if (fail)
		rc = mcr_error_set(MCR_ENOMEM, "out of memory reading a record");
	else if (step != SQLITE_DONE)
		rc = store_error(c, "cannot read demographics");
	sqlite3_finalize(st);
	return rc;
}

/* The [name, value] pairs of an item's details (a JSON array), read with SQLite's
 * own JSON functions. A malformed value is flagged, not fatal: the item shows. */
static int load_details(ctx *c, sqlite3_stmt *js, item *it, const char *json)
{
	record *r = &c->rec;
	size_t n = 0, cap = 0;
	detail *d = NULL;
	int step, fail = 0;
	sqlite3_bind_text(js, 1, json, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(js)) == SQLITE_ROW) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 4;
			detail *nd = arena_alloc(&r->mem, nc * sizeof(*nd));
			if (!nd) {
				fail = 1;
				break;
			}
			if (n)
				memcpy(nd, d, n * sizeof(*nd));
			d = nd;
			cap = nc;
		}
		d[n].name = col(&r->mem, js, 0, &fail);
		d[n].value = col(&r->mem, js, 1, &fail);
		n++;
	}
	if (step != SQLITE_DONE && !fail)
		it->details_bad = 1;
	sqlite3_reset(js);
	sqlite3_clear_bindings(js);
	if (fail)
		return MCR_ENOMEM;
	it->details = d;
	it->ndetails = n;
	return 0;
}

static int load_items(ctx *c)
{
	sqlite3_stmt *st = NULL, *js = NULL;
	record *r = &c->rec;
	int rc, step, fail = 0;
	/* Newest first; undated items last (NULL sorts lowest). */
	if ((rc = prep(c, "SELECT section, org, date, system, code, display, status, details"
	                  " FROM item WHERE nhs = ?1 ORDER BY date DESC, id", &st)))
		return rc;
	if (sqlite3_prepare_v2(c->db, "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')"
	                              " FROM json_each(?1)", -1, &js, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return store_error(c, "cannot read item details");
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		mcr_section sec;
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (!name || mcr_section_parse(name, &sec) != 0)
			continue; /* a section this version does not know is not shown */
		if (r->nitems == r->citems) {
			size_t cap = r->citems ? r->citems * 2 : 64;
			item *p = realloc(r->items, cap * sizeof(*p));
			if (!p) {
				fail = 1;
				break;
			}
			r->items = p;
			r->citems = cap;
		}
		item *it = &r->items[r->nitems++];
		memset(it, 0, sizeof(*it));
		it->section = sec;
		it->org = col(&r->mem, st, 1, &fail);
		it->date = col(&r->mem, st, 2, &fail);
		it->system = col(&r->mem, st, 3, &fail);
		it->code = col(&r->mem, st, 4, &fail);
		it->display = col(&r->mem, st, 5, &fail);
		it->status = col(&r->mem, st, 6, &fail);
		const char *json = (const char *)sqlite3_column_text(st, 7);
		if (json && !fail && load_details(c, js, it, json))
			fail = 1;
		if (fail)
			break;
	}
	if (fail)
		rc = mcr_error_set(MCR_ENOMEM, "out of memory reading a record");
	else if (step != SQLITE_DONE)
		rc = store_error(c, "cannot read items");
	sqlite3_finalize(st);
	sqlite3_finalize(js);
	return rc;
}

static int load_objections(ctx *c)
{
	sqlite3_stmt *st = NULL;
	record *r = &c->rec;
	int rc, step, fail = 0;
	if ((rc = prep(c, "SELECT org, since FROM objection WHERE nhs = ?1 ORDER BY org", &st)))
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->nobjections == r->cobjections) {
			size_t cap = r->cobjections ? r->cobjections * 2 : 4;
			objection *p = realloc(r->objections, cap * sizeof(*p));
			if (!p) {
				fail = 1;
				break;
			}
			r->objections = p;
			r->cobjections = cap;
		}
		objection *o = &r->objections[r->nobjections++];
		o->org = col(&r->mem, st, 0, &fail);
		o->since = col(&r->mem, st, 1, &fail);
	}
	if (fail)
		rc = mcr_error_set(MCR_ENOMEM, "out of memory reading a record");
	else if (step != SQLITE_DONE)
		rc = store_error(c, "cannot read objections");
	sqlite3_finalize(st);
	return rc;
}

static int load_withheld(ctx *c)
{
	sqlite3_stmt *st = NULL;
	record *r = &c->rec;
	int rc, step, fail = 0;
	if ((rc = prep(c, "SELECT org, section, sum(count) FROM person_withheld WHERE nhs = ?1"
	                  " GROUP BY org, section ORDER BY org, section", &st)))
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		mcr_section sec;
		const char *name = (const char *)sqlite3_column_text(st, 1);
		if (!name || mcr_section_parse(name, &sec) != 0)
			continue;
		if (r->nwithheld == r->cwithheld) {
			size_t cap = r->cwithheld ? r->cwithheld * 2 : 8;
			withheld *p = realloc(r->withheld, cap * sizeof(*p));
			if (!p) {
				fail = 1;
				break;
			}
			r->withheld = p;
			r->cwithheld = cap;
		}
		withheld *w = &r->withheld[r->nwithheld++];
		w->org = col(&r->mem, st, 0, &fail);
		w->section = sec;
		w->count = (long)sqlite3_column_int64(st, 2);
	}
	if (fail)
		rc = mcr_error_set(MCR_ENOMEM, "out of memory reading a record");
	else if (step != SQLITE_DONE)
		rc = store_error(c, "cannot read withheld counts");
	sqlite3_finalize(st);
	return rc;
}

static int load_member(ctx *c)
{
	sqlite3_stmt *st = NULL;
	int rc;
	if ((rc = prep(c, "SELECT 1 FROM member WHERE nhs = ?1 AND org = ?2", &st)))
		return rc;
	sqlite3_bind_text(st, 2, c->req->org, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		c->rec.member = 1;
	else if (step != SQLITE_DONE)
		rc = store_error(c, "cannot read the organisation's list");
	sqlite3_finalize(st);
	return rc;
}

/* Everything about the person, read in one read transaction of one generation. */
static int load_record(ctx *c)
{
	int rc;
	if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return store_error(c, "cannot begin reading");
	/* Freshness is judged on the replayable clock ($MCR_NOW), like the coverage
	 * report; the audit time is the audit log's own. */
	if (!(rc = load_sources(c)) && !(rc = load_persons(c)) && !(rc = load_items(c)) &&
	    !(rc = load_objections(c)) && !(rc = load_withheld(c)) && !(rc = load_member(c)))
		rc = mcr_source_warnings_read(c->cfg, c->db, mcr_time_now(), &c->rec.warnings,
		                              &c->rec.nwarnings);
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

/* ---- the decision --------------------------------------------------------- */

/* Whether data of this kind (social care or health) may appear for sections s. */
static int kind_visible(int social, unsigned s)
{
	return social ? (s & SC_BIT) != 0 : (s & ~SC_BIT) != 0;
}

/* Anything of the person this user's sections could show (member rows never count). */
static int record_visible(ctx *c)
{
	record *r = &c->rec;
	for (size_t i = 0; i < r->npersons; i++)
		if (kind_visible(org_is_social(c, r->persons[i].org), c->sections))
			return 1;
	for (size_t i = 0; i < r->nitems; i++)
		if (kind_visible(r->items[i].section == MCR_SECTION_SOCIAL_CARE, c->sections))
			return 1;
	for (size_t i = 0; i < r->nobjections; i++)
		if (kind_visible(0, c->sections))
			return 1;
	for (size_t i = 0; i < r->nwithheld; i++)
		if (kind_visible(r->withheld[i].section == MCR_SECTION_SOCIAL_CARE, c->sections))
			return 1;
	return 0;
}

int mcr_lookup_validate(const mcr_config *cfg, const mcr_lookup_request *req)
{
	if (!req->user || !*req->user)
		return mcr_error_set(MCR_EUSAGE, "--user is required");
	for (const char *p = req->user; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return mcr_error_set(MCR_EUSAGE, "--user holds a control character");
	if (!req->org || !*req->org)
		return mcr_error_set(MCR_EUSAGE, "--org is required");
	if (!mcr_config_org(cfg, req->org))
		return mcr_error_set(MCR_EUSAGE, "--org %s: no such organisation in %s", req->org,
		                     cfg->path ? cfg->path : "the configuration");
	if (!req->role || !*req->role)
		return mcr_error_set(MCR_EUSAGE, "--role is required");
	const mcr_role *role = mcr_config_role(cfg, req->role);
	if (!role)
		return mcr_error_set(MCR_EUSAGE, "--role %s: no such role in %s", req->role,
		                     cfg->path ? cfg->path : "the configuration");
	if (!req->nhs || !*req->nhs)
		return mcr_error_set(MCR_EUSAGE, "--nhs is required");
	if (mcr_nhs_validate(req->nhs, NULL) != 0) {
		char why[256]; /* the message buffer cannot be both source and target */
		snprintf(why, sizeof(why), "%s", mcr_error_message());
		return mcr_error_set(MCR_EUSAGE, "--nhs: %s", why);
	}
	if (req->sections & ~ALL_BITS)
		return mcr_error_set(MCR_EUSAGE, "unknown section requested");
	if (req->consent && strcmp(req->consent, "given") != 0 && strcmp(req->consent, "refused") != 0)
		return mcr_error_set(MCR_EUSAGE, "--consent %s: expected given or refused", req->consent);
	if (req->consent && req->break_glass)
		return mcr_error_set(MCR_EUSAGE, "--consent and --break-glass cannot be used together");
	if (req->break_glass) {
		int blank = 1;
		for (const unsigned char *p = (const unsigned char *)req->break_glass; *p; p++) {
			if (*p < 0x20 || *p == 0x7f) {
				if (*p != ' ' && *p != '\t')
					return mcr_error_set(MCR_EUSAGE, "--break-glass reason holds a control character");
			}
			if (*p != ' ' && *p != '\t')
				blank = 0;
		}
		if (blank)
			return mcr_error_set(MCR_EUSAGE, "--break-glass needs a reason");
		if (strlen(req->break_glass) >= 500)
			return mcr_error_set(MCR_EUSAGE, "--break-glass reason is longer than 500 characters");
	}
	if (req->format != MCR_LOOKUP_TEXT && req->format != MCR_LOOKUP_HTML)
		return mcr_error_set(MCR_EUSAGE, "unknown format");
	return 0;
}

/* Comma-separated names of the sections in bits, in vocabulary order. */
static int section_list(unsigned bits, mcr_buf *out)
{
	int rc = 0;
	for (int s = 0; s < MCR_SECTION_COUNT && !rc; s++)
		if (bits & (1u << s))
			rc = mcr_buf_printf(out, "%s%s", out->len ? "," : "", mcr_section_name((mcr_section)s));
	if (!rc && !out->ptr)
		rc = mcr_buf_puts(out, "");
	return rc;
}

/* ---- the view (include/mcr/view.h renders it) ------------------------------- */

static const char *system_name(const char *system)
{
	static const struct { const char *uri, *name; } known[] = {
		{ "http://snomed.info/sct", "SNOMED CT" },
		{ "http://loinc.org", "LOINC" },
		{ "https://dmd.nhs.uk", "dm+d" },
		{ "http://read.info/ctv3", "CTV3" },
		{ "http://read.info/readv2", "Read v2" },
		{ "http://hl7.org/fhir/sid/icd-10", "ICD-10" },
	};
	if (!system)
		return NULL;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(system, known[i].uri) == 0)
			return known[i].name;
	return system;
}

static int objection_in_force(const ctx *c)
{
	return c->rec.nobjections > 0;
}

/* A person row is shown when its kind is visible and, for health data, no
 * objection is in force. */
static int person_shown(ctx *c, const person *p)
{
	int social = org_is_social(c, p->org);
	if (!(c->sections & (1u << MCR_SECTION_DEMOGRAPHICS)) || !kind_visible(social, c->sections))
		return 0;
	return social || !objection_in_force(c);
}

/* Demographics shown in the banner: the first health source, else social care. */
static const person *header_person(ctx *c)
{
	const person *social = NULL;
	for (size_t i = 0; i < c->rec.npersons; i++) {
		const person *p = &c->rec.persons[i];
		if (!person_shown(c, p) || (!p->family && !p->given))
			continue;
		if (!org_is_social(c, p->org))
			return p;
		if (!social)
			social = p;
	}
	return social;
}

/* An arena copy of what fmt makes; NULL (and *fail) on ENOMEM. */
static const char *arena_printf(arena *a, int *fail, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static const char *arena_printf(arena *a, int *fail, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *p = n >= 0 ? arena_alloc(a, (size_t)n + 1) : NULL;
	if (!p) {
		*fail = 1;
		return NULL;
	}
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

/* The item's source: its name from the store, else the config, else the code;
 * the source is marked as used by the view. */
static void item_source(ctx *c, mcr_view_item *vi, const char *org)
{
	source *s = find_source(&c->rec, org);
	const mcr_org *co = mcr_config_org(c->cfg, org);
	if (s)
		s->used = 1;
	vi->source_org = org;
	vi->source_name = s && s->name ? s->name : co ? co->name : org;
	vi->as_of = s ? s->extracted : NULL;
}

static int person_item(ctx *c, const person *p, mcr_view_item *vi, int *fail)
{
	arena *a = &c->rec.mem;
	mcr_view_detail *d = arena_alloc(a, 5 * sizeof(*d));
	size_t n = 0;
	if (!d)
		return *fail = 1;
	memset(vi, 0, sizeof(*vi));
	if (p->given && p->family)
		vi->display = arena_printf(a, fail, "%s %s", p->given, p->family);
	else
		vi->display = p->given ? p->given : p->family;
	const char *names[] = { "born", "gender", "address", "postcode", "phone" };
	const char *values[] = { p->birth_date, p->gender, p->address, p->postcode, p->phone };
	for (size_t k = 0; k < 5; k++)
		if (values[k]) {
			d[n].name = names[k];
			d[n].value = values[k];
			n++;
		}
	vi->details = d;
	vi->ndetails = n;
	item_source(c, vi, p->org);
	return 0;
}

static int build_section(ctx *c, mcr_section s, mcr_view_section *vs, int *fail)
{
	record *r = &c->rec;
	size_t n = 0;
	memset(vs, 0, sizeof(*vs));
	vs->section = s;
	if (s != MCR_SECTION_DEMOGRAPHICS && s != MCR_SECTION_SOCIAL_CARE && objection_in_force(c)) {
		vs->not_shown = "Not shown: this person has withdrawn consent to share their health record.";
		return 0;
	}
	size_t cap = s == MCR_SECTION_DEMOGRAPHICS ? r->npersons : r->nitems;
	mcr_view_item *items = arena_alloc(&r->mem, (cap ? cap : 1) * sizeof(*items));
	if (!items)
		return *fail = 1;
	if (s == MCR_SECTION_DEMOGRAPHICS) {
		for (size_t i = 0; i < r->npersons; i++) {
			const person *p = &r->persons[i];
			if (!person_shown(c, p) || (!p->family && !p->given && !p->birth_date && !p->gender &&
			                            !p->address && !p->postcode && !p->phone))
				continue;
			if (person_item(c, p, &items[n++], fail))
				return 1;
		}
	} else {
		for (size_t i = 0; i < r->nitems; i++) {
			const item *it = &r->items[i];
			if (it->section != s)
				continue;
			mcr_view_item *vi = &items[n++];
			memset(vi, 0, sizeof(*vi));
			vi->date = it->date;
			vi->display = it->display;
			vi->system = it->code ? system_name(it->system) : NULL;
			vi->code = it->code;
			vi->status = it->status;
			vi->details = (const mcr_view_detail *)it->details;
			vi->ndetails = it->ndetails;
			vi->details_bad = it->details_bad;
			item_source(c, vi, it->org);
		}
		mcr_view_fold(items, &n);
		for (size_t i = 0; i < r->nwithheld; i++)
			if (r->withheld[i].section == s)
				vs->withheld += r->withheld[i].count;
	}
	vs->items = items;
	vs->nitems = n;
	return 0;
}

/* Fill v from what was read; every string stays in c's arena. */
static int build_view(ctx *c, mcr_view *v)
{
	record *r = &c->rec;
	arena *a = &r->mem;
	int fail = 0;
	memset(v, 0, sizeof(*v));
	memcpy(v->nhs, c->nhs, sizeof(v->nhs));
	const person *hp = (c->sections & (1u << MCR_SECTION_DEMOGRAPHICS)) ? header_person(c) : NULL;
	if (hp) {
		source *hs = find_source(r, hp->org);
		if (hs)
			hs->used = 1;
		v->person_shown = 1;
		v->given = hp->given;
		v->family = hp->family;
		v->birth_date = hp->birth_date;
		v->gender = hp->gender;
	}
	v->user = c->req->user;
	v->role = c->req->role;
	v->org = c->req->org;
	v->at = c->at;
	if (c->req->break_glass)
		v->basis = arena_printf(a, &fail, "break-glass: %s", c->reason);
	else if (c->req->consent)
		v->basis = "consent given at the point of care";
	else
		v->basis = "implied consent, legitimate relationship";

	mcr_view_section *secs = arena_alloc(a, MCR_SECTION_COUNT * sizeof(*secs));
	if (!secs)
		return MCR_ENOMEM;
	for (int s = 0; s < MCR_SECTION_COUNT && !fail; s++)
		if (c->sections & (1u << s))
			build_section(c, (mcr_section)s, &secs[v->nsections++], &fail);
	v->sections = secs;

	mcr_view_warning *w = arena_alloc(a, (r->nwarnings + 1) * sizeof(*w));
	mcr_view_source *src = arena_alloc(a, (r->nsources + 1) * sizeof(*src));
	if (!w || !src || fail)
		return mcr_error_set(MCR_ENOMEM, "out of memory building a view");
	/* The source warnings in their own words (mcr/freshness.h), one wording for
	 * every front end; the view adds the kind for its layout. */
	for (size_t i = 0; i < r->nwarnings; i++) {
		const mcr_source_warning *sw = &r->warnings[i];
		static const mcr_view_warning_kind kinds[] = {
			[MCR_FRESH_STALE] = MCR_VIEW_WARN_OLD, [MCR_FRESH_FAILED] = MCR_VIEW_WARN_REJECTED,
			[MCR_FRESH_HELD] = MCR_VIEW_WARN_HELD, [MCR_FRESH_NEVER] = MCR_VIEW_WARN_NEVER,
		};
		mcr_buf line = MCR_BUF_INIT;
		if (mcr_source_warning_text(sw, &line))
			return MCR_ENOMEM;
		const char *text = arena_printf(a, &fail, "%s", mcr_buf_cstr(&line));
		mcr_buf_free(&line);
		if (fail)
			return mcr_error_set(MCR_ENOMEM, "out of memory building a view");
		w[v->nwarnings++] = (mcr_view_warning){
			sw->state == MCR_FRESH_OK ? MCR_VIEW_WARN_OLD : kinds[sw->state],
			sw->name ? sw->name : sw->org, sw->extracted, text };
	}
	if (objection_in_force(c) && (c->sections & ~SC_BIT))
		w[v->nwarnings++] = (mcr_view_warning){ MCR_VIEW_WARN_OBJECTION, NULL,
			                                r->objections[0].since, NULL };
	for (size_t i = 0; i < r->nsources; i++) {
		const source *s = &r->sources[i];
		if (s->used)
			src[v->nsources++] = (mcr_view_source){ s->name ? s->name : s->org, s->org, s->extracted };
	}
	v->warnings = w;
	v->sources = src;
	return 0;
}

/* how: NULL for text, else HTML delivered so. */
static int render(ctx *c, const mcr_view_html *how, mcr_buf *out)
{
	mcr_view v;
	int rc = build_view(c, &v);
	if (rc)
		return rc;
	return how ? mcr_view_render_html(&v, how, out) : mcr_view_render_text(&v, out);
}

/* ---- the lookup ------------------------------------------------------------ */

static const char *basis_of(const mcr_lookup_request *req)
{
	if (req->break_glass)
		return "break-glass";
	if (req->consent)
		return strcmp(req->consent, "given") == 0 ? "consent-given" : "consent-refused";
	return "implied";
}

static void trim_reason(const char *s, char *out, size_t n)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len >= n)
		len = n - 1;
	memcpy(out, s, len);
	out[len] = '\0';
}

/* The decision of steps 2-9 (include/mcr/lookup.h) on a validated request whose
 * store read ended with store_rc: fills c->outcome, c->why and c->denied_rc. */
static int decide(ctx *c, int store_rc)
{
	const mcr_config *cfg = c->cfg;
	const mcr_lookup_request *req = c->req;
	const mcr_role *role = mcr_config_role(cfg, req->role);
	const mcr_staff *me = mcr_config_staff(cfg, req->user);
	int rc = 0;

	if (store_rc) {
		c->outcome = "failed";
		rc = mcr_buf_puts(&c->why, mcr_error_message());
		c->denied_rc = MCR_EIO;
	} else if (me && strcmp(me->nhs, c->nhs) == 0) {
		c->outcome = "self-access";
		rc = mcr_buf_puts(&c->why, "looking up one's own record is not allowed");
		c->denied_rc = MCR_EDENIED;
	} else if (req->consent && strcmp(req->consent, "refused") == 0) {
		c->outcome = "denied";
		rc = mcr_buf_puts(&c->why, "consent refused at the point of care");
		c->denied_rc = MCR_EDENIED;
	} else if (c->sections & ~role->sections) {
		c->outcome = "denied";
		for (int s = 0; s < MCR_SECTION_COUNT; s++)
			if ((c->sections & ~role->sections) & (1u << s)) {
				rc = mcr_buf_printf(&c->why, "role %s may not see section %s", req->role,
				                    mcr_section_name((mcr_section)s));
				break;
			}
		c->denied_rc = MCR_EDENIED;
	} else if (!record_visible(c)) {
		c->outcome = "no-record";
		rc = mcr_buf_printf(&c->why, "no record of %s in the store", c->nhs);
		c->denied_rc = MCR_ENOTFOUND;
	} else if (!c->rec.member && !req->break_glass) {
		c->outcome = "denied";
		c->not_on_list = 1;
		rc = mcr_buf_printf(&c->why, "no legitimate relationship: not on the list of %s", req->org);
		c->denied_rc = MCR_EDENIED;
	} else if (cfg->consent_required && !req->break_glass &&
	           !(req->consent && strcmp(req->consent, "given") == 0)) {
		c->outcome = "denied";
		c->consent_needed = 1;
		rc = mcr_buf_puts(&c->why, "explicit consent at the point of care is required and was not given");
		c->denied_rc = MCR_EDENIED;
	} else {
		c->outcome = "shown";
	}
	return rc;
}

/*
 * Each thread keeps the read-only connection of the generation it last read, for
 * its next lookup of the same generation: a server's threads look people up all
 * day, and a new connection per lookup parsed the schema and re-read cold pages
 * every time (a third of a lookup's CPU). A published generation never changes,
 * so a kept connection reads what a new one would; it is used again only while
 * the store's current generation is the same file (same number, inode and
 * mtime), by one lookup at a time, and closed when the thread ends or the
 * generation moves on.
 */
typedef struct kept {
	sqlite3 *db;
	long generation;
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	char *dir;
	int in_use;
} kept;

static pthread_key_t kept_key;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;
static int kept_ok;

static void kept_close(kept *k)
{
	sqlite3_close(k->db);
	free(k->dir);
	k->db = NULL;
	k->dir = NULL;
}

static void kept_free(void *p)
{
	if (p) {
		kept_close(p);
		free(p);
	}
}

static void kept_init(void)
{
	kept_ok = pthread_key_create(&kept_key, kept_free) == 0;
}

/* c->db: the current generation, read-only, from this thread's kept connection
 * when it is that generation's and free, else newly opened (and kept). */
static int open_store(ctx *c)
{
	const char *dir = c->cfg->store_dir;
	char *path = NULL;
	struct stat sb;
	long g;
	int rc = mcr_store_current_generation(dir, &g);
	if (rc)
		return rc;
	pthread_once(&kept_once, kept_init);
	kept *k = kept_ok ? pthread_getspecific(kept_key) : NULL;
	int same = k && k->db && !k->in_use && k->generation == g && strcmp(k->dir, dir) == 0 &&
	           mcr_store_generation_path(dir, g, &path) == 0 && stat(path, &sb) == 0 &&
	           sb.st_dev == k->dev && sb.st_ino == k->ino && sb.st_mtim.tv_sec == k->mtime.tv_sec &&
	           sb.st_mtim.tv_nsec == k->mtime.tv_nsec;
	free(path);
	path = NULL;
	if (same) {
		c->db = k->db;
		c->generation = g;
		c->db_kept = 1;
		k->in_use = 1;
		return 0;
	}
	if ((rc = mcr_store_open_generation(dir, g, &c->db)))
		return rc;
	c->generation = g;
	if (k && k->in_use)
		return 0; /* another lookup of this thread holds the kept one: this one is private */
	if (!k && kept_ok && (k = calloc(1, sizeof(*k))) && pthread_setspecific(kept_key, k) != 0) {
		free(k);
		k = NULL;
	}
	if (!k || mcr_store_generation_path(dir, g, &path) != 0 || stat(path, &sb) != 0) {
		free(path);
		return 0;
	}
	free(path);
	kept_close(k);
	if (!(k->dir = strdup(dir)))
		return 0;
	k->db = c->db;
	k->generation = g;
	k->dev = sb.st_dev;
	k->ino = sb.st_ino;
	k->mtime = sb.st_mtim;
	k->in_use = 1;
	c->db_kept = 1;
	return 0;
}

/* A lookup is done with its connection: the kept one is free for the next. */
static void release_store(ctx *c)
{
	if (c->db_kept) {
		kept *k = pthread_getspecific(kept_key);
		if (k)
			k->in_use = 0;
	} else if (c->db) {
		sqlite3_close(c->db);
	}
	c->db = NULL;
	c->db_kept = 0;
}

int mcr_lookup_decide(const mcr_config *cfg, const mcr_lookup_request *req, mcr_lookup **out)
{
	ctx *c;
	int rc;

	*out = NULL;
	if ((rc = mcr_lookup_validate(cfg, req)))
		return rc;
	if (!(c = calloc(1, sizeof(*c))))
		return mcr_error_set(MCR_ENOMEM, "out of memory starting a lookup");
	c->cfg = cfg;
	c->req = req;
	c->store_path = cfg->store_dir;
	c->outcome = "failed";
	mcr_nhs_validate(req->nhs, c->nhs);
	if (req->break_glass)
		trim_reason(req->break_glass, c->reason, sizeof(c->reason));
	const mcr_role *role = mcr_config_role(cfg, req->role);
	c->sections = req->sections ? req->sections : role->sections;
	if ((rc = section_list(c->sections, &c->secs)))
		goto fail;

	/* Open the store; a failure is still an attempt, decided (and audited) as failed. */
	int store_rc = open_store(c);
	if (!store_rc)
		store_rc = load_record(c);
	if ((rc = decide(c, store_rc)))
		goto fail;
	*out = c;
	return 0;
fail:
	mcr_lookup_free(c);
	return rc;
}

const char *mcr_lookup_outcome(const mcr_lookup *lk)
{
	return lk ? lk->outcome : "failed";
}

unsigned mcr_lookup_flags(const mcr_lookup *lk)
{
	unsigned f = 0;
	if (lk && lk->not_on_list)
		f |= MCR_LOOKUP_NOT_ON_LIST;
	if (lk && lk->consent_needed)
		f |= MCR_LOOKUP_CONSENT_NEEDED;
	return f;
}

int mcr_lookup_audit(mcr_lookup *lk, mcr_audit *audit, mcr_lookup_result *res)
{
	mcr_audit_entry e;
	int rc;

	memset(&e, 0, sizeof(e));
	e.user = lk->req->user;
	e.org = lk->req->org;
	e.role = lk->req->role;
	e.nhs = lk->nhs;
	e.sections = mcr_buf_cstr(&lk->secs);
	e.basis = basis_of(lk->req);
	e.reason = lk->req->break_glass ? lk->reason : NULL;
	e.outcome = lk->outcome;
	e.detail = lk->why.len ? lk->why.ptr : NULL;
	e.generation = lk->db ? lk->generation : 0;
	if ((rc = mcr_audit_append(audit, &e)))
		return rc;
	lk->audited = 1;
	if (res) {
		res->audit_seq = e.seq;
		res->generation = e.generation;
		res->outcome = lk->outcome;
	}
	memcpy(lk->at, e.at, sizeof(lk->at));
	return 0;
}

int mcr_lookup_refusal(const mcr_lookup *lk)
{
	const char *nhs = lk->nhs;
	switch (lk->denied_rc) {
	case 0:
		return 0;
	case MCR_EDENIED:
		return mcr_error_set(MCR_EDENIED, "access denied: %s (this attempt is recorded)", lk->why.ptr);
	case MCR_ENOTFOUND:
		return mcr_error_set(MCR_ENOTFOUND, "no record of %.3s %.3s %.4s in the shared care record",
		                     nhs, nhs + 3, nhs + 6);
	default:
		/* A missing generation is a failure here, not "no record". */
		return mcr_error_set(MCR_EIO, "%s", lk->why.ptr);
	}
}

static int render_shown(mcr_lookup *lk, const mcr_view_html *how, mcr_buf *out)
{
	if (!lk->audited || lk->denied_rc)
		return mcr_error_set(MCR_ERROR, "a view is rendered only once shown and audited");
	size_t before = out->len;
	int rc = render(lk, how, out);
	if (rc && out->ptr) {
		out->len = before;
		out->ptr[before] = '\0';
	}
	return rc;
}

int mcr_lookup_render(mcr_lookup *lk, mcr_lookup_format format, mcr_buf *out)
{
	static const mcr_view_html file = { 0, NULL };
	if (format != MCR_LOOKUP_TEXT && format != MCR_LOOKUP_HTML)
		return mcr_error_set(MCR_EUSAGE, "unknown format");
	return render_shown(lk, format == MCR_LOOKUP_HTML ? &file : NULL, out);
}

int mcr_lookup_render_html(mcr_lookup *lk, const mcr_view_html *how, mcr_buf *out)
{
	return render_shown(lk, how, out);
}

const mcr_source_warning *mcr_lookup_warnings(const mcr_lookup *lk, size_t *n)
{
	*n = lk ? lk->rec.nwarnings : 0;
	return *n ? lk->rec.warnings : NULL;
}

void mcr_lookup_free(mcr_lookup *lk)
{
	if (!lk)
		return;
	release_store(lk);
	record_free(&lk->rec);
	mcr_buf_free(&lk->secs);
	mcr_buf_free(&lk->why);
	free(lk);
}

int mcr_lookup_run(const mcr_config *cfg, mcr_audit *audit, const mcr_lookup_request *req,
                   mcr_buf *out, mcr_lookup_result *res)
{
	mcr_lookup *lk = NULL;
	int rc;

	if (res) {
		res->audit_seq = 0;
		res->generation = 0;
		res->outcome = "failed";
	}
	if ((rc = mcr_lookup_decide(cfg, req, &lk)))
		return rc;
	/* The entry is durable before anything is rendered. */
	if (!(rc = mcr_lookup_audit(lk, audit, res)) && !(rc = mcr_lookup_refusal(lk)))
		rc = mcr_lookup_render(lk, req->format, out);
	mcr_lookup_free(lk);
	return rc;
}
