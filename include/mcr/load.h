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
 * Test hook: $MCR_LOAD_CRASH_AT = parsed | inserted | indexed | checked | linked
 * makes the run kill itself (SIGKILL) at that point (after the first staged file
 * is streamed; after every source is in; after the index; after the checks and
 * fsync; after the new link is made but before it is renamed onto 'current').
 */
#ifndef MCR_LOAD_H
#define MCR_LOAD_H

#include "mcr/buf.h"
#include "mcr/config.h"

typedef struct mcr_load_options {
	int progress;          /* 1: progress line (items, rate, time left) on stderr */
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
} mcr_load_summary;

/*
 * Run one load with configuration cfg. On 0 a generation was published and *sum
 * describes it (sum->rejected > 0: some files rejected, exit status 3). Errors:
 * MCR_ELOCKED (another run holds the lock; nothing done), or any other negative
 * code with the message naming what failed (nothing published; the store is as
 * it was). *sum is filled as far as the run got in every case.
 */
int mcr_load_run(const mcr_config *cfg, const mcr_load_options *opt, mcr_load_summary *sum);

/* The exit status for mcr_load_run's result: 0, 3 (rejected files), 1, 75, ... */
int mcr_load_exit_status(int rc, const mcr_load_summary *sum);

/* The one-line summary printed at the end of a run (no newline), into out
 * (appended). 0 or MCR_ENOMEM. */
int mcr_load_summary_line(int rc, const mcr_load_summary *sum, mcr_buf *out);

#endif
