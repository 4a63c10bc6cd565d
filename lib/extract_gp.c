/*
 * mcr-extract-gp: FHIR R4 XML (UK Core) -> staged file.
 *
 * Two streaming passes over the inputs so that memory holds only a map from
 * Patient id / fullUrl / NHS number to a small per-patient state, never the
 * clinical resources:
 *   pass 1: Patients (NHS number, validity) and the objection/consent coded
 *           entries (resolved once every Patient is known, so order is free);
 *   pass 2: Patients' demographics and each clinical resource, resolved,
 *           filtered by the consent rules and spilled by person;
 * then the spill is grouped by person (extract_common.c) into the staged file.
 * Withheld content never reaches the spill: the objection state is final
 * before pass 2 starts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extract_common.h"
#include "fhir_res.h"
#include "mcr/consent.h"
#include "mcr/error.h"
#include "mcr/extract.h"
#include "mcr/fhirtime.h"
#include "mcr/fs.h"
#include "mcr/nhs.h"

#define NHS_SYSTEM "https://fhir.nhs.uk/Id/nhs-number"
#define CONF_SYSTEM "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"

/* Type 1 opt-out (dissent from secondary use) and its withdrawal: about
 * planning and research, not direct care, so they change nothing here; the
 * entries themselves are not clinical content to share. */
static const char *const secondary_use_codes[] = {"827241000000103", "827261000000102"};

/* ---- one resource as (path, value) pairs ---------------------------------- */

static const char *A(const fres *r, size_t off)
{
	return r->arena.ptr + off;
}

static int pair_at(const fres *r, size_t i, const char *path, uint32_t h, int depth, int id)
{
	const fpair *p = &r->pairs[i];
	return p->hash == h && (depth == 0 || p->anc[depth - 1] == id) && strcmp(A(r, p->path), path) == 0;
}

/*
 * The path hash of a rule's query path. The rules ask for the same few dozen
 * paths (mostly literals) for every resource: a small per-thread cache by
 * address, checked against a copy of the text (so a buffer reused for another
 * path is never answered with a stale hash), saves hashing each time.
 */
static uint32_t query_hash(const char *path)
{
	static _Thread_local struct {
		const char *p;
		uint32_t h;
		char s[52];
	} cache[64];
	size_t k = (size_t)(((uintptr_t)path * 0x9E3779B97F4A7C15u) >> 58);
	if (cache[k].p == path && strcmp(cache[k].s, path) == 0)
		return cache[k].h;
	size_t n = strlen(path);
	uint32_t h = path_hash(path, n);
	if (n < sizeof cache[k].s) {
		cache[k].p = path;
		cache[k].h = h;
		memcpy(cache[k].s, path, n + 1);
	}
	return h;
}

/* Index of the first pair at path (under ancestor id at depth when depth>0), from i0; -1.
 * A resource looked up more than twice gets a path index (a cache: r is
 * logically unchanged), so a rule costs the pairs at its path, not all pairs. */
static long fr_find(const fres *r, const char *path, size_t i0, int depth, int id)
{
	uint32_t h = query_hash(path);
	fres *m = (fres *)r;
	if (!r->idx_ok && ++m->idx_misses > 2 && mcr_fhir_res_index(m) != 0)
		mcr_error_clear(); /* out of memory: the scan below still answers */
	if (!r->idx_ok) {
		for (size_t i = i0; i < r->n; i++)
			if (pair_at(r, i, path, h, depth, id))
				return (long)i;
		return -1;
	}
	for (uint32_t i = r->idx_head[h & (r->idx_buckets - 1)]; i != MCR_FHIR_NO_PAIR; i = r->idx_next[i])
		if (i >= i0 && pair_at(r, i, path, h, depth, id))
			return (long)i;
	return -1;
}

/* First value at exactly path, where anc[depth-1]==id when depth > 0. */
static const char *fr_get_in(const fres *r, const char *path, int depth, int id)
{
	long i = fr_find(r, path, 0, depth, id);
	return i < 0 ? NULL : A(r, r->pairs[i].value);
}

static const char *fr_get(const fres *r, const char *path)
{
	return fr_get_in(r, path, 0, 0);
}


/* prefix + suffix in b (reset first), for a lookup path. */
static const char *path_cat(mcr_buf *b, const char *prefix, const char *suffix)
{
	mcr_buf_reset(b);
	mcr_buf_puts(b, prefix);
	mcr_buf_puts(b, suffix);
	return mcr_buf_cstr(b);
}

/* Every value at path joined with sep into out (reset first); 1 if any, 0 if
 * none, MCR_ENOMEM (message set) when out could not grow. */
static int fr_join(const fres *r, const char *path, const char *sep, int depth, int id, mcr_buf *out)
{
	mcr_buf_reset(out);
	int any = 0;
	for (long i = fr_find(r, path, 0, depth, id); i >= 0; i = fr_find(r, path, (size_t)i + 1, depth, id)) {
		const char *v = A(r, r->pairs[i].value);
		if (!*v)
			continue;
		if ((any && mcr_buf_puts(out, sep) != 0) || mcr_buf_puts(out, v) != 0)
			return MCR_ENOMEM;
		any = 1;
	}
	return any;
}

/* ---- state ---------------------------------------------------------------- */

typedef struct gp_patient {
	char nhs[11];
	unsigned char valid;
	unsigned char spilled;
	mcr_objection obj;
} gp_patient;

typedef struct pending_note {
	char *key;
	char code[32];
	char date[32];
	size_t file;
	long res_no;
	int line;
	char type[32];
	char id[64];   /* the resource's id, for naming it ("" when none) */
} pending_note;

typedef struct gp {
	const mcr_config *cfg;
	const mcr_org *org;
	char **files;
	size_t nfiles, file;
	int pass;
	mcr_ex_map *keys; /* "i:<id>", "u:<fullUrl>", "n:<nhs>" -> patient index */
	gp_patient *pats;
	size_t npats, cappats;
	pending_note *notes;
	size_t nnotes, capnotes;
	mcr_staged_writer *w;
	mcr_ex_spill *spill;
	mcr_fhir_reader rd;
	FILE *replay; /* pass 1's resource records, sealed, read by pass 2 (I/O on its fd) */
	mcr_fhir_replay *rp;
	long res_no;  /* the resource's ordinal in its file (the same in both passes) */
	fres sub;     /* a contained Patient as a resource of its own */
	mcr_buf ckey; /* a contained Patient's key */
	long nclinical, nunmatched;      /* resources of the shared data set; those matching no Patient */
	size_t first_unmatched_file;
	int first_unmatched_line;
	mcr_buf tmp, tmp2, key;
	mcr_buf dv[16]; /* detail values of the item being built */
} gp;

