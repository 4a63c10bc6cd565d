/*
 * The audit log (schema/audit.sql, docs/AUDIT.md): append-only, hash-chained with
 * SHA-256 (OpenSSL libcrypto), separate from the store and never rebuilt. Stored
 * in SQLite (a file, paths.audit) or PostgreSQL (store.backend: postgresql); the
 * SQL stays behind this interface (lib/audit_backend.h). The *_config functions
 * choose the backend from cfg; the path ones are the SQLite file at path.
 *
 * Thread safety: one mcr_audit handle may be shared by any number of threads for
 * mcr_audit_append() and mcr_audit_stats(); concurrent appends are group-committed
 * (one transaction and one fsync for every entry waiting). mcr_audit_open() and
 * mcr_audit_close() are not: close only after every append has returned. Other
 * processes (and nodes, on PostgreSQL) may append to the same log at the same
 * time (SQLite's write lock; a lock on the chain head in PostgreSQL).
 * The other functions take no handle and are safe from any thread.
 */
#ifndef MCR_AUDIT_H
#define MCR_AUDIT_H

#include <stddef.h>

#include "mcr/config.h"

typedef struct mcr_audit mcr_audit;

typedef struct mcr_audit_entry {
	long seq;              /* set by mcr_audit_append */
	char at[32];           /* set by mcr_audit_append: the system clock, never $MCR_NOW */
	const char *user, *org, *role, *nhs;
	const char *sections;  /* comma-separated section names */
	const char *basis;     /* implied | consent-given | consent-refused | break-glass */
	const char *reason;    /* break-glass reason, or NULL */
	const char *outcome;   /* shown | denied | self-access | no-record; also failed:
	                          the store could not be read, nothing shown */
	const char *detail;    /* why denied, or NULL */
	long generation;       /* store generation read, or 0 when none (stored NULL) */
	char hash[65];         /* set by mcr_audit_append: the entry's chain hash */
} mcr_audit_entry;

/*
 * Open the audit database at path, creating it (and its folder) when missing.
 * A new log is built complete under a temporary name and linked into place, so
 * any number of processes may open a log that does not exist yet at once: all
 * succeed and share one log. Free with mcr_audit_close().
 */
int mcr_audit_open(mcr_audit **out, const char *path);

/* Open the log cfg names: the SQLite file paths.audit, or with store.backend
 * postgresql the tables of schema mcr in that database (made when missing).
 * cfg must outlive the handle. */
int mcr_audit_open_config(mcr_audit **out, const mcr_config *cfg);

/*
 * Append e durably, chained to the last entry, and return only when it is on
 * disk (synchronous=FULL commit) or has failed. Thread-safe on a shared handle:
 * entries appended while another thread's commit is in progress wait and are
 * written together by one of them in the next transaction (group commit), each
 * caller still returning only after its own entry is durable. Safe against
 * appenders in other processes (SQLite: BEGIN IMMEDIATE with a busy timeout;
 * PostgreSQL: the chain head locked in the transaction, synchronous commit).
 * Fills e->seq, e->at (system clock) and e->hash. On failure e->seq is 0,
 * nothing of e was appended, the message is set on the caller's thread and
 * the caller must show nothing.
 */
int mcr_audit_append(mcr_audit *a, mcr_audit_entry *e);

/* Counters of a handle since it was opened: entries appended, commits made
 * (each one fsync), and entries queued behind the commit in progress. */
typedef struct mcr_audit_stats {
	long entries, commits, queued;
} mcr_audit_stats;
void mcr_audit_get_stats(mcr_audit *a, mcr_audit_stats *out);

/*
 * Called after each commit with the new head of the chain (checkpoint), from
 * the thread that made the commit, outside the handle's lock. Programs use it
 * to send the head to syslog; NULL removes it. Set it before sharing the handle.
 */
typedef void (*mcr_audit_commit_fn)(void *ctx, long seq, const char *hash);
void mcr_audit_on_commit(mcr_audit *a, mcr_audit_commit_fn fn, void *ctx);

void mcr_audit_close(mcr_audit *a); /* accepts NULL */

/* The chain hash of e (seq and at filled) after prev_hash (64 hex digits) under
 * the current scheme (2, a typed canonical encoding: docs/AUDIT.md), hex into out
 * (65 bytes with NUL). Strings are TEXT, NULL strings NULL, generation 0 NULL.
 * The one definition used by append, verify and tools that build logs. */
int mcr_audit_entry_hash(const mcr_audit_entry *e, const char *prev_hash, char out[65]);

/* ---- checkpoints: the head of the chain kept outside the audit database ---- */

/* "N:HASH": the log held N entries and entry N's hash was HASH (N 0: 64 zeros). */
#define MCR_AUDIT_CHECKPOINT_MAX 86
typedef struct mcr_audit_checkpoint {
	long seq;
	char hash[65];
	char source[160]; /* where it was found, for messages ("load history run 7") */
} mcr_audit_checkpoint;

/* Parse "N:HASH" (64 hex digits, lower or upper case); source is copied
 * (may be NULL). 0 or MCR_EUSAGE with the message set. */
int mcr_audit_checkpoint_parse(const char *s, const char *source, mcr_audit_checkpoint *out);

/* "N:HASH" into out. */
void mcr_audit_checkpoint_format(const mcr_audit_checkpoint *c, char out[MCR_AUDIT_CHECKPOINT_MAX]);

/* The words that introduce a checkpoint in logs, syslog and reports:
 * "audit checkpoint N:HASH". */
