/*
 * mcr-extract-lcs: social care (Liquidlogic LCS) persons.csv and
 * involvements.csv -> staged file.
 *
 * Social care is opt-in: content (demographics and involvements) only for
 * share_consent Y. The caseload (everyone with a valid NHS number and an open
 * involvement, whatever their consent) is staged as members, for access
 * decisions only. Memory: a map person_id -> (NHS number, consent, open
 * involvement); involvements stream to the per-person spill.
 */
#include <stdlib.h>
#include <string.h>

#include "extract_common.h"
#include "mcr/consent.h"
#include "mcr/csv.h"
#include "mcr/error.h"
#include "mcr/extract.h"
#include "mcr/fhirtime.h"
#include "mcr/fs.h"
#include "mcr/nhs.h"

typedef struct lcs_person {
	char nhs[11];
	unsigned char valid, consent, open;
} lcs_person;

typedef struct lcs {
	const mcr_config *cfg;
	const mcr_org *org;
	mcr_ex_map *ids;
	lcs_person *v;
	size_t n, cap;
	mcr_staged_writer *w;
	mcr_ex_spill *spill;
} lcs;

static const char *const person_cols[] = {"person_id", "nhs_number", "family_name", "given_name",
                                          "birth_date", "service", "share_consent",
                                          "consent_date", NULL};
static const char *const inv_cols[] = {"person_id", "involvement_id", "type", "start_date",
                                       "end_date", "team", "worker_name", "worker_phone",
                                       "summary", NULL};

static int bad(const mcr_csv *c, const char *what, const char *value)
{
	return mcr_error_set(MCR_EFORMAT, "%s:%ld: %s '%s'", mcr_csv_path(c), mcr_csv_line(c), what,
	                     value);
}

static int read_persons(lcs *l, const char *path)
{
	mcr_csv *c = NULL;
	int rc = mcr_csv_open(&c, path, person_cols);
	while (rc == 0 && (rc = mcr_csv_next(c)) == 1) {
		rc = 0;
		const char *id = mcr_csv_get(c, "person_id");
		const char *raw = mcr_csv_get(c, "nhs_number");
		const char *birth = mcr_csv_get(c, "birth_date");
		const char *service = mcr_csv_get(c, "service");
		const char *consent = mcr_csv_get(c, "share_consent");
		const char *cdate = mcr_csv_get(c, "consent_date");
		if (!*id) {
			rc = bad(c, "empty person_id", id);
			break;
		}
		if (*birth && !mcr_ex_is_date(birth)) {
			rc = bad(c, "bad birth_date (YYYY-MM-DD)", birth);
			break;
		}
		if (strcmp(service, "children") != 0 && strcmp(service, "adults") != 0) {
			rc = bad(c, "bad service (children|adults)", service);
			break;
		}
		if (*consent && strcmp(consent, "Y") != 0 && strcmp(consent, "N") != 0) {
			rc = bad(c, "bad share_consent (Y, N or empty)", consent);
			break;
		}
		if (*cdate && !mcr_ex_is_date(cdate)) {
			rc = bad(c, "bad consent_date (YYYY-MM-DD)", cdate);
			break;
		}
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 1024;
			lcs_person *v = realloc(l->v, cap * sizeof *v);
			if (!v) {
				rc = mcr_error_set(MCR_ENOMEM, "out of memory");
				break;
			}
			l->v = v;
			l->cap = cap;
		}
		rc = mcr_ex_map_put(l->ids, id, strlen(id), (long)l->n, NULL);
		if (rc == 0) {
			rc = bad(c, "duplicate person_id", id);
			break;
		}
		if (rc < 0)
			break;
		rc = 0;
		lcs_person *p = &l->v[l->n++];
		memset(p, 0, sizeof *p);
		p->valid = mcr_nhs_validate(raw, p->nhs) == 0;
		mcr_error_clear();
		p->consent = (unsigned char)mcr_consent_social_care_given(consent);
		if (!p->valid) {
			mcr_staged_count_withheld(l->w, MCR_REASON_INVALID_NHS, 1);
			continue;
		}
		if (!p->consent) {
			mcr_staged_count_withheld(l->w, MCR_REASON_NO_CONSENT, 1);
			continue;
		}
		mcr_staged_person ps = {0};
		ps.nhs = p->nhs;
		ps.family = mcr_csv_get(c, "family_name");
		ps.given = mcr_csv_get(c, "given_name");
		ps.birth_date = *birth ? birth : NULL;
		ps.consent = "Y";
		rc = mcr_ex_spill_person(l->spill, &ps);
	}
	mcr_csv_close(c);
	return rc < 0 ? rc : 0;
}

