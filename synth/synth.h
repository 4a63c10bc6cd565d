/*
 * mcr-synth internals: the generator of the sample region (docs/SYNTH.md).
 * Everything here is deterministic: randomness comes only from synth_rng streams
 * seeded by (seed, person index, stream), so a person never depends on another.
 */
#ifndef MCR_SYNTH_H
#define MCR_SYNTH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mcr/buf.h"

/* ---- pseudo-random streams (splitmix64) ---------------------------------- */

typedef struct synth_rng {
	uint64_t s;
} synth_rng;

/* Independent stream for (seed, index, stream). */
void synth_rng_init(synth_rng *r, uint64_t seed, uint64_t index, uint64_t stream);
uint64_t synth_next(synth_rng *r);
/* Uniform in [0, n); n > 0. */
uint32_t synth_below(synth_rng *r, uint32_t n);
/* 1 with probability bp / 10000. */
int synth_bp(synth_rng *r, uint32_t bp);
/* Uniform in [lo, hi]; lo when hi <= lo. */
int32_t synth_range(synth_rng *r, int32_t lo, int32_t hi);
/* A version-4 style UUID, lower-case, 36 characters and a NUL. */
void synth_uuid(synth_rng *r, char out[37]);

/* ---- dates: days since 1970-01-01 ----------------------------------------- */

int32_t synth_days(int y, int m, int d);
void synth_ymd(int32_t days, int *y, int *m, int *d);
/* "YYYY-MM-DD" */
void synth_date(int32_t days, char out[11]);
/* Parse a real calendar date "YYYY-MM-DD": 0 or -1. */
int synth_parse_date(const char *s, int32_t *days);

/* ---- NHS numbers ------------------------------------------------------------ */

/*
 * The ranges numbers are drawn from: the test range 999 000 0000-999 999 9999,
 * and, for benchmarks only (--second-nhs-range), 399 000 0000-399 999 9999:
 * inside 320 000 001-399 999 999 (first nine digits), the range allocated to
 * Northern Ireland's Health and Care numbers and so never issued in England
 * (docs/SYNTH.md, "NHS numbers").
 */
#define SYNTH_NHS_TEST_HEAD 999
#define SYNTH_NHS_SECOND_HEAD 399

/* The check digit of the 3 digits head followed by the 6 digits of p (p < 1000000). */
int synth_nhs_prefix_check(uint32_t head, uint32_t p);

/* All valid numbers of the 999 range, in a seeded order (a permutation); with
 * a second range, its valid numbers after them, in a seeded order of their
 * own, so indices below count1 give the numbers a region without it has. */
typedef struct synth_nhs_table {
	uint32_t *prefix;  /* the 6 digits after the head of each valid number */
	uint32_t count;    /* all */
	uint32_t count1;   /* of the 999 range: prefix[0..count1) */
	uint64_t mul, add; /* index -> (mul * i + add) mod count1 */
	uint64_t mul2, add2; /* index - count1 -> (mul2 * i + add2) mod (count - count1) */
} synth_nhs_table;

/* second: also the second range. */
int synth_nhs_table_init(synth_nhs_table *t, uint64_t seed, int second);
void synth_nhs_table_free(synth_nhs_table *t);
/* The i-th number (i < count) as 10 digits and a NUL. */
void synth_nhs_number(const synth_nhs_table *t, uint32_t i, char out[11]);

/* ---- output files (plain or gzip, buffered) ------------------------------ */

typedef struct synth_file {
	FILE *f;
	void *gz;          /* gzFile when writing gzip */
	char *path;
	mcr_buf buf;
} synth_file;

/* Create path (truncating). Errors: MCR_EIO with the path. */
int synth_file_open(synth_file *sf, const char *path, int gzip);
int synth_file_write(synth_file *sf, const void *data, size_t len);
int synth_file_puts(synth_file *sf, const char *s);
/* Flush and close; 0 or MCR_EIO. Accepts a file never opened. */
int synth_file_close(synth_file *sf);
/* Flush if the pending buffer is large. */
int synth_file_maybe_flush(synth_file *sf);

