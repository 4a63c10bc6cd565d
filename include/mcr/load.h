/*
 * mcr-load: all complete staged files -> a new store generation, published
 * atomically (docs/LOAD.md for the rules, docs/STORE.md for the store).
 *
 * One run, under the run lock (cfg->lock_path):
 *   - per configured organisation, the newest complete staged file is loaded,
 *     carried over unchanged (same file as the data held), or rejected (corrupt,
 *     a replay of an extract not newer than the one held, or a .failed marker
 *     newer than the data held) and moved to quarantine with a reason file; a
 *     rejected organisation keeps its last good data, flagged stale;
 *   - the consent rules are applied again to every person and item, every
 *     suppression counted by organisation and reason;
 *   - the objections staged equal the objections in the new generation, per
 *     organisation, or the run fails and publishes nothing;
 *   - generation N+1 is built as <store>/gen-NNNNNN.sqlite, checked, fsynced and
 *     published by renaming a symlink onto <store>/current; the last
 *     cfg->keep_generations generations are kept; history.sqlite records the run.
 * A crash at any point leaves the published generation as it was.
 *
 * The library neither prints nor exits: progress and warnings go to the
 * caller's mcr_load_options.on_event. Thread safety: one run at a time per
 * store (the run lock); mcr_load_run keeps no static state, and its errors are
 * the calling thread's (mcr/error.h).
 *
 * Test hook: $MCR_LOAD_CRASH_AT = parsed | inserted | indexed | checked | linked
 * makes the run kill itself (SIGKILL) at that point (after the first staged file
 * is streamed; after every source is in; after the index; after the checks and
 * fsync; after the new link is made but before it is renamed onto 'current').
 * On PostgreSQL, linked is the flip of mcr.published made but not committed, and
 * published just after the commit. $MCR_LOAD_STOP_AT = the same phases stops the
 * run there (SIGSTOP) until it gets SIGCONT.
 */
#ifndef MCR_LOAD_H
#define MCR_LOAD_H

#include "mcr/buf.h"
#include "mcr/config.h"

/*
 * What a run reports while it works, through mcr_load_options.on_event. The
 * library never prints: the program renders these (loader/mcr-load.c on stderr).
 * Strings are valid only during the call.
 */
typedef enum mcr_load_event_kind {
	MCR_LOAD_EVENT_ITEMS,    /* items inserted: org ("all" when final), done, total, rate,
	                          * eta; at most twice a second, and once with final = 1 */
	MCR_LOAD_EVENT_PHASE,    /* a phase after the insert begins: text, elapsed */
	MCR_LOAD_EVENT_REJECTED, /* a staged file (or .failed marker) rejected: org, path, text
	                          * (why); the file goes to quarantine */
	MCR_LOAD_EVENT_CPU,      /* after the insert: parse_cpu, insert_cpu (CPU seconds) */
	MCR_LOAD_EVENT_WARNING,  /* a failure after the generation was published (quarantine,
	                          * pruning old generations): text; the run still succeeds */
	MCR_LOAD_EVENT_HELD,     /* whatever progress: a staged file held by the night-on-night
	                          * guard: org, path, text (the fall); it stays in staging and the
	                          * organisation keeps its data until accepted */
	MCR_LOAD_EVENT_ACCEPTED, /* whatever progress: a file the guard would hold, loaded
	                          * because the operator accepted it: org, path, text (the fall) */
} mcr_load_event_kind;

typedef struct mcr_load_event {
	mcr_load_event_kind kind;
	const char *org;         /* ITEMS, REJECTED, HELD, ACCEPTED */
	const char *path;        /* REJECTED: the manifest or marker; HELD, ACCEPTED: the manifest */
	const char *text;        /* PHASE: what; REJECTED: why; WARNING: the message; HELD,
	                          * ACCEPTED: the fall ("people 120 -> 0, items 5400 -> 0: ...") */
	long done, total;        /* ITEMS */
	double rate;             /* ITEMS: items a second */
	double eta;              /* ITEMS: seconds left, < 0 when not known */
	double elapsed;          /* seconds since the run began */
	double parse_cpu, insert_cpu;
	int final;               /* ITEMS: the last one */
} mcr_load_event;

typedef void (*mcr_load_event_fn)(const mcr_load_event *ev, void *ctx);

typedef struct mcr_load_options {
	int progress;            /* 1: ITEMS, PHASE, REJECTED and CPU events too */
	mcr_load_event_fn on_event; /* NULL: nothing reported; called on the calling thread */
	void *ctx;               /* passed to on_event */
	/* ODS codes (configured organisations) whose newest staged file is loaded even
	 * though the night-on-night guard would hold it: the operator's acceptance
	 * (mcr-load --accept), recorded in the load history. */
	const char *const *accept;
	size_t naccept;
} mcr_load_options;

typedef struct mcr_load_summary {
	long generation;       /* generation published; 0 when none */
	int orgs;              /* configured organisations */
	int loaded;            /* status current: loaded from a new staged file */
	int unchanged;         /* carried over: no newer staged file */
	int stale;             /* carried over: newest file rejected */
	int never;             /* no good data ever loaded */
	long files;            /* staged files (and .failed markers) examined in this run */
	long rejected;         /* of which rejected and quarantined */
	long people, items;    /* in the new generation */
	long withheld;         /* suppressions counted in the new generation */
	double seconds;
	int held;              /* carried over: newest file held by the night-on-night guard */
	long held_files;       /* files examined that were held (left in staging) */
	long accepted;         /* files examined that were loaded on the operator's acceptance */
} mcr_load_summary;

/*
 * Run one load with configuration cfg. On 0 a generation was published and *sum
 * describes it (sum->rejected or sum->held_files > 0: exit status 3). Errors:
 * MCR_EUSAGE (an --accept code that is not a configured organisation; nothing
 * done), MCR_ELOCKED (another run holds the lock; nothing done), or any other
 * negative code with the message naming what failed (nothing published; the
 * store is as it was). *sum is filled as far as the run got in every case.
 *
 * Night-on-night guard (docs/LOAD.md): an organisation holding data whose newest
 * staged file has none, or more than cfg->hold_drop_percent (and at least
 * cfg->hold_min_fall) fewer, people, members or items, or none in a section that
 * held at least hold_min_fall items (its manifest's counts against the data
 * held) is held: not loaded, left
 * in staging, its data carried over with status held (source_held has the
 * figures), recorded in the history as 'held'; unless opt->accept names it and an
 * earlier run held that same file (the fall the operator saw), when the file is
 * loaded and recorded as 'accepted'. A first load is never held.
 */
int mcr_load_run(const mcr_config *cfg, const mcr_load_options *opt, mcr_load_summary *sum);

/* The exit status for mcr_load_run's result: 0, 3 (rejected or held files), 1, 2,
 * 75, ... */
int mcr_load_exit_status(int rc, const mcr_load_summary *sum);

/* The one-line summary printed at the end of a run (no newline), into out
 * (appended). 0 or MCR_ENOMEM. */
int mcr_load_summary_line(int rc, const mcr_load_summary *sum, mcr_buf *out);

#endif
