/*
 * The consent and sensitivity rules (DESIGN.md, "Consent and sensitivity").
 * Extractors apply them at source; the loader applies the same functions again
 * (defence in depth), so the rules live here once.
 *
 * Thread safety: pure functions over a read-only config; an objection tracker
 * is its caller's.
 */
#ifndef MCR_CONSENT_H
#define MCR_CONSENT_H

#include <stddef.h>
#include <stdint.h>

#include "mcr/config.h"

/* What the rules need to know about one item. Any pointer may be NULL. */
typedef struct mcr_item_facts {
	const char *const *codes;    /* every code the item carries (all codings) */
	size_t ncodes;
	const char *date;            /* clinical date: a FHIR date, dateTime or instant (mcr/fhirtime.h) */
	const char *confidentiality; /* meta.security confidentiality code: "N", "R", "V", ... */
	const char *status;          /* the resource status, e.g. "entered-in-error" */
} mcr_item_facts;

/*
 * The reason an item must not be shared, or -1 when it may be. Checked in this
 * order: entered-in-error, confidential (R or V), sensitive code, a date that is
 * not a valid FHIR date/dateTime (invalid-date: "2023-02-30", "yesterday"), dated
 * before the organisation's shares-from date. Dates are compared as instants: the
 * item's earliest instant (a partial date "2010" from 2010-01-01T00:00Z, an offset
 * honoured) against 00:00Z of the shares-from day, so an item that may predate it
 * is withheld. An undated item is not before shares-from.
 */
int mcr_consent_item_withhold_reason(const mcr_config *cfg, const mcr_org *org,
                                     const mcr_item_facts *facts);

/*
 * A person's objection to sharing for direct care, from dated coded entries.
 * Zero-initialise, feed every coded entry with mcr_objection_note(), in any order.
 * The latest entry wins, compared as instants (mcr/fhirtime.h), and where the
 * order is uncertain the objection wins: a consent withdraws the objections only
 * when it is certainly later than every one of them. So:
 *   - offsets are honoured (10:00+01:00 is before 09:30Z); a tie: the objection;
 *   - dates against dates (and zoneless times) compare as calendar values of
 *     the source's one zone: a consent the same day does not withdraw, the day
 *     after does;
 *   - a date against a zoned dateTime: the day may be in any zone (-14 h to
 *     +12 h), so a consent dateTime must be after the objection's day ends
 *     wherever that is, and a consent date must start after the objection
 *     instant wherever that is;
 *   - an undated or invalidly dated objection is in force whatever the consents;
 *     an undated or invalidly dated consent withdraws nothing.
 */
typedef struct mcr_objection {
	int seen;            /* an objection or consent code was noted */
	int in_force;        /* an objection is in force */
	char date[32];       /* date of the latest objection as given ("" when undated) */
	/* Private to mcr_objection_note: the latest objection of each kind (hi) and the
	 * latest consent of each kind (lo), floating (f) and zoned (z). */
	int undated_objection, has_of, has_oz, has_cf, has_cz;
	int64_t of, oz, cf, cz;
	int64_t latest;      /* widened hi of the objection whose date is kept */
} mcr_objection;

/* Returns 1 if code is an objection or consent code (and updates o), else 0. */
int mcr_objection_note(mcr_objection *o, const mcr_config *cfg, const char *code,
                       const char *date);

/* Social care is opt-in: 1 only for share_consent exactly "Y". */
int mcr_consent_social_care_given(const char *share_consent);

#endif