/* ---- patients --------------------------------------------------------------- */

static int add_key(gp *g, char prefix, const char *s, long idx, long *existing)
{
	mcr_buf_reset(&g->key);
	if (mcr_buf_putc(&g->key, prefix) != 0 || mcr_buf_putc(&g->key, ':') != 0 ||
	    mcr_buf_puts(&g->key, s) != 0)
		return MCR_ENOMEM;
	return mcr_ex_map_put(g->keys, g->key.ptr, g->key.len, idx, existing);
}

static int lookup_key(gp *g, char prefix, const char *s, long *idx)
{
	mcr_buf_reset(&g->key);
	if (mcr_buf_putc(&g->key, prefix) != 0 || mcr_buf_putc(&g->key, ':') != 0 ||
	    mcr_buf_puts(&g->key, s) != 0)
		return MCR_ENOMEM;
	return mcr_ex_map_get(g->keys, g->key.ptr, g->key.len, idx);
}

/* The NHS number of a Patient (first identifier with the NHS system), or NULL. */
static const char *patient_nhs(const fres *r)
{
	for (long i = fr_find(r, "identifier/system", 0, 0, 0); i >= 0;
	     i = fr_find(r, "identifier/system", (size_t)i + 1, 0, 0))
		if (strcmp(A(r, r->pairs[i].value), NHS_SYSTEM) == 0)
			return fr_get_in(r, "identifier/value", 1, r->pairs[i].anc[0]);
	return NULL;
}

/* Pass 1: register the Patient under its id, fullUrl and NHS number. */
static int register_patient(gp *g)
{
	fres *r = &g->rd.res;
	const char *id = fr_get(r, "id");
	const char *raw = patient_nhs(r);
	char nhs[11] = "";
	int valid = raw && mcr_nhs_validate(raw, nhs) == 0;
	mcr_error_clear();
	long idx = -1, ex;
	int rc;
	/* The same Patient seen again (by id, fullUrl or NHS number) is one patient. */
	if (id && lookup_key(g, 'i', id, &ex) == 1)
		idx = ex;
	else if (r->full_url && lookup_key(g, 'u', r->full_url, &ex) == 1)
		idx = ex;
	else if (valid && lookup_key(g, 'n', nhs, &ex) == 1)
		idx = ex;
	if (idx < 0) {
		if (g->npats == g->cappats) {
			size_t cap = g->cappats ? g->cappats * 2 : 1024;
			gp_patient *p = realloc(g->pats, cap * sizeof *p);
			if (!p)
				return mcr_error_set(MCR_ENOMEM, "out of memory");
			g->pats = p;
			g->cappats = cap;
		}
		idx = (long)g->npats++;
		memset(&g->pats[idx], 0, sizeof g->pats[idx]);
		memcpy(g->pats[idx].nhs, nhs, sizeof nhs);
		g->pats[idx].valid = (unsigned char)valid;
	}
	if (id && (rc = add_key(g, 'i', id, idx, NULL)) < 0)
		return rc;
	if (r->full_url && (rc = add_key(g, 'u', r->full_url, idx, NULL)) < 0)
		return rc;
	if (valid && (rc = add_key(g, 'n', nhs, idx, NULL)) < 0)
		return rc;
	return 0;
}

/* ---- clinical resources ------------------------------------------------------ */

/* The details of one item being gathered (at most 16, each value in its own
 * buffer of g->dv); rc turns MCR_ENOMEM (message set) once a buffer could not
 * grow, and then nothing more is added. */
typedef struct details {
	gp *g;
	mcr_staged_detail *d;
	size_t n;
	int rc;
} details;

static void allergy_details(details *x);
static void condition_details(details *x);
static void statement_details(details *x);
static void request_details(details *x);
static void immunization_details(details *x);
static void observation_details(details *x);
static void encounter_details(details *x);

typedef struct rtype {
	const char *name;
	mcr_section section;
	const char *concept;  /* the CodeableConcept naming the item */
	const char *dates[4]; /* the clinical date, first present wins */
	void (*details)(details *x); /* the details a clinician needs */
} rtype;

static const rtype rtypes[] = {
	{"AllergyIntolerance", MCR_SECTION_ALLERGIES, "code",
	 {"onsetDateTime", "onsetPeriod/start", "recordedDate", NULL}, allergy_details},
	{"MedicationStatement", MCR_SECTION_MEDICATIONS, "medicationCodeableConcept",
	 {"effectiveDateTime", "effectivePeriod/start", "dateAsserted", NULL}, statement_details},
	{"MedicationRequest", MCR_SECTION_MEDICATIONS, "medicationCodeableConcept",
	 {"authoredOn", "dispenseRequest/validityPeriod/start", NULL, NULL}, request_details},
	{"Condition", MCR_SECTION_PROBLEMS, "code",
	 {"onsetDateTime", "onsetPeriod/start", "recordedDate", NULL}, condition_details},
	{"Immunization", MCR_SECTION_IMMUNISATIONS, "vaccineCode",
	 {"occurrenceDateTime", "recorded", NULL, NULL}, immunization_details},
	{"Observation", MCR_SECTION_RESULTS, "code",
	 {"effectiveDateTime", "effectivePeriod/start", "effectiveInstant", "issued"},
	 observation_details},
	{"Encounter", MCR_SECTION_ENCOUNTERS, "type", {"period/start", NULL, NULL, NULL},
	 encounter_details},
};

static const rtype *find_rtype(const char *name)
{
	for (size_t i = 0; i < sizeof rtypes / sizeof *rtypes; i++)
		if (strcmp(rtypes[i].name, name) == 0)
			return &rtypes[i];
	return NULL;
}

typedef struct coding {
	const char *system, *code, *display;
} coding;

/* The first coding of the concept at prefix ("code", "contained/Medication/code")
 * under ancestor id at depth (0: anywhere); display falls back to the text. */
static coding concept_at(gp *g, const char *prefix, int depth, int id)
{
	const fres *r = &g->rd.res;
	coding c = {0};
	mcr_buf *p = &g->tmp2;
	mcr_buf_reset(p);
	path_cat(p, prefix, "/coding/code");
	long i = fr_find(r, p->ptr, 0, depth, id);
	int cd = 0;
	if (i >= 0) {
		c.code = A(r, r->pairs[i].value);
		cd = r->pairs[i].depth - 1; /* depth of the coding element */
		if (cd >= 1 && cd <= NANC) {
			int cid = r->pairs[i].anc[cd - 1];
			mcr_buf_reset(p);
			path_cat(p, prefix, "/coding/system");
			c.system = fr_get_in(r, p->ptr, cd, cid);
			mcr_buf_reset(p);
			path_cat(p, prefix, "/coding/display");
			c.display = fr_get_in(r, p->ptr, cd, cid);
		}
	}
	if (!c.display) {
		mcr_buf_reset(p);
		path_cat(p, prefix, "/text");
		c.display = fr_get_in(r, p->ptr, depth, id);
	}
	return c;
}

