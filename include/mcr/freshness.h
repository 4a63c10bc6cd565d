/*
 * How fresh each source's data is, and the warnings every view of the store shows
 * about it (DESIGN.md "Lookup" and "Reports"; docs/LOOKUP.md, docs/REPORTS.md).
 *
 * One judgement for the coverage report, the nightly job's check and the lookup
 * views, so they can never disagree: a source is OK, STALE (its data is older
 * than its schedule allows: config freshness.nightly / freshness.twice-daily,
 * default 26 h and 14 h), FAILED (its newest file or extract was rejected: older
 * data kept), HELD (its newest file was held by the loader's night-on-night
 * guard: older data kept until an operator accepts the file) or NEVER.
 *
 * Thread safety: the functions keep no state; a warning list belongs to its caller.
 */
#ifndef MCR_FRESHNESS_H
#define MCR_FRESHNESS_H

#include <stddef.h>
#include <time.h>

#include "mcr/buf.h"
#include "mcr/config.h"
#include "mcr/store.h"

typedef enum mcr_freshness {
	MCR_FRESH_OK,
	MCR_FRESH_STALE,   /* data held is older than the schedule allows */
	MCR_FRESH_FAILED,  /* newest file or extract rejected: older data carried over */
	MCR_FRESH_NEVER,   /* no data has ever been loaded */
	MCR_FRESH_HELD     /* newest file held by the guard: older data carried over */
} mcr_freshness;

/* "OK", "STALE", "FAILED", "NEVER", "HELD". */
const char *mcr_freshness_name(mcr_freshness f);

/* How old (seconds) data of schedule s may be before it is STALE: cfg's
 * freshness hours (cfg NULL or unset: MCR_FRESH_NIGHTLY_HOURS and
 * MCR_FRESH_TWICE_DAILY_HOURS of mcr/config.h). */
long mcr_freshness_max_age(const mcr_config *cfg, mcr_schedule s);

/*
 * Judge a source's freshness at time now: status is the store's source.status
 * (current | unchanged | stale | held | never; NULL when the store has no row for
 * it), extracted the extract time of the data held (ISO 8601, may be NULL).
 * NEVER for status never or no row; FAILED for stale; HELD for held; STALE when
 * now - extracted is more than mcr_freshness_max_age(cfg, s) or the extract time
 * is missing or unreadable; else OK. Times are compared as instants.
 */
mcr_freshness mcr_freshness_judge(const mcr_config *cfg, const char *status,
                                  const char *extracted, mcr_schedule s, time_t now);

/* An age as "56 h" or "26 h 1 min" (minutes rounded up, so data a second past
 * a limit never reads as exactly the limit), into out (n bytes). */
void mcr_freshness_age_text(long seconds, char *out, size_t n);

/* A source every view must name at its top (anything but OK). Strings owned by
 * the list. */
typedef struct mcr_source_warning {
	mcr_freshness state;       /* STALE, FAILED, HELD or NEVER */
	char *org, *name;          /* ODS code; name as the store (else config) has it */
	mcr_schedule schedule;     /* the config's; nightly for a source it no longer lists */
	char *extracted;           /* "as of" of the data held; NULL when none or unknown */
	long age;                  /* seconds from extracted to now; -1 when unknown */
	long max_age;              /* what the schedule allows, seconds */
	char *reason;              /* FAILED: why the newest file was rejected; may be NULL */
	long people, items;        /* in the data held */
	/* HELD: the held file, not loaded (its manifest's counts). */
	char *held_file, *held_extracted;
	long held_people, held_items;
} mcr_source_warning;

/*
 * The warnings for one open store generation (mcr/store.h), judged at now: one per source in the store's source
 * table, in ODS order, that is not OK, plus one NEVER for each configured
 * organisation the generation does not list. *out (free with
 * mcr_source_warnings_free) and *n are set; *out is NULL when there is none.
 * Errors: MCR_EIO naming the store, MCR_ENOMEM.
 */
int mcr_source_warnings_read(const mcr_config *cfg, mcr_store_gen *gen, time_t now,
                             mcr_source_warning **out, size_t *n);
void mcr_source_warnings_free(mcr_source_warning *w, size_t n); /* accepts NULL */

/*
 * The warning as one line of plain text, no newline (appended to out), e.g.
 *   "Hillside Practice data is stale: as of 2026-11-19T02:00:00Z; latest extract rejected"
 *   "Hillside Practice data is stale: as of 2026-11-19T02:00:00Z, 56 h old; its nightly
 *    schedule allows 26 h"
 *   "Hillside Practice data is stale: as of ...; latest extract held: people 1000 -> 0,
 *    items 5400 -> 0, waiting for an operator to accept it"
 * Renderers escape it as they escape any text. 0 or MCR_ENOMEM.
 */
int mcr_source_warning_text(const mcr_source_warning *w, mcr_buf *out);

#endif
