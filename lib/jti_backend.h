/*
 * Internal: the single-use store of launch token ids (include/mcr/launch.h
 * mcr_jti_*) behind one table of functions: SQLite in lib/jti_sqlite.c (a file
 * in the server's state folder), PostgreSQL in lib/jti_pg.c (table mcr.jti, so
 * every node refuses a token used on another). lib/launch.c serialises the
 * threads of one process on a store, so a backend is used by one thread at a time.
 */
#ifndef MCR_JTI_BACKEND_H
#define MCR_JTI_BACKEND_H

#include "mcr/config.h"

typedef struct jti_backend jti_backend;
typedef struct jti_backend_ops {
	/* As mcr_jti_claim: 0 new (durably remembered), MCR_EDENIED a replay,
	 * MCR_EIO failed; entries expired before now are dropped on the way. */
	int (*claim)(jti_backend *b, const char *iss, const char *jti, long long expires, long long now);
	void (*close)(jti_backend *b);
} jti_backend_ops;

struct jti_backend {
	const jti_backend_ops *ops;
};

/* <dir>/launch.sqlite, made (and dir) when missing. */
int jti_sqlite_open(const char *dir, jti_backend **out);

/* Table mcr.jti in the PostgreSQL database of cfg, the shared schema made when
 * missing; cfg must outlive the store (it connects again after losing the
 * connection). */
int jti_pg_open(const mcr_config *cfg, jti_backend **out);

#endif