/* The item's main coding; a medication by reference is looked up among the
 * contained resources, or its reference display. */
static coding main_concept(gp *g, const rtype *t)
{
	const fres *r = &g->rd.res;
	coding c = concept_at(g, t->concept, 0, 0);
	if (!c.code && !c.display && strncmp(t->name, "Medication", 10) == 0) {
		const char *ref = fr_get(r, "medicationReference/reference");
		if (ref && ref[0] == '#') {
			for (long i = fr_find(r, "contained/Medication/id", 0, 0, 0); i >= 0;
			     i = fr_find(r, "contained/Medication/id", (size_t)i + 1, 0, 0))
				if (strcmp(A(r, r->pairs[i].value), ref + 1) == 0)
					return concept_at(g, "contained/Medication/code", 1, r->pairs[i].anc[0]);
		}
		c.display = fr_get(r, "medicationReference/display");
	}
	if (!c.code && !c.display && strcmp(t->name, "Encounter") == 0) {
		c.display = fr_get(r, "class/display");
		c.code = fr_get(r, "class/code");
		c.system = fr_get(r, "class/system");
	}
	return c;
}

/* Is any code of the main concept in this list / an objection or consent code? */
static int main_codes_match(gp *g, const rtype *t, int (*pred)(gp *, const char *))
{
	const fres *r = &g->rd.res;
	mcr_buf *p = &g->tmp2;
	mcr_buf_reset(p);
	path_cat(p, t->concept, "/coding/code");
	for (long i = fr_find(r, p->ptr, 0, 0, 0); i >= 0; i = fr_find(r, p->ptr, (size_t)i + 1, 0, 0))
		if (pred(g, A(r, r->pairs[i].value)))
			return 1;
	return 0;
}

static int is_choice_code(gp *g, const char *code)
{
	if (mcr_config_code_in(&g->cfg->objection_codes, code) ||
	    mcr_config_code_in(&g->cfg->consent_codes, code))
		return 1;
	for (size_t i = 0; i < sizeof secondary_use_codes / sizeof *secondary_use_codes; i++)
		if (strcmp(code, secondary_use_codes[i]) == 0)
			return 1;
	return 0;
}

static const char *item_date(const fres *r, const rtype *t)
{
	for (int i = 0; i < 4 && t->dates[i]; i++) {
		const char *d = fr_get(r, t->dates[i]);
		if (d && *d)
			return d;
	}
	return NULL;
}

/* Every date an item is dated by or shows among its details (item_date, item_details). */
static const char *const detail_dates[] = {
	"onsetDateTime", "onsetPeriod/start", "recordedDate", "abatementDateTime",
	"effectiveDateTime", "effectivePeriod/start", "effectivePeriod/end", "dateAsserted",
	"authoredOn", "dispenseRequest/validityPeriod/start", "dispenseRequest/validityPeriod/end",
	"occurrenceDateTime", "recorded", "effectiveInstant", "issued", "period/start",
	"period/end", "valueDateTime",
};

/* The path of the first of those present that is not a FHIR date, dateTime or
 * instant (*value its text), or NULL. */
static const char *bad_date_path(const fres *r, const char **value)
{
	for (size_t i = 0; i < sizeof detail_dates / sizeof *detail_dates; i++) {
		const char *d = fr_get(r, detail_dates[i]);
		if (d && !mcr_fhirtime_valid(d)) {
			*value = d;
			return detail_dates[i];
		}
	}
	return NULL;
}

/* Status, with a verificationStatus of entered-in-error taking precedence. */
static const char *item_status(const fres *r)
{
	const char *v = fr_get(r, "verificationStatus/coding/code");
	if (v && strcmp(v, "entered-in-error") == 0)
		return v;
	const char *s = fr_get(r, "status");
	if (s)
		return s;
	return fr_get(r, "clinicalStatus/coding/code");
}

static const char *item_confidentiality(const fres *r)
{
	const char *worst = NULL;
	for (long i = fr_find(r, "meta/security/system", 0, 0, 0); i >= 0;
	     i = fr_find(r, "meta/security/system", (size_t)i + 1, 0, 0)) {
		if (strcmp(A(r, r->pairs[i].value), CONF_SYSTEM) != 0)
			continue;
		const char *c = fr_get_in(r, "meta/security/code", 2, r->pairs[i].anc[1]);
		if (c && (!worst || strcmp(c, "R") == 0 || strcmp(c, "V") == 0))
			worst = c;
	}
	return worst;
}

/* ---- contained Patients -------------------------------------------------------
 * A resource may carry its Patient inside (`contained`, referenced as "#Pat1",
 * as the NHS immunisation API does). Such a Patient is a Patient of the export,
 * read like any other but identified by its NHS number only (its id is local
 * to the resource), and keyed 'c' by file, resource ordinal and id for the
 * references of that resource.
 */

static const char *contained_key(gp *g, const char *id)
{
	mcr_buf_reset(&g->ckey);
	mcr_buf_printf(&g->ckey, "%zu#%ld#%s", g->file, g->res_no, id);
	return mcr_buf_cstr(&g->ckey);
}

/* Subject key: 'i' id, 'u' fullUrl, 'n' NHS number, 'c' a contained Patient;
 * resolved to a patient index. */
