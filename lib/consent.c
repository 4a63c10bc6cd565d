/* Consent and sensitivity rules, shared by extractors and the loader. */
#include "mcr/consent.h"

#include <string.h>

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
	/* ISO dates compare as strings on their YYYY-MM-DD prefix. */
	if (org && org->shares_from[0] && f->date && strlen(f->date) >= 10 &&
	    strncmp(f->date, org->shares_from, 10) < 0)
		return MCR_REASON_BEFORE_SHARES_FROM;
	return -1;
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
	if (!date)
		date = "";
	int cmp = o->seen ? strcmp(date, o->date) : 1;
	if (cmp > 0 || (cmp == 0 && objection)) {
		o->in_force = objection;
		size_t n = strlen(date);
		if (n >= sizeof(o->date))
			n = sizeof(o->date) - 1;
		memcpy(o->date, date, n);
		o->date[n] = '\0';
	}
	o->seen = 1;
	return 1;
}

int mcr_consent_social_care_given(const char *share_consent)
{
	return share_consent && strcmp(share_consent, "Y") == 0;
}
