/*
 * Staged files: what an extractor hands the loader (docs/STAGED.md, schema/staged.xsd).
 *
 *   <staging>/<ODS>/<dataset>/<YYYYMMDDTHHMMSSZ>.xml.gz   payload, written first
 *   <staging>/<ODS>/<dataset>/<YYYYMMDDTHHMMSSZ>.yaml     manifest, written last
 *
 * A payload without its manifest is incomplete and ignored. When an extract fails,
 * the job runner records <YYYYMMDDTHHMMSSZ>.failed (one line: why) in the same
 * folder; the loader treats a .failed newer than the data it holds like a rejected
 * file (organisation kept with its last good data, flagged stale) and moves it to
 * quarantine. Payload XML
 * (namespace urn:mcr:staged:1):
 *
 *   <staged org="A81001" dataset="gp" extracted="2026-11-21T02:00:00Z" sharesFrom="2012-04-01">
 *     <member nhs="9990000018"/>                 the organisation's own list (any order)
 *     <person nhs="9990000018" family="O'Brien" given="Siân" birthDate="1950-02-03"
 *             gender="female" address="1 High St, Hertford" postcode="SG14 1AA"
 *             phone="01992 000000" consent="Y">  demographics optional; consent: lcs only
 *       <item section="allergies" id="r1" date="2020-01-01" system="http://snomed.info/sct"
 *             code="294505008" display="Amoxicillin allergy" status="active">
 *         <detail name="reaction">Rash</detail>
 *       </item>
 *       <withheld section="problems" reason="sensitive" count="2"/>
 *     </person>
 *     <person nhs="9990000026" objection="2024-03-01"/>   objection in force: no items
 *   </staged>
 */
#ifndef MCR_STAGED_H
#define MCR_STAGED_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mcr/vocab.h"

/* The manifest version this build writes (2: the withheld reasons invalid-date and
 * malformed) and the oldest it reads (1: the release of 546f27b, without them; they
 * read as 0). The payload's namespace is unchanged: version 2 only adds reason values. */
#define MCR_STAGED_SCHEMA_VERSION 2
#define MCR_STAGED_SCHEMA_OLDEST 1
#define MCR_STAGED_NS "urn:mcr:staged:1"

typedef struct mcr_staged_header {
	const char *org;         /* ODS code */
	const char *dataset;     /* "gp", "lcs", "ooh" (mcr_org_dataset) */
	time_t extracted;        /* extract time (UTC) */
	const char *shares_from; /* YYYY-MM-DD or "" */
} mcr_staged_header;

typedef struct mcr_staged_person {
	const char *nhs;         /* 10 digits, valid */
	/* Demographics; any may be NULL. */
	const char *family, *given, *birth_date, *gender, *address, *postcode, *phone;
	const char *objection;   /* non-NULL: objection in force since this date ("" undated) */
	const char *consent;     /* social care (lcs) persons: "Y", the recorded consent the
	                            loader re-checks; NULL for health datasets */
} mcr_staged_person;

typedef struct mcr_staged_detail {
	const char *name;
	const char *value;
} mcr_staged_detail;

typedef struct mcr_staged_item {
	mcr_section section;
	const char *id;              /* source identifier; may be NULL */
	const char *date;            /* clinical date/time, ISO 8601; may be NULL */
	const char *system;          /* code system URI; may be NULL */
	const char *code;            /* may be NULL */
	const char *display;         /* display term or title */
	const char *status;          /* may be NULL */
	const char *confidentiality; /* may be NULL (normal) */
	const mcr_staged_detail *details; /* in display order */
	size_t ndetails;
} mcr_staged_item;

/* The manifest (YAML) describing one payload. */
typedef struct mcr_staged_manifest {
	int schema_version;
	char *org, *dataset;
	time_t extracted;
	char shares_from[11];
	char *payload;               /* payload file name, beside the manifest */
	uint64_t payload_length;     /* bytes of the .xml.gz */
	uint32_t payload_crc32;      /* CRC-32 of those bytes */
	long people;                 /* <person> elements */
	long members;                /* <member> elements */
	long items;                  /* <item> elements */
	long objections;             /* persons with objection in force */
	long section_items[MCR_SECTION_COUNT];
	long withheld[MCR_REASON_COUNT];
} mcr_staged_manifest;

