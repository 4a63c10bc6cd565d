/*
 * The sample region generator (docs/SYNTH.md). People are made one at a time from
 * their own random streams and written straight out: GP bundles per practice (500
 * patients a file), the two LCS CSV files, one CDA file per OOH case. Counts are
 * kept as each thing is written, by the team's counting rules, and printed last.
 */
#include "synth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/vocab.h"

#define BUNDLE_PATIENTS 500
#define MAX_ENTRIES 64
#define MAX_CHANGES 96
#define RECENT_DAYS 90

enum { GP1, GP2, GP3, LCS, OOH, NORGS };
#define NGP 3

typedef struct org_def {
	const char *ods, *name, *kind, *schedule, *shares_from, *caldicott;
	const char *town, *pc1, *pc2;
} org_def;

static const org_def orgs[NORGS] = {
	{ "A81001", "Riverside Surgery", "gp", "nightly", "2016-04-01",
	  "Dr Helen Marsh, caldicott.a81001@example.nhs.uk", "Hertford", "SG13", "SG14" },
	{ "A81002", "Parkway Medical Centre", "gp", "nightly", "2019-10-01",
	  "Dr Samuel Reid, caldicott.a81002@example.nhs.uk", "Stevenage", "SG1", "SG2" },
	{ "A81003", "Castle Street Practice", "gp", "nightly", "2022-01-01",
	  "Dr Anita Shah, caldicott.a81003@example.nhs.uk", "Hitchin", "SG4", "SG5" },
	{ "LA919", "Hertfordshire County Council Social Care", "lcs", "nightly", "2010-04-01",
	  "Margaret Lowe, caldicott@hertfordshire.example.gov.uk", NULL, NULL, NULL },
	{ "NLO11", "Herts Urgent Care (NHS 111 and out of hours)", "ooh", "twice-daily", "2020-01-01",
	  "Dr Peter Quinn, caldicott@hertsurgentcare.example.nhs.uk", NULL, NULL, NULL },
};

/* Random streams of a person. */
enum { ST_CORE = 1, ST_GP, ST_LCS, ST_OOH, ST_NIGHT, ST_PICK, ST_BUNDLE, ST_PATID = 16 };

enum { NHS_OK, NHS_BAD, NHS_NONE, NHS_SPACED };
enum { OBJ_NONE, OBJ_IN_FORCE, OBJ_REOBJECT, OBJ_WITHDRAWN, OBJ_CONSENT_ONLY };
enum { CH_ALLERGY, CH_OBJECTION, CH_CONSENT, CH_MOVE, CH_KINDS };
static const char *const change_names[CH_KINDS] = {
	"new-allergy", "objection-raised", "consent-withdrawn", "moved-practice",
};

/* Edge counters, by organisation kind. */
enum {
	G_BUNDLE_FILES, G_PATIENTS, G_PAT_BAD, G_PAT_NONE, G_CLINICAL, G_CODED,
	G_ALLERGY, G_MEDSTMT, G_MEDREQ, G_COND, G_IMM, G_OBS, G_ENC,
	G_OBJ_RAISED, G_OBJ_WITHDRAWN, G_OBJ_IN_FORCE, G_CONSENT_ONLY, G_TYPE1,
	G_MOVED_IN, G_REFS_ID, G_BEFORE_PAT, G_LATER_FILE, G_SEC_N, G_NEDGE
};
static const char *const gp_edge_names[G_NEDGE] = {
	"bundle_files", "patients", "patients_bad_check_digit", "patients_no_nhs_number",
	"clinical_resources", "coded_entries", "allergy_intolerance", "medication_statement",
	"medication_request", "condition", "immunization", "observation", "encounter",
	"objections_raised", "objections_withdrawn", "objections_in_force", "consent_only",
	"type1_opt_outs", "moved_in", "refs_by_identifier", "resources_before_patient",
	"resources_in_later_file", "security_normal",
};
enum {
	L_ROWS, L_INV_ROWS, L_Y, L_N, L_EMPTY, L_BAD, L_NHS_EMPTY, L_SPACED, L_OPEN,
	L_CLOSED, L_NO_INV, L_MULTILINE, L_QUOTES, L_NEDGE
};
static const char *const lcs_edge_names[L_NEDGE] = {
	"persons_rows", "involvement_rows", "consent_y", "consent_n", "consent_empty",
	"nhs_bad_check_digit", "nhs_empty", "nhs_spaced", "involvements_open",
	"involvements_closed", "persons_without_involvements", "summaries_multiline",
	"summaries_with_quotes",
};
enum {
	O_CASES, O_ENVELOPED, O_VERIFIED, O_UNVERIFIED, O_NONE, O_BAD, O_CLIN_AUTHOR,
	O_CLIN_PART, O_NONCLIN, O_RECENT, O_NEDGE
};
static const char *const ooh_edge_names[O_NEDGE] = {
	"cases", "enveloped", "verified", "unverified", "no_nhs_number",
	"verified_bad_check_digit", "clinical_author", "clinical_participant", "non_clinical",
	"recent",
};

typedef struct org_counts {
	long people, members, items, objections;
	long sections[MCR_SECTION_COUNT];
	long withheld[MCR_REASON_COUNT];
	long edge[G_NEDGE];
} org_counts;

typedef struct person {
	uint32_t index;
	char nhs[11];
	char nhs_bad[11];     /* the number with a wrong check digit */
	int female;
	int32_t birth;
	char given[48], family[64];
	int apos, comma, nonascii;
	int house;
	const char *street;
	char postcode[10], phone[16];
	int practice;         /* night 1 */
	int gp_nhs, objection, type1, moved_in, prev_practice;
	int by_identifier, before_patient, deferred;
	int lcs, lcs_nhs, consent, n_inv;
	int n_cases;
	/* night changes */
	int practice_now;
	int32_t new_allergy_day, objection_day, withdrawn_day;
} person;

typedef struct change {
	uint32_t index;
	int night, kind, from, to;
} change;

typedef struct gp_state {
	synth_file f;
	int open, bundle, in_bundle;
	int first;         /* JSON: no entry written yet in this Bundle */
	mcr_buf deferred;
} gp_state;

typedef struct staff_def {
	const char *user, *role;
	int org;
	int patient_practice; /* GP index to find a patient in, or -1 */
	long index;           /* person index, or -1 */
	char nhs[11];
} staff_def;

typedef struct ctx {
	const synth_opts *o;
	synth_nhs_table nhs;
	int32_t base;          /* night 1's date */
	int64_t extract_time;  /* seconds: as_of T06:00:00Z */
	int32_t sf[NORGS];
	char dir[NORGS][4096];
	org_counts c[NORGS];
	gp_state gp[NGP];
	synth_file persons, involvements;
	long case_seq;
	change changes[MAX_CHANGES];
	int nchanges;
	staff_def staff[4];
	long multi_org, names_apos, names_comma, names_nonascii;
	/* scratch */
	mcr_buf ent;
	size_t ent_off[MAX_ENTRIES + 1];
	int nent;
	mcr_buf tmp, doc, json;
} ctx;

static int oom(void)
{
	return mcr_error_set(MCR_ENOMEM, "out of memory");
}

long synth_max_people(int second)
{
	/* Valid numbers of 9990000000-9999999999 (and 3990000000-3999999999), less
	 * two for staff who are not patients: computed, not assumed. */
	long n = 0;
	for (uint32_t p = 0; p < 1000000; p++) {
		n += synth_nhs_prefix_check(SYNTH_NHS_TEST_HEAD, p) != 10;
		n += second && synth_nhs_prefix_check(SYNTH_NHS_SECOND_HEAD, p) != 10;
	}
	return n - 2;
}

/* ---- people ---------------------------------------------------------------- */

static void scan_name(person *p, const char *s)
{
	for (; *s; s++) {
		p->apos |= *s == '\'';
		p->comma |= *s == ',';
		p->nonascii |= (unsigned char)*s >= 0x80;
	}
}

static void person_core(const ctx *x, uint32_t i, person *p)
{
	synth_rng r;
	memset(p, 0, sizeof(*p));
	synth_rng_init(&r, x->o->seed, i, ST_CORE);
	p->index = i;
	synth_nhs_number(&x->nhs, i, p->nhs);
	memcpy(p->nhs_bad, p->nhs, 11);
	p->nhs_bad[9] = (char)('0' + (p->nhs[9] - '0' + 1 + (int)synth_below(&r, 9)) % 10);

	p->female = synth_bp(&r, 5100);
	int age = (int)synth_below(&r, 95);
	p->birth = x->base - age * 365 - (int32_t)synth_below(&r, 365) - 2;

	uint32_t u = synth_below(&r, 10000);
	const char *given;
	if (u < 400)
		given = p->female ? synth_given_nonascii_f[synth_below(&r, (uint32_t)synth_ngiven_nonascii_f)]
		                  : synth_given_nonascii_m[synth_below(&r, (uint32_t)synth_ngiven_nonascii_m)];
	else
		given = p->female ? synth_given_f[synth_below(&r, (uint32_t)synth_ngiven_f)]
		                  : synth_given_m[synth_below(&r, (uint32_t)synth_ngiven_m)];
	snprintf(p->given, sizeof(p->given), "%s", given);
	u = synth_below(&r, 10000);
	if (u < 400)
		snprintf(p->family, sizeof(p->family), "%s", synth_family_apos[synth_below(&r, (uint32_t)synth_nfamily_apos)]);
	else if (u < 700)
		snprintf(p->family, sizeof(p->family), "%s", synth_family_nonascii[synth_below(&r, (uint32_t)synth_nfamily_nonascii)]);
	else if (u < 800)
		snprintf(p->family, sizeof(p->family), "%s, %s", synth_family[synth_below(&r, (uint32_t)synth_nfamily)],
		         synth_bp(&r, 5000) ? "Jnr" : "Snr");
	else
		snprintf(p->family, sizeof(p->family), "%s", synth_family[synth_below(&r, (uint32_t)synth_nfamily)]);
	scan_name(p, p->given);
	scan_name(p, p->family);

	u = synth_below(&r, 100);
	p->practice = u < 45 ? GP1 : u < 80 ? GP2 : GP3;
	p->practice_now = p->practice;
	p->house = 1 + (int)synth_below(&r, 180);
	p->street = synth_streets[synth_below(&r, (uint32_t)synth_nstreets)];
	static const char letters[] = "ABDEFGHJLNPQRSTUWXYZ";
	snprintf(p->postcode, sizeof(p->postcode), "%s %u%c%c",
	         synth_bp(&r, 5000) ? orgs[p->practice].pc1 : orgs[p->practice].pc2,
	         1 + synth_below(&r, 9), letters[synth_below(&r, 20)], letters[synth_below(&r, 20)]);
	if (synth_bp(&r, 5000))
		snprintf(p->phone, sizeof(p->phone), "01632 960%03u", synth_below(&r, 1000));
	else
		snprintf(p->phone, sizeof(p->phone), "07700 900%03u", synth_below(&r, 1000));

	u = synth_below(&r, 1000);
	p->gp_nhs = u < 5 ? NHS_BAD : u < 10 ? NHS_NONE : NHS_OK;
	u = synth_below(&r, 10000);
	int t1 = synth_bp(&r, 300);
	if (p->gp_nhs == NHS_OK) {
		p->objection = u < 150 ? OBJ_IN_FORCE : u < 200 ? OBJ_REOBJECT : u < 400 ? OBJ_WITHDRAWN
		             : u < 500 ? OBJ_CONSENT_ONLY : OBJ_NONE;
		p->type1 = t1;
	}
	p->moved_in = synth_bp(&r, 300);
	p->prev_practice = (p->practice + 1 + (int)synth_below(&r, 2)) % NGP;
	p->by_identifier = synth_bp(&r, 1500) && p->gp_nhs == NHS_OK;
	p->before_patient = synth_bp(&r, 1000);
	p->deferred = synth_bp(&r, 200);

	p->lcs = synth_bp(&r, 1000);
	u = synth_below(&r, 100);
	p->lcs_nhs = u == 0 ? NHS_BAD : u == 1 ? NHS_NONE : u < 4 ? NHS_SPACED : NHS_OK;
	u = synth_below(&r, 100);
	p->consent = u < 60 ? 'Y' : u < 80 ? 'N' : 0;
	u = synth_below(&r, 100);
	p->n_inv = u < 3 ? 0 : u < 58 ? 1 : u < 88 ? 2 : 3;

	u = synth_below(&r, 1000);
	p->n_cases = u < 800 ? 0 : u < 940 ? 1 : u < 985 ? 2 : 3;

	p->new_allergy_day = p->objection_day = p->withdrawn_day = -1;
}

