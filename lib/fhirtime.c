/* FHIR dates and times as intervals of instants (include/mcr/fhirtime.h). */
#include "mcr/fhirtime.h"

#include <stdio.h>
#include <string.h>

#include "mcr/error.h"

#define MS_PER_DAY INT64_C(86400000)
/* Offsets in use run from -12:00 to +14:00: a wall-clock time without a zone
 * is UTC from 14 hours before it to 12 hours after it. */
#define FLOATING_BEFORE_MS (INT64_C(14) * 3600000)
#define FLOATING_AFTER_MS (INT64_C(12) * 3600000)

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && leap(y) ? 29 : mdays[m - 1];
}

/* n decimal digits at *p into *out; advances *p. 0, or -1 when not digits. */
static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* The interval of a date of this precision (UTC). */
static void date_interval(mcr_fhirtime *t)
{
	int64_t first, next;
	if (t->precision == MCR_FHIRTIME_YEAR) {
		first = days_from_civil(t->year, 1, 1);
		next = days_from_civil(t->year + 1, 1, 1);
	} else if (t->precision == MCR_FHIRTIME_MONTH) {
		first = days_from_civil(t->year, t->month, 1);
		next = first + month_days(t->year, t->month);
	} else {
		first = days_from_civil(t->year, t->month, t->day);
		next = first + 1;
	}
	t->lo = first * MS_PER_DAY;
	t->hi = next * MS_PER_DAY - 1;
}

/*
 * The time after 'T': hh:mm:ss[.f+] then Z, +hh:mm, -hh:mm or nothing (no zone).
 * HL7 TS (hl7): hhmmss, no Z, the offset +hhmm or +hh.
 */
static int parse_time(const char *p, mcr_fhirtime *t, int hl7)
{
	int hh, mi, ss, ms = 0;
	if (hl7) {
		if (digits(&p, 2, &hh) || digits(&p, 2, &mi) || digits(&p, 2, &ss))
			return MCR_EFORMAT;
	} else if (digits(&p, 2, &hh) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
	           digits(&p, 2, &ss)) {
		return MCR_EFORMAT;
	}
	if (hh > 23 || mi > 59 || ss > 60)
		return MCR_EFORMAT;
	if (*p == '.') {
		/* Milliseconds, truncated: toward the earliest instant. */
		int k = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, k++)
			if (k < 3)
				ms = ms * 10 + (*p - '0');
		if (k == 0)
			return MCR_EFORMAT;
		for (; k < 3; k++)
			ms *= 10;
	}
	int64_t offset_ms = 0;
	t->zoned = 1;
	if (*p == 'Z' && !hl7) {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
		if (digits(&p, 2, &oh))
			return MCR_EFORMAT;
		if (hl7) {
			if (*p && digits(&p, 2, &om))
				return MCR_EFORMAT;
		} else if (*p++ != ':' || digits(&p, 2, &om)) {
			return MCR_EFORMAT;
		}
		if (om > 59 || oh > 14 || (oh == 14 && om != 0))
			return MCR_EFORMAT;
		offset_ms = sign * (oh * INT64_C(3600000) + om * INT64_C(60000));
	} else {
		t->zoned = 0;
	}
	if (*p)
		return MCR_EFORMAT;
	t->precision = MCR_FHIRTIME_SECOND;
	t->hour = hh;
	t->minute = mi;
	t->second = ss;
	int64_t local = days_from_civil(t->year, t->month, t->day) * MS_PER_DAY +
	                (hh * INT64_C(3600) + mi * 60 + ss) * 1000 + ms;
	t->lo = t->hi = local - offset_ms;
	/* An offset cannot move the instant out of the years 0001-9999. */
	if (t->lo < days_from_civil(1, 1, 1) * MS_PER_DAY ||
	    t->lo >= days_from_civil(10000, 1, 1) * MS_PER_DAY)
		return MCR_EFORMAT;
	return 0;
}