static int resolve_subject(gp *g, long *idx, mcr_buf *desc)
{
	const fres *r = &g->rd.res;
	mcr_buf_reset(desc);
	const char *ref = fr_get(r, "subject/reference");
	if (!ref)
		ref = fr_get(r, "patient/reference");
	if (ref) {
		mcr_buf_puts(desc, ref);
		if (ref[0] == '#')
			return lookup_key(g, 'c', contained_key(g, ref + 1), idx);
		if (lookup_key(g, 'u', ref, idx) == 1)
			return 1;
		const char *p = NULL;
		for (const char *q = strstr(ref, "Patient/"); q; q = strstr(q + 1, "Patient/"))
			p = q;
		if (p) {
			p += 8;
			size_t n = strcspn(p, "/");
			mcr_buf_reset(&g->tmp2);
			mcr_buf_put(&g->tmp2, p, n);
			if (lookup_key(g, 'i', mcr_buf_cstr(&g->tmp2), idx) == 1)
				return 1;
		}
		return 0;
	}
	const char *prefixes[] = {"subject", "patient"};
	for (int k = 0; k < 2; k++) {
		mcr_buf_reset(&g->tmp2);
		path_cat(&g->tmp2, prefixes[k], "/identifier/system");
		const char *sys = fr_get(r, g->tmp2.ptr);
		mcr_buf_reset(&g->tmp2);
		path_cat(&g->tmp2, prefixes[k], "/identifier/value");
		const char *val = fr_get(r, g->tmp2.ptr);
		if (sys && val && strcmp(sys, NHS_SYSTEM) == 0) {
			char nhs[11];
			mcr_buf_puts(desc, "an NHS number identifier"); /* the number stays out of logs */
			if (mcr_nhs_validate(val, nhs) != 0) {
				mcr_error_clear();
				return 0;
			}
			return lookup_key(g, 'n', nhs, idx);
		}
	}
	return 0;
}

static int note_choice(gp *g, const rtype *t)
{
	const fres *r = &g->rd.res;
	const char *status = item_status(r);
	if (status && strcmp(status, "entered-in-error") == 0)
		return 0;
	mcr_buf *p = &g->tmp2;
	mcr_buf_reset(p);
	path_cat(p, t->concept, "/coding/code");
	const char *code = NULL;
	for (long i = fr_find(r, p->ptr, 0, 0, 0); i >= 0 && !code; i = fr_find(r, p->ptr, (size_t)i + 1, 0, 0)) {
		const char *c = A(r, r->pairs[i].value);
		if (mcr_config_code_in(&g->cfg->objection_codes, c) || mcr_config_code_in(&g->cfg->consent_codes, c))
			code = c;
	}
	if (!code)
		return 0; /* a Type 1 opt-out: no effect on sharing for direct care */
	if (g->nnotes == g->capnotes) {
		size_t cap = g->capnotes ? g->capnotes * 2 : 64;
		pending_note *n = realloc(g->notes, cap * sizeof *n);
		if (!n)
			return mcr_error_set(MCR_ENOMEM, "out of memory");
		g->notes = n;
		g->capnotes = cap;
	}
	pending_note *n = &g->notes[g->nnotes];
	memset(n, 0, sizeof *n);
	/* The subject is kept as the text to resolve once all Patients are known. */
	const char *ref = fr_get(r, "subject/reference");
	if (!ref)
		ref = fr_get(r, "patient/reference");
	mcr_buf_reset(&g->tmp);
	if (ref)
		mcr_buf_printf(&g->tmp, "r%s", ref);
	else {
		const char *val = fr_get(r, "subject/identifier/value");
		if (!val)
			val = fr_get(r, "patient/identifier/value");
		mcr_buf_printf(&g->tmp, "n%s", val ? val : "");
	}
	n->key = mcr_buf_detach(&g->tmp);
	if (!n->key)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	snprintf(n->code, sizeof n->code, "%s", code);
	const char *d = item_date(r, t);
	snprintf(n->date, sizeof n->date, "%s", d ? d : "");
	snprintf(n->type, sizeof n->type, "%s", t->name);
	snprintf(n->id, sizeof n->id, "%s", fr_get(r, "id") ? fr_get(r, "id") : "(no id)");
	n->file = g->file;
	n->res_no = g->res_no;
	n->line = r->line;
	g->nnotes++;
	return 0;
}

/* A resource whose subject matches no Patient: named, counted, not staged. The
 * share of them is checked against policy.max_unmatched_percent at the end. */
static void unmatched(gp *g, size_t file, int line, const char *type, const char *id,
                      const char *subject)
{
	mcr_ex_notice("%s:%d: %s %s: subject %s matches no Patient in the export; not staged "
	              "(unmatched)", g->files[file], line, type, id, *subject ? subject : "(none)");
	mcr_staged_count_withheld(g->w, MCR_REASON_UNMATCHED, 1);
	if (!g->nunmatched++) {
		g->first_unmatched_file = file;
		g->first_unmatched_line = line;
	}
}

/* Apply the pending objection/consent entries to their patients. */
static int apply_notes(gp *g)
{
	mcr_buf desc = MCR_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < g->nnotes && rc == 0; i++) {
		pending_note *n = &g->notes[i];
		long idx = -1;
		int found = 0;
		/* Rebuild a minimal resource holding just the subject, to share resolve_subject. */
		fres *r = &g->rd.res;
		r->n = 0;
		r->idx_ok = 0;
		mcr_buf_reset(&r->arena);
		int anc[NANC] = {1, 2, 3, 0, 0};
		if (n->key[0] == 'r')
			rc = mcr_fhir_res_push(r, "subject/reference", 17, path_hash("subject/reference", 17), n->key + 1, strlen(n->key + 1), NULL, 2, anc);
		else {
			rc = mcr_fhir_res_push(r, "subject/identifier/system", 25, path_hash("subject/identifier/system", 25), NHS_SYSTEM, strlen(NHS_SYSTEM), NULL, 3,
			               anc);
			if (rc == 0)
				rc = mcr_fhir_res_push(r, "subject/identifier/value", 24, path_hash("subject/identifier/value", 24), n->key + 1, strlen(n->key + 1), NULL,
				               3, anc);
		}
		g->file = n->file; /* where a contained Patient's key points */
		g->res_no = n->res_no;
		if (rc == 0)
			found = resolve_subject(g, &idx, &desc);
		if (rc == 0 && found < 0)
			rc = found;
		else if (rc == 0 && !found)
			unmatched(g, n->file, n->line, n->type, n->id, mcr_buf_cstr(&desc));
		else if (rc == 0 && g->pats[idx].valid)
			mcr_objection_note(&g->pats[idx].obj, g->cfg, n->code, n->date);
	}
	mcr_buf_free(&desc);
	return rc;
}

/* Add name: value (copied) unless x is full or failed. */
static void put_detail(details *x, const char *name, const char *value)
{
	if (x->rc || x->n >= 16)
		return;
	mcr_buf *b = &x->g->dv[x->n];
	mcr_buf_reset(b);
	if ((x->rc = mcr_buf_puts(b, value)) != 0)
		return;
	x->d[x->n].name = name;
	x->d[x->n].value = b->ptr;
	x->n++;
}

/* The same, skipping an absent or empty value. */
static void add_detail(details *x, const char *name, const char *value)
{
	if (value && *value)
		put_detail(x, name, value);
}