static int objection_in_force(const person *p)
{
	return p->objection == OBJ_IN_FORCE || p->objection == OBJ_REOBJECT || p->objection_day >= 0;
}

static int lcs_valid(const person *p)
{
	return p->lcs_nhs == NHS_OK || p->lcs_nhs == NHS_SPACED;
}

static int32_t change_day(const ctx *x, int night)
{
	return x->base + night - 2;
}

static void apply_changes(const ctx *x, person *p)
{
	for (int k = 0; k < x->nchanges; k++) {
		const change *c = &x->changes[k];
		if (c->index != p->index)
			continue;
		switch (c->kind) {
		case CH_ALLERGY: p->new_allergy_day = change_day(x, c->night); break;
		case CH_OBJECTION: p->objection_day = change_day(x, c->night); break;
		case CH_CONSENT: p->withdrawn_day = change_day(x, c->night); break;
		case CH_MOVE: p->practice_now = c->to; break;
		default: break;
		}
	}
}

static int chosen(const ctx *x, uint32_t i)
{
	for (int k = 0; k < x->nchanges; k++)
		if (x->changes[k].index == i)
			return 1;
	for (int s = 0; s < 4; s++)
		if (x->staff[s].index == (long)i)
			return 1;
	return 0;
}

static int eligible(const person *p, int kind)
{
	switch (kind) {
	case CH_ALLERGY: return p->gp_nhs == NHS_OK && !objection_in_force(p);
	case CH_OBJECTION: return p->gp_nhs == NHS_OK && p->objection == OBJ_NONE;
	case CH_CONSENT: return p->lcs && lcs_valid(p) && p->consent == 'Y';
	case CH_MOVE: return p->gp_nhs == NHS_OK;
	default: return 0;
	}
}

/* First person at or after a seeded start for which ok() holds; -1 if none. */
static long pick(const ctx *x, uint64_t what, int (*ok)(const ctx *, const person *, int), int arg)
{
	synth_rng r;
	synth_rng_init(&r, x->o->seed, what, ST_PICK);
	uint32_t n = (uint32_t)x->o->people;
	uint32_t start = synth_below(&r, n);
	person p;
	for (uint32_t t = 0; t < n; t++) {
		uint32_t i = (start + t) % n;
		if (chosen(x, i))
			continue;
		person_core(x, i, &p);
		if (ok(x, &p, arg))
			return i;
	}
	return -1;
}

static int ok_change(const ctx *x, const person *p, int kind)
{
	(void)x;
	return eligible(p, kind);
}

static int ok_staff(const ctx *x, const person *p, int practice)
{
	(void)x;
	return p->gp_nhs == NHS_OK && p->practice == practice && !objection_in_force(p);
}

static void choose_staff_and_changes(ctx *x)
{
	static const staff_def defs[4] = {
		{ "dr.patel", "clinician", GP1, GP1, -1, "" },
		{ "nurse.okafor", "clinician", GP2, GP3, -1, "" },
		{ "sw.hughes", "social-worker", LCS, -1, -1, "" },
		{ "dr.clarke", "clinician", OOH, -1, -1, "" },
	};
	uint32_t outside = (uint32_t)x->o->people;
	for (int s = 0; s < 4; s++)
		x->staff[s].index = -1;
	for (int s = 0; s < 4; s++) {
		x->staff[s] = defs[s];
		if (defs[s].patient_practice >= 0)
			x->staff[s].index = pick(x, 1000 + (uint64_t)s, ok_staff, defs[s].patient_practice);
		if (x->staff[s].index >= 0)
			synth_nhs_number(&x->nhs, (uint32_t)x->staff[s].index, x->staff[s].nhs);
		else
			synth_nhs_number(&x->nhs, outside++, x->staff[s].nhs);
	}
	long n = x->o->people;
	int per = n < 200 ? 1 : n < 20000 ? 2 : 3;
	for (int night = 2; night <= x->o->night; night++)
		for (int kind = 0; kind < CH_KINDS; kind++)
			for (int j = 0; j < per && x->nchanges < MAX_CHANGES; j++) {
				long i = pick(x, (uint64_t)(night * 100 + kind * 10 + j), ok_change, kind);
				if (i < 0)
					continue;
				change *c = &x->changes[x->nchanges++];
				c->index = (uint32_t)i;
				c->night = night;
				c->kind = kind;
				if (kind == CH_MOVE) {
					person p;
					person_core(x, (uint32_t)i, &p);
					synth_rng r;
					synth_rng_init(&r, x->o->seed, (uint64_t)i, ST_NIGHT);
					c->from = p.practice;
					c->to = (p.practice + 1 + (int)synth_below(&r, 2)) % NGP;
				}
			}
}

/* ---- GP: FHIR R4 XML ------------------------------------------------------- */

typedef struct res {
	char id[37];
	int eie;
	char conf;           /* 'R', 'V', 'N' or 0 */
	int sensitive;
	int32_t date;
	char d[11];
} res;

static void draw_res(synth_rng *r, const person *p, int32_t sf, int32_t base, res *rs)
{
	synth_uuid(r, rs->id);
	rs->eie = synth_bp(r, 100);
	uint32_t u = synth_below(r, 10000);
	rs->conf = u < 70 ? 'R' : u < 100 ? 'V' : u < 600 ? 'N' : 0;
	rs->sensitive = 0;
	int bsf = synth_bp(r, 300) && p->birth < sf - 1;
	if (bsf) {
		int32_t lo = p->birth > sf - 3650 ? p->birth : sf - 3650;
		rs->date = synth_range(r, lo, sf - 1);
	} else {
		int32_t lo = p->birth > sf ? p->birth : sf;
		rs->date = synth_range(r, lo, base - 1);
	}
	synth_date(rs->date, rs->d);
}

static int ent_begin(ctx *x, const char *id)
{
	if (x->nent >= MAX_ENTRIES)
		return mcr_error_set(MCR_ELIMIT, "too many resources for one person");
	x->ent_off[x->nent] = x->ent.len;
	if (mcr_buf_printf(&x->ent, "  <entry><fullUrl value=\"urn:uuid:%s\"/><resource>\n", id))
		return oom();
	return 0;
}

static int ent_end(ctx *x)
{
	if (mcr_buf_puts(&x->ent, "  </resource></entry>\n"))
		return oom();
	x->nent++;
	x->ent_off[x->nent] = x->ent.len;
	return 0;
}

static int put_meta(mcr_buf *b, char conf)
{
	if (!conf)
		return 0;
	return mcr_buf_printf(b, "    <meta><security><system value=\"http://terminology.hl7.org/CodeSystem/v3-Confidentiality\"/>"
	                      "<code value=\"%c\"/></security></meta>\n", conf);
}

static int put_coding(mcr_buf *b, const char *elem, const char *system, const char *code,
                      const char *display)
{
	int rc = mcr_buf_printf(b, "    <%s><coding><system value=\"%s\"/><code value=\"%s\"/><display value=\"",
	                        elem, system, code);
	rc = rc ? rc : synth_xml_esc(b, display);
	return rc ? rc : mcr_buf_printf(b, "\"/></coding></%s>\n", elem);
}

static int put_ref(ctx *x, const person *p, const char *pid, const char *elem)
{
	if (p->by_identifier) {
		x->c[p->practice_now].edge[G_REFS_ID]++;
		return mcr_buf_printf(&x->ent, "    <%s><identifier><system value=\"https://fhir.nhs.uk/Id/nhs-number\"/>"
		                      "<value value=\"%s\"/></identifier></%s>\n", elem, p->nhs, elem);
	}
	return mcr_buf_printf(&x->ent, "    <%s><reference value=\"Patient/%s\"/></%s>\n", elem, pid, elem);
}

/* Count one clinical resource by the counting rules. */
static void count_res(ctx *x, const person *p, const res *rs, mcr_section sec, int edge)
{
	org_counts *c = &x->c[p->practice_now];
	c->edge[G_CLINICAL]++;
	c->edge[edge]++;
	if (rs->conf == 'N')
		c->edge[G_SEC_N]++;
	if (p->gp_nhs != NHS_OK)
		return;
	if (objection_in_force(p)) {
		c->withheld[MCR_REASON_OBJECTION]++;
		return;
	}
	if (rs->eie)
		c->withheld[MCR_REASON_ENTERED_IN_ERROR]++;
	else if (rs->conf == 'R' || rs->conf == 'V')
		c->withheld[MCR_REASON_CONFIDENTIAL]++;
	else if (rs->sensitive)
		c->withheld[MCR_REASON_SENSITIVE]++;
	else if (rs->date < x->sf[p->practice_now])
		c->withheld[MCR_REASON_BEFORE_SHARES_FROM]++;
	else {
		c->items++;
		c->sections[sec]++;
	}
}

static int res_head(ctx *x, const char *type, const res *rs)
{
	int rc = ent_begin(x, rs->id);
	rc = rc ? rc : mcr_buf_printf(&x->ent, "   <%s>\n    <id value=\"%s\"/>\n", type, rs->id);
	return rc ? rc : put_meta(&x->ent, rs->conf);
}

static int res_tail(ctx *x, const char *type)
{
	if (mcr_buf_printf(&x->ent, "   </%s>\n", type))
		return oom();
	return ent_end(x);
}

