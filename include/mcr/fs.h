/*
 * Files, directories, locks and time: the durable-write discipline every part
 * shares (write to a temporary name, fsync, rename, fsync the directory).
 */
#ifndef MCR_FS_H
#define MCR_FS_H

#include <stddef.h>
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

/* The current time; $MCR_NOW (YYYY-MM-DDTHH:MM:SSZ) overrides it so tests can
 * replay several nights. */
time_t mcr_time_now(void);

/* Format t as ISO 8601 UTC "YYYY-MM-DDTHH:MM:SSZ" (out >= 21 bytes). */
void mcr_time_iso(time_t t, char out[32]);

/* Format t as a file-name stamp "YYYYMMDDTHHMMSSZ" (out >= 17 bytes). */
void mcr_time_stamp(time_t t, char out[32]);

/* Parse "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SSZ" or with an offset "+HH:MM", or with
 * fractional seconds, into UTC seconds. 0 or MCR_EFORMAT (no message set: the
 * caller names the file and line). */
int mcr_time_parse(const char *s, time_t *out);

#endif