/* Every value at path joined with sep (fr_join into g->tmp); NULL when none. */
static const char *joined(details *x, const char *path, const char *sep)
{
	int any = x->rc ? 0 : fr_join(&x->g->rd.res, path, sep, 0, 0, &x->g->tmp);
	if (any < 0)
		x->rc = any;
	return any > 0 ? x->g->tmp.ptr : NULL;
}

/* value + " " + unit for a Quantity at prefix under ancestor (depth, id), in
 * out; NULL when it has no value. Out of memory: NULL and *rc = MCR_ENOMEM. */
static const char *quantity(gp *g, mcr_buf *out, const char *prefix, int depth, int id, int *rc)
{
	const fres *r = &g->rd.res;
	mcr_buf p = MCR_BUF_INIT;
	mcr_buf_reset(out);
	const char *v = fr_get_in(r, path_cat(&p, prefix, "/value"), depth, id);
	const char *u = fr_get_in(r, path_cat(&p, prefix, "/unit"), depth, id);
	if (!u)
		u = fr_get_in(r, path_cat(&p, prefix, "/code"), depth, id);
	mcr_buf_free(&p);
	if (!v)
		return NULL;
	int e = mcr_buf_puts(out, v);
	if (!e && u && !(e = mcr_buf_putc(out, ' ')))
		e = mcr_buf_puts(out, u);
	if (e) {
		*rc = e;
		return NULL;
	}
	return out->ptr;
}

static void allergy_details(details *x)
{
	const fres *r = &x->g->rd.res;
	const char *v = joined(x, "reaction/manifestation/coding/display", "; ");
	add_detail(x, "reaction", v ? v : joined(x, "reaction/manifestation/text", "; "));
	add_detail(x, "severity", joined(x, "reaction/severity", "; "));
	add_detail(x, "criticality", fr_get(r, "criticality"));
	add_detail(x, "type", fr_get(r, "type"));
	add_detail(x, "category", joined(x, "category", ", "));
	add_detail(x, "verification", fr_get(r, "verificationStatus/coding/code"));
	add_detail(x, "recorded", fr_get(r, "recordedDate"));
}

static void condition_details(details *x)
{
	const fres *r = &x->g->rd.res;
	add_detail(x, "verification", fr_get(r, "verificationStatus/coding/code"));
	add_detail(x, "category", fr_get(r, "category/coding/display"));
	add_detail(x, "severity", fr_get(r, "severity/coding/display"));
	add_detail(x, "onset", fr_get(r, "onsetDateTime"));
	add_detail(x, "abatement", fr_get(r, "abatementDateTime"));
	add_detail(x, "recorded", fr_get(r, "recordedDate"));
}

static void statement_details(details *x)
{
	const fres *r = &x->g->rd.res;
	add_detail(x, "dose", joined(x, "dosage/text", "; "));
	add_detail(x, "start", fr_get(r, "effectivePeriod/start"));
	add_detail(x, "end", fr_get(r, "effectivePeriod/end"));
	add_detail(x, "reason", fr_get(r, "reasonCode/coding/display"));
	add_detail(x, "asserted", fr_get(r, "dateAsserted"));
}

static void request_details(details *x)
{
	const fres *r = &x->g->rd.res;
	add_detail(x, "dose", joined(x, "dosageInstruction/text", "; "));
	add_detail(x, "intent", fr_get(r, "intent"));
	add_detail(x, "quantity", quantity(x->g, &x->g->tmp, "dispenseRequest/quantity", 0, 0, &x->rc));
	add_detail(x, "end", fr_get(r, "dispenseRequest/validityPeriod/end"));
	add_detail(x, "reason", fr_get(r, "reasonCode/coding/display"));
}

static void immunization_details(details *x)
{
	const fres *r = &x->g->rd.res;
	add_detail(x, "dose", quantity(x->g, &x->g->tmp, "doseQuantity", 0, 0, &x->rc));
	add_detail(x, "site", fr_get(r, "site/coding/display"));
	add_detail(x, "route", fr_get(r, "route/coding/display"));
	add_detail(x, "lot", fr_get(r, "lotNumber"));
	add_detail(x, "reason", fr_get(r, "reasonCode/coding/display"));
}

static void observation_details(details *x)
{
	const fres *r = &x->g->rd.res;
	mcr_buf *b = &x->g->tmp;
	const char *v = fr_get(r, "valueQuantity/value");
	if (v) {
		add_detail(x, "value", v);
		const char *u = fr_get(r, "valueQuantity/unit");
		add_detail(x, "unit", u ? u : fr_get(r, "valueQuantity/code"));
	} else {
		const char *alt[] = {"valueString", "valueCodeableConcept/coding/display",
		                     "valueCodeableConcept/text", "valueInteger", "valueBoolean",
		                     "valueDateTime"};
		for (size_t i = 0; i < sizeof alt / sizeof *alt; i++)
			if ((v = fr_get(r, alt[i])) != NULL) {
				add_detail(x, "value", v);
				break;
			}
	}
	mcr_buf_reset(b);
	const char *lo = fr_get(r, "referenceRange/low/value");
	const char *hi = fr_get(r, "referenceRange/high/value");
	const char *ru = fr_get(r, "referenceRange/low/unit");
	if (!ru)
		ru = fr_get(r, "referenceRange/high/unit");
	if (lo || hi) {
		if (!x->rc)
			x->rc = mcr_buf_printf(b, "%s-%s%s%s", lo ? lo : "", hi ? hi : "", ru ? " " : "",
			                       ru ? ru : "");
		add_detail(x, "reference range", b->ptr);
	} else {
		add_detail(x, "reference range", fr_get(r, "referenceRange/text"));
	}
	add_detail(x, "interpretation", fr_get(r, "interpretation/coding/display"));
	/* Components (a blood pressure's systolic and diastolic). */
	for (long i = fr_find(r, "component/code/coding/code", 0, 0, 0); i >= 0; ) {
		int cid = r->pairs[i].anc[0];
		const char *label = fr_get_in(r, "component/code/text", 1, cid);
		if (!label)
			label = fr_get_in(r, "component/code/coding/display", 1, cid);
		mcr_buf q = MCR_BUF_INIT;
		const char *val = quantity(x->g, &q, "component/valueQuantity", 1, cid, &x->rc);
		if (!val)
			val = fr_get_in(r, "component/valueString", 1, cid);
		if (label && val)
			put_detail(x, label, val);
		mcr_buf_free(&q);
		long j = i;
		while ((j = fr_find(r, "component/code/coding/code", (size_t)j + 1, 0, 0)) >= 0 &&
		       r->pairs[j].anc[0] == cid)
			;
		i = j;
	}
}