static int gp_allergy(ctx *x, const person *p, const char *pid, synth_rng *r, res *rs)
{
	mcr_buf *b = &x->ent;
	const synth_code *a = &synth_allergies[synth_below(r, (uint32_t)synth_nallergies)];
	const synth_code *m = &synth_reactions[synth_below(r, (uint32_t)synth_nreactions)];
	static const char *const sev[3] = { "mild", "moderate", "severe" };
	const char *severity = sev[synth_below(r, 3)];
	int rc = res_head(x, "AllergyIntolerance", rs);
	if (!rc && !rs->eie)
		rc = mcr_buf_puts(b, "    <clinicalStatus><coding><system value=\"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical\"/>"
		                  "<code value=\"active\"/></coding></clinicalStatus>\n");
	if (!rc)
		rc = mcr_buf_printf(b, "    <verificationStatus><coding><system value=\"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification\"/>"
		                    "<code value=\"%s\"/></coding></verificationStatus>\n", rs->eie ? "entered-in-error" : "confirmed");
	rc = rc ? rc : put_coding(b, "code", "http://snomed.info/sct", a->code, a->display);
	rc = rc ? rc : put_ref(x, p, pid, "patient");
	rc = rc ? rc : mcr_buf_printf(b, "    <onsetDateTime value=\"%s\"/>\n    <recordedDate value=\"%s\"/>\n", rs->d, rs->d);
	rc = rc ? rc : mcr_buf_puts(b, "    <reaction>\n  ");
	rc = rc ? rc : put_coding(b, "manifestation", "http://snomed.info/sct", m->code, m->display);
	rc = rc ? rc : mcr_buf_printf(b, "     <severity value=\"%s\"/>\n    </reaction>\n", severity);
	return rc ? (rc == MCR_ENOMEM ? oom() : rc) : res_tail(x, "AllergyIntolerance");
}

static int gp_med(ctx *x, const person *p, const char *pid, synth_rng *r, res *rs, int statement)
{
	mcr_buf *b = &x->ent;
	const synth_med *m = &synth_meds[synth_below(r, (uint32_t)synth_nmeds)];
	int active = synth_bp(r, 6000);
	const char *type = statement ? "MedicationStatement" : "MedicationRequest";
	int rc = res_head(x, type, rs);
	const char *status = rs->eie ? "entered-in-error" : statement ? (active ? "active" : "completed")
	                                                              : (active ? "active" : "completed");
	rc = rc ? rc : mcr_buf_printf(b, "    <status value=\"%s\"/>\n", status);
	if (!rc && !statement)
		rc = mcr_buf_puts(b, "    <intent value=\"order\"/>\n");
	rc = rc ? rc : put_coding(b, "medicationCodeableConcept", "https://dmd.nhs.uk", m->code, m->display);
	rc = rc ? rc : put_ref(x, p, pid, "subject");
	if (!rc && statement)
		rc = mcr_buf_printf(b, "    <effectiveDateTime value=\"%s\"/>\n    <dateAsserted value=\"%s\"/>\n", rs->d, rs->d);
	if (!rc && !statement)
		rc = mcr_buf_printf(b, "    <authoredOn value=\"%s\"/>\n", rs->d);
	rc = rc ? rc : mcr_buf_printf(b, "    <%s><text value=\"", statement ? "dosage" : "dosageInstruction");
	rc = rc ? rc : synth_xml_esc(b, m->dose);
	rc = rc ? rc : mcr_buf_printf(b, "\"/></%s>\n", statement ? "dosage" : "dosageInstruction");
	return rc ? (rc == MCR_ENOMEM ? oom() : rc) : res_tail(x, type);
}

static int gp_condition(ctx *x, const person *p, const char *pid, synth_rng *r, res *rs)
{
	mcr_buf *b = &x->ent;
	const synth_code *c;
	if (synth_bp(r, 200)) {
		c = &synth_sensitive[synth_below(r, (uint32_t)synth_nsensitive)];
		rs->sensitive = 1;
	} else {
		c = &synth_problems[synth_below(r, (uint32_t)synth_nproblems)];
	}
	int resolved = synth_bp(r, 3000);
	int rc = res_head(x, "Condition", rs);
	if (!rc && !rs->eie)
		rc = mcr_buf_printf(b, "    <clinicalStatus><coding><system value=\"http://terminology.hl7.org/CodeSystem/condition-clinical\"/>"
		                    "<code value=\"%s\"/></coding></clinicalStatus>\n", resolved ? "resolved" : "active");
	rc = rc ? rc : mcr_buf_printf(b, "    <verificationStatus><coding><system value=\"http://terminology.hl7.org/CodeSystem/condition-ver-status\"/>"
	                              "<code value=\"%s\"/></coding></verificationStatus>\n", rs->eie ? "entered-in-error" : "confirmed");
	rc = rc ? rc : mcr_buf_puts(b, "    <category><coding><system value=\"http://terminology.hl7.org/CodeSystem/condition-category\"/>"
	                            "<code value=\"problem-list-item\"/></coding></category>\n");
	rc = rc ? rc : put_coding(b, "code", "http://snomed.info/sct", c->code, c->display);
	rc = rc ? rc : put_ref(x, p, pid, "subject");
	rc = rc ? rc : mcr_buf_printf(b, "    <onsetDateTime value=\"%s\"/>\n    <recordedDate value=\"%s\"/>\n", rs->d, rs->d);
	return rc ? (rc == MCR_ENOMEM ? oom() : rc) : res_tail(x, "Condition");
}

static int gp_immunization(ctx *x, const person *p, const char *pid, synth_rng *r, res *rs)
{
	mcr_buf *b = &x->ent;
	int rc = res_head(x, "Immunization", rs);
	rc = rc ? rc : mcr_buf_printf(b, "    <status value=\"%s\"/>\n", rs->eie ? "entered-in-error" : "completed");
	if (synth_bp(r, 3000)) {
		rc = rc ? rc : put_coding(b, "vaccineCode", "https://dmd.nhs.uk", "11278411000001109",
		                          "Influenza vaccine (split virion, inactivated) suspension for injection");
	} else {
		const synth_code *v = &synth_vaccines_sct[synth_below(r, (uint32_t)synth_nvaccines_sct)];
		rc = rc ? rc : put_coding(b, "vaccineCode", "http://snomed.info/sct", v->code, v->display);
	}
	rc = rc ? rc : put_ref(x, p, pid, "patient");
	rc = rc ? rc : mcr_buf_printf(b, "    <occurrenceDateTime value=\"%s\"/>\n    <primarySource value=\"true\"/>\n", rs->d);
	return rc ? (rc == MCR_ENOMEM ? oom() : rc) : res_tail(x, "Immunization");
}

static int gp_observation(ctx *x, const person *p, const char *pid, synth_rng *r, res *rs)
{
	mcr_buf *b = &x->ent;
	int sens = synth_bp(r, 100);
	const synth_obs *o = &synth_results[synth_below(r, (uint32_t)synth_nresults)];
	const synth_code *s = &synth_sensitive[3 + synth_below(r, 3)]; /* the STI codes */
	int v = o->min10 + (int)synth_below(r, (uint32_t)(o->max10 - o->min10 + 1));
	int hh = 8 + (int)synth_below(r, 10), mm = (int)synth_below(r, 60);
	rs->sensitive = sens;
	int rc = res_head(x, "Observation", rs);
	rc = rc ? rc : mcr_buf_printf(b, "    <status value=\"%s\"/>\n", rs->eie ? "entered-in-error" : "final");
	rc = rc ? rc : mcr_buf_printf(b, "    <category><coding><system value=\"http://terminology.hl7.org/CodeSystem/observation-category\"/>"
	                              "<code value=\"%s\"/></coding></category>\n", sens ? "laboratory" : "vital-signs");
	rc = rc ? rc : put_coding(b, "code", "http://snomed.info/sct", sens ? s->code : o->code, sens ? s->display : o->display);
	rc = rc ? rc : put_ref(x, p, pid, "subject");
	rc = rc ? rc : mcr_buf_printf(b, "    <effectiveDateTime value=\"%sT%02d:%02d:00Z\"/>\n", rs->d, hh, mm);
	if (sens) {
		rc = rc ? rc : mcr_buf_puts(b, "    <valueCodeableConcept><coding><system value=\"http://snomed.info/sct\"/>"
		                            "<code value=\"10828004\"/><display value=\"Positive\"/></coding></valueCodeableConcept>\n");
	} else {
		rc = rc ? rc : mcr_buf_printf(b, "    <valueQuantity><value value=\"%d.%d\"/><unit value=\"%s\"/>"
		                              "<system value=\"http://unitsofmeasure.org\"/><code value=\"%s\"/></valueQuantity>\n",
		                              v / 10, v % 10, o->unit, o->ucum);
		rc = rc ? rc : mcr_buf_printf(b, "    <referenceRange><low><value value=\"%d.%d\"/><unit value=\"%s\"/></low>"
		                              "<high><value value=\"%d.%d\"/><unit value=\"%s\"/></high></referenceRange>\n",
		                              o->lo10 / 10, o->lo10 % 10, o->unit, o->hi10 / 10, o->hi10 % 10, o->unit);
	}
	return rc ? (rc == MCR_ENOMEM ? oom() : rc) : res_tail(x, "Observation");
}

static int gp_encounter(ctx *x, const person *p, const char *pid, synth_rng *r, res *rs, int at_prev)
{
	mcr_buf *b = &x->ent;
	static const char *const cls[3][2] = { { "AMB", "ambulatory" }, { "VR", "virtual" }, { "HH", "home health" } };
	int k = (int)synth_below(r, 3);
	const synth_code *t = &synth_encounter_types[synth_below(r, (uint32_t)synth_nencounter_types)];
	int hh = 8 + (int)synth_below(r, 10), mm = 10 * (int)synth_below(r, 6);
	const org_def *where = &orgs[at_prev ? p->prev_practice : p->practice];
	int rc = res_head(x, "Encounter", rs);
	rc = rc ? rc : mcr_buf_printf(b, "    <status value=\"%s\"/>\n", rs->eie ? "entered-in-error" : "finished");
	rc = rc ? rc : mcr_buf_printf(b, "    <class><system value=\"http://terminology.hl7.org/CodeSystem/v3-ActCode\"/>"
	                              "<code value=\"%s\"/><display value=\"%s\"/></class>\n", cls[k][0], cls[k][1]);
	rc = rc ? rc : put_coding(b, "type", "http://snomed.info/sct", t->code, t->display);
	rc = rc ? rc : put_ref(x, p, pid, "subject");
	rc = rc ? rc : mcr_buf_printf(b, "    <period><start value=\"%sT%02d:%02d:00Z\"/><end value=\"%sT%02d:%02d:00Z\"/></period>\n",
	                              rs->d, hh, mm, rs->d, hh, mm + 9);
	rc = rc ? rc : mcr_buf_printf(b, "    <serviceProvider><identifier><system value=\"https://fhir.nhs.uk/Id/ods-organization-code\"/>"
	                              "<value value=\"%s\"/></identifier><display value=\"", where->ods);
	rc = rc ? rc : synth_xml_esc(b, where->name);
	rc = rc ? rc : mcr_buf_puts(b, "\"/></serviceProvider>\n");
	return rc ? (rc == MCR_ENOMEM ? oom() : rc) : res_tail(x, "Encounter");
}

