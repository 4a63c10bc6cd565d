/*
 * Private to mcr-load: the store writer and the load history behind backend
 * interfaces (one struct of function pointers per concern), so that the rules
 * (consent, the night-on-night guard, the counts, the objection reconciliation,
 * lib/load*.c) run unchanged whatever holds the store. Every SQL statement of the
 * load lives in a backend file:
 *
 *   store_load_sqlite.c    generations as files gen-NNNNNN.sqlite, 'current' symlink
 *   history_load_sqlite.c  <store>/history.sqlite
 *   store_load_pg.c        generations as schemas mcr_gen_NNNNNN, pointer row mcr.published
 *   history_load_pg.c      the tables mcr.load, mcr.load_file, mcr.audit_checkpoint
 *
 * A backend keeps its state in load_run.sb (store) and load_run.hb (history).
 * Every function returns 0 or a negative mcr error code with the message set
 * (mcr/error.h); functions are called from the run's thread only.
 */
#ifndef MCR_LOAD_BACKEND_H
#define MCR_LOAD_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "mcr/consent.h"

struct load_run;
struct org_run;

/* A text field of a row: s NULL is SQL NULL; len bytes (no terminator needed). */
typedef struct load_str {
	const char *s;
	int len;
} load_str;

/* The previous generation's source row of one organisation, with its load_source
 * bookkeeping (has_range 0: none). Strings valid only during the callback. */
typedef struct load_prev_row {
	const char *org, *status, *extracted, *loaded, *manifest, *shares_from;
	long people, members, items, objections;
	int64_t len, crc, first, last;
	int has_range;
} load_prev_row;

/* One item to insert: its id, section name, and the staged fields. */
typedef struct load_item_row {
	int64_t id;
	const char *section;
	load_str nhs, date, system, code, display, status, source_id, details;
} load_item_row;

/* What goes into the new generation's source tables for one organisation
 * (decided by load_publish.c; a backend writes it as it is). */
typedef struct load_source_row {
	const char *org, *dataset, *kind, *name, *status;
	const char *extracted, *loaded, *shares_from, *manifest;   /* NULL: no data */
	const char *rejected_file, *rejected_reason;
	long people, members, items, objections;
	long sec_people[MCR_SECTION_COUNT], sec_items[MCR_SECTION_COUNT]; /* 0 and 0: no row */
	long withheld[MCR_REASON_COUNT];                                  /* 0: no row */
	int has_range;                  /* a load_source row: */
	int64_t len, crc, first, last;
	int held;                       /* a source_held row: */
	const char *held_manifest, *held_extracted, *held_reason;
	long held_people, held_items;
} load_source_row;

/* Tables whose rows are counted per organisation before publishing. */
typedef enum load_table { LOAD_TABLE_MEMBER, LOAD_TABLE_PERSON, LOAD_TABLE_OBJECTION } load_table;

/* Counting callbacks: n rows of organisation ods (ods may repeat). */
typedef int (*load_count_fn)(struct load_run *r, const char *ods, long n, long *counts);
/* The objecting people's items in org's section: items, distinct people. */
typedef void (*load_obj_items_fn)(struct load_run *r, const char *org, const char *section,
                                  long items, long people);
/* The objecting people's person rows of org: rows, rows with any demographics. */
typedef void (*load_obj_people_fn)(struct load_run *r, const char *org, long rows, long demo);

