/*
 * The store's query catalogue (lib/store_backend.h): what each query reads and
 * how many parameters it takes, shared by lib/store.c and the backends
 * (lib/store_sqlite.c, lib/store_pg.c) so that no backend depends on lib/store.c.
 * No SQL here: each backend holds its own text of each query.
 */
#include "store_backend.h"

static const struct {
	const char *what;
	int nparams;
} queries[MCR_SQ_COUNT] = {
	[MCR_SQ_VIEW_SOURCES] = { "sources", 0 },
	[MCR_SQ_PERSON] = { "demographics", 1 },
	[MCR_SQ_ITEMS] = { "items", 1 },
	[MCR_SQ_OBJECTIONS] = { "objections", 1 },
	[MCR_SQ_PERSON_WITHHELD] = { "withheld counts", 1 },
	[MCR_SQ_MEMBER] = { "the organisation's list", 2 },
	[MCR_SQ_FRESH_SOURCES] = { "sources", 0 },
	[MCR_SQ_HELD] = { "held files", 1 },
	[MCR_SQ_COVERAGE_SOURCES] = { "sources", 0 },
	[MCR_SQ_COVERAGE_SECTIONS] = { "sections", 0 },
	[MCR_SQ_COVERAGE_WITHHELD] = { "withheld counts", 0 },
	[MCR_SQ_BUILT_AT] = { "the build time", 0 },
	[MCR_SQ_HOLDERS] = { "the organisations holding data", 1 },
	[MCR_SQ_NIGHT_MANIFESTS] = { "the generation's sources", 0 },
	[MCR_SQ_NIGHT_SOURCE] = { "the generation's sources", 1 },
};

const char *mcr_store_q_what(mcr_store_q q)
{
	return q >= 0 && q < MCR_SQ_COUNT ? queries[q].what : "?";
}

int mcr_store_q_nparams(mcr_store_q q)
{
	return q >= 0 && q < MCR_SQ_COUNT ? queries[q].nparams : 0;
}