static int gp_coded(ctx *x, const person *p, const char *pid, synth_rng *r, const char *code,
                    const char *display, int32_t day)
{
	char id[37], d[11];
	synth_uuid(r, id);
	synth_date(day, d);
	x->c[p->practice_now].edge[G_CODED]++;
	int rc = ent_begin(x, id);
	rc = rc ? rc : mcr_buf_printf(&x->ent, "   <Observation>\n    <id value=\"%s\"/>\n    <status value=\"final\"/>\n", id);
	rc = rc ? rc : put_coding(&x->ent, "code", "http://snomed.info/sct", code, display);
	rc = rc ? rc : put_ref(x, p, pid, "subject");
	rc = rc ? rc : mcr_buf_printf(&x->ent, "    <effectiveDateTime value=\"%s\"/>\n", d);
	return rc ? (rc == MCR_ENOMEM ? oom() : rc) : res_tail(x, "Observation");
}

static const char OBJ_CODE[] = "416409005";
static const char OBJ_TEXT[] = "Refused consent for upload to local shared electronic record";
static const char CONS_CODE[] = "417528008";
static const char CONS_TEXT[] = "Consent given for upload to local shared electronic record";

static int gp_coded_entries(ctx *x, const person *p, const char *pid)
{
	synth_rng r;
	synth_rng_init(&r, x->o->seed, p->index, ST_GP + 100);
	org_counts *c = &x->c[p->practice_now];
	int32_t b = x->base;
	int rc = 0;
	int32_t d1, d2, d3;
	switch (p->objection) {
	case OBJ_IN_FORCE:
		d1 = synth_range(&r, b - 4000, b - 30);
		rc = gp_coded(x, p, pid, &r, OBJ_CODE, OBJ_TEXT, d1);
		break;
	case OBJ_REOBJECT:
		d1 = synth_range(&r, b - 4000, b - 1000);
		d2 = synth_range(&r, d1 + 1, d1 + 400);
		d3 = synth_range(&r, d2 + 1, b - 30);
		rc = gp_coded(x, p, pid, &r, OBJ_CODE, OBJ_TEXT, d1);
		rc = rc ? rc : gp_coded(x, p, pid, &r, CONS_CODE, CONS_TEXT, d2);
		rc = rc ? rc : gp_coded(x, p, pid, &r, OBJ_CODE, OBJ_TEXT, d3);
		break;
	case OBJ_WITHDRAWN:
		d1 = synth_range(&r, b - 4000, b - 400);
		d2 = synth_range(&r, d1 + 1, b - 30);
		rc = gp_coded(x, p, pid, &r, OBJ_CODE, OBJ_TEXT, d1);
		rc = rc ? rc : gp_coded(x, p, pid, &r, CONS_CODE, CONS_TEXT, d2);
		break;
	case OBJ_CONSENT_ONLY:
		d1 = synth_range(&r, b - 4000, b - 30);
		rc = gp_coded(x, p, pid, &r, CONS_CODE, CONS_TEXT, d1);
		break;
	default:
		break;
	}
	if (!rc && p->objection_day >= 0)
		rc = gp_coded(x, p, pid, &r, OBJ_CODE, OBJ_TEXT, p->objection_day);
	if (!rc && p->type1) {
		c->edge[G_TYPE1]++;
		rc = gp_coded(x, p, pid, &r, "827241000000103",
		              "Dissent from secondary use of general practitioner patient identifiable data",
		              synth_range(&r, b - 3000, b - 30));
	}
	if (p->gp_nhs == NHS_OK) {
		if (p->objection != OBJ_NONE && p->objection != OBJ_CONSENT_ONLY)
			c->edge[G_OBJ_RAISED]++;
		else if (p->objection_day >= 0)
			c->edge[G_OBJ_RAISED]++;
		if (p->objection == OBJ_WITHDRAWN && p->objection_day < 0)
			c->edge[G_OBJ_WITHDRAWN]++;
		if (objection_in_force(p))
			c->edge[G_OBJ_IN_FORCE]++;
		if (p->objection == OBJ_CONSENT_ONLY && p->objection_day < 0)
			c->edge[G_CONSENT_ONLY]++;
	}
	return rc;
}

static int gp_patient(const person *p, const char *pid, mcr_buf *b)
{
	const org_def *o = &orgs[p->practice];
	char birth[11];
	synth_date(p->birth, birth);
	int rc = mcr_buf_printf(b, "  <entry><fullUrl value=\"urn:uuid:%s\"/><resource>\n   <Patient>\n    <id value=\"%s\"/>\n", pid, pid);
	if (!rc && p->gp_nhs != NHS_NONE)
		rc = mcr_buf_printf(b, "    <identifier><system value=\"https://fhir.nhs.uk/Id/nhs-number\"/><value value=\"%s\"/></identifier>\n",
		                    p->gp_nhs == NHS_OK ? p->nhs : p->nhs_bad);
	rc = rc ? rc : mcr_buf_puts(b, "    <name><use value=\"official\"/><family value=\"");
	rc = rc ? rc : synth_xml_esc(b, p->family);
	rc = rc ? rc : mcr_buf_puts(b, "\"/><given value=\"");
	rc = rc ? rc : synth_xml_esc(b, p->given);
	rc = rc ? rc : mcr_buf_printf(b, "\"/></name>\n    <telecom><system value=\"phone\"/><value value=\"%s\"/><use value=\"%s\"/></telecom>\n",
	                              p->phone, p->phone[1] == '7' ? "mobile" : "home");
	rc = rc ? rc : mcr_buf_printf(b, "    <gender value=\"%s\"/>\n    <birthDate value=\"%s\"/>\n",
	                              p->female ? "female" : "male", birth);
	rc = rc ? rc : mcr_buf_printf(b, "    <address><use value=\"home\"/><line value=\"%d ", p->house);
	rc = rc ? rc : synth_xml_esc(b, p->street);
	rc = rc ? rc : mcr_buf_printf(b, "\"/><city value=\"%s\"/><postalCode value=\"%s\"/></address>\n", o->town, p->postcode);
	rc = rc ? rc : mcr_buf_printf(b, "    <generalPractitioner><identifier><system value=\"https://fhir.nhs.uk/Id/ods-organization-code\"/>"
	                              "<value value=\"%s\"/></identifier><display value=\"", orgs[p->practice_now].ods);
	rc = rc ? rc : synth_xml_esc(b, orgs[p->practice_now].name);
	rc = rc ? rc : mcr_buf_puts(b, "\"/></generalPractitioner>\n   </Patient>\n  </resource></entry>\n");
	return rc ? oom() : 0;
}

/* Write Bundle entries (XML text) to the open file in the region's format. */
static int gp_write_entries(ctx *x, gp_state *s, const char *xml, size_t len)
{
	if (x->o->format == SYNTH_XML || len == 0)
		return synth_file_write(&s->f, xml, len);
	mcr_buf_reset(&x->json);
	int rc = synth_fhir_json(&x->json, xml, len, x->o->format == SYNTH_NDJSON, &s->first);
	return rc ? rc : synth_file_write(&s->f, x->json.ptr, x->json.len);
}

static int gp_open_bundle(ctx *x, int g)
{
	gp_state *s = &x->gp[g];
	char path[4200], id[37], asof[11];
	s->bundle++;
	static const char *const ext[] = {"xml", "json", "ndjson"};
	snprintf(path, sizeof(path), "%s/bundle-%04d.%s%s", x->dir[g], s->bundle, ext[x->o->format],
	         x->o->gzip ? ".gz" : "");
	int rc = synth_file_open(&s->f, path, x->o->gzip);
	if (rc)
		return rc;
	s->open = 1;
	s->in_bundle = 0;
	x->c[g].edge[G_BUNDLE_FILES]++;
	synth_rng r;
	synth_rng_init(&r, x->o->seed, (uint64_t)(g * 100000 + s->bundle), ST_BUNDLE);
	synth_uuid(&r, id);
	synth_date(x->o->as_of, asof);
	mcr_buf_reset(&x->tmp);
	s->first = 1;
	if (x->o->format == SYNTH_XML)
		rc = mcr_buf_printf(&x->tmp, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Bundle xmlns=\"http://hl7.org/fhir\">\n"
		                    " <id value=\"%s\"/>\n <type value=\"collection\"/>\n <timestamp value=\"%sT01:30:00Z\"/>\n",
		                    id, asof);
	else if (x->o->format == SYNTH_JSON)
		rc = mcr_buf_printf(&x->tmp, "{\"resourceType\":\"Bundle\",\"id\":\"%s\",\"type\":\"collection\","
		                    "\"timestamp\":\"%sT01:30:00Z\",\"entry\":[\n", id, asof);
	if (rc)
		return oom();
	rc = synth_file_write(&s->f, x->tmp.ptr, x->tmp.len);
	if (!rc && s->deferred.len) {
		rc = gp_write_entries(x, s, s->deferred.ptr, s->deferred.len);
		mcr_buf_reset(&s->deferred);
	}
	return rc;
}

static int gp_close_bundle(ctx *x, int g)
{
	gp_state *s = &x->gp[g];
	if (!s->open)
		return 0;
	static const char *const tail[] = {"</Bundle>\n", "\n]}\n", ""};
	int rc = synth_file_puts(&s->f, tail[x->o->format]);
	int rc2 = synth_file_close(&s->f);
	s->open = 0;
	return rc ? rc : rc2;
}

