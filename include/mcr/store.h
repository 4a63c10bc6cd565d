/*
 * The consolidated store, whatever its backend (config store.backend: sqlite,
 * the default, one file per generation; or postgresql, one schema per
 * generation). A generation is built by the loader and published atomically;
 * readers open the published one and see it whole, never a mix with a
 * generation published meanwhile (docs/STORE.md).
 *
 * The SQLite backend's own file layout is in mcr/store_sqlite.h; nothing here
 * names a backend's types.
 *
 * Thread safety: no shared state beyond each backend's per-thread connections;
 * an open generation is used by one thread at a time.
 */
#ifndef MCR_STORE_H
#define MCR_STORE_H

#include "mcr/config.h"

#define MCR_STORE_SCHEMA_VERSION 1

/* One generation open for reading (opaque). */
typedef struct mcr_store_gen mcr_store_gen;

/*
 * Open the generation published when called, for reading: every read through
 * it sees that generation only. *generation (may be NULL) is its number.
 * MCR_ENOTFOUND when none has been published; MCR_EIO when the store cannot be
 * reached or read; MCR_EFORMAT for a wrong schema version. Close with
 * mcr_store_gen_close.
 */
int mcr_store_gen_open(const mcr_config *cfg, mcr_store_gen **out, long *generation);

/* Open kept generation n (e.g. the one an audit entry names); MCR_ENOTFOUND when
 * it is no longer kept. */
int mcr_store_gen_open_kept(const mcr_config *cfg, long n, mcr_store_gen **out);

/* Where g is, for messages: "store /srv/store/gen-000003.sqlite". */
const char *mcr_store_gen_where(const mcr_store_gen *g);

void mcr_store_gen_close(mcr_store_gen *g); /* accepts NULL */

/* The published generation's number and age in seconds (-1 when unknown), for
 * monitoring, without reading it: 0, MCR_ENOTFOUND (none published) or MCR_EIO. */
int mcr_store_status(const mcr_config *cfg, long *generation, long long *age_seconds);

#endif
