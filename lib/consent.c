/* Consent and sensitivity rules, shared by extractors and the loader. */
#include "mcr/consent.h"

#include <string.h>

#include "mcr/fhirtime.h"

int mcr_consent_item_withhold_reason(const mcr_config *cfg, const mcr_org *org,
                                     const mcr_item_facts *f)
{
	if (f->status && strcmp(f->status, "entered-in-error") == 0)
		return MCR_REASON_ENTERED_IN_ERROR;
	if (f->confidentiality &&
	    (strcmp(f->confidentiality, "R") == 0 || strcmp(f->confidentiality, "V") == 0))
		return MCR_REASON_CONFIDENTIAL;
	for (size_t i = 0; i < f->ncodes; i++)
		if (f->codes[i] && mcr_config_code_in(&cfg->sensitive_codes, f->codes[i]))
			return MCR_REASON_SENSITIVE;
	if (!f->date)
		return -1;
	mcr_fhirtime t, from;
	if (mcr_fhirtime_parse(f->date, &t) != 0)
		return MCR_REASON_INVALID_DATE;
	/* The config checked shares_from is a calendar date. */
	if (org && org->shares_from[0] && mcr_fhirtime_parse(org->shares_from, &from) == 0 &&
	    t.lo < from.lo)
		return MCR_REASON_BEFORE_SHARES_FROM;
	return -1;
}

static void keep_max(int *has, int64_t *v, int64_t x)
{
	if (!*has || x > *v)
		*v = x;
	*has = 1;
}

/* Is the latest consent of a kind certainly after every objection? */
static int consent_wins(const mcr_objection *o)
{
	const int64_t before = INT64_C(14) * 3600000, after = INT64_C(12) * 3600000;
	if (o->undated_objection)
		return 0;
	/* A floating consent: after floating objections as calendar values, after
	 * zoned ones even if it began 14 h early. */
	if (o->has_cf && (!o->has_of || o->cf > o->of) && (!o->has_oz || o->cf - before > o->oz))
		return 1;
	/* A zoned consent: after zoned objections, after floating ones even if they
	 * ended 12 h late. */
	if (o->has_cz && (!o->has_oz || o->cz > o->oz) && (!o->has_of || o->cz > o->of + after))
		return 1;
	return 0;
}

int mcr_objection_note(mcr_objection *o, const mcr_config *cfg, const char *code,
                       const char *date)
{
	if (!code)
		return 0;
	int objection = mcr_config_code_in(&cfg->objection_codes, code);
	int consent = !objection && mcr_config_code_in(&cfg->consent_codes, code);
	if (!objection && !consent)
		return 0;
	mcr_fhirtime t;
	int dated = date && mcr_fhirtime_parse(date, &t) == 0;
	if (objection) {
		int first = !o->undated_objection && !o->has_of && !o->has_oz;
		int64_t lo, hi = INT64_MAX;
		if (dated) {
			mcr_fhirtime_widen(&t, &lo, &hi);
			keep_max(t.zoned ? &o->has_oz : &o->has_of, t.zoned ? &o->oz : &o->of, t.hi);
		} else {
			o->undated_objection = 1;
		}
		/* The date shown with the marker: the objection that may be latest. */
		if (first || hi > o->latest) {
			o->latest = hi;
			size_t n = dated ? strlen(date) : 0;
			if (n >= sizeof o->date)
				n = sizeof o->date - 1;
			memcpy(o->date, dated ? date : "", n);
			o->date[n] = '\0';
		}
	} else if (dated) {
		keep_max(t.zoned ? &o->has_cz : &o->has_cf, t.zoned ? &o->cz : &o->cf, t.lo);
	}
	o->seen = 1;
	o->in_force = (o->undated_objection || o->has_of || o->has_oz) && !consent_wins(o);
	return 1;
}

int mcr_consent_social_care_given(const char *share_consent)
{
	return share_consent && strcmp(share_consent, "Y") == 0;
}
