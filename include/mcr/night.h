/*
 * The nightly job runner behind jobs/mcr-nightly (docs/OPERATIONS.md): one run is
 *
 *   1. take the run lock <lock_path>.night (distinct from the loader's own lock,
 *      which mcr-load takes itself);
 *   2. run each organisation's extractor (mcr-extract-<kind> --config F --org ODS
 *      --input SOURCE) for the organisations in scope that have a source, up to
 *      opt->jobs at once (they are independent), their log lines, counts and
 *      failures taken in the config's order whatever order they end in; a failed
 *      extract leaves <staging>/<ODS>/<dataset>/<stamp>.failed (its one-line error)
 *      and the others go on;
 *   3. run mcr-load --config F;
 *   4. after a load that published: move the staged files the new generation was
 *      built from (and older ones of the same folder, never to be loaded) into
 *      <archive>/<ODS>/<dataset>/, prune the archive by retention.archive_days and
 *      check the loader kept no more than retention.generations generations;
 *   5. judge each organisation in scope in the published generation as the coverage
 *      report does (mcr_freshness_judge): anything but OK makes the run degraded;
 *   6. run mcr-report --config F coverage, its output to opt->report_fd or the log.
 *
 * Children are run with fork + exec (no shell), found in one folder (the runner's
 * own unless $MCR_BIN names another); their stdout and stderr lines go to the log.
 * Every step is logged with the run id (<stamp>-<pid>), start, duration and exit
 * status to cfg->log_path (appended; folder created) and to syslog ("mcr-nightly",
 * LOG_DAEMON) where there is one.
 */
#ifndef MCR_NIGHT_H
#define MCR_NIGHT_H

#include <stddef.h>
#include <time.h>

#include "mcr/buf.h"
#include "mcr/config.h"

#define MCR_NIGHT_MAX_JOBS 64

typedef struct mcr_night_options {
	const char *bin_dir;        /* folder of the mcr-* programs; NULL: mcr_night_bin_dir() */
	int only_kind;              /* -1: every kind; else the mcr_org_kind to extract */
	const char *const *orgs;    /* extract only these ODS codes (NULL or norgs 0: all) */
	size_t norgs;
	int report;                 /* 1: run mcr-report coverage at the end */
	int report_fd;              /* where the report's stdout goes (e.g. 1); -1: the log */
	int wait;                   /* 1: block on the run lock instead of returning MCR_ELOCKED */
	int jobs;                   /* extracts run at once; 0: the number of processors
	                               (at most MCR_NIGHT_MAX_JOBS) */
	/* Called with every log line (newline-terminated, len bytes) after it is in the
	 * log and syslog, for the program to render (mcr-nightly echoes them on an
	 * interactive stderr); NULL: none. The library itself never prints. */
	void (*on_log)(void *ctx, const char *line, size_t len);
	void *ctx;
} mcr_night_options;

typedef struct mcr_night_result {
	char run_id[64];            /* <YYYYMMDDTHHMMSSZ>-<pid> */
	int status;                 /* MCR_EXIT_OK, MCR_EXIT_REJECTED (degraded),
	                               MCR_EXIT_FAILED or MCR_EXIT_LOCKED */
	int extracts, extracts_failed;
	int load_status;            /* mcr-load's exit status; -1 when it did not run */
	int report_status;          /* mcr-report's exit status; -1 when it did not run */
	long generation;            /* generation published after the run; 0 when none */
	long archived, pruned;      /* staged files archived, archived files pruned */
	double seconds;             /* wall time of the run */
	mcr_buf failed_orgs;        /* ODS codes whose extract failed, space-separated */
	mcr_buf stale_orgs;         /* ODS codes not OK (STALE, FAILED, NEVER) in the store */
	mcr_buf problems;           /* why the run is not good, one reason a line ("\n"-
	                               separated): failed extracts with their error,
	                               organisations not OK, load or step failures */
} mcr_night_result;

/*
 * Run one night for cfg (the config file cfg->path is passed to every child).
 * Returns 0 when the run took place, its outcome in res->status (res is reset
 * first; free its buffers with mcr_night_result_free even on failure). Returns
 * MCR_ELOCKED (res->status MCR_EXIT_LOCKED) when another run holds the run lock
 * and opt->wait is 0, MCR_EIO when the log or the lock cannot be opened,
 * MCR_ENOMEM; the message is set.
 */
int mcr_night_run(const mcr_config *cfg, const mcr_night_options *opt, mcr_night_result *res);

void mcr_night_result_free(mcr_night_result *res);

/* The folder holding the mcr-* programs: $MCR_BIN when set, else the folder of the
 * running executable (/proc/self/exe). Appended to out. 0, MCR_EIO or MCR_ENOMEM. */
int mcr_night_bin_dir(mcr_buf *out);

/*
 * Record a failed extract for the loader: <staging>/<org>/<dataset>/<stamp of
 * when>.failed holding why (one line), written atomically. 0 or MCR_EIO/ENOMEM.
 */
int mcr_night_mark_failed(const char *staging_dir, const char *org, const char *dataset,
                          time_t when, const char *why);

/*
 * Move the staged files of staging/<org>/<dataset>/ whose stamp is at or before
 * the stamp of loaded_manifest (a manifest path or name, <stamp>.yaml) into
 * archive/<org>/<dataset>/: manifests first, so staging never holds a manifest
 * without its payload, then payloads and leftover .failed markers; fsyncs both
 * folders. Adds the files moved to *moved. 0 or MCR_EIO/ENOMEM.
 */
int mcr_night_archive(const char *staging_dir, const char *archive_dir, const char *org,
                      const char *dataset, const char *loaded_manifest, long *moved);

/*
 * Delete archived files (archive/<org>/<dataset>/<stamp>.*) whose stamp is more
 * than days days before now. Adds the files deleted to *removed. Files whose name
 * does not start with a stamp are left alone. 0 or MCR_EIO/ENOMEM.
 */
int mcr_night_prune_archive(const char *archive_dir, time_t now, int days, long *removed);

/* Number of generation files (gen-*.sqlite) in store_dir; 0 when it is missing. */
long mcr_night_count_generations(const char *store_dir);

#endif