/* ---- writer (extractors) ---------------------------------------------- */

typedef struct mcr_staged_writer mcr_staged_writer;

/*
 * Start a staged file for h in staging_dir (creating <ODS>/<dataset>/). The
 * payload is written under a temporary name until commit. Free with commit or
 * abort.
 */
int mcr_staged_writer_open(mcr_staged_writer **out, const char *staging_dir,
                           const mcr_staged_header *h);

int mcr_staged_write_member(mcr_staged_writer *w, const char *nhs);
int mcr_staged_person_begin(mcr_staged_writer *w, const mcr_staged_person *p);
/* Within a person; an item for a person whose objection is in force is refused
 * (MCR_ERROR) as a programming error. */
int mcr_staged_write_item(mcr_staged_writer *w, const mcr_staged_item *it);
/* Within a person: count items of this person withheld (added to the totals). */
int mcr_staged_write_withheld(mcr_staged_writer *w, mcr_section s, mcr_reason r, long count);
int mcr_staged_person_end(mcr_staged_writer *w);

/* Count things withheld that belong to no staged person (invalid NHS number,
 * objection, no consent, unmatched document): manifest totals only. */
void mcr_staged_count_withheld(mcr_staged_writer *w, mcr_reason r, long count);

/*
 * Finish: close the XML, finish gzip, fsync, rename to <stamp>.xml.gz, fsync the
 * folder, then write <stamp>.yaml atomically (last). Frees w whatever happens;
 * on failure nothing is left behind. *manifest_path (may be NULL) receives the
 * manifest's path, freed by the caller with free().
 */
int mcr_staged_writer_commit(mcr_staged_writer *w, char **manifest_path);

/* Discard everything written; accepts NULL. */
void mcr_staged_writer_abort(mcr_staged_writer *w);

/* The counts so far (valid until commit/abort). */
const mcr_staged_manifest *mcr_staged_writer_counts(const mcr_staged_writer *w);

/* ---- manifest ------------------------------------------------------------ */

/* Read a manifest of schema_version MCR_STAGED_SCHEMA_OLDEST..MCR_STAGED_SCHEMA_VERSION
 * (version 1 without the reasons invalid-date and malformed: they read as 0; any other
 * version is refused); errors MCR_EFORMAT naming file:line. Free with
 * mcr_staged_manifest_free. */
int mcr_staged_manifest_read(const char *path, mcr_staged_manifest **out);
void mcr_staged_manifest_free(mcr_staged_manifest *m);

/*
 * The newest complete staged file (manifest present) for org/dataset: *manifest_path
 * (caller frees) or MCR_ENOTFOUND when there is none.
 */
int mcr_staged_find_latest(const char *staging_dir, const char *org, const char *dataset,
                           char **manifest_path);

/* ---- reader (loader) ----------------------------------------------------- */

/* Callbacks; any may be NULL. A non-zero return stops reading and is returned
 * by mcr_staged_read unchanged. Strings are valid only during the call. */
typedef struct mcr_staged_handler {
	void *ctx;
	int (*member)(void *ctx, const char *nhs);
	int (*person_begin)(void *ctx, const mcr_staged_person *p);
	int (*item)(void *ctx, const mcr_staged_person *p, const mcr_staged_item *it);
	int (*withheld)(void *ctx, const mcr_staged_person *p, mcr_section s, mcr_reason r, long count);
	int (*person_end)(void *ctx, const mcr_staged_person *p);
} mcr_staged_handler;

/*
 * Stream the payload described by manifest m (found beside manifest_path),
 * validating as it goes: gzip integrity, XML Schema (schema/staged.xsd), header
 * attributes equal to the manifest, payload length and CRC-32, and at the end the
 * counts (people, members, items, objections, items by section, per-person
 * withheld) equal to the manifest's. Any failure is MCR_EFORMAT naming the file
 * (and line for XML). Callbacks have run for what came before a failure: the
 * caller must be ready to discard it.
 */
int mcr_staged_read(const char *manifest_path, const mcr_staged_manifest *m,
                    const mcr_staged_handler *h);

#endif