static int gp_person(ctx *x, const person *p)
{
	int g = p->practice_now;
	gp_state *s = &x->gp[g];
	org_counts *c = &x->c[g];
	synth_rng r, pr;
	char pid[37];
	int rc = 0;

	synth_rng_init(&pr, x->o->seed, p->index, ST_PATID + (uint64_t)g);
	synth_uuid(&pr, pid);
	synth_rng_init(&r, x->o->seed, p->index, ST_GP);
	mcr_buf_reset(&x->ent);
	x->nent = 0;
	x->ent_off[0] = 0;

	c->edge[G_PATIENTS]++;
	if (p->gp_nhs == NHS_BAD)
		c->edge[G_PAT_BAD]++;
	if (p->gp_nhs == NHS_NONE)
		c->edge[G_PAT_NONE]++;
	if (p->moved_in)
		c->edge[G_MOVED_IN]++;
	if (p->gp_nhs == NHS_OK) {
		c->people++;
		c->members++;
		if (objection_in_force(p))
			c->objections++;
	} else {
		c->withheld[MCR_REASON_INVALID_NHS]++;
	}

	/* Content is drawn against the night 1 practice's shares-from so that a
	 * person's record is the same on every night; it is counted against the
	 * practice whose export holds it. */
	int32_t sf = x->sf[p->practice];
	res rs;
	int n = (int)synth_below(&r, 4);
	for (int k = 0; k < n && !rc; k++) {
		draw_res(&r, p, sf, x->base, &rs);
		rc = gp_allergy(x, p, pid, &r, &rs);
		count_res(x, p, &rs, MCR_SECTION_ALLERGIES, G_ALLERGY);
	}
	n = (int)synth_below(&r, 7);
	for (int k = 0; k < n && !rc; k++) {
		draw_res(&r, p, sf, x->base, &rs);
		int st = synth_bp(&r, 6000);
		rc = gp_med(x, p, pid, &r, &rs, st);
		count_res(x, p, &rs, MCR_SECTION_MEDICATIONS, st ? G_MEDSTMT : G_MEDREQ);
	}
	n = (int)synth_below(&r, 6);
	for (int k = 0; k < n && !rc; k++) {
		draw_res(&r, p, sf, x->base, &rs);
		rc = gp_condition(x, p, pid, &r, &rs);
		count_res(x, p, &rs, MCR_SECTION_PROBLEMS, G_COND);
	}
	n = (int)synth_below(&r, 5);
	for (int k = 0; k < n && !rc; k++) {
		draw_res(&r, p, sf, x->base, &rs);
		rc = gp_immunization(x, p, pid, &r, &rs);
		count_res(x, p, &rs, MCR_SECTION_IMMUNISATIONS, G_IMM);
	}
	n = (int)synth_below(&r, 7);
	for (int k = 0; k < n && !rc; k++) {
		draw_res(&r, p, sf, x->base, &rs);
		rc = gp_observation(x, p, pid, &r, &rs);
		count_res(x, p, &rs, MCR_SECTION_RESULTS, G_OBS);
	}
	n = 1 + (int)synth_below(&r, 5);
	for (int k = 0; k < n && !rc; k++) {
		draw_res(&r, p, sf, x->base, &rs);
		rc = gp_encounter(x, p, pid, &r, &rs, p->moved_in && k < (n + 1) / 2);
		count_res(x, p, &rs, MCR_SECTION_ENCOUNTERS, G_ENC);
	}
	if (!rc && p->new_allergy_day >= 0) {
		synth_rng nr;
		synth_rng_init(&nr, x->o->seed, p->index, ST_NIGHT + 100);
		synth_uuid(&nr, rs.id);
		rs.eie = 0;
		rs.conf = 0;
		rs.sensitive = 0;
		rs.date = p->new_allergy_day;
		synth_date(rs.date, rs.d);
		rc = gp_allergy(x, p, pid, &nr, &rs);
		count_res(x, p, &rs, MCR_SECTION_ALLERGIES, G_ALLERGY);
	}
	rc = rc ? rc : gp_coded_entries(x, p, pid);
	if (rc)
		return rc;

	/* Placement: some entries before the Patient, some in the next file. */
	int pre = p->before_patient ? 1 + (int)synth_below(&pr, 2) : 0;
	int defer = p->deferred ? 1 + (int)synth_below(&pr, 2) : 0;
	if (pre > x->nent)
		pre = x->nent;
	if (defer > x->nent - pre)
		defer = x->nent - pre;
	c->edge[G_BEFORE_PAT] += pre;
	c->edge[G_LATER_FILE] += defer;

	if (!s->open || s->in_bundle >= BUNDLE_PATIENTS) {
		rc = gp_close_bundle(x, g);
		rc = rc ? rc : gp_open_bundle(x, g);
		if (rc)
			return rc;
	}
	s->in_bundle++;
	const char *e = x->ent.ptr ? x->ent.ptr : "";
	size_t pre_end = x->ent_off[pre], keep_end = x->ent_off[x->nent - defer];
	mcr_buf_reset(&x->tmp);
	rc = gp_patient(p, pid, &x->tmp);
	rc = rc ? rc : gp_write_entries(x, s, e, pre_end);
	rc = rc ? rc : gp_write_entries(x, s, x->tmp.ptr, x->tmp.len);
	rc = rc ? rc : gp_write_entries(x, s, e + pre_end, keep_end - pre_end);
	if (!rc && defer && mcr_buf_put(&s->deferred, e + keep_end, x->ent.len - keep_end))
		rc = oom();
	return rc;
}