/* Append s to b escaped for XML text and attribute values. */
int synth_xml_esc(mcr_buf *b, const char *s);
/* Append s to b as one CSV field (RFC 4180 quoting when needed). */
int synth_csv_field(mcr_buf *b, const char *s);

/*
 * Append to out the FHIR JSON of xml (len bytes): a sequence of Bundle
 * <entry> elements in the FHIR namespace's default form. ndjson: each
 * resource on its own line; else each entry as a JSON Bundle entry, separated
 * by ",\n" (*first: none written yet in this Bundle, cleared). 0 or MCR_E*.
 */
int synth_fhir_json(mcr_buf *out, const char *xml, size_t len, int ndjson, int *first);

/* Remove a directory tree (no error when missing). 0 or MCR_EIO. */
int synth_remove_tree(const char *path);

/* ---- the summary printer: YAML blocks or flat "path value" lines -------- */

typedef struct synth_sum {
	FILE *out;
	int flat;
	int depth;
	char path[8][48];
	int item_first;    /* next key is the first of a list item ("- ") */
	int in_list[8];
	int list_index[8];
} synth_sum;

void synth_sum_map(synth_sum *s, const char *key);   /* open a nested mapping */
void synth_sum_list(synth_sum *s, const char *key, long count); /* a list of count mappings */
void synth_sum_item(synth_sum *s);                   /* next list element */
void synth_sum_end(synth_sum *s);                    /* close a map or list */
void synth_sum_int(synth_sum *s, const char *key, long v);
void synth_sum_str(synth_sum *s, const char *key, const char *v, int quote);

/* ---- reference data (synth_data.c) ------------------------------------------ */

typedef struct synth_code {
	const char *code;
	const char *display;
} synth_code;

typedef struct synth_med {
	const char *code;
	const char *display;
	const char *dose;
} synth_med;

typedef struct synth_obs {
	const char *code, *display, *unit, *ucum;
	int lo10, hi10;        /* reference range x10 */
	int min10, max10;      /* generated values x10 */
} synth_obs;

#define SYNTH_N(a) (sizeof(a) / sizeof((a)[0]))

extern const synth_code synth_allergies[];
extern const size_t synth_nallergies;
extern const synth_code synth_reactions[];
extern const size_t synth_nreactions;
extern const synth_med synth_meds[];
extern const size_t synth_nmeds;
extern const synth_code synth_problems[];
extern const size_t synth_nproblems;
extern const synth_code synth_sensitive[];
extern const size_t synth_nsensitive;
extern const synth_code synth_vaccines_sct[];
extern const size_t synth_nvaccines_sct;
extern const synth_obs synth_results[];
extern const size_t synth_nresults;
extern const synth_code synth_encounter_types[];
extern const size_t synth_nencounter_types;

extern const char *const synth_given_f[];
extern const size_t synth_ngiven_f;
extern const char *const synth_given_m[];
extern const size_t synth_ngiven_m;
extern const char *const synth_given_nonascii_f[];
extern const size_t synth_ngiven_nonascii_f;
extern const char *const synth_given_nonascii_m[];
extern const size_t synth_ngiven_nonascii_m;
extern const char *const synth_family[];
extern const size_t synth_nfamily;
extern const char *const synth_family_apos[];
extern const size_t synth_nfamily_apos;
extern const char *const synth_family_nonascii[];
extern const size_t synth_nfamily_nonascii;
extern const char *const synth_streets[];
extern const size_t synth_nstreets;

/* ---- the generator (synth_gen.c) --------------------------------------------- */

/* The GP exports' format (the other sources have one each). */
typedef enum synth_format { SYNTH_XML, SYNTH_JSON, SYNTH_NDJSON } synth_format;

typedef struct synth_opts {
	uint64_t seed;
	long people;
	int night;          /* 1..7 */
	int32_t as_of;      /* days: the date of night `night` */
	int gzip;
	int flat;
	synth_format format;
	const char *out;    /* DIR */
	int second_range;   /* numbers beyond the 999 range from the second range */
} synth_opts;

/* The largest --people the NHS number ranges allow (second: with the second range). */
long synth_max_people(int second);

/* Write the region and print the summary to out. 0 or a negative MCR_E* code
 * with the message set. */
int synth_run(const synth_opts *o, FILE *out);

#endif
