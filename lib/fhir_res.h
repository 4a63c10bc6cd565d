/*
 * One FHIR resource as (path, value) pairs: the model every GP format reader
 * (fhir_xml.c: XML through SAX2; fhir_json.c: JSON and NDJSON through yajl)
 * produces and extract_gp.c's rules read, so the rules run once for every
 * format. Private to libmcr.
 *
 * The model is the XML one. A path is the element names below the resource
 * joined by '/' ("code/coding/system"); a pair is an element's value
 * attribute. In JSON an array is the element repeated, a primitive is its
 * value, numbers and booleans keep their text, a contained resource's
 * resourceType is its element ("contained/Patient/id"), `_field` (a
 * primitive's extensions) is the element `field`, and what XML has as
 * attributes rather than value elements (`id` of a datatype, `url` of an
 * extension) and the narrative's `div` are not pairs in either format.
 *
 * Not thread-safe: one reader per thread.
 */
#ifndef MCR_FHIR_RES_H
#define MCR_FHIR_RES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mcr/buf.h"

#define MCR_FHIR_MAX_RESOURCE_BYTES ((size_t)8 << 20)
#define MCR_FHIR_MAX_DEPTH 64
#define NANC 5

typedef struct fpair {
	size_t path, value; /* offsets in the arena */
	uint32_t hash;      /* of the path: most lookups miss on it, without a strcmp */
	int depth;          /* depth of the element relative to the resource */
	int anc[NANC];      /* element ids of its ancestors at depths 1..NANC (itself included) */
} fpair;

typedef struct fres {
	char type[64];        /* resourceType */
	const char *full_url; /* the Bundle entry's fullUrl, or NULL */
	const char *file;     /* the file it came from */
	int line;             /* where it starts in that file */
	int root;             /* 1: the file's root (or an NDJSON line), 0: a Bundle entry */
	mcr_buf arena;
	fpair *pairs;
	size_t n, cap;
	/* An index of the pairs by path hash, built by the rules when a resource is
	 * looked up often (mcr_fhir_res_index); any change to the pairs drops it. */
	uint32_t *idx_head, *idx_next; /* bucket -> first pair; pair -> next pair of its bucket */
	size_t idx_buckets;            /* in use: a power of two */
	size_t idx_alloc, idx_cap;     /* idx_head's and idx_next's sizes */
	int idx_ok;                    /* the index is of the current pairs */
	int idx_misses;                /* lookups without it since the pairs changed */
} fres;

#define PATH_HASH_INIT 2166136261u /* FNV-1a */