/* The date part, YYYY[<sep>MM[<sep>DD]] (sep "" for HL7), leaving *pp after it. */
static int parse_date(const char **pp, mcr_fhirtime *t, int hl7)
{
	const char *p = *pp;
	memset(t, 0, sizeof *t);
	if (digits(&p, 4, &t->year) || t->year < 1)
		return MCR_EFORMAT;
	t->precision = MCR_FHIRTIME_YEAR;
	if (hl7 ? (*p >= '0' && *p <= '9') : *p == '-') {
		p += !hl7;
		if (digits(&p, 2, &t->month) || t->month < 1 || t->month > 12)
			return MCR_EFORMAT;
		t->precision = MCR_FHIRTIME_MONTH;
		if (hl7 ? (*p >= '0' && *p <= '9') : *p == '-') {
			p += !hl7;
			if (digits(&p, 2, &t->day) || t->day < 1 ||
			    t->day > month_days(t->year, t->month))
				return MCR_EFORMAT;
			t->precision = MCR_FHIRTIME_DAY;
		}
	}
	*pp = p;
	return 0;
}

int mcr_fhirtime_parse(const char *s, mcr_fhirtime *out)
{
	mcr_fhirtime t;
	const char *p = s;
	if (!s || parse_date(&p, &t, 0))
		return MCR_EFORMAT;
	if (*p == 'T' && t.precision == MCR_FHIRTIME_DAY) {
		if (parse_time(p + 1, &t, 0))
			return MCR_EFORMAT;
	} else if (*p) {
		return MCR_EFORMAT;
	} else {
		date_interval(&t);
	}
	*out = t;
	return 0;
}

int mcr_fhirtime_parse_hl7(const char *ts, mcr_fhirtime *out)
{
	mcr_fhirtime t;
	const char *p = ts;
	if (!ts || parse_date(&p, &t, 1))
		return MCR_EFORMAT;
	if (*p >= '0' && *p <= '9' && t.precision == MCR_FHIRTIME_DAY) {
		/* HH, HHMM or HHMMSS: the missing parts are zero. */
		char full[64];
		size_t n = strspn(p, "0123456789");
		if (n != 2 && n != 4 && n != 6)
			return MCR_EFORMAT;
		if (snprintf(full, sizeof full, "%.*s%s%s", (int)n, p, n == 6 ? "" : n == 4 ? "00" : "0000",
		             p + n) >= (int)sizeof full)
			return MCR_EFORMAT;
		if (parse_time(full, &t, 1))
			return MCR_EFORMAT;
	} else if (*p) {
		/* A zone after a bare date says nothing more: the day stands. */
		int oh, om = 0;
		const char *q = p + 1;
		if ((*p != '+' && *p != '-') || digits(&q, 2, &oh) || (*q && digits(&q, 2, &om)) || *q ||
		    oh > 14 || om > 59)
			return MCR_EFORMAT;
		date_interval(&t);
	} else {
		date_interval(&t);
	}
	*out = t;
	return 0;
}

int mcr_fhirtime_valid(const char *s)
{
	mcr_fhirtime t;
	return mcr_fhirtime_parse(s, &t) == 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void mcr_fhirtime_format(const mcr_fhirtime *t, char out[32])
{
	switch (t->precision) {
	case MCR_FHIRTIME_YEAR:
		snprintf(out, 32, "%04d", t->year);
		return;
	case MCR_FHIRTIME_MONTH:
		snprintf(out, 32, "%04d-%02d", t->year, t->month);
		return;
	case MCR_FHIRTIME_DAY:
		snprintf(out, 32, "%04d-%02d-%02d", t->year, t->month, t->day);
		return;
	default:
		break;
	}
	if (t->zoned) {
		int64_t secs = floor_div(t->lo, 1000);
		int64_t days = floor_div(secs, 86400);
		int64_t sod = secs - days * 86400;
		int y, m, d;
		civil_from_days(days, &y, &m, &d);
		snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(sod / 3600),
		         (int)(sod / 60 % 60), (int)(sod % 60));
		return;
	}
	/* No zone: the local time as written. */
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d", t->year, t->month, t->day, t->hour,
	         t->minute, t->second);
}

void mcr_fhirtime_widen(const mcr_fhirtime *t, int64_t *lo, int64_t *hi)
{
	*lo = t->zoned ? t->lo : t->lo - FLOATING_BEFORE_MS;
	*hi = t->zoned ? t->hi : t->hi + FLOATING_AFTER_MS;
}

int mcr_fhirtime_cmp(const mcr_fhirtime *a, const mcr_fhirtime *b)
{
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	return 0;
}

int64_t mcr_fhirtime_seconds(const mcr_fhirtime *t)
{
	return floor_div(t->lo, 1000);
}
