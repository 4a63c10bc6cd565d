/*
 * The SQLite store backend's file layout (schema/store.sql): one file per
 * generation, <store>/gen-NNNNNN.sqlite, published by replacing the symlink
 * <store>/current with rename(2). For the SQLite loader, the nightly job's
 * archive step and tests of the layout; everything else reads through the
 * backend-neutral mcr/store.h.
 *
 * Thread safety: no state; each open returns a connection of the caller's,
 * used by one thread at a time.
 */
#ifndef MCR_STORE_SQLITE_H
#define MCR_STORE_SQLITE_H

#include <sqlite3.h>

#include "mcr/store.h"

/* The published generation number; MCR_ENOTFOUND when none has been published. */
int mcr_store_current_generation(const char *store_dir, long *generation);

/*
 * Open the published generation read-only (SQLITE_OPEN_READONLY): the file the
 * 'current' link names when called, so a generation published later never mixes
 * in. *db is closed by the caller with sqlite3_close(). MCR_ENOTFOUND when no
 * generation exists, MCR_EIO / MCR_EFORMAT (wrong schema version) otherwise.
 */
int mcr_store_open_current(const char *store_dir, sqlite3 **db, long *generation);

/* Open a kept generation read-only (e.g. the one an audit entry names). */
int mcr_store_open_generation(const char *store_dir, long generation, sqlite3 **db);

/* Path of generation n's file into out (caller frees with free()). */
int mcr_store_generation_path(const char *store_dir, long generation, char **out);

#endif
