/*
 * The Health link: one person's record for one user (DESIGN.md "Lookup",
 * docs/LOOKUP.md). One decision path for every front end: mcr-lookup calls
 * mcr_lookup_run; mcr-serve calls its steps (decide, audit, refusal or render)
 * so the rules live once. The benchmark times mcr_lookup_run itself.
 *
 * Decision order (each step ends the lookup):
 *   1. mcr_lookup_validate: NHS number, role and organisation configured,
 *      sections known, --consent and --break-glass exclusive, break-glass reason
 *      not blank. Usage errors are not audited: nothing was looked up.
 *   2. open the published store read-only (its generation is recorded);
 *   3. self-access (staff directory) -> denied, outcome self-access, even with
 *      break-glass;
 *   4. --consent refused -> denied;
 *   5. a requested section the role may not see -> denied (break-glass does not
 *      widen a role);
 *   6. nothing this role could see of the person in the store -> no-record;
 *      member rows never count, and social-care data counts only for roles that
 *      may see social care, so an absence reveals nothing about social care;
 *   7. not on the viewing organisation's own list and no break-glass -> denied;
 *   8. consent required at the point of care, neither given nor break-glass ->
 *      denied;
 *   9. otherwise shown.
 * Every attempt past step 1 is appended to the audit log before anything is
 * rendered; when the append fails the lookup fails and nothing is shown.
 *
 * Thread safety: no static state. Any number of lookups may run at once on
 * separate mcr_lookup handles (each opens its own read-only store connection);
 * the config and the mcr_audit handle they are given may be shared (the audit's
 * append is thread-safe, mcr/audit.h); errors are the calling thread's.
 */
#ifndef MCR_LOOKUP_H
#define MCR_LOOKUP_H

#include "mcr/audit.h"
#include "mcr/buf.h"
#include "mcr/config.h"
#include "mcr/freshness.h"
#include "mcr/view.h"

typedef enum mcr_lookup_format { MCR_LOOKUP_TEXT, MCR_LOOKUP_HTML } mcr_lookup_format;

typedef struct mcr_lookup_request {
	const char *user, *org, *role;
	const char *nhs;         /* as typed: 10 digits or 3-3-4 with spaces */
	const char *consent;     /* NULL, "given" or "refused" */
	const char *break_glass; /* the reason given with --break-glass, or NULL */
	unsigned sections;       /* bit (1u << mcr_section) per --section; 0: all the role may see */
	mcr_lookup_format format;
} mcr_lookup_request;

typedef struct mcr_lookup_result {
	long audit_seq;          /* the audit entry written; 0 when none */
	long generation;         /* store generation read; 0 when none */
	const char *outcome;     /* shown | denied | self-access | no-record | failed; static */
} mcr_lookup_result;

/* Check the request against cfg without touching the store or the audit log.
 * 0, or MCR_EUSAGE with the message naming the bad argument. */
int mcr_lookup_validate(const mcr_config *cfg, const mcr_lookup_request *req);

/*
 * One lookup in progress: the request, the person's record read from one store
 * generation, and the decision. Made by mcr_lookup_decide, freed with
 * mcr_lookup_free; used by one thread at a time. It points at the request and
 * config it was made from: both must outlive it.
 */
typedef struct mcr_lookup mcr_lookup;

/*
 * Steps 1-9 without side effects: validate, open the current store generation
 * read-only, read the person's record, decide. Nothing is audited or rendered.
 * Returns 0 with *out set (the decision is in mcr_lookup_outcome; a store that
 * cannot be read is the decision "failed", still to be audited), or MCR_EUSAGE
 * (validation, not to be audited) / MCR_ENOMEM with *out NULL.
 */
int mcr_lookup_decide(const mcr_config *cfg, const mcr_lookup_request *req, mcr_lookup **out);

/* shown | denied | self-access | no-record | failed (static strings). */
const char *mcr_lookup_outcome(const mcr_lookup *lk);

/* Why a denial happened, for a front end that offers the next step: */
#define MCR_LOOKUP_NOT_ON_LIST 1u     /* not on the organisation's list: break glass may be offered */
#define MCR_LOOKUP_CONSENT_NEEDED 2u  /* consent at the point of care required, not yet asked */
unsigned mcr_lookup_flags(const mcr_lookup *lk);

/* Append the decision's audit entry (durably, before anything is shown) and fill
 * res (may be NULL). On failure nothing may be shown. */
int mcr_lookup_audit(mcr_lookup *lk, mcr_audit *audit, mcr_lookup_result *res);

/* 0 when the decision is "shown"; else sets the message (no record data) and
 * returns MCR_EDENIED (denied, self-access), MCR_ENOTFOUND (no-record) or
 * MCR_EIO (failed: the store could not be read). */
int mcr_lookup_refusal(const mcr_lookup *lk);

/* Render the view into out (appended; nothing appended on failure). Only for a
 * lookup that was audited and shown; else MCR_ERROR. */
int mcr_lookup_render(mcr_lookup *lk, mcr_lookup_format format, mcr_buf *out);

/* As mcr_lookup_render in HTML, delivered as how says (mcr/view.h: a served
 * page links the service's stylesheet and may carry the service's top-bar
 * markup, e.g. an end-session form). */
int mcr_lookup_render_html(mcr_lookup *lk, const mcr_view_html *how, mcr_buf *out);

/*
 * The sources every view names in a warning at its top (stale by age, newest file
 * rejected or held, never shared), judged when the lookup was decided on the
 * replayable clock: the renderer-neutral list the text and HTML banners are drawn
 * from (mcr/freshness.h; mcr_source_warning_text gives each as one line). They
 * describe sources, never the person. Valid until mcr_lookup_free; NULL with *n 0
 * when there is none or the store could not be read.
 */
const mcr_source_warning *mcr_lookup_warnings(const mcr_lookup *lk, size_t *n);

void mcr_lookup_free(mcr_lookup *lk); /* accepts NULL */

/*
 * Run the lookup: decide, audit, then refusal or render. Validate, open the current store generation read-only, decide,
 * append the audit entry to audit, then render the view into out (appended;
 * text for a terminal or a self-contained HTML page).
 * Returns 0 when shown; MCR_EDENIED (message: why, without record data) when
 * denied or self-access; MCR_ENOTFOUND when there is no record of the person;
 * MCR_EUSAGE from validation (not audited); any other negative code when the
 * store or the audit log failed (audited as "failed" where the log allows).
 * out holds the view only on 0; res (may be NULL) is filled in every case.
 */
int mcr_lookup_run(const mcr_config *cfg, mcr_audit *audit, const mcr_lookup_request *req,
                   mcr_buf *out, mcr_lookup_result *res);

#endif
