/*
 * The store behind its backends (internal to libmcr; include/mcr/store.h is the
 * public, backend-neutral face). One struct of function pointers per concern,
 * one implementation per backend: *_sqlite.c (SQLite files, the default) and
 * *_pg.c (PostgreSQL, config store.backend: postgresql). No SQL text outside
 * the backend files; the rules (consent, freshness, reports) read through the
 * named queries below and run unchanged on either backend.
 *
 * ---- reader part -------------------------------------------------------------
 *
 * A reader opens one published generation (mcr_store_gen, opaque) and runs the
 * named domain queries of mcr_store_q on it. Every query of one open generation
 * sees that generation only, whatever is published meanwhile: SQLite reads one
 * immutable file in one read transaction; PostgreSQL reads the pointer row
 * mcr.published once, in a REPEATABLE READ read-only transaction, and runs every
 * query of the open generation in that generation's schema.
 *
 * Rows come back to a callback with every column as text (SQL NULL as NULL;
 * integers in decimal), valid only during the call. A callback returning
 * non-zero stops the query, which returns that value. A callback may run other
 * queries on the same generation, but not the same query again (its statement
 * is in use).
 *
 * Thread safety: an open generation is used by one thread at a time; backends
 * keep per-thread connections (a thread's connection is reused by its next
 * lookup) and no other shared state.
 */
#ifndef MCR_STORE_BACKEND_H
#define MCR_STORE_BACKEND_H

#include <stddef.h>

#include "mcr/config.h"
#include "mcr/store.h"

/* The domain reads. Parameters and columns of each, in order; orders are exact
 * (byte order of the text, as SQLite's BINARY collation). */
typedef enum mcr_store_q {
	/* lookup: the sources a view names. () -> org, kind, name, status, extracted
	 * ORDER BY org */
	MCR_SQ_VIEW_SOURCES,
	/* (nhs) -> org, family, given, birth_date, gender, address, postcode, phone
	 * ORDER BY org */
	MCR_SQ_PERSON,
	/* (nhs) -> section, org, date, system, code, display, status, details (JSON
	 * text) ORDER BY date DESC (undated last), id */
	MCR_SQ_ITEMS,
	/* (nhs) -> org, since ORDER BY org */
	MCR_SQ_OBJECTIONS,
	/* (nhs) -> org, section, count summed over reasons, ORDER BY org, section */
	MCR_SQ_PERSON_WITHHELD,
	/* (nhs, org) -> one row when nhs is on org's own list */
	MCR_SQ_MEMBER,
	/* freshness: () -> org, name, status, extracted, rejected_reason, people,
	 * items ORDER BY org */
	MCR_SQ_FRESH_SOURCES,
	/* (org) -> manifest, extracted, people, items of the file held; no row when
	 * none is held (or the generation predates source_held) */
	MCR_SQ_HELD,
	/* coverage: () -> org, dataset, name, status, extracted, loaded, shares_from,
	 * rejected_file, rejected_reason, people, members, items, objections
	 * ORDER BY org */
	MCR_SQ_COVERAGE_SOURCES,
	/* () -> org, section, people, items */
	MCR_SQ_COVERAGE_SECTIONS,
	/* () -> org, reason, count */
	MCR_SQ_COVERAGE_WITHHELD,
	/* () -> built_at (no row when unknown) */
	MCR_SQ_BUILT_AT,
	/* break-glass: (nhs) -> org, section of everything the person's lookups could
	 * show: person rows as 'demographics', items by section, objections as '' */
	MCR_SQ_HOLDERS,
	/* nightly archive: () -> org, dataset, manifest of every source loaded from a
	 * staged file in this generation (status current, manifest known) ORDER BY org */
	MCR_SQ_NIGHT_MANIFESTS,
	/* (org) -> status, extracted, rejected_reason */
	MCR_SQ_NIGHT_SOURCE,
	MCR_SQ_COUNT
} mcr_store_q;

/* What each query reads, for messages: "sources", "demographics", ... */
const char *mcr_store_q_what(mcr_store_q q);

/* Number of parameters of each query. */
int mcr_store_q_nparams(mcr_store_q q);

