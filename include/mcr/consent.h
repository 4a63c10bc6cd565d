/*
 * The consent and sensitivity rules (DESIGN.md, "Consent and sensitivity").
 * Extractors apply them at source; the loader applies the same functions again
 * (defence in depth), so the rules live here once.
 */
#ifndef MCR_CONSENT_H
#define MCR_CONSENT_H

#include <stddef.h>

#include "mcr/config.h"

/* What the rules need to know about one item. Any pointer may be NULL. */
typedef struct mcr_item_facts {
	const char *const *codes;    /* every code the item carries (all codings) */
	size_t ncodes;
	const char *date;            /* clinical date, ISO 8601 ("YYYY-MM-DD..." prefix used) */
	const char *confidentiality; /* meta.security confidentiality code: "N", "R", "V", ... */
	const char *status;          /* the resource status, e.g. "entered-in-error" */
} mcr_item_facts;

/*
 * The reason an item must not be shared, or -1 when it may be. Checked in this
 * order: entered-in-error, confidential (R or V), sensitive code, dated before the
 * organisation's shares-from date. An undated item is not before shares-from.
 */
int mcr_consent_item_withhold_reason(const mcr_config *cfg, const mcr_org *org,
                                     const mcr_item_facts *facts);

/*
 * A person's objection to sharing for direct care, from dated coded entries.
 * Zero-initialise, feed every coded entry with mcr_objection_note(); the latest
 * dated objection or consent code wins; on the same date the objection wins (the
 * safe side). An undated entry counts as older than any dated one.
 */
typedef struct mcr_objection {
	int seen;            /* an objection or consent code was noted */
	int in_force;        /* the latest such entry is an objection */
	char date[32];       /* date of the deciding entry ("" when undated) */
} mcr_objection;

/* Returns 1 if code is an objection or consent code (and updates o), else 0. */
int mcr_objection_note(mcr_objection *o, const mcr_config *cfg, const char *code,
                       const char *date);

/* Social care is opt-in: 1 only for share_consent exactly "Y". */
int mcr_consent_social_care_given(const char *share_consent);

#endif