static int read_involvements(lcs *l, const char *path)
{
	mcr_csv *c = NULL;
	int rc = mcr_csv_open(&c, path, inv_cols);
	while (rc == 0 && (rc = mcr_csv_next(c)) == 1) {
		rc = 0;
		const char *pid = mcr_csv_get(c, "person_id");
		const char *iid = mcr_csv_get(c, "involvement_id");
		const char *type = mcr_csv_get(c, "type");
		const char *start = mcr_csv_get(c, "start_date");
		const char *end = mcr_csv_get(c, "end_date");
		long idx;
		if (!mcr_ex_map_get(l->ids, pid, strlen(pid), &idx)) {
			rc = bad(c, "involvement for unknown person_id", pid);
			break;
		}
		if (!*iid) {
			rc = bad(c, "empty involvement_id", iid);
			break;
		}
		if (!*type) {
			rc = bad(c, "empty type", type);
			break;
		}
		if (!mcr_ex_is_date(start)) {
			rc = bad(c, "bad start_date (YYYY-MM-DD)", start);
			break;
		}
		if (*end && !mcr_ex_is_date(end)) {
			rc = bad(c, "bad end_date (YYYY-MM-DD or empty)", end);
			break;
		}
		mcr_fhirtime ts, te;
		if (*end && mcr_fhirtime_parse(start, &ts) == 0 && mcr_fhirtime_parse(end, &te) == 0 &&
		    mcr_fhirtime_cmp(&te, &ts) < 0) {
			rc = bad(c, "end_date before start_date", end);
			break;
		}
		lcs_person *p = &l->v[idx];
		if (!*end)
			p->open = 1;
		if (!p->valid || !p->consent)
			continue; /* counted once with the person */
		mcr_item_facts f = {0};
		f.date = start;
		int reason = mcr_consent_item_withhold_reason(l->cfg, l->org, &f);
		if (reason >= 0) {
			rc = mcr_ex_spill_withheld(l->spill, p->nhs, MCR_SECTION_SOCIAL_CARE, (mcr_reason)reason);
			continue;
		}
		mcr_staged_detail d[8];
		size_t nd = 0;
		const char *names[] = {"type", "start", "end", "team", "worker", "phone", "summary"};
		const char *cols[] = {"type", "start_date", "end_date", "team", "worker_name",
		                      "worker_phone", "summary"};
		for (size_t k = 0; k < 7; k++) {
			const char *v = mcr_csv_get(c, cols[k]);
			if (v && *v) {
				d[nd].name = names[k];
				d[nd].value = v;
				nd++;
			}
		}
		mcr_staged_item it = {0};
		it.section = MCR_SECTION_SOCIAL_CARE;
		it.id = iid;
		it.date = start;
		it.display = type;
		it.status = *end ? "closed" : "open";
		it.details = d;
		it.ndetails = nd;
		rc = mcr_ex_spill_item(l->spill, p->nhs, &it);
	}
	mcr_csv_close(c);
	return rc < 0 ? rc : 0;
}

/* The caseload: each valid NHS number with an open involvement, once. */
static int write_caseload(lcs *l)
{
	mcr_ex_map *seen = NULL;
	int rc = mcr_ex_map_new(&seen);
	for (size_t i = 0; rc == 0 && i < l->n; i++) {
		if (!l->v[i].valid || !l->v[i].open)
			continue;
		rc = mcr_ex_map_put(seen, l->v[i].nhs, 10, 0, NULL);
		if (rc == 1)
			rc = mcr_staged_write_member(l->w, l->v[i].nhs);
		else if (rc == 0)
			continue;
	}
	mcr_ex_map_free(seen);
	return rc < 0 ? rc : 0;
}

int mcr_extract_lcs(const mcr_config *cfg, const mcr_org *org, const char *input,
                    const char *staging_dir, char **manifest_path)
{
	if (manifest_path)
		*manifest_path = NULL;
	if (org->kind != MCR_KIND_LCS)
		return mcr_error_set(MCR_ECONFIG, "organisation %s is not a social care system", org->ods);
	if (!staging_dir)
		staging_dir = cfg->staging_dir;
	lcs l = {0};
	l.cfg = cfg;
	l.org = org;
	mcr_buf folder = MCR_BUF_INIT, persons = MCR_BUF_INIT, invs = MCR_BUF_INIT;
	int rc = 0;
	if ((rc = mcr_fs_join(&persons, input, "persons.csv")) == 0)
		rc = mcr_fs_join(&invs, input, "involvements.csv");
	static const char *const names[] = {"persons.csv", "involvements.csv", NULL};
	if (rc == 0)
		rc = mcr_ex_only_files(input, names);
	if (rc == 0)
		rc = mcr_ex_map_new(&l.ids);
	if (rc == 0)
		rc = mcr_ex_stage_folder(&folder, staging_dir, org);
	mcr_staged_header h = {org->ods, mcr_org_dataset(org->kind), mcr_time_now(), org->shares_from};
	if (rc == 0)
		rc = mcr_staged_writer_open(&l.w, staging_dir, &h);
	if (rc == 0)
		rc = mcr_ex_spill_open(&l.spill, folder.ptr);
	if (rc == 0)
		rc = read_persons(&l, persons.ptr);
	/* A header and no rows is a failed export, not a social care system with
	 * nobody in it: staging it would empty the organisation. */
	size_t valid = 0;
	for (size_t i = 0; rc == 0 && i < l.n; i++)
		valid += l.v[i].valid;
	if (rc == 0 && l.n == 0)
		rc = mcr_error_set(MCR_EFORMAT, "%s: no person rows (only a header): refusing an "
		                   "empty export", persons.ptr);
	else if (rc == 0 && valid == 0)
		rc = mcr_error_set(MCR_EFORMAT, "%s: none of its %zu persons has a valid NHS number: "
		                   "refusing the export", persons.ptr, l.n);
	if (rc == 0)
		rc = read_involvements(&l, invs.ptr);
	if (rc == 0)
		rc = write_caseload(&l);
	if (rc == 0)
		rc = mcr_ex_spill_emit(l.spill, l.w);
	mcr_ex_spill_close(l.spill);
	if (rc == 0) {
		rc = mcr_staged_writer_commit(l.w, manifest_path);
		l.w = NULL;
	}
	mcr_staged_writer_abort(l.w);
	mcr_ex_map_free(l.ids);
	free(l.v);
	mcr_buf_free(&folder);
	mcr_buf_free(&persons);
	mcr_buf_free(&invs);
	return rc;
}
