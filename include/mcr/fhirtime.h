/*
 * Clinical dates and times as instants: the one place the project reads a
 * FHIR date, dateTime or instant (and an HL7 v3 TS) and compares it.
 *
 * Text is never compared as text: "2024-06-10T10:00:00+01:00" is 09:00Z, before
 * "2024-06-10T09:30:00Z". A value is read as the interval of instants it can
 * mean, [lo, hi], in milliseconds since 1970-01-01T00:00:00Z:
 *   "2010"                      the whole year 2010
 *   "2010-05", "2010-05-14"     the whole month, the whole day
 *   "2010-05-14T10:00:00+01:00" that instant (fractional seconds kept to the ms)
 *   "2010-05-14T10:00:00"       no time zone (FHIR requires one, HL7 TS does not)
 * A date and a time without a zone are *floating*: wall-clock values of a zone
 * not written down (the source's own). lo and hi read them as UTC, so floating
 * values compare with each other as calendar values; mcr_fhirtime_widen() gives
 * every instant one may mean in any zone (-14 h .. +12 h), for comparing it with
 * a zoned instant when the answer must hold whatever the zone.
 * Rules built on it (lib/consent.c, docs/EXTRACT.md "Dates"):
 *   - shares-from (a date) and "recent" compare the earliest instant (lo, floating
 *     values as UTC): an item that may predate the limit is before it;
 *   - objection against consent: a consent withdraws an objection only when it is
 *     certainly later; overlap, a tie or an unknown zone: the objection.
 * Calendar checked: month lengths, leap years (Gregorian), hours 00-23 (no 24:00),
 * minutes 00-59, seconds 00-60, offsets -14:00..+14:00, years 0001-9999.
 * Pure functions: no state, thread-safe, no message set (the caller names the file).
 */
#ifndef MCR_FHIRTIME_H
#define MCR_FHIRTIME_H

#include <stdint.h>

typedef enum mcr_fhirtime_precision {
	MCR_FHIRTIME_YEAR = 1,  /* YYYY */
	MCR_FHIRTIME_MONTH,     /* YYYY-MM */
	MCR_FHIRTIME_DAY,       /* YYYY-MM-DD */
	MCR_FHIRTIME_SECOND,    /* a time of day, to the second or finer */
} mcr_fhirtime_precision;

typedef struct mcr_fhirtime {
	int64_t lo, hi;                   /* earliest and latest instant meant, ms, inclusive */
	mcr_fhirtime_precision precision;
	int zoned;                        /* a time with Z or an offset; 0: floating */
	int year, month, day;             /* the calendar date as written (month, day 0 when absent) */
	int hour, minute, second;         /* as written, when precision is SECOND */
} mcr_fhirtime;

/* Parse a FHIR date, dateTime or instant. 0, or MCR_EFORMAT for anything else
 * (an impossible date, "yesterday", "", trailing text). */
int mcr_fhirtime_parse(const char *s, mcr_fhirtime *out);

/* Parse an HL7 v3 TS "YYYY[MM[DD[HH[MM[SS[.f]]]]]][+-HHMM]" the same way. */
int mcr_fhirtime_parse_hl7(const char *ts, mcr_fhirtime *out);

/* 1 if s is a valid FHIR date/dateTime/instant, else 0. */
int mcr_fhirtime_valid(const char *s);

/*
 * The form a value is staged and stored in, so the store's text order is the
 * order of earliest instants: a time as UTC "YYYY-MM-DDThh:mm:ssZ" (fraction
 * dropped), without a zone "YYYY-MM-DDThh:mm:ss" (as written), a date or partial
 * date as written. out holds at least 21 bytes plus NUL.
 */
void mcr_fhirtime_format(const mcr_fhirtime *t, char out[32]);

/* Every instant t may mean whatever its zone: [lo, hi] itself when zoned, else
 * widened by the world's offsets (14 h earlier, 12 h later). */
void mcr_fhirtime_widen(const mcr_fhirtime *t, int64_t *lo, int64_t *hi);

/* Order by earliest instant, then by latest: <0, 0, >0 (for newest-first views). */
int mcr_fhirtime_cmp(const mcr_fhirtime *a, const mcr_fhirtime *b);

/* Seconds since the epoch of the earliest instant (lo, rounded down). */
int64_t mcr_fhirtime_seconds(const mcr_fhirtime *t);

#endif
