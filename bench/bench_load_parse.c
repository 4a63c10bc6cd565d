/*
 * The parse half of mcr-load's limit (bench/bench_load.sh): decompress and
 * parse the same staged files the loader reads (the newest complete file of
 * every configured organisation) through mcr_staged_read with callbacks that
 * only count, on one thread. Prints "files items seconds items/s".
 *
 *   bench_load_parse CONFIG
 */
#include "mcr/config.h"
#include "cli.h"
#include "mcr/error.h"
#include "mcr/staged.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_item(void *ctx, const mcr_staged_person *p, const mcr_staged_item *it)
{
	(void)p;
	(void)it;
	(*(long *)ctx)++;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: bench_load_parse CONFIG\n");
		return 2;
	}
	mcr_config *cfg = NULL;
	if (mcr_config_load(&cfg, argv[1])) {
		mcr_error_print("bench_load_parse");
		return 2;
	}
	long items = 0, files = 0;
	int status = 0;
	double t0 = now();
	for (size_t i = 0; i < cfg->norgs && !status; i++) {
		char *mp = NULL;
		mcr_staged_manifest *m = NULL;
		int rc = mcr_staged_find_latest(cfg->staging_dir, cfg->orgs[i].ods,
		                                mcr_org_dataset(cfg->orgs[i].kind), &mp);
		if (rc == MCR_ENOTFOUND)
			continue;
		mcr_staged_handler h = { &items, NULL, NULL, count_item, NULL, NULL };
		if (rc || (rc = mcr_staged_manifest_read(mp, &m)) || (rc = mcr_staged_read(mp, m, &h))) {
			mcr_error_print("bench_load_parse");
			status = 1;
		}
		files++;
		mcr_staged_manifest_free(m);
		free(mp);
	}
	double s = now() - t0;
	printf("%ld %ld %.3f %.0f\n", files, items, s, s > 0 ? (double)items / s : 0.0);
	mcr_config_free(cfg);
	return status;
}