static void encounter_details(details *x)
{
	const fres *r = &x->g->rd.res;
	const char *v = joined(x, "type/coding/display", "; ");
	add_detail(x, "type", v ? v : joined(x, "type/text", "; "));
	const char *cls = fr_get(r, "class/display");
	add_detail(x, "class", cls ? cls : fr_get(r, "class/code"));
	add_detail(x, "start", fr_get(r, "period/start"));
	add_detail(x, "end", fr_get(r, "period/end"));
	const char *prov = fr_get(r, "serviceProvider/display");
	add_detail(x, "provider", prov ? prov : fr_get(r, "serviceProvider/reference"));
	add_detail(x, "participant", fr_get(r, "participant/individual/display"));
	add_detail(x, "reason", joined(x, "reasonCode/coding/display", "; "));
}

/* Pass 2: one clinical resource -> spill item, per-person withheld, or a count. */
static int stage_clinical(gp *g, const rtype *t)
{
	fres *r = &g->rd.res;
	long idx = -1;
	g->nclinical++;
	/* Consent decisions are not clinical content (an unmatched one was counted
	 * by apply_notes). */
	if (main_codes_match(g, t, is_choice_code))
		return 0;
	mcr_buf desc = MCR_BUF_INIT;
	int found = resolve_subject(g, &idx, &desc);
	if (found == 0)
		unmatched(g, g->file, r->line, t->name, fr_get(r, "id") ? fr_get(r, "id") : "(no id)",
		          mcr_buf_cstr(&desc));
	mcr_buf_free(&desc);
	if (found <= 0)
		return found;
	gp_patient *p = &g->pats[idx];
	if (!p->valid)
		return 0; /* counted once with its Patient as invalid-nhs-number */
	if (p->obj.in_force) {
		mcr_staged_count_withheld(g->w, MCR_REASON_OBJECTION, 1);
		return 0;
	}
	/* Every code the item carries, for the sensitive list. */
	const char *codes[256];
	size_t ncodes = 0;
	for (size_t i = 0; i < r->n && ncodes < 256; i++) {
		const char *path = A(r, r->pairs[i].path);
		size_t pl = strlen(path);
		if (strncmp(path, "meta/", 5) != 0 && pl >= 11 && strcmp(path + pl - 11, "coding/code") == 0)
			codes[ncodes++] = A(r, r->pairs[i].value);
	}
	if (ncodes == 256)
		return mcr_error_set(MCR_ELIMIT, "%s:%d: %s with more than 256 codings",
		                     g->files[g->file], r->line, t->name);
	mcr_item_facts f = {0};
	f.codes = codes;
	f.ncodes = ncodes;
	f.date = item_date(r, t);
	/* Any date the item shows must be a date: one that is not makes the whole
	 * item invalid-date, like its main date. */
	const char *bad_value = NULL, *bad_path = bad_date_path(r, &bad_value);
	if (bad_path)
		f.date = bad_value;
	f.confidentiality = item_confidentiality(r);
	f.status = item_status(r);
	int reason = mcr_consent_item_withhold_reason(g->cfg, g->org, &f);
	if (reason == MCR_REASON_ENTERED_IN_ERROR) {
		mcr_staged_count_withheld(g->w, MCR_REASON_ENTERED_IN_ERROR, 1);
		return 0;
	}
	if (reason == MCR_REASON_INVALID_DATE)
		mcr_ex_notice("%s:%d: %s %s: %s is not a date (FHIR date, dateTime or instant); "
		          "item withheld (invalid-date)", g->files[g->file], r->line, t->name,
		          fr_get(r, "id") ? fr_get(r, "id") : "(no id)", bad_path);
	if (reason >= 0)
		return mcr_ex_spill_withheld(g->spill, p->nhs, t->section, (mcr_reason)reason);
	coding c = main_concept(g, t);
	mcr_staged_detail d[16];
	details x = {g, d, 0, 0};
	t->details(&x);
	if (x.rc)
		return x.rc;
	mcr_staged_item it = {0};
	it.section = t->section;
	it.id = fr_get(r, "id");
	char date[32];
	mcr_fhirtime ft;
	if (f.date && mcr_fhirtime_parse(f.date, &ft) == 0) {
		mcr_fhirtime_format(&ft, date);
		it.date = date;
	}
	it.system = c.system;
	it.code = c.code;
	it.display = c.display ? c.display : t->name;
	it.status = f.status;
	it.confidentiality = f.confidentiality;
	it.details = d;
	it.ndetails = x.n;
	return mcr_ex_spill_item(g->spill, p->nhs, &it);
}

