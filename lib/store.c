/*
 * The store's backend-neutral face (include/mcr/store.h): picks the backend of
 * the config and dispatches to it (lib/store_backend.h). No SQL here.
 */
#include "mcr/store.h"
#include "mcr/error.h"
#include "store_backend.h"

#include <stdlib.h>

long mcr_store_row_long(const mcr_store_row *row, int i)
{
	return i < row->n && row->v[i] ? strtol(row->v[i], NULL, 10) : 0;
}

const mcr_store_reader_ops *mcr_store_reader(const mcr_config *cfg)
{
	return cfg && cfg->backend == MCR_BACKEND_POSTGRESQL ? &mcr_store_pg_reader
	                                                     : &mcr_store_sqlite_reader;
}

int mcr_store_gen_open(const mcr_config *cfg, mcr_store_gen **out, long *generation)
{
	return mcr_store_reader(cfg)->open_current(cfg, out, generation);
}

int mcr_store_gen_open_kept(const mcr_config *cfg, long n, mcr_store_gen **out)
{
	return mcr_store_reader(cfg)->open_generation(cfg, n, out);
}

const char *mcr_store_gen_where(const mcr_store_gen *g)
{
	return g ? g->ops->where(g) : "store";
}

void mcr_store_gen_close(mcr_store_gen *g)
{
	if (g)
		g->ops->close(g);
}

int mcr_store_status(const mcr_config *cfg, long *generation, long long *age_seconds)
{
	*generation = 0;
	*age_seconds = -1;
	return mcr_store_reader(cfg)->status(cfg, generation, age_seconds);
}

int mcr_store_query(mcr_store_gen *g, mcr_store_q q, const char *const *params,
                    mcr_store_row_fn fn, void *arg)
{
	return g->ops->query(g, q, params, fn, arg);
}

int mcr_history_open(const mcr_config *cfg, mcr_history **out)
{
	return mcr_store_reader(cfg)->history_open(cfg, out);
}

int mcr_history_query(mcr_history *h, mcr_history_q q, const char *const *params,
                      mcr_store_row_fn fn, void *arg)
{
	return h->ops->history_query(h, q, params, fn, arg);
}

const char *mcr_history_where(const mcr_history *h)
{
	return h ? h->ops->history_where(h) : "load history";
}

void mcr_history_close(mcr_history *h)
{
	if (h)
		h->ops->history_close(h);
}