typedef struct mcr_store_row {
	const char *const *v;   /* column text, NULL for SQL NULL */
	const size_t *len;      /* byte lengths */
	int n;
} mcr_store_row;

typedef int (*mcr_store_row_fn)(void *arg, const mcr_store_row *row);

/* A column as a long (0 for NULL or text that is not a number). */
long mcr_store_row_long(const mcr_store_row *row, int i);

/* The load history's reads (reports). Parameters and columns: */
typedef enum mcr_history_q {
	/* () -> run_id, outcome, finished, generation of the newest run */
	MCR_HQ_LAST_RUN,
	/* (limit; <= 0 all) -> run_id, started, finished, outcome, generation, files,
	 * rejected, people, items, message, newest first */
	MCR_HQ_RUNS,
	/* (limit) -> run_id, org, dataset, manifest, reason of the rejected files of
	 * those runs, newest run first, then org, dataset, manifest */
	MCR_HQ_REJECTED,
	/* (limit) -> run_id, org, dataset, outcome, manifest, reason of the held and
	 * accepted files of those runs, in the same order */
	MCR_HQ_GUARD,
	/* () -> run_id, seq, hash of the audit checkpoints recorded by loads, by seq;
	 * no row from a history older than the table */
	MCR_HQ_CHECKPOINTS,
	MCR_HQ_COUNT
} mcr_history_q;

typedef struct mcr_history mcr_history; /* the load history open for reading */

typedef struct mcr_store_reader_ops mcr_store_reader_ops;

/* Each backend's open generation and history begin with these, so the
 * backend-neutral calls find their backend. */
struct mcr_store_gen {
	const mcr_store_reader_ops *ops;
};
struct mcr_history {
	const mcr_store_reader_ops *ops;
};

struct mcr_store_reader_ops {
	const char *name; /* "sqlite", "postgresql" */
	/* Open the published generation (*generation set): MCR_ENOTFOUND when none is
	 * published; MCR_EIO when the store cannot be reached or read. */
	int (*open_current)(const mcr_config *cfg, mcr_store_gen **out, long *generation);
	/* Open kept generation n: MCR_ENOTFOUND when it is not kept. */
	int (*open_generation)(const mcr_config *cfg, long n, mcr_store_gen **out);
	/* Run query q with params (mcr_store_q_nparams of them). */
	int (*query)(mcr_store_gen *g, mcr_store_q q, const char *const *params, mcr_store_row_fn fn,
	             void *arg);
	/* Where the generation is, for messages ("store /srv/store/gen-000003.sqlite"). */
	const char *(*where)(const mcr_store_gen *g);
	void (*close)(mcr_store_gen *g); /* accepts NULL */
	/* The published generation's number and age in seconds (-1 when unknown),
	 * without opening it: MCR_ENOTFOUND when none is published. */
	int (*status)(const mcr_config *cfg, long *generation, long long *age);

	/* The load history: MCR_ENOTFOUND when no load has run yet, the message
	 * naming what is missing ("no /srv/store/history.sqlite"). */
	int (*history_open)(const mcr_config *cfg, mcr_history **out);
	int (*history_query)(mcr_history *h, mcr_history_q q, const char *const *params,
	                     mcr_store_row_fn fn, void *arg);
	const char *(*history_where)(const mcr_history *h);
	void (*history_close)(mcr_history *h);
};

extern const mcr_store_reader_ops mcr_store_sqlite_reader;
extern const mcr_store_reader_ops mcr_store_pg_reader;

/* The reader of cfg's backend. */
const mcr_store_reader_ops *mcr_store_reader(const mcr_config *cfg);

/* Run q on g (the backend of g). */
int mcr_store_query(mcr_store_gen *g, mcr_store_q q, const char *const *params,
                    mcr_store_row_fn fn, void *arg);

/* Open, query and close the load history of cfg's backend. */
int mcr_history_open(const mcr_config *cfg, mcr_history **out);
int mcr_history_query(mcr_history *h, mcr_history_q q, const char *const *params,
                      mcr_store_row_fn fn, void *arg);
const char *mcr_history_where(const mcr_history *h);
void mcr_history_close(mcr_history *h);

#endif