/* Pass 2: a Patient's person record (once per patient). */
static int stage_patient(gp *g)
{
	fres *r = &g->rd.res;
	const char *id = fr_get(r, "id");
	long idx = -1;
	if (!(id && lookup_key(g, 'i', id, &idx) == 1) &&
	    !(r->full_url && lookup_key(g, 'u', r->full_url, &idx) == 1)) {
		const char *raw = patient_nhs(r);
		char nhs[11];
		if (!raw || mcr_nhs_validate(raw, nhs) != 0 || lookup_key(g, 'n', nhs, &idx) != 1) {
			mcr_error_clear();
			return 0;
		}
	}
	gp_patient *p = &g->pats[idx];
	if (!p->valid || p->spilled)
		return 0;
	p->spilled = 1;
	mcr_staged_person ps = {0};
	ps.nhs = p->nhs;
	if (p->obj.in_force) {
		/* Nothing else about an objecting person; the date in its staged form. */
		char since[32];
		mcr_fhirtime ft;
		ps.objection = p->obj.date;
		if (mcr_fhirtime_parse(p->obj.date, &ft) == 0) {
			mcr_fhirtime_format(&ft, since);
			ps.objection = since;
		}
		return mcr_ex_spill_person(g->spill, &ps);
	}
	/* The official name, else the first. */
	int nid = 0;
	for (long i = fr_find(r, "name/use", 0, 0, 0); i >= 0; i = fr_find(r, "name/use", (size_t)i + 1, 0, 0))
		if (strcmp(A(r, r->pairs[i].value), "official") == 0) {
			nid = r->pairs[i].anc[0];
			break;
		}
	if (!nid) {
		long i = fr_find(r, "name/family", 0, 0, 0);
		if (i < 0)
			i = fr_find(r, "name/given", 0, 0, 0);
		if (i >= 0)
			nid = r->pairs[i].anc[0];
	}
	mcr_buf given = MCR_BUF_INIT, addr = MCR_BUF_INIT;
	if (nid) {
		ps.family = fr_get_in(r, "name/family", 1, nid);
		int any = fr_join(r, "name/given", " ", 1, nid, &given);
		if (any < 0) {
			mcr_buf_free(&given);
			return any;
		}
		if (any)
			ps.given = given.ptr;
	}
	ps.birth_date = fr_get(r, "birthDate");
	if (ps.birth_date && !mcr_fhirtime_valid(ps.birth_date)) {
		/* The person is on the list and staged; the impossible date is not. */
		mcr_ex_notice("%s:%d: Patient %s: birthDate is not a date; not staged (invalid-date)",
		          g->files[g->file], r->line, id ? id : "(no id)");
		mcr_staged_count_withheld(g->w, MCR_REASON_INVALID_DATE, 1);
		ps.birth_date = NULL;
	}
	ps.gender = fr_get(r, "gender");
	/* The home address, else the first. */
	int aid = 0;
	for (long i = fr_find(r, "address/use", 0, 0, 0); i >= 0; i = fr_find(r, "address/use", (size_t)i + 1, 0, 0))
		if (strcmp(A(r, r->pairs[i].value), "home") == 0) {
			aid = r->pairs[i].anc[0];
			break;
		}
	if (!aid) {
		for (size_t i = 0; i < r->n && !aid; i++)
			if (strncmp(A(r, r->pairs[i].path), "address/", 8) == 0)
				aid = r->pairs[i].anc[0];
	}
	if (aid) {
		mcr_buf parts = MCR_BUF_INIT;
		const char *fields[] = {"address/line", "address/city", "address/district"};
		int e = 0;
		for (size_t k = 0; !e && k < 3; k++) {
			int any = fr_join(r, fields[k], ", ", 1, aid, &parts);
			if (any < 0)
				e = any;
			else if (any && !(e = addr.len ? mcr_buf_puts(&addr, ", ") : 0))
				e = mcr_buf_puts(&addr, parts.ptr);
		}
		mcr_buf_free(&parts);
		if (e) {
			mcr_buf_free(&given);
			mcr_buf_free(&addr);
			return e;
		}
		if (addr.len)
			ps.address = addr.ptr;
		ps.postcode = fr_get_in(r, "address/postalCode", 1, aid);
	}
	for (long i = fr_find(r, "telecom/system", 0, 0, 0); i >= 0; i = fr_find(r, "telecom/system", (size_t)i + 1, 0, 0))
		if (strcmp(A(r, r->pairs[i].value), "phone") == 0) {
			ps.phone = fr_get_in(r, "telecom/value", 1, r->pairs[i].anc[0]);
			break;
		}
	int rc = mcr_ex_spill_person(g->spill, &ps);
	mcr_buf_free(&given);
	mcr_buf_free(&addr);
	return rc;
}

/* g->sub = the contained Patient whose `contained` element is cid, as a
 * resource of its own: paths without "contained/Patient/", its id left out. */
static int contained_copy(gp *g, int cid)
{
	static const char prefix[] = "contained/Patient/";
	const size_t plen = sizeof prefix - 1;
	const fres *r = &g->rd.res;
	fres *sub = &g->sub;
	mcr_fhir_res_begin(sub, "Patient", 7, r->line, 0);
	sub->file = r->file;
	for (size_t i = 0; i < r->n; i++) {
		const fpair *q = &r->pairs[i];
		const char *path = A(r, q->path);
		if (q->anc[0] != cid || strncmp(path, prefix, plen) != 0 || strcmp(path + plen, "id") == 0)
			continue;
		int anc[NANC] = {q->anc[2], q->anc[3], q->anc[4], 0, 0};
		size_t n = strlen(path + plen);
		int rc = mcr_fhir_res_push(sub, path + plen, n, path_hash(path + plen, n), A(r, q->value),
		                           strlen(A(r, q->value)), NULL, q->depth - 2, anc);
		if (rc)
			return rc;
	}
	return 0;
}

/* Each contained Patient with an id: pass 1 registers it, pass 2 stages it. */
static int contained_patients(gp *g)
{
	int rc = 0;
	for (long i = fr_find(&g->rd.res, "contained/Patient/id", 0, 0, 0); i >= 0 && rc == 0;
	     i = fr_find(&g->rd.res, "contained/Patient/id", (size_t)i + 1, 0, 0)) {
		const fres *r = &g->rd.res;
		contained_key(g, A(r, r->pairs[i].value));
		if ((rc = contained_copy(g, r->pairs[i].anc[0])) != 0)
			break;
		/* The rules read g->rd.res: let them read the copy. */
		fres outer = g->rd.res;
		g->rd.res = g->sub;
		if (g->pass == 2) {
			rc = stage_patient(g);
		} else {
			const char *raw = patient_nhs(&g->rd.res);
			char nhs[11];
			rc = register_patient(g);
			long idx = (long)g->npats - 1; /* no id, fullUrl or valid number: a new patient */
			if (raw && mcr_nhs_validate(raw, nhs) == 0)
				lookup_key(g, 'n', nhs, &idx);
			mcr_error_clear();
			if (rc == 0)
				rc = add_key(g, 'c', mcr_buf_cstr(&g->ckey), idx, NULL) < 0 ? MCR_ENOMEM : 0;
		}
		g->sub = g->rd.res;
		g->rd.res = outer;
	}
	return rc;
}

/*
 * A file's root must be a Bundle or a resource this extractor reads: anything
 * else (an OperationOutcome is an export that failed at source, a Composition
 * is not this data set) is an error naming the file, never an empty export.
 * Whatever the format: the check is on the resource type. An NDJSON file (Bulk
 * Data) holds every type of an export, one a line: there only an
 * OperationOutcome (the export's error report) is refused.
 */
static int check_root(const fres *r)
{
	int outcome = strcmp(r->type, "OperationOutcome") == 0;
	if (!r->root || strcmp(r->type, "Patient") == 0 || find_rtype(r->type) ||
	    (!outcome && mcr_fhir_format_of(r->file) == MCR_FHIR_NDJSON))
		return 0;
	return mcr_error_set(MCR_EFORMAT, "%s:%d: root %s is not a Bundle or a resource this "
	                     "extractor reads%s", r->file, r->line, r->type,
	                     outcome ? " (an OperationOutcome: the export failed at source)" : "");
}

static int on_resource(gp *g)
{
	fres *r = &g->rd.res;
	int rc = check_root(r);
	if (rc)
		return rc;
	g->res_no++;
	rc = contained_patients(g);
	if (rc)
		return rc;
	if (strcmp(r->type, "Patient") == 0)
		return g->pass == 1 ? register_patient(g) : stage_patient(g);
	const rtype *t = find_rtype(r->type);
	if (!t)
		return 0; /* not part of the shared data set */
	if (g->pass == 1)
		return main_codes_match(g, t, is_choice_code) ? note_choice(g, t) : 0;
	return stage_clinical(g, t);
}

