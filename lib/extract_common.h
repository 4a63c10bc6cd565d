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
 * the folder input (recursively, dot names skipped) whose name ends in .xml or
 * .xml.gz, sorted by path. *files is freed with ex_files_free(). A missing input
 * is MCR_EIO naming it; an empty folder gives zero files.
 */
int ex_list_xml_files(const char *input, char ***files, size_t *n);
void ex_files_free(char **files, size_t n);

/* 1 if s is a valid calendar date YYYY-MM-DD (exactly 10 characters). */
int ex_is_date(const char *s);

/* ---- string -> index map ------------------------------------------------- */

typedef struct ex_map ex_map;

int ex_map_new(ex_map **out);
void ex_map_free(ex_map *m);
/* Insert key -> value. Returns 1 when inserted, 0 when the key was present
 * (*existing, if not NULL, gets its value; the map is unchanged), or MCR_ENOMEM. */
int ex_map_put(ex_map *m, const char *key, size_t keylen, long value, long *existing);
/* 1 and *value when found, else 0. */
int ex_map_get(const ex_map *m, const char *key, size_t keylen, long *value);
size_t ex_map_count(const ex_map *m);

/* ---- spill: records grouped by person ------------------------------------ */

typedef struct ex_spill ex_spill;

/*
 * Open a spill in folder dir (a dot-named temporary file there). Records are
 * appended with the functions below and written out grouped by NHS number
 * with ex_spill_emit(); ex_spill_close() removes every temporary file.
 */
int ex_spill_open(ex_spill **out, const char *dir);
void ex_spill_close(ex_spill *s); /* accepts NULL */

/* A person's attributes (p->nhs is the key). When several are spilled for one
 * NHS number the first is used; a person with items but none spilled is
 * written with its NHS number only. */
int ex_spill_person(ex_spill *s, const mcr_staged_person *p);
int ex_spill_item(ex_spill *s, const char *nhs, const mcr_staged_item *it);
/* One item of this person withheld for reason r (a per-person <withheld>). */
int ex_spill_withheld(ex_spill *s, const char *nhs, mcr_section sec, mcr_reason r);

/*
 * Write every person with mcr_staged_person_begin / write_item /
 * write_withheld / person_end, grouped by NHS number, items in the order
 * spilled. Memory: at most about the spill limit (mcr_extract_set_spill_limit)
 * plus an index of the records in memory at once.
 */
int ex_spill_emit(ex_spill *s, mcr_staged_writer *w);

/* The folder <staging>/<ODS>/<dataset>, created when missing. */
int ex_stage_folder(mcr_buf *out, const char *staging_dir, const mcr_org *org);

/* Normalise s in place: runs of white space become one space, trimmed. */
void ex_squeeze(char *s);

#endif
