/*
 * The parse half of mcr-load's limit (bench/bench_load.sh): decompress and
 * parse the same staged files the loader reads (the newest complete file of
 * every configured organisation) through mcr_staged_read with callbacks that
 * only count, on one thread. Prints "files items seconds items/s".
 *
 *   bench_load_parse [--config FILE]
 */
#include "mcr/config.h"
#include "cli.h"
#include "mcr/error.h"
#include "mcr/staged.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *const prog = "bench_load_parse";

static const struct option options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
	"Usage: bench_load_parse [--config FILE]\n"
	"The parse half of mcr-load's limit (bench/bench_load.sh): decompress and parse the\n"
	"newest complete staged file of every configured organisation, as the loader reads\n"
	"them, with callbacks that only count, on one thread.\n"
	"\n"
	"  --config FILE  configuration (default $MCR_CONFIG, else ./mcr.yaml)\n"
	"  --help         show this help and exit\n"
	"  --version      show the version and exit\n"
	"\n"
	"Prints one line: files, items, seconds, items/s. Exit status: 0 done; 1 a staged\n"
	"file could not be read; 2 usage or configuration error.\n";

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
	const char *config_path = NULL;
	int c;
	while ((c = mcr_cli_getopt(prog, argc, argv, options)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'h': fputs(usage, stdout); return MCR_EXIT_OK;
		case 'V': mcr_cli_version(prog); return MCR_EXIT_OK;
		default: return MCR_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return mcr_cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
	mcr_config *cfg = NULL;
	int status = mcr_cli_load_config(prog, config_path, &cfg);
	if (status)
		return status;
	long items = 0, files = 0;
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
			mcr_error_print(prog);
			status = MCR_EXIT_FAILED;
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