/* ---- reading files --------------------------------------------------------------
 * fhir_xml.c and fhir_json.c hand over each resource as (path, value) pairs.
 */

/* Pass 1: the rules, then the resource's record for pass 2. */
static int on_resource_cb(void *ctx, fres *r)
{
	gp *g = ctx;
	int rc = on_resource(g);
	return rc ? rc : mcr_fhir_replay_save(g->rp, r, g->file);
}

/*
 * The files are parsed once. Pass 1 reads each file, applies its rules and
 * keeps each resource's (path, value) record in a scratch file (g->replay:
 * mode 0600, unlinked at once, in the organisation's staging folder like the
 * spill); pass 2 reads the records back in the same order. A record holds what
 * the export itself holds, withheld content included, so the scratch file is
 * sealed (encrypted and authenticated under a key only this process holds:
 * seal.h); withheld content never reaches the spill or the staged file.
 */
static int run_pass(gp *g, int pass)
{
	g->pass = pass;
	if (pass == 1) {
		g->rd.on_resource = on_resource_cb;
		g->rd.ctx = g;
		for (g->file = 0; g->file < g->nfiles; g->file++) {
			g->res_no = 0;
			int rc = mcr_fhir_read(&g->rd, g->files[g->file]);
			if (rc)
				return rc;
		}
		return mcr_fhir_replay_rewind(g->rp);
	}
	size_t file = 0;
	g->file = SIZE_MAX;
	for (;;) {
		int rc = mcr_fhir_replay_load(g->rp, &g->rd.res, &file, g->files, g->nfiles);
		if (rc <= 0)
			return rc;
		if (file != g->file) {
			g->file = file;
			g->res_no = 0;
		}
		if ((rc = on_resource(g)) != 0)
			return rc;
	}
}

int mcr_extract_gp(const mcr_config *cfg, const mcr_org *org, const char *input,
                   const char *staging_dir, char **manifest_path)
{
	if (manifest_path)
		*manifest_path = NULL;
	if (org->kind != MCR_KIND_GP)
		return mcr_error_set(MCR_ECONFIG, "organisation %s is not a GP practice", org->ods);
	if (!staging_dir)
		staging_dir = cfg->staging_dir;
	gp g = {0};
	g.cfg = cfg;
	g.org = org;
	mcr_buf folder = MCR_BUF_INIT;
	static const char *const formats[] = {".xml", ".xml.gz", ".json", ".json.gz", ".ndjson",
	                                      ".ndjson.gz", NULL};
	int rc = mcr_ex_list_files(input, formats, &g.files, &g.nfiles);
	if (rc == 0 && g.nfiles == 0)
		rc = mcr_error_set(MCR_EFORMAT, "%s: no .xml, .json or .ndjson files (each optionally .gz)", input);
	if (rc == 0)
		rc = mcr_ex_map_new(&g.keys);
	if (rc == 0)
		rc = mcr_ex_stage_folder(&folder, staging_dir, org);
	mcr_staged_header h = {org->ods, mcr_org_dataset(org->kind), mcr_time_now(), org->shares_from};
	if (rc == 0)
		rc = mcr_staged_writer_open(&g.w, staging_dir, &h);
	if (rc == 0)
		rc = mcr_ex_spill_open(&g.spill, folder.ptr);
	mcr_buf replay = MCR_BUF_INIT;
	if (rc == 0)
		rc = mcr_buf_printf(&replay, "%s/.replay-%ld", folder.ptr, (long)getpid());
	if (rc == 0)
		rc = mcr_fs_temp_anonymous(replay.ptr, &g.replay);
	if (rc == 0)
		rc = mcr_fhir_replay_open(&g.rp, fileno(g.replay));
	mcr_buf_free(&replay);
	if (rc == 0)
		rc = run_pass(&g, 1);
	if (rc == 0)
		rc = apply_notes(&g);
	long invalid = 0;
	for (size_t i = 0; rc == 0 && i < g.npats; i++)
		invalid += !g.pats[i].valid;
	/* Every Patient of a practice's export is registered there: none with a valid
	 * NHS number is a failed export, and staging it would empty the practice. */
	if (rc == 0 && (size_t)invalid == g.npats)
		rc = mcr_error_set(MCR_EFORMAT, "%s: no Patient with a valid NHS number in the export "
		                   "(%zu Patients): refusing an empty export", input, g.npats);
	for (size_t i = 0; rc == 0 && i < g.npats; i++)
		if (g.pats[i].valid)
			rc = mcr_staged_write_member(g.w, g.pats[i].nhs);
	if (rc == 0 && invalid)
		mcr_staged_count_withheld(g.w, MCR_REASON_INVALID_NHS, invalid);
	if (rc == 0)
		rc = run_pass(&g, 2);
	/* A few dangling references are a real export's; many are a broken one. */
	if (rc == 0 && g.nunmatched * 100 > (long)cfg->max_unmatched_percent * g.nclinical)
		rc = mcr_error_set(MCR_EFORMAT, "%s: %ld of %ld clinical resources match no Patient in "
		                   "the export, more than policy.max_unmatched_percent (%d%%): a broken "
		                   "export, refused (one is %s:%d)", input, g.nunmatched,
		                   g.nclinical, cfg->max_unmatched_percent,
		                   g.files[g.first_unmatched_file], g.first_unmatched_line);
	if (rc == 0)
		rc = mcr_ex_spill_emit(g.spill, g.w);
	mcr_ex_spill_close(g.spill);
	mcr_fhir_replay_close(g.rp);
	if (g.replay)
		fclose(g.replay);
	if (rc == 0) {
		rc = mcr_staged_writer_commit(g.w, manifest_path);
		g.w = NULL;
	}
	mcr_staged_writer_abort(g.w);
	for (size_t i = 0; i < g.nnotes; i++)
		free(g.notes[i].key);
	free(g.notes);
	free(g.pats);
	mcr_ex_map_free(g.keys);
	mcr_ex_files_free(g.files, g.nfiles);
	mcr_fhir_reader_free(&g.rd);
	mcr_fhir_res_free(&g.sub);
	mcr_buf_free(&g.ckey);
	mcr_buf_free(&g.tmp);
	mcr_buf_free(&g.tmp2);
	mcr_buf_free(&g.key);
	for (int i = 0; i < 16; i++)
		mcr_buf_free(&g.dv[i]);
	mcr_buf_free(&folder);
	return rc;
}