static inline uint32_t hash_more(uint32_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static inline uint32_t path_hash(const char *s, size_t n)
{
	return hash_more(PATH_HASH_INIT, s, n);
}

/*
 * Append a (path, value) pair; value is value_len bytes, or when raw_end is
 * not NULL the SAX attribute value from value to raw_end (decoded). 0,
 * MCR_ENOMEM, or MCR_ELIMIT naming r->file and r->line when the resource
 * grows beyond MCR_FHIR_MAX_RESOURCE_BYTES.
 */
int mcr_fhir_res_push(fres *r, const char *path, size_t plen, uint32_t hash, const char *value,
                      size_t value_len, const char *raw_end, int depth, const int *anc);

/* Empty r for a new resource of type (NUL-terminated, or NULL: not known yet). */
void mcr_fhir_res_begin(fres *r, const char *type, size_t type_len, int line, int root);

/* Set r's type. */
void mcr_fhir_res_set_type(fres *r, const char *type, size_t type_len);

void mcr_fhir_res_free(fres *r);

/*
 * Build r's path index (idx_ok set): idx_head[hash & (idx_buckets - 1)] is the
 * first pair of that bucket, idx_next[i] the next after pair i, in pair order,
 * MCR_FHIR_NO_PAIR ending a chain. 0 or MCR_ENOMEM (message set).
 */
#define MCR_FHIR_NO_PAIR UINT32_MAX
int mcr_fhir_res_index(fres *r);

/*
 * Records of resources in a scratch file (fd: an empty temporary file opened by
 * the caller, read and written through here only, closed by the caller after
 * close), so that a second pass over an export reads the model back instead of
 * parsing the files again. The records hold withheld content too, so the file
 * is sealed (seal.h: encrypted and authenticated under a key that lives only in
 * this process's memory). save appends r with its file number; after rewind,
 * load reads the records back in order into r (r->file set to files[file],
 * full_url pointing into r). open: 0, MCR_ENOMEM or MCR_EIO; save and rewind:
 * 0 or MCR_EIO, MCR_ENOMEM, MCR_ELIMIT; load: 1, 0 at the end, or
 * MCR_EIO/MCR_EFORMAT (the file is not what was written)/MCR_ENOMEM. Not
 * thread-safe; close wipes the key and frees the table, not fd.
 */
typedef struct mcr_fhir_replay mcr_fhir_replay;

int mcr_fhir_replay_open(mcr_fhir_replay **out, int fd);
int mcr_fhir_replay_save(mcr_fhir_replay *rp, const fres *r, size_t file);
int mcr_fhir_replay_rewind(mcr_fhir_replay *rp);
int mcr_fhir_replay_load(mcr_fhir_replay *rp, fres *r, size_t *file, char *const *files,
                         size_t nfiles);
void mcr_fhir_replay_close(mcr_fhir_replay *rp); /* accepts NULL */

/* ---- the element path of the resource being read --------------------------- */

typedef struct fhir_path {
	char s[1024];
	size_t len;
	size_t len_at[MCR_FHIR_MAX_DEPTH + 1];
	uint32_t hash; /* path_hash of s, extended per element */
	uint32_t hash_at[MCR_FHIR_MAX_DEPTH + 1];
	int anc[NANC];
	int next_id;
} fhir_path;

void mcr_fhir_path_reset(fhir_path *p);

/* Enter the element name (n bytes) at depth rel (1..MCR_FHIR_MAX_DEPTH) below
 * the resource. 0, or MCR_ELIMIT (message names r's file, line and type) when
 * the path or the depth is too long. */
int mcr_fhir_path_enter(fhir_path *p, const fres *r, int rel, const char *name, size_t n);

/* Leave the element at depth rel: the path is its parent's again. */
void mcr_fhir_path_leave(fhir_path *p, int rel);

/* A pair for the element the path is at (depth rel), value as for mcr_fhir_res_push. */
int mcr_fhir_path_push(fhir_path *p, fres *r, int rel, const char *value, size_t value_len,
                       const char *raw_end);

/* ---- readers ------------------------------------------------------------------ */

/*
 * What a reader calls back with, and what it may skip. The caller sets the
 * first four fields; the rest is the readers' state, zero before the first
 * file and freed with mcr_fhir_reader_free().
 */
typedef struct mcr_fhir_reader {
	/* Each complete resource of a file, in file order: 0 to go on, or a negative
	 * MCR_E* (message set) that stops the read and is returned. */
	int (*on_resource)(void *ctx, fres *r);
	void *ctx;
	/* When not NULL: of resources other than type `whole`, only these top-level
	 * elements (NULL-terminated) are read. An optimisation only: a reader may
	 * read more. */
	const char *const *only;
	const char *whole;

	fres res;
	fhir_path path;
	mcr_buf full_url;
} mcr_fhir_reader;

/* The input formats, by file name. */
typedef enum mcr_fhir_format {
	MCR_FHIR_XML,
	MCR_FHIR_JSON,
	MCR_FHIR_NDJSON,
} mcr_fhir_format;

/* .json / .json.gz: JSON, .ndjson / .ndjson.gz: NDJSON, anything else: XML. */
mcr_fhir_format mcr_fhir_format_of(const char *path);

/*
 * Read one file (plain or gzip, by content) calling rd->on_resource for each
 * resource: a Bundle's entry resources, or the root resource (r->root set),
 * or each line of NDJSON. Bad input is MCR_EFORMAT naming the file and line
 * (and column for JSON).
 */
int mcr_fhir_read(mcr_fhir_reader *rd, const char *path);
int mcr_fhir_read_xml(mcr_fhir_reader *rd, const char *path);
int mcr_fhir_read_json(mcr_fhir_reader *rd, const char *path, int ndjson);

/* JSON over bytes in memory (the fuzz target), named name in messages. */
int mcr_fhir_read_json_memory(mcr_fhir_reader *rd, const char *data, size_t len,
                              const char *name, int ndjson);

void mcr_fhir_reader_free(mcr_fhir_reader *rd);

#endif