typedef struct load_store_ops {
	const char *name;
	/* Open the store, take what a run needs to hold across machines (if any), and
	 * set r->cur_gen to the published generation (0: none). MCR_ELOCKED when
	 * another run holds the store. */
	int (*open)(struct load_run *r);
	/* Delete what crashed runs left: generations newer than r->cur_gen, half-made
	 * publications. */
	int (*clean)(struct load_run *r);
	/* Create generation r->new_gen (tables, no secondary index) named r->new_path,
	 * with the previous generation (r->cur_gen, if any) readable; open the
	 * transaction the rows go in. */
	int (*begin)(struct load_run *r);
	/* Each source row of the previous generation, to row. */
	int (*read_prev)(struct load_run *r, int (*row)(struct load_run *r, const load_prev_row *p));
	/* The previous generation's source_section counts of ods (by mcr_section). */
	int (*prev_sections)(struct load_run *r, const char *ods, long *people, long *items);
	/* The previous generation's withheld counts of ods (by mcr_reason). */
	int (*prev_withheld)(struct load_run *r, const char *ods, long *withheld);
	/* The indexes of the store schema: called before the insert when the
	 * generation is small (after_insert 0), and always after it (after_insert 1:
	 * build them unless built before; r->indexed_early says it was). */
	int (*index)(struct load_run *r, int after_insert);
	/* Streaming o's rows in (between stream_begin and stream_end). A row that
	 * repeats a key of the same organisation is the file's fault: MCR_EFORMAT
	 * (mcr_load_listed_twice); stream_end may report it instead of the put. */
	int (*stream_begin)(struct load_run *r, const struct org_run *o);
	int (*put_member)(struct load_run *r, const struct org_run *o, load_str nhs);
	int (*put_person)(struct load_run *r, const struct org_run *o, load_str nhs,
	                  const load_str *fields /* family, given, birth_date, gender, address,
	                                            postcode, phone */);
	/* An objection of a person already objecting in this file adds no row. */
	int (*put_objection)(struct load_run *r, const struct org_run *o, load_str nhs, load_str since);
	int (*put_item)(struct load_run *r, const struct org_run *o, const load_item_row *it);
	/* Added to a count of the same person, section and reason. */
	int (*put_withheld)(struct load_run *r, const struct org_run *o, load_str nhs,
	                    mcr_section section, mcr_reason reason, long count);
	/* The stream is over (ok 0: it failed and its rows will be discarded); the
	 * objection rows it added. */
	int (*stream_end)(struct load_run *r, const struct org_run *o, int ok, long *objection_rows);
	/* Remove o's rows: items with id >= o->first, o's rows of the other tables. */
	int (*discard_org)(struct load_run *r, const struct org_run *o);
	/* Copy o's items [o->prev_first, o->prev_last] from the previous generation,
	 * ids shifted to begin at to_first, in order; *copied rows. */
	int (*carry_items)(struct load_run *r, const struct org_run *o, int64_t to_first, long *copied);
	/* Copy member, person, person_withheld and objection rows of the organisations
	 * ods[0..n) from the previous generation. */
	int (*carry_tables)(struct load_run *r, const char *const *ods, size_t n);
	/* People with an objection held by one of by[0..nby): report (items, people)
	 * then delete their items, person and person_withheld rows of the
	 * organisations affected[0..naff). */
	int (*objections)(struct load_run *r, const char *const *by, size_t nby,
	                  const char *const *affected, size_t naff, load_obj_items_fn on_items,
	                  load_obj_people_fn on_people);
	/* The meta rows (schema_version, generation, built_at, region). */
	int (*write_meta)(struct load_run *r, const char *const *keys, const char *const *values,
	                  size_t n);
	int (*write_source)(struct load_run *r, const load_source_row *row);
	/* The rows of table t by organisation, through add (counts passed on). */
	int (*count_rows)(struct load_run *r, load_table t, load_count_fn add, long *counts);
	/* Items with id in [first, last]. */
	int (*count_items)(struct load_run *r, int64_t first, int64_t last, long *n);
	/* Commit, check and make the generation durable (still unpublished). */
	int (*finish)(struct load_run *r);
	/* Publish r->new_gen atomically. record (the history's end of the run) is
	 * called first, and the generation is published only if it returns 0; where
	 * the backend can, in one transaction with the publication. r->renamed is set
	 * once readers see the new generation. */
	int (*publish)(struct load_run *r, int (*record)(struct load_run *r));
	/* Delete generations numbered <= upto. */
	int (*prune)(struct load_run *r, long upto);
	/* Release everything; an unpublished new generation is deleted. Accepts a
	 * store never opened. */
	void (*close)(struct load_run *r);
} load_store_ops;

typedef struct load_history_ops {
	/* Open (create) the history; mark runs left 'running' failed (interrupted),
	 * and the last run failed if it recorded a generation newer than r->cur_gen
	 * (stopped before publishing); *runs = runs recorded so far. */
	int (*open)(struct load_run *r, long *runs);
	/* Record this run (r->run_id, r->now_iso) as running. */
	int (*insert_run)(struct load_run *r);
	/* The audit log's head, outside the audit log. */
	int (*checkpoint)(struct load_run *r, const char *taken, long seq, const char *hash);
	/* The run's end: outcome, r->sum (generation, counts), message, r->files. */
	int (*end)(struct load_run *r, const char *outcome, const char *message);
	/* Whether an earlier run held the file at manifest for ods. */
	int (*was_held)(struct load_run *r, const char *ods, const char *manifest, int *held);
	void (*close)(struct load_run *r);
} load_history_ops;

extern const load_store_ops mcr_load_store_sqlite;
extern const load_history_ops mcr_load_history_sqlite;
extern const load_store_ops mcr_load_store_pg;
extern const load_history_ops mcr_load_history_pg;

#endif
