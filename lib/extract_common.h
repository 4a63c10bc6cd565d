/*
 * Pieces the three extractors share (private to libmcr): input file lists, a
 * string -> index map, and the spill that groups staged records by person with
 * bounded memory.
 */
#ifndef MCR_EXTRACT_COMMON_H
#define MCR_EXTRACT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "mcr/buf.h"
#include "mcr/config.h"
#include "mcr/staged.h"

/* ---- inputs --------------------------------------------------------------- */

/*
 * The input files: input itself when it is a file, else every regular file under
 * the folder input (recursively, dot names skipped) sorted by path. A file there
 * whose name ends in none of suffixes (NULL-terminated), or that is neither a
 * file nor a folder, is an error naming it (MCR_EFORMAT): a stray file or a
 * format this extractor does not read is never skipped silently. *files is freed
 * with mcr_ex_files_free(). A missing input is MCR_EIO naming it; an empty folder
 * gives zero files.
 */
int mcr_ex_list_files(const char *input, const char *const *suffixes, char ***files, size_t *n);
/* The same for .xml and .xml.gz. */
int mcr_ex_list_xml_files(const char *input, char ***files, size_t *n);
/* 0 if every non-dot entry of the folder dir is one of names (NULL-terminated),
 * else MCR_EFORMAT naming the first other one. */
int mcr_ex_only_files(const char *dir, const char *const *names);
void mcr_ex_files_free(char **files, size_t n);

/* 1 if s is a valid calendar date YYYY-MM-DD (exactly 10 characters). */
int mcr_ex_is_date(const char *s);

/* ---- string -> index map ------------------------------------------------- */

typedef struct mcr_ex_map mcr_ex_map;

int mcr_ex_map_new(mcr_ex_map **out);
void mcr_ex_map_free(mcr_ex_map *m);
/* Insert key -> value. Returns 1 when inserted, 0 when the key was present
 * (*existing, if not NULL, gets its value; the map is unchanged), or MCR_ENOMEM. */
int mcr_ex_map_put(mcr_ex_map *m, const char *key, size_t keylen, long value, long *existing);
/* 1 and *value when found, else 0. */
int mcr_ex_map_get(const mcr_ex_map *m, const char *key, size_t keylen, long *value);
size_t mcr_ex_map_count(const mcr_ex_map *m);

/* ---- spill: records grouped by person ------------------------------------ */

typedef struct mcr_ex_spill mcr_ex_spill;

/*
 * Open a spill in folder dir (a dot-named temporary file there). Records are
 * appended with the functions below and written out grouped by NHS number
 * with mcr_ex_spill_emit(); mcr_ex_spill_close() removes every temporary file.
 */
int mcr_ex_spill_open(mcr_ex_spill **out, const char *dir);
void mcr_ex_spill_close(mcr_ex_spill *s); /* accepts NULL */

/* A person's attributes (p->nhs is the key). When several are spilled for one
 * NHS number the first is used; a person with items but none spilled is
 * written with its NHS number only. */
int mcr_ex_spill_person(mcr_ex_spill *s, const mcr_staged_person *p);
int mcr_ex_spill_item(mcr_ex_spill *s, const char *nhs, const mcr_staged_item *it);
/* One item of this person withheld for reason r (a per-person <withheld>). */
int mcr_ex_spill_withheld(mcr_ex_spill *s, const char *nhs, mcr_section sec, mcr_reason r);

/*
 * Write every person with mcr_staged_person_begin / write_item /
 * write_withheld / person_end, grouped by NHS number, items in the order
 * spilled. Memory: at most about the spill limit (mcr_extract_set_spill_limit)
 * plus an index of the records in memory at once.
 */
int mcr_ex_spill_emit(mcr_ex_spill *s, mcr_staged_writer *w);

/* The folder <staging>/<ODS>/<dataset>, created when missing. */
int mcr_ex_stage_folder(mcr_buf *out, const char *staging_dir, const mcr_org *org);

/* Report a refusal through the notice hook (mcr_extract_set_notice); a no-op
 * without one. */
void mcr_ex_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Normalise s in place: runs of white space become one space, trimmed. */
void mcr_ex_squeeze(char *s);

#endif
