/*
 * The Health link: access decision, audit, and the person's view (text or HTML).
 * The rules and their order are in include/mcr/lookup.h and docs/LOOKUP.md.
 */
#include "mcr/lookup.h"
#include "mcr/error.h"
#include "mcr/freshness.h"
#include "mcr/fs.h"
#include "mcr/nhs.h"
#include "mcr/store.h"
#include "mcr/view.h"
#include "mcr/vocab.h"
#include "store_backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

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

/* Copy column i of row (NULL stays NULL). Sets *fail on ENOMEM. */
static const char *col(arena *a, const mcr_store_row *row, int i, int *fail)
{
	const char *s = row->v[i];
	if (!s)
		return NULL;
	size_t n = row->len[i];
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
	int store_opened;       /* a generation was opened (its number is audited) */
};
typedef struct mcr_lookup ctx;

/* Each row callback copies what it needs into the record's arena; ENOMEM stops
 * the query with MCR_ENOMEM (message set by the caller). */
static int source_row(void *arg, const mcr_store_row *row)
{
	record *r = arg;
	int fail = 0;
	GROW(r->sources, r->nsources, r->csources);
	source *s = &r->sources[r->nsources++];
	memset(s, 0, sizeof(*s));
	s->org = col(&r->mem, row, 0, &fail);
	s->kind = col(&r->mem, row, 1, &fail);
	s->name = col(&r->mem, row, 2, &fail);
	s->status = col(&r->mem, row, 3, &fail);
	s->extracted = col(&r->mem, row, 4, &fail);
	return fail ? MCR_ENOMEM : 0;
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

static int person_row(void *arg, const mcr_store_row *row)
{
	record *r = arg;
	int fail = 0;
	GROW(r->persons, r->npersons, r->cpersons);
	person *p = &r->persons[r->npersons++];
	p->org = col(&r->mem, row, 0, &fail);
	p->family = col(&r->mem, row, 1, &fail);
	p->given = col(&r->mem, row, 2, &fail);
	p->birth_date = col(&r->mem, row, 3, &fail);
	p->gender = col(&r->mem, row, 4, &fail);
	p->address = col(&r->mem, row, 5, &fail);
	p->postcode = col(&r->mem, row, 6, &fail);
	p->phone = col(&r->mem, row, 7, &fail);
	return fail ? MCR_ENOMEM : 0;
}

/* ---- an item's details: a JSON array of [name, value] pairs (yajl) ------------- */

typedef struct details_parse {
	arena *mem;
	detail *d;
	size_t n, cap;
	int depth;        /* 1 inside the outer array, 2 inside a pair */
	int index;        /* position inside the current pair */
	int fail;         /* out of memory */
} details_parse;

/* A new detail, no name and no value yet; 0 when out of memory. */
static int dp_add(details_parse *p)
{
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 4;
		detail *nd = arena_alloc(p->mem, nc * sizeof(*nd));
		if (!nd)
			return p->fail = 1, 0;
		if (p->n)
			memcpy(nd, p->d, p->n * sizeof(*nd));
		p->d = nd;
		p->cap = nc;
	}
	p->d[p->n].name = p->d[p->n].value = NULL;
	p->n++;
	return 1;
}

/* A scalar inside a pair is its name (first) or value (second), as SQLite's
 * json_extract of $[0] and $[1] read them; an element that is not a pair is a
 * detail with neither. */
static int dp_scalar(details_parse *p, const char *s, size_t len)
{
	if (p->depth == 1)
		return dp_add(p);
	if (p->depth != 2)
		return 1;
	int i = p->index++;
	if (i > 1 || !s)
		return 1;
	char *t = arena_alloc(p->mem, len + 1);
	if (!t)
		return p->fail = 1, 0;
	memcpy(t, s, len);
	t[len] = '\0';
	if (i == 0)
		p->d[p->n - 1].name = t;
	else
		p->d[p->n - 1].value = t;
	return 1;
}

static int dp_null(void *arg)
{
	return dp_scalar(arg, NULL, 0);
}

static int dp_bool(void *arg, int v)
{
	return dp_scalar(arg, v ? "1" : "0", 1);
}

static int dp_number(void *arg, const char *s, size_t len)
{
	return dp_scalar(arg, s, len);
}

static int dp_string(void *arg, const unsigned char *s, size_t len)
{
	return dp_scalar(arg, (const char *)s, len);
}

static int dp_start_array(void *arg)
{
	details_parse *p = arg;
	if (p->depth == 1) {
		if (!dp_add(p))
			return 0;
		p->index = 0;
	} else if (p->depth == 2) {
		p->index++; /* a nested array is neither name nor value text */
	}
	p->depth++;
	return 1;
}

static int dp_end_array(void *arg)
{
	((details_parse *)arg)->depth--;
	return 1;
}

/* Objects have no place in details: the value is unreadable. */
static int dp_start_map(void *arg)
{
	(void)arg;
	return 0;
}

static const yajl_callbacks details_callbacks = {
	dp_null, dp_bool, NULL, NULL, dp_number, dp_string,
	dp_start_map, NULL, NULL, dp_start_array, dp_end_array,
};