static int gp_finish(ctx *x)
{
	for (int g = 0; g < NGP; g++) {
		gp_state *s = &x->gp[g];
		int rc = gp_close_bundle(x, g);
		/* Resources held for the next file after the last: a file without a Patient.
		 * A practice nobody joined still exports one (empty) bundle. */
		if (!rc && (s->deferred.len || s->bundle == 0)) {
			rc = gp_open_bundle(x, g);
			rc = rc ? rc : gp_close_bundle(x, g);
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- LCS: CSV ------------------------------------------------------------------ */

static const char *const lcs_types_children[] = {
	"Child in Need", "Child Protection Plan", "Looked After Child", "Assessment",
};
static const char *const lcs_types_adults[] = { "Assessment", "Care Package", "Safeguarding Enquiry" };
static const char *const lcs_teams_children[] = {
	"Hertford Children's Services", "Stevenage Family Safeguarding Team",
	"Looked After Children Team", "Disabled Children's Service",
};
static const char *const lcs_teams_adults[] = {
	"Adult Care Services, East Herts", "Hospital Discharge Team (Lister)",
	"Stevenage Adult Disability Service", "Safeguarding Adults Team",
};
/* Involvement summaries by service: ordinary, with line breaks, with quotes. */
static const char *const lcs_summaries[2][6] = {
	{ "Referral received from school regarding attendance and wellbeing.",
	  "Home visit completed; family engaging with the plan, review in 6 weeks.",
	  "Strategy discussion held with police and health colleagues.",
	  "Placement with foster carers stable; contact with birth family weekly.",
	  "Pre-birth assessment requested by the midwife.",
	  "Child seen alone, room seen; school & health visitor updated." },
	{ "Package of care: two calls a day for personal care, reviewed with daughter.",
	  "Assessment of needs completed, eligible needs identified under the Care Act 2014.",
	  "Occupational therapy assessment requested for bathing equipment.",
	  "Carer's assessment offered to spouse & accepted.",
	  "Hospital discharge: reablement for 6 weeks, then review.",
	  "Section 42 enquiry closed, no further action; advice given." },
};
static const char *const lcs_multiline[2][2] = {
	{ "Visit 1: parent at home, children seen.\nVisit 2: no answer, card left.\nFollow-up booked.",
	  "Core group meeting held.\nActions: school to monitor attendance; social worker to visit weekly." },
	{ "Review meeting held.\nActions: GP to review medication; social worker to update the plan.",
	  "Call from daughter.\nMother fell at home last night, not injured.\nFalls referral made." },
};
static const char *const lcs_quoted[2][2] = {
	{ "Young person said \"I feel safe at home now\" and wants contact to continue.",
	  "Mother said the children are \"doing much better\" since the move." },
	{ "Daughter reports mother \"is not coping\" at night, increased calls agreed.",
	  "He said he \"just wants to stay in his own home\"; wishes recorded." },
};

static int lcs_open(ctx *x)
{
	char path[4200];
	static const char bom[] = "\xEF\xBB\xBF";
	snprintf(path, sizeof(path), "%s/persons.csv", x->dir[LCS]);
	int rc = synth_file_open(&x->persons, path, 0);
	rc = rc ? rc : synth_file_puts(&x->persons, bom);
	rc = rc ? rc : synth_file_puts(&x->persons, "person_id,nhs_number,family_name,given_name,birth_date,service,share_consent,consent_date\r\n");
	snprintf(path, sizeof(path), "%s/involvements.csv", x->dir[LCS]);
	rc = rc ? rc : synth_file_open(&x->involvements, path, 0);
	rc = rc ? rc : synth_file_puts(&x->involvements, bom);
	rc = rc ? rc : synth_file_puts(&x->involvements, "person_id,involvement_id,type,start_date,end_date,team,worker_name,worker_phone,summary\r\n");
	return rc;
}

static int csv_row(synth_file *f, mcr_buf *b, const char *const *fields, int n)
{
	mcr_buf_reset(b);
	for (int i = 0; i < n; i++) {
		if ((i && mcr_buf_putc(b, ',')) || synth_csv_field(b, fields[i]))
			return oom();
	}
	if (mcr_buf_puts(b, "\r\n"))
		return oom();
	return synth_file_write(f, b->ptr, b->len);
}

static int lcs_person(ctx *x, const person *p)
{
	org_counts *c = &x->c[LCS];
	synth_rng r;
	synth_rng_init(&r, x->o->seed, p->index, ST_LCS);
	char pid[16], nhs[16], birth[11], cdate[11] = "", consent[2] = "";
	snprintf(pid, sizeof(pid), "P%07u", p->index + 1);
	switch (p->lcs_nhs) {
	case NHS_OK: snprintf(nhs, sizeof(nhs), "%s", p->nhs); break;
	case NHS_BAD: snprintf(nhs, sizeof(nhs), "%s", p->nhs_bad); break;
	case NHS_SPACED: snprintf(nhs, sizeof(nhs), "%.3s %.3s %.4s", p->nhs, p->nhs + 3, p->nhs + 6); break;
	default: nhs[0] = '\0'; break;
	}
	synth_date(p->birth, birth);
	int adult = x->base - p->birth >= 18 * 365 + 4;
	int32_t lo = p->birth > synth_days(2012, 1, 1) ? p->birth : synth_days(2012, 1, 1);
	int32_t cday = synth_range(&r, lo, x->base - 1);
	int cons = p->consent;
	if (p->withdrawn_day >= 0) {
		cons = 'N';
		cday = p->withdrawn_day;
	}
	if (cons) {
		consent[0] = (char)cons;
		synth_date(cday, cdate);
	}
	const char *row[8] = { pid, nhs, p->family, p->given, birth, adult ? "adults" : "children", consent, cdate };
	int rc = csv_row(&x->persons, &x->tmp, row, 8);

	c->edge[L_ROWS]++;
	int valid = lcs_valid(p);
	if (p->lcs_nhs == NHS_BAD)
		c->edge[L_BAD]++;
	if (p->lcs_nhs == NHS_NONE)
		c->edge[L_NHS_EMPTY]++;
	if (p->lcs_nhs == NHS_SPACED)
		c->edge[L_SPACED]++;
	if (valid)
		c->edge[cons == 'Y' ? L_Y : cons == 'N' ? L_N : L_EMPTY]++;
	if (p->n_inv == 0)
		c->edge[L_NO_INV]++;

	int any_open = 0;
	for (int k = 0; k < p->n_inv && !rc; k++) {
		char iid[24], start[11], end[11] = "", phone[16], worker[112];
		snprintf(iid, sizeof(iid), "INV%07u%u", p->index + 1, (unsigned)k + 1);
		const char *type = adult ? lcs_types_adults[synth_below(&r, 3)] : lcs_types_children[synth_below(&r, 4)];
		const char *team = adult ? lcs_teams_adults[synth_below(&r, 4)] : lcs_teams_children[synth_below(&r, 4)];
		int32_t sday = synth_range(&r, lo, x->base - 10);
		int open = synth_bp(&r, 4500) || sday + 30 > x->base - 1;
		synth_date(sday, start);
		if (!open)
			synth_date(synth_range(&r, sday + 30, x->base - 1), end);
		int wf = synth_bp(&r, 7000);
		snprintf(worker, sizeof(worker), "%s %s",
		         wf ? synth_given_f[synth_below(&r, (uint32_t)synth_ngiven_f)] : synth_given_m[synth_below(&r, (uint32_t)synth_ngiven_m)],
		         synth_family[synth_below(&r, (uint32_t)synth_nfamily)]);
		snprintf(phone, sizeof(phone), "01632 96%04u", synth_below(&r, 10000));
		uint32_t u = synth_below(&r, 100);
		const char *summary;
		if (u < 10) {
			summary = lcs_multiline[adult][synth_below(&r, 2)];
			c->edge[L_MULTILINE]++;
		} else if (u < 20) {
			summary = lcs_quoted[adult][synth_below(&r, 2)];
			c->edge[L_QUOTES]++;
		} else {
			summary = lcs_summaries[adult][synth_below(&r, 6)];
		}
		const char *f[9] = { pid, iid, type, start, end, team, worker, phone, summary };
		rc = csv_row(&x->involvements, &x->tmp, f, 9);
		c->edge[L_INV_ROWS]++;
		c->edge[open ? L_OPEN : L_CLOSED]++;
		any_open |= open;
	}
	if (!valid) {
		c->withheld[MCR_REASON_INVALID_NHS]++;
		return rc;
	}
	if (any_open)
		c->members++;
	if (cons == 'Y') {
		c->people++;
		c->items += p->n_inv;
		c->sections[MCR_SECTION_SOCIAL_CARE] += p->n_inv;
	} else {
		c->withheld[MCR_REASON_NO_CONSENT]++;
	}
	return rc;
}

/* ---- OOH: CDA documents ----------------------------------------------------- */

/* \001 marks where the HL7 namespace prefix goes ("" or "hl7:"). */
#define P "\001"

enum { ID_VERIFIED, ID_UNVERIFIED, ID_NONE, ID_BAD };
enum { OUT_CLIN_AUTHOR, OUT_CLIN_PART, OUT_NONCLIN };

static const synth_code clin_roles[] = {
	{ "R8000", "Clinical Practitioner Access Role" },
	{ "R8001", "Nurse Access Role" },
	{ "R8003", "Health Professional Access Role" },
};
static const synth_code nonclin_roles[] = {
	{ "R8010", "Clerical Access Role" },
	{ "R8008", "Admin/Clinical Support Access Role" },
};
static const char *const reasons[] = {
	"Chest pain", "Abdominal pain", "Fever in a child under 5", "Dental pain", "Rash",
	"Repeat prescription request", "Headache", "Back pain", "Cough and breathlessness",
	"Urinary symptoms", "Medication query",
};
static const char *const clin_outcomes[] = {
	"Speak to own GP practice within 2 hours", "Self care advice given by clinician",
	"Attend urgent treatment centre within 4 hours", "Emergency supply of medication arranged",
	"Home visit by out-of-hours GP",
};
static const char *const nonclin_outcomes[] = {
	"Health information given; no clinical contact required",
	"Caller redirected to own GP practice in hours", "Dental service details given",
	"Caller declined clinical call back",
};
static const char *const advice[] = {
	"Call 999 or attend A&E if symptoms get worse",
	"Take paracetamol as directed on the packet",
	"Drink plenty of fluids and rest",
	"Call NHS 111 again if you're worried",
	"Contact your GP practice if not better in 48 hours",
};

static int esc_put(mcr_buf *b, const char *s)
{
	return synth_xml_esc(b, s) ? oom() : 0;
}

static int cda_person(mcr_buf *b, const char *elem, const char *given, const char *family)
{
	int rc = mcr_buf_printf(b, "<" P "%s classCode=\"PSN\" determinerCode=\"INSTANCE\"><" P "name><" P "given>", elem);
	rc = rc ? rc : synth_xml_esc(b, given);
	rc = rc ? rc : mcr_buf_puts(b, "</" P "given><" P "family>");
	rc = rc ? rc : synth_xml_esc(b, family);
	rc = rc ? rc : mcr_buf_printf(b, "</" P "family></" P "name></" P "%s>\n", elem);
	return rc ? oom() : 0;
}

static void staff_name(synth_rng *r, char *given, size_t ng, char *family, size_t nf)
{
	int f = synth_bp(r, 6000);
	snprintf(given, ng, "%s", f ? synth_given_f[synth_below(r, (uint32_t)synth_ngiven_f)]
	                            : synth_given_m[synth_below(r, (uint32_t)synth_ngiven_m)]);
	snprintf(family, nf, "%s", synth_family[synth_below(r, (uint32_t)synth_nfamily)]);
}

static int cda_role_entity(mcr_buf *b, synth_rng *r, const char *wrap, const synth_code *role, const char *ods,
                           const char *orgname)
{
	char given[48], family[64];
	staff_name(r, given, sizeof(given), family, sizeof(family));
	int rc = mcr_buf_printf(b, "<" P "%s classCode=\"ASSIGNED\">\n"
	                        "<" P "id root=\"2.16.840.1.113883.2.1.3.2.4.18.24\" extension=\"%s-%04u\" assigningAuthorityName=\"%s\"/>\n"
	                        "<" P "code code=\"%s\" codeSystem=\"2.16.840.1.113883.2.1.3.2.4.17.196\" displayName=\"%s\"/>\n",
	                        wrap, ods, synth_below(r, 10000), ods, role->code, role->display);
	rc = rc ? rc : cda_person(b, "assignedPerson", given, family);
	rc = rc ? rc : mcr_buf_printf(b, "<" P "representedOrganization classCode=\"ORG\" determinerCode=\"INSTANCE\">"
	                              "<" P "id root=\"2.16.840.1.113883.2.1.3.2.4.19.1\" extension=\"%s\"/><" P "name>", ods);
	rc = rc ? rc : synth_xml_esc(b, orgname);
	rc = rc ? rc : mcr_buf_printf(b, "</" P "name></" P "representedOrganization>\n</" P "%s>\n", wrap);
	return rc ? oom() : 0;
}

static void cda_time(int64_t t, char out[24])
{
	int32_t day = (int32_t)(t / 86400);
	int s = (int)(t % 86400), y, m, d;
	synth_ymd(day, &y, &m, &d);
	snprintf(out, 24, "%04u%02u%02u%02u%02u%02u+0000", (unsigned)y % 10000u, (unsigned)m % 100u, (unsigned)d % 100u, (unsigned)s / 3600u % 100u, (unsigned)s / 60u % 60u, (unsigned)s % 60u);
}

static int ooh_case(ctx *x, const person *p, synth_rng *r, int *member, int *shared)
{
	org_counts *c = &x->c[OOH];
	const org_def *o = &orgs[OOH];
	mcr_buf *b = &x->doc;
	long no = ++x->case_seq;
	int recent_band = synth_bp(r, 5000);
	int32_t d = recent_band ? synth_range(r, 1, 82) : synth_range(r, 92, 730);
	int64_t t = (int64_t)(x->base - d) * 86400 + synth_below(r, 86400);
	int64_t t_end = t + 600 + synth_below(r, 2400);
	uint32_t u = synth_below(r, 100);
	int id = u < 88 ? ID_VERIFIED : u < 94 ? ID_UNVERIFIED : u < 98 ? ID_NONE : ID_BAD;
	u = synth_below(r, 100);
	int out = u < 50 ? OUT_CLIN_AUTHOR : u < 70 ? OUT_CLIN_PART : OUT_NONCLIN;
	int env = synth_bp(r, 2500);
	int handler_participant = out != OUT_NONCLIN || synth_bp(r, 5000);
	const synth_code *clin = &clin_roles[synth_below(r, 3)];
	const synth_code *handler = &nonclin_roles[synth_below(r, 2)];
	const char *reason = reasons[synth_below(r, (uint32_t)SYNTH_N(reasons))];
	const char *outcome = out == OUT_NONCLIN ? nonclin_outcomes[synth_below(r, (uint32_t)SYNTH_N(nonclin_outcomes))]
	                                         : clin_outcomes[synth_below(r, (uint32_t)SYNTH_N(clin_outcomes))];
	char docid[37], setid[37], track[37], ts[24], te[24], birth[11];
	synth_uuid(r, docid);
	synth_uuid(r, setid);
	synth_uuid(r, track);
	cda_time(t, ts);
	cda_time(t_end, te);
	synth_date(p->birth, birth);

	/* Counting rules. */
	int recent = x->extract_time - t <= (int64_t)RECENT_DAYS * 86400 && t <= x->extract_time;
	c->edge[O_CASES]++;
	c->edge[id == ID_VERIFIED ? O_VERIFIED : id == ID_UNVERIFIED ? O_UNVERIFIED : id == ID_NONE ? O_NONE : O_BAD]++;
	c->edge[out == OUT_CLIN_AUTHOR ? O_CLIN_AUTHOR : out == OUT_CLIN_PART ? O_CLIN_PART : O_NONCLIN]++;
	if (env)
		c->edge[O_ENVELOPED]++;
	if (recent)
		c->edge[O_RECENT]++;
	if (id != ID_VERIFIED) {
		c->withheld[MCR_REASON_UNMATCHED]++;
	} else {
		*member |= recent;
		if (out == OUT_NONCLIN) {
			c->withheld[MCR_REASON_NO_CLINICAL_CONTACT]++;
		} else {
			c->items++;
			c->sections[MCR_SECTION_MISC_REPORTS]++;
			*shared = 1;
		}
	}

	mcr_buf_reset(b);
	int rc = mcr_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	if (!rc && env)
		rc = mcr_buf_printf(b, "<itk:DistributionEnvelope xmlns:itk=\"urn:nhs-itk:ns:201005\">\n"
		                    "<itk:header service=\"urn:nhs-itk:services:201005:SendNHS111Report-v2-0\" trackingid=\"%s\">\n"
		                    "<itk:auditIdentity><itk:id uri=\"urn:nhs-uk:identity:ods:%s\"/></itk:auditIdentity>\n"
		                    "<itk:manifest count=\"1\"><itk:manifestitem mimetype=\"text/xml\" id=\"uuid_%s\" profileid=\"urn:nhs-en:profile:nhs111CDADocument-v2-0\"/></itk:manifest>\n"
		                    "<itk:senderAddress uri=\"urn:nhs-uk:addressing:ods:%s\"/>\n"
		                    "<itk:handlingSpecification><itk:spec key=\"urn:nhs-itk:ns:201005:interaction\" value=\"urn:nhs-itk:interaction:primaryRecipientNHS111CDADocument-v2-0\"/></itk:handlingSpecification>\n"
		                    "</itk:header>\n<itk:payloads count=\"1\">\n<itk:payload id=\"uuid_%s\">\n",
		                    track, o->ods, docid, o->ods, docid);
	rc = rc ? rc : mcr_buf_printf(b, "<" P "ClinicalDocument %s=\"urn:hl7-org:v3\" xmlns:npfitlc=\"NPFIT:HL7:Localisation\" classCode=\"DOCCLIN\" moodCode=\"EVN\">\n"
	                              "<" P "typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>\n"
	                              "<npfitlc:messageType root=\"2.16.840.1.113883.2.1.3.2.4.18.17\" extension=\"POCD_MT200001GB02\"/>\n"
	                              "<" P "id root=\"%s\"/>\n"
	                              "<" P "code code=\"1066271000000101\" codeSystem=\"2.16.840.1.113883.2.1.3.2.4.15\"/>\n"
	                              "<" P "title>NHS 111 Report</" P "title>\n"
	                              "<" P "effectiveTime value=\"%s\"/>\n"
	                              "<" P "confidentialityCode code=\"N\" codeSystem=\"2.16.840.1.113883.1.11.16926\" displayName=\"normal\"/>\n"
	                              "<" P "setId root=\"%s\"/>\n<" P "versionNumber value=\"1\"/>\n"
	                              "<" P "recordTarget typeCode=\"RCT\" contextControlCode=\"OP\">\n"
	                              "<npfitlc:contentId root=\"2.16.840.1.113883.2.1.3.2.4.18.16\" extension=\"COCD_TP145201GB01#PatientRole\"/>\n"
	                              "<" P "patientRole classCode=\"PAT\">\n"
	                              "<" P "templateId root=\"2.16.840.1.113883.2.1.3.2.4.18.2\" extension=\"COCD_TP145201GB01#PatientRole\"/>\n"
	                              "<" P "id root=\"2.16.840.1.113883.2.1.3.2.4.18.24\" extension=\"HUC%07ld\" assigningAuthorityName=\"%s\"/>\n",
	                              env ? "xmlns:hl7" : "xmlns", docid, ts, setid, no, o->ods);
	if (!rc && id != ID_NONE)
		rc = mcr_buf_printf(b, "<" P "id root=\"%s\" extension=\"%s\"/>\n",
		                    id == ID_UNVERIFIED ? "2.16.840.1.113883.2.1.3.2.4.18.23" : "2.16.840.1.113883.2.1.4.1",
		                    id == ID_BAD ? p->nhs_bad : p->nhs);
	rc = rc ? rc : mcr_buf_printf(b, "<" P "addr use=\"H\"><" P "streetAddressLine>%d ", p->house);
	rc = rc ? rc : esc_put(b, p->street);
	rc = rc ? rc : mcr_buf_printf(b, "</" P "streetAddressLine><" P "city>%s</" P "city><" P "postalCode>%s</" P "postalCode></" P "addr>\n"
	                              "<" P "telecom value=\"tel:%.5s%s\" use=\"H\"/>\n",
	                              orgs[p->practice].town, p->postcode, p->phone, p->phone + 6);
	rc = rc ? rc : mcr_buf_puts(b, "<" P "patient classCode=\"PSN\" determinerCode=\"INSTANCE\"><" P "name><" P "given>");
	rc = rc ? rc : esc_put(b, p->given);
	rc = rc ? rc : mcr_buf_puts(b, "</" P "given><" P "family>");
	rc = rc ? rc : esc_put(b, p->family);
	rc = rc ? rc : mcr_buf_printf(b, "</" P "family></" P "name>\n"
	                              "<" P "administrativeGenderCode codeSystem=\"2.16.840.1.113883.2.1.3.2.4.16.25\" code=\"%s\" displayName=\"%s\"/>\n"
	                              "<" P "birthTime value=\"%.4s%.2s%.2s\"/></" P "patient>\n</" P "patientRole>\n</" P "recordTarget>\n",
	                              p->female ? "2" : "1", p->female ? "Female" : "Male", birth, birth + 5, birth + 8);
	rc = rc ? rc : mcr_buf_printf(b, "<" P "author typeCode=\"AUT\" contextControlCode=\"OP\">\n"
	                              "<npfitlc:contentId root=\"2.16.840.1.113883.2.1.3.2.4.18.16\" extension=\"COCD_TP145200GB01#AssignedAuthor\"/>\n"
	                              "<" P "functionCode code=\"OA\" displayName=\"Originating Author\" codeSystem=\"2.16.840.1.113883.2.1.3.2.4.17.178\"/>\n"
	                              "<" P "time value=\"%s\"/>\n", te);
	rc = rc ? rc : cda_role_entity(b, r, "assignedAuthor", out == OUT_CLIN_AUTHOR ? clin : handler, o->ods, "Herts Urgent Care");
	rc = rc ? rc : mcr_buf_printf(b, "</" P "author>\n"
	                              "<" P "custodian typeCode=\"CST\"><" P "assignedCustodian classCode=\"ASSIGNED\">"
	                              "<" P "representedCustodianOrganization classCode=\"ORG\" determinerCode=\"INSTANCE\">"
	                              "<" P "id root=\"2.16.840.1.113883.2.1.3.2.4.19.1\" extension=\"%s\"/><" P "name>Herts Urgent Care</" P "name>"
	                              "</" P "representedCustodianOrganization></" P "assignedCustodian></" P "custodian>\n"
	                              "<" P "componentOf typeCode=\"COMP\">\n"
	                              "<npfitlc:contentId root=\"2.16.840.1.113883.2.1.3.2.4.18.16\" extension=\"COCD_TP146232GB01#EncompassingEncounter\"/>\n"
	                              "<" P "encompassingEncounter classCode=\"ENC\" moodCode=\"EVN\">\n"
	                              "<" P "id root=\"2.16.840.1.113883.2.1.3.2.4.18.34\" extension=\"CASE%07ld\"/>\n"
	                              "<" P "code code=\"NHS111Encounter\" codeSystem=\"2.16.840.1.113883.2.1.3.2.4.17.326\" displayName=\"NHS111 Encounter\"/>\n"
	                              "<" P "effectiveTime><" P "low value=\"%s\"/><" P "high value=\"%s\"/></" P "effectiveTime>\n",
	                              o->ods, no, ts, te);
	if (!rc && handler_participant) {
		rc = mcr_buf_puts(b, "<" P "encounterParticipant typeCode=\"ADM\">\n");
		rc = rc ? rc : cda_role_entity(b, r, "assignedEntity", handler, o->ods, "Herts Urgent Care");
		rc = rc ? rc : mcr_buf_puts(b, "</" P "encounterParticipant>\n");
	}
	if (!rc && out == OUT_CLIN_PART) {
		rc = mcr_buf_puts(b, "<" P "encounterParticipant typeCode=\"CON\">\n");
		rc = rc ? rc : cda_role_entity(b, r, "assignedEntity", clin, o->ods, "Herts Urgent Care");
		rc = rc ? rc : mcr_buf_puts(b, "</" P "encounterParticipant>\n");
	}
	rc = rc ? rc : mcr_buf_puts(b, "</" P "encompassingEncounter>\n</" P "componentOf>\n"
	                            "<" P "component typeCode=\"COMP\" contextConductionInd=\"true\">\n"
	                            "<" P "structuredBody classCode=\"DOCBODY\" moodCode=\"EVN\">\n");
	/* Sections: title and narrative text. */
	char sid[37];
	synth_uuid(r, sid);
	rc = rc ? rc : mcr_buf_printf(b, "<" P "component typeCode=\"COMP\" contextConductionInd=\"true\"><" P "section classCode=\"DOCSECT\" moodCode=\"EVN\">\n"
	                              "<" P "id root=\"%s\"/>\n<" P "title>Reason for Call</" P "title>\n<" P "text><" P "paragraph>", sid);
	rc = rc ? rc : esc_put(b, reason);
	rc = rc ? rc : mcr_buf_puts(b, "</" P "paragraph></" P "text>\n</" P "section></" P "component>\n");
	if (!rc && out != OUT_NONCLIN) {
		synth_uuid(r, sid);
		rc = mcr_buf_printf(b, "<" P "component typeCode=\"COMP\" contextConductionInd=\"true\"><" P "section classCode=\"DOCSECT\" moodCode=\"EVN\">\n"
		                    "<" P "id root=\"%s\"/>\n<" P "title>Clinical Assessment</" P "title>\n<" P "text>\n"
		                    "<" P "paragraph>Assessed by telephone by a %s.</" P "paragraph>\n"
		                    "<" P "paragraph>Observations reported by caller: alert, breathing normally, no red flags identified.</" P "paragraph>\n"
		                    "</" P "text>\n</" P "section></" P "component>\n", sid,
		                    clin->code[4] == '1' ? "nurse" : "clinician");
	}
	synth_uuid(r, sid);
	rc = rc ? rc : mcr_buf_printf(b, "<" P "component typeCode=\"COMP\" contextConductionInd=\"true\"><" P "section classCode=\"DOCSECT\" moodCode=\"EVN\">\n"
	                              "<" P "id root=\"%s\"/>\n<" P "title>Advice Given</" P "title>\n<" P "text><" P "list>\n", sid);
	int na = 1 + (int)synth_below(r, 3);
	for (int k = 0; k < na && !rc; k++) {
		rc = mcr_buf_puts(b, "<" P "item>");
		rc = rc ? rc : esc_put(b, advice[(k + (int)synth_below(r, 5)) % 5]);
		rc = rc ? rc : mcr_buf_puts(b, "</" P "item>\n");
	}
	rc = rc ? rc : mcr_buf_puts(b, "</" P "list></" P "text>\n</" P "section></" P "component>\n");
	synth_uuid(r, sid);
	rc = rc ? rc : mcr_buf_printf(b, "<" P "component typeCode=\"COMP\" contextConductionInd=\"true\"><" P "section classCode=\"DOCSECT\" moodCode=\"EVN\">\n"
	                              "<" P "id root=\"%s\"/>\n<" P "title>Outcome</" P "title>\n<" P "text><" P "paragraph>", sid);
	rc = rc ? rc : esc_put(b, outcome);
	rc = rc ? rc : mcr_buf_puts(b, "</" P "paragraph></" P "text>\n</" P "section></" P "component>\n"
	                            "</" P "structuredBody>\n</" P "component>\n</" P "ClinicalDocument>\n");
	if (!rc && env)
		rc = mcr_buf_puts(b, "</itk:payload>\n</itk:payloads>\n</itk:DistributionEnvelope>\n");
	if (rc)
		return rc == MCR_ENOMEM ? oom() : rc;

	/* Substitute the prefix marker. */
	const char *prefix = env ? "hl7:" : "";
	size_t plen = strlen(prefix);
	mcr_buf_reset(&x->tmp);
	const char *s = b->ptr, *run = s;
	for (; *s; s++) {
		if (*s == '\001') {
			if (mcr_buf_put(&x->tmp, run, (size_t)(s - run)) || mcr_buf_put(&x->tmp, prefix, plen))
				return oom();
			run = s + 1;
		}
	}
	if (mcr_buf_put(&x->tmp, run, (size_t)(s - run)))
		return oom();

	char path[4200];
	synth_file f;
	snprintf(path, sizeof(path), "%s/case-%07ld.xml%s", x->dir[OOH], no, x->o->gzip ? ".gz" : "");
	rc = synth_file_open(&f, path, x->o->gzip);
	if (rc)
		return rc;
	rc = synth_file_write(&f, x->tmp.ptr, x->tmp.len);
	int rc2 = synth_file_close(&f);
	return rc ? rc : rc2;
}

#undef P

static int ooh_person(ctx *x, const person *p, int *in_ooh)
{
	synth_rng r;
	synth_rng_init(&r, x->o->seed, p->index, ST_OOH);
	int member = 0, shared = 0, rc = 0, verified = 0;
	for (int k = 0; k < p->n_cases && !rc; k++) {
		long before = x->c[OOH].edge[O_VERIFIED];
		rc = ooh_case(x, p, &r, &member, &shared);
		verified |= x->c[OOH].edge[O_VERIFIED] != before;
	}
	x->c[OOH].members += member;
	x->c[OOH].people += shared;
	*in_ooh = verified;
	return rc;
}

/* ---- mcr.yaml -------------------------------------------------------------------- */

static int write_config(ctx *x)
{
	mcr_buf b = MCR_BUF_INIT;
	int rc = mcr_buf_puts(&b,
		"# Sample region written by mcr-synth (docs/SYNTH.md). Paths are relative to this file.\n"
		"region: East and North Hertfordshire (sample)\n"
		"paths:\n"
		"  staging: staging\n  archive: archive\n  quarantine: quarantine\n  store: store\n"
		"  audit: audit/audit.sqlite\n  log: log/mcr.log\n  lock: run/mcr.lock\n"
		"retention:\n  generations: 3\n  archive_days: 30\n"
		"organisations:\n");
	for (int g = 0; g < NORGS && !rc; g++)
		rc = mcr_buf_printf(&b, "  - ods: %s\n    name: \"%s\"\n    kind: %s\n    schedule: %s\n"
		                    "    shares_from: %s\n    caldicott: \"%s\"\n    source: sources/%s/%s\n",
		                    orgs[g].ods, orgs[g].name, orgs[g].kind, orgs[g].schedule, orgs[g].shares_from,
		                    orgs[g].caldicott, orgs[g].kind, orgs[g].ods);
	rc = rc ? rc : mcr_buf_puts(&b, "policy:\n  consent_at_point_of_care: implied\n"
	                            "  objection_codes: [416409005]\n  consent_codes: [417528008]\n"
	                            "  sensitive_codes: [");
	for (size_t k = 0; k < synth_nsensitive && !rc; k++)
		rc = mcr_buf_printf(&b, "%s%s", k ? ", " : "", synth_sensitive[k].code);
	rc = rc ? rc : mcr_buf_printf(&b, "]\n  clinician_roles: [%s, %s, %s]\n  ooh_recent_days: %d\n",
	                              clin_roles[0].code, clin_roles[1].code, clin_roles[2].code, RECENT_DAYS);
	rc = rc ? rc : mcr_buf_puts(&b, "  roles:\n"
	                            "    clinician: [demographics, allergies, medications, problems, immunisations,\n"
	                            "                results, encounters, social-care, misc-reports]\n"
	                            "    social-worker: [demographics, allergies, medications, social-care]\n"
	                            "  staff:\n");
	for (int s = 0; s < 4 && !rc; s++)
		rc = mcr_buf_printf(&b, "    - user: %s\n      nhs: \"%s\"\n", x->staff[s].user, x->staff[s].nhs);
	if (rc) {
		mcr_buf_free(&b);
		return oom();
	}
	char path[4200];
	snprintf(path, sizeof(path), "%s/mcr.yaml", x->o->out);
	synth_file f;
	rc = synth_file_open(&f, path, 0);
	rc = rc ? rc : synth_file_write(&f, b.ptr, b.len);
	int rc2 = synth_file_close(&f);
	mcr_buf_free(&b);
	return rc ? rc : rc2;
}

/* ---- summary ---------------------------------------------------------------------- */

static void print_summary(ctx *x, FILE *out)
{
	synth_sum s = { 0 };
	char d[11];
	s.out = out;
	s.flat = x->o->flat;
	if (!s.flat)
		fputs("# mcr-synth summary (docs/SYNTH.md)\n", out);
	synth_sum_map(&s, "synth");
	synth_sum_str(&s, "version", MCR_VERSION, 0);
	char seed[32];
	snprintf(seed, sizeof(seed), "%llu", (unsigned long long)x->o->seed);
	synth_sum_str(&s, "seed", seed, 0);
	synth_sum_int(&s, "people", x->o->people);
	synth_sum_int(&s, "night", x->o->night);
	synth_date(x->base, d);
	synth_sum_str(&s, "night1_date", d, 0);
	synth_date(x->o->as_of, d);
	synth_sum_str(&s, "as_of", d, 0);
	char et[32];
	snprintf(et, sizeof(et), "%sT06:00:00Z", d);
	synth_sum_str(&s, "extract_time", et, 0);
	synth_sum_str(&s, "gzip", x->o->gzip ? "true" : "false", 0);
	synth_sum_end(&s);

	synth_sum_map(&s, "organisations");
	for (int g = 0; g < NORGS; g++) {
		const org_counts *c = &x->c[g];
		char src[64];
		synth_sum_map(&s, orgs[g].ods);
		synth_sum_str(&s, "kind", orgs[g].kind, 0);
		synth_sum_str(&s, "name", orgs[g].name, 1);
		synth_sum_str(&s, "shares_from", orgs[g].shares_from, 0);
		snprintf(src, sizeof(src), "sources/%s/%s", orgs[g].kind, orgs[g].ods);
		synth_sum_str(&s, "source", src, 0);
		synth_sum_map(&s, "counts");
		synth_sum_int(&s, "people", c->people);
		synth_sum_int(&s, "members", c->members);
		synth_sum_int(&s, "items", c->items);
		synth_sum_int(&s, "objections", c->objections);
		synth_sum_map(&s, "sections");
		for (int k = 0; k < MCR_SECTION_COUNT; k++)
			synth_sum_int(&s, mcr_section_name((mcr_section)k), c->sections[k]);
		synth_sum_end(&s);
		synth_sum_map(&s, "withheld");
		for (int k = 0; k < MCR_REASON_COUNT; k++)
			synth_sum_int(&s, mcr_reason_name((mcr_reason)k), c->withheld[k]);
		synth_sum_end(&s);
		synth_sum_end(&s);
		synth_sum_map(&s, "edge");
		const char *const *names = g < NGP ? gp_edge_names : g == LCS ? lcs_edge_names : ooh_edge_names;
		int n = g < NGP ? G_NEDGE : g == LCS ? L_NEDGE : O_NEDGE;
		for (int k = 0; k < n; k++)
			synth_sum_int(&s, names[k], c->edge[k]);
		synth_sum_end(&s);
		synth_sum_end(&s);
	}
	synth_sum_end(&s);

	long moved = 0;
	for (int g = 0; g < NGP; g++)
		moved += x->c[g].edge[G_MOVED_IN];
	for (int k = 0; k < x->nchanges; k++)
		moved += x->changes[k].kind == CH_MOVE;
	synth_sum_map(&s, "region");
	synth_sum_int(&s, "people", x->o->people);
	synth_sum_int(&s, "multi_organisation", x->multi_org);
	synth_sum_int(&s, "names_apostrophe", x->names_apos);
	synth_sum_int(&s, "names_comma", x->names_comma);
	synth_sum_int(&s, "names_non_ascii", x->names_nonascii);
	synth_sum_int(&s, "moved_practice", moved);
	synth_sum_end(&s);

	synth_sum_list(&s, "night_changes", x->nchanges);
	for (int k = 0; k < x->nchanges; k++) {
		const change *c = &x->changes[k];
		char nhs[11];
		synth_nhs_number(&x->nhs, c->index, nhs);
		synth_sum_item(&s);
		synth_sum_int(&s, "night", c->night);
		synth_sum_str(&s, "change", change_names[c->kind], 0);
		synth_sum_str(&s, "nhs", nhs, 1);
		if (c->kind == CH_MOVE) {
			synth_sum_str(&s, "org", orgs[c->to].ods, 0);
			synth_sum_str(&s, "from", orgs[c->from].ods, 0);
		} else {
			person p;
			person_core(x, c->index, &p);
			synth_sum_str(&s, "org", c->kind == CH_CONSENT ? orgs[LCS].ods : orgs[p.practice].ods, 0);
		}
	}
	synth_sum_end(&s);

	synth_sum_list(&s, "staff", 4);
	for (int k = 0; k < 4; k++) {
		const staff_def *st = &x->staff[k];
		synth_sum_item(&s);
		synth_sum_str(&s, "user", st->user, 0);
		synth_sum_str(&s, "org", orgs[st->org].ods, 0);
		synth_sum_str(&s, "role", st->role, 0);
		synth_sum_str(&s, "nhs", st->nhs, 1);
		synth_sum_str(&s, "patient_at", st->index >= 0 ? orgs[st->patient_practice].ods : "none", 0);
	}
	synth_sum_end(&s);
}

/* ---- run ------------------------------------------------------------------------- */

static int make_dirs(ctx *x)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/sources", x->o->out);
	int rc = mcr_fs_mkdirs(x->o->out);
	rc = rc ? rc : synth_remove_tree(path);
	for (int g = 0; g < NORGS && !rc; g++) {
		int n = snprintf(x->dir[g], sizeof(x->dir[g]), "%s/sources/%s/%s", x->o->out, orgs[g].kind, orgs[g].ods);
		if (n < 0 || (size_t)n >= sizeof(x->dir[g]))
			return mcr_error_set(MCR_EUSAGE, "--out path too long");
		rc = mcr_fs_mkdirs(x->dir[g]);
	}
	return rc;
}

int synth_run(const synth_opts *o, FILE *out)
{
	ctx *x = calloc(1, sizeof(*x));
	if (!x)
		return oom();
	x->o = o;
	x->base = o->as_of - (o->night - 1);
	x->extract_time = (int64_t)o->as_of * 86400 + 6 * 3600;
	for (int g = 0; g < NORGS; g++)
		synth_parse_date(orgs[g].shares_from, &x->sf[g]);
	/* The second range only when the test range is not enough. */
	int second = o->second_range && o->people > synth_max_people(0);
	int rc = synth_nhs_table_init(&x->nhs, o->seed, second);
	if (!rc && o->people > (long)x->nhs.count - 2)
		rc = mcr_error_set(MCR_EUSAGE, "--people %ld exceeds the valid NHS numbers of the %s", o->people,
		                   second ? "test and second ranges" : "test range");
	rc = rc ? rc : make_dirs(x);
	if (!rc)
		choose_staff_and_changes(x);
	rc = rc ? rc : lcs_open(x);

	person p;
	for (long i = 0; i < o->people && !rc; i++) {
		person_core(x, (uint32_t)i, &p);
		apply_changes(x, &p);
		x->names_apos += p.apos;
		x->names_comma += p.comma;
		x->names_nonascii += p.nonascii;
		rc = gp_person(x, &p);
		if (!rc && p.lcs)
			rc = lcs_person(x, &p);
		int in_ooh = 0;
		if (!rc && p.n_cases)
			rc = ooh_person(x, &p, &in_ooh);
		int orgs_in = (p.gp_nhs == NHS_OK) + (p.lcs && lcs_valid(&p)) + in_ooh;
		x->multi_org += orgs_in >= 2;
	}
	rc = rc ? rc : gp_finish(x);
	int rc2 = synth_file_close(&x->persons);
	int rc3 = synth_file_close(&x->involvements);
	rc = rc ? rc : rc2 ? rc2 : rc3;
	rc = rc ? rc : write_config(x);
	if (!rc)
		print_summary(x, out);

	for (int g = 0; g < NGP; g++) {
		synth_file_close(&x->gp[g].f);
		mcr_buf_free(&x->gp[g].deferred);
	}
	mcr_buf_free(&x->ent);
	mcr_buf_free(&x->tmp);
	mcr_buf_free(&x->json);
	mcr_buf_free(&x->doc);
	synth_nhs_table_free(&x->nhs);
	free(x);
	return rc;
}
