/*
 * Files, directories, locks and time: the durable-write discipline every part
 * shares (write to a temporary name, fsync, rename, fsync the directory).
 */
#ifndef MCR_FS_H
#define MCR_FS_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "mcr/buf.h"

/* mkdir -p with mode 0750 for each missing component. 0 or MCR_EIO. */
int mcr_fs_mkdirs(const char *path);

/* fsync a directory so a rename or unlink inside it is durable. 0 or MCR_EIO. */
int mcr_fs_fsync_dir(const char *dir);

/* Write data to path atomically: <path>.tmp.<pid>, fsync, rename, fsync dir.
 * On failure nothing is left at either name. 0 or MCR_EIO. */
int mcr_fs_write_atomic(const char *path, const void *data, size_t len);

/* Read a whole file of at most max bytes into out (appended). 0, MCR_EIO,
 * MCR_ENOTFOUND (no such file) or MCR_ELIMIT (larger than max). */
int mcr_fs_read_file(const char *path, size_t max, mcr_buf *out);

/* 1 if path exists (any type), 0 if not. */
int mcr_fs_exists(const char *path);

/* Join dir and name with one '/' into out (reset first). A name that is
 * absolute is taken as it is. 0 or MCR_ENOMEM. */
int mcr_fs_join(mcr_buf *out, const char *dir, const char *name);

/*
 * Take an exclusive advisory lock (flock) on path, creating it. With wait == 0
 * returns MCR_ELOCKED at once if another process holds it ("another run holds
 * the lock <path>"); with wait != 0 blocks. On success *fd holds the lock until
 * mcr_fs_unlock(*fd) or process exit (so a crash never leaves a stale lock).
 */
int mcr_fs_lock(const char *path, int wait, int *fd);
void mcr_fs_unlock(int fd);

/*
 * Temporary files that hold personal data (spills, staged payloads being
 * written) are created mode 0600 and must not outlive their run:
 * - mcr_fs_temp_anonymous: a scratch file unlinked as soon as it is created, so
 *   nothing is left whatever ends the process;
 * - a named temporary file (renamed into place at the end) is tracked while it
 *   lives, so a signal handler can remove it (mcr_fs_temp_unlink_all), and
 *   mcr_fs_remove_stale_temps removes what a run killed outright (SIGKILL, power
 *   cut) left, the next time a writer opens that folder.
 * The tracking table is for one thread (the programs that write temporary files
 * are single-threaded).
 */

/* Create path (O_EXCL, mode 0600), unlink it at once and open it "w+b" in *out:
 * a scratch file no other process can open and nothing can leave behind. 0 or
 * MCR_EIO. */
int mcr_fs_temp_anonymous(const char *path, FILE **out);

/* Track path (copied) as a temporary file of this process; at most 8 at once.
 * 0, MCR_ENOMEM or MCR_ELIMIT. */
int mcr_fs_temp_track(const char *path);

/* Stop tracking path (it was renamed into place or removed). */
void mcr_fs_temp_untrack(const char *path);

/* Unlink every tracked file. Async-signal-safe: for a handler of SIGTERM etc. */
void mcr_fs_temp_unlink_all(void);

/*
 * Remove leftovers of killed runs from dir: files with the temporary names this
 * project's writers use, which carry the writer's pid (".spill-<pid>-<n>",
 * ".bucket-<pid>-<n>", ".<stamp>.<pid>.xml.gz.tmp", "<name>.tmp.<pid>"), whose
 * pid is no longer a running process. A live writer's files are never touched.
 * Adds the files removed to *removed (may be NULL). A missing dir is no error.
 * 0 or MCR_EIO (the message names the file).
 */
int mcr_fs_remove_stale_temps(const char *dir, long *removed);

/* The current time; $MCR_NOW (YYYY-MM-DDTHH:MM:SSZ) overrides it so tests can
 * replay several nights (extract, load, nightly, freshness). Never for the audit
 * log's times, which are the system clock's (lib/audit.c). */
time_t mcr_time_now(void);

/* Format t as ISO 8601 UTC "YYYY-MM-DDTHH:MM:SSZ" (out >= 21 bytes). */
void mcr_time_iso(time_t t, char out[32]);

/* Format t as a file-name stamp "YYYYMMDDTHHMMSSZ" (out >= 17 bytes). */
void mcr_time_stamp(time_t t, char out[32]);

#define MCR_TIME_STAMP_LEN 16 /* strlen("YYYYMMDDTHHMMSSZ") */

/* Parse a file-name stamp "YYYYMMDDTHHMMSSZ" at the start of name (what follows
 * it is the caller's to check): the one home of that rule. 0 or MCR_EFORMAT (no
 * message set). */
int mcr_time_parse_stamp(const char *name, time_t *out);

/* Parse "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SSZ" or with an offset "+HH:MM", or with
 * fractional seconds, into UTC seconds. 0 or MCR_EFORMAT (no message set: the
 * caller names the file and line). */
int mcr_time_parse(const char *s, time_t *out);

#endif