/* The [name, value] pairs of details (JSON text of len bytes) into it. A
 * malformed value is flagged, not fatal: the item shows without details.
 * 0 or MCR_ENOMEM. */
static int parse_details(record *r, item *it, const char *json, size_t len)
{
	details_parse p = { .mem = &r->mem };
	yajl_handle h = yajl_alloc(&details_callbacks, NULL, &p);
	if (!h)
		return MCR_ENOMEM;
	int ok = yajl_parse(h, (const unsigned char *)json, len) == yajl_status_ok &&
	         yajl_complete_parse(h) == yajl_status_ok;
	yajl_free(h);
	if (p.fail)
		return MCR_ENOMEM;
	/* The top level is one array of pairs; anything else cannot be read. */
	if (!ok || json[strspn(json, " \t\r\n")] != '[') {
		it->details_bad = 1;
		return 0;
	}
	it->details = p.d;
	it->ndetails = p.n;
	return 0;
}

static int item_row(void *arg, const mcr_store_row *row)
{
	record *r = arg;
	int fail = 0;
	mcr_section sec;
	if (!row->v[0] || mcr_section_parse(row->v[0], &sec) != 0)
		return 0; /* a section this version does not know is not shown */
	GROW(r->items, r->nitems, r->citems);
	item *it = &r->items[r->nitems++];
	memset(it, 0, sizeof(*it));
	it->section = sec;
	it->org = col(&r->mem, row, 1, &fail);
	it->date = col(&r->mem, row, 2, &fail);
	it->system = col(&r->mem, row, 3, &fail);
	it->code = col(&r->mem, row, 4, &fail);
	it->display = col(&r->mem, row, 5, &fail);
	it->status = col(&r->mem, row, 6, &fail);
	if (!fail && row->v[7] && parse_details(r, it, row->v[7], row->len[7]))
		fail = 1;
	return fail ? MCR_ENOMEM : 0;
}

static int objection_row(void *arg, const mcr_store_row *row)
{
	record *r = arg;
	int fail = 0;
	GROW(r->objections, r->nobjections, r->cobjections);
	objection *o = &r->objections[r->nobjections++];
	o->org = col(&r->mem, row, 0, &fail);
	o->since = col(&r->mem, row, 1, &fail);
	return fail ? MCR_ENOMEM : 0;
}

static int withheld_row(void *arg, const mcr_store_row *row)
{
	record *r = arg;
	int fail = 0;
	mcr_section sec;
	if (!row->v[1] || mcr_section_parse(row->v[1], &sec) != 0)
		return 0;
	GROW(r->withheld, r->nwithheld, r->cwithheld);
	withheld *w = &r->withheld[r->nwithheld++];
	w->org = col(&r->mem, row, 0, &fail);
	w->section = sec;
	w->count = mcr_store_row_long(row, 2);
	return fail ? MCR_ENOMEM : 0;
}

static int member_row(void *arg, const mcr_store_row *row)
{
	(void)row;
	((record *)arg)->member = 1;
	return 0;
}

/* Everything about the person, read from one open generation (one snapshot). */
static int load_record(ctx *c, mcr_store_gen *gen)
{
	record *r = &c->rec;
	const char *nhs[] = { c->nhs }, *member[] = { c->nhs, c->req->org };
	int rc;
	if (!(rc = mcr_store_query(gen, MCR_SQ_VIEW_SOURCES, NULL, source_row, r)) &&
	    !(rc = mcr_store_query(gen, MCR_SQ_PERSON, nhs, person_row, r)) &&
	    !(rc = mcr_store_query(gen, MCR_SQ_ITEMS, nhs, item_row, r)) &&
	    !(rc = mcr_store_query(gen, MCR_SQ_OBJECTIONS, nhs, objection_row, r)) &&
	    !(rc = mcr_store_query(gen, MCR_SQ_PERSON_WITHHELD, nhs, withheld_row, r)) &&
	    !(rc = mcr_store_query(gen, MCR_SQ_MEMBER, member, member_row, r)))
		/* Freshness is judged on the replayable clock ($MCR_NOW), like the coverage
		 * report; the audit time is the audit log's own. */
		rc = mcr_source_warnings_read(c->cfg, gen, mcr_time_now(), &r->warnings, &r->nwarnings);
	if (rc == MCR_ENOMEM)
		rc = mcr_error_set(MCR_ENOMEM, "out of memory reading a record");
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
	c->outcome = "failed";
	mcr_nhs_validate(req->nhs, c->nhs);
	if (req->break_glass)
		trim_reason(req->break_glass, c->reason, sizeof(c->reason));
	const mcr_role *role = mcr_config_role(cfg, req->role);
	c->sections = req->sections ? req->sections : role->sections;
	if ((rc = section_list(c->sections, &c->secs)))
		goto fail;

	/* Open the store; a failure is still an attempt, decided (and audited) as failed.
	 * Everything needed is copied out, so the generation is closed at once. */
	mcr_store_gen *gen = NULL;
	int store_rc = mcr_store_gen_open(cfg, &gen, &c->generation);
	if (!store_rc) {
		c->store_opened = 1;
		store_rc = load_record(c, gen);
	}
	mcr_store_gen_close(gen);
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
	e.generation = lk->store_opened ? lk->generation : 0;
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