#define MCR_AUDIT_CHECKPOINT_WORDS "audit checkpoint"

/*
 * The log's current head (its last entry) read-only, without verifying it, for
 * writing a checkpoint elsewhere. MCR_ENOTFOUND when there is no log at path;
 * an empty log is 0 and 64 zeros.
 */
int mcr_audit_read_head(const char *path, mcr_audit_checkpoint *out);

/* The same for the log cfg names (MCR_ENOTFOUND: no log there yet). */
int mcr_audit_read_head_config(const mcr_config *cfg, mcr_audit_checkpoint *out);

/* A growable list of checkpoints. */
typedef struct mcr_audit_checkpoints {
	mcr_audit_checkpoint *v;
	size_t n, cap;
} mcr_audit_checkpoints;

int mcr_audit_checkpoints_add(mcr_audit_checkpoints *l, const mcr_audit_checkpoint *c);
void mcr_audit_checkpoints_free(mcr_audit_checkpoints *l); /* accepts NULL */

/*
 * Add every "audit checkpoint N:HASH" found in the text file at path (a log, a
 * syslog export, a saved report), each with source "<path>:<line>". A missing
 * file adds nothing and is 0 when missing_ok, else MCR_ENOTFOUND.
 */
int mcr_audit_checkpoints_scan(mcr_audit_checkpoints *l, const char *path, int missing_ok);

/* ---- verification ------------------------------------------------------------ */

typedef struct mcr_audit_verify_result {
	long entries;              /* entries in the verified chain */
	char head[65];             /* hash of the last entry (64 zeros when empty) */
	size_t checkpoints;        /* checkpoints checked (all matched on success) */
	long v1_entries;           /* entries hashed under scheme 1 (older logs) */
	char log[160];             /* the log verified: its path, or its PostgreSQL table */
} mcr_audit_verify_result;

/*
 * Check the whole chain of the database at path: sequence without gaps, each
 * prev_hash equal to the previous hash, each hash recomputed under the entry's
 * scheme, the head record, then every checkpoint in cps (entry N exists and its
 * hash is HASH). Returns 0 and *res, or MCR_EFORMAT naming the first bad entry
 * ("audit entry 42: hash mismatch (edited)") or the checkpoint the log fails
 * ("... checkpoint 120:ab12... (load history run 9): log truncated or replaced"),
 * MCR_ENOTFOUND when there is no log at path. cps may be NULL.
 */
int mcr_audit_verify(const char *path, const mcr_audit_checkpoints *cps, mcr_audit_verify_result *res);

/* The same for the log cfg names: identical results on both backends. */
int mcr_audit_verify_config(const mcr_config *cfg, const mcr_audit_checkpoints *cps,
                            mcr_audit_verify_result *res);

/* ---- reading entries (the reports) ----------------------------------------------- */

/* Which entries: all conditions given hold. */
typedef struct mcr_audit_query {
	const char *nhs;           /* whose record, or NULL */
	const char *const *users;  /* by any of these users (nusers of them), or NULL */
	size_t nusers;
	int break_glass;           /* only basis break-glass or outcome self-access */
	const char *from, *to;     /* at >= from and at < to (ISO 8601 UTC, as stored) */
} mcr_audit_query;

/* Called with each entry (its strings valid during the call only); non-zero stops
 * the walk and is returned. */
typedef int (*mcr_audit_entry_fn)(void *ctx, const mcr_audit_entry *e);

/* The entries of the log cfg names that match q, in (at, seq) order, in one read
 * snapshot. MCR_ENOTFOUND ("no audit log at ...") when there is no log. */
int mcr_audit_query_config(const mcr_config *cfg, const mcr_audit_query *q, mcr_audit_entry_fn fn, void *ctx);

/* 0 when the log cfg names can be appended to now (the file writable, or the
 * database reachable with INSERT on mcr.audit: a connection, its answer reused
 * within the same second), for health checks; else the error with its message. */
int mcr_audit_probe_config(const mcr_config *cfg);

/* ---- migration ----------------------------------------------------------------- */

typedef struct mcr_audit_migrate_result {
	char source[160], target[160]; /* the SQLite file, the PostgreSQL table */
	long source_entries;           /* entries of the source, verified */
	long copied;                   /* entries this run copied (0: there already) */
	long target_entries;           /* entries of the target after it, verified */
	long v1_entries;               /* of those, hashed under scheme 1 */
	char head[65];                 /* the source's head hash, held by the target */
} mcr_audit_migrate_result;

/*
 * Copy the SQLite audit log at from_path into the PostgreSQL log of cfg
 * (store.backend postgresql; its tables made when missing), and verify the chain
 * end to end. The source is verified whole first (a bad source: nothing copied).
 * The target must be empty, or hold the same chain up to some entry (an earlier
 * run, stopped or complete: only what it lacks is copied, so a re-run is
 * harmless), or hold the source's whole chain and more (appended after a
 * migration: nothing copied). Another chain is refused with nothing copied.
 * Entries keep their seq, time, fields and hashes, and the chain scheme record
 * (scheme 1 entries stay scheme 1), a chunk per transaction with the head. Then
 * the target is verified whole, with the source's head as a checkpoint. Stop
 * every appender first. 0 and *res; MCR_EFORMAT naming the source's or the
 * target's problem; MCR_EUSAGE when cfg is not on PostgreSQL; MCR_ENOTFOUND when
 * there is no log at from_path.
 */
int mcr_audit_migrate(const char *from_path, const mcr_config *cfg, mcr_audit_migrate_result *res);

#endif
