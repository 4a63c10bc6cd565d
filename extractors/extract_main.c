/* The main shared by the three extractors: they differ only in their kind and
 * the sentence describing their input (extract_main.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "extract_main.h"
#include "cli.h"
#include "mcr/error.h"
#include "mcr/extract.h"
#include "mcr/staged.h"

static const struct option options[] = {
	{"org", required_argument, NULL, 'o'},
	{"input", required_argument, NULL, 'i'},
	{"out", required_argument, NULL, 'O'},
	{"config", required_argument, NULL, 'c'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void usage(const extract_program *p)
{
	const char *dataset = mcr_org_dataset(p->kind);
	printf("Usage: %s --org ODS --input PATH [--out STAGING_DIR] [--config FILE]\n"
	       "%s\n"
	       "Writes <STAGING_DIR>/<ODS>/%s/<stamp>.xml.gz and, last, its manifest.\n"
	       "\n"
	       "  --org ODS        %s: an organisation of kind %s in the config\n"
	       "  --input PATH     %s\n"
	       "  --out DIR        staging folder (default: the config's paths.staging)\n"
	       "  --config FILE    default $MCR_CONFIG, else ./mcr.yaml\n"
	       "  --help, --version\n"
	       "\n"
	       "Exit: 0 staged; 1 failed (the file and line are named; nothing staged);\n"
	       "2 usage or configuration error; 3 staged, but some records or documents were\n"
	       "refused (each named on stderr by file and line, counted in the manifest).\n",
	       p->name, p->description, dataset, p->org_noun, mcr_org_kind_name(p->kind), p->input_help);
}

/* At most this many refusals are printed one per line; the rest are counted. */
#define NOTICES_SHOWN 50

typedef struct notices {
	const char *prog;
	long n;
} notices;

static void print_notice(void *ctx, const char *msg)
{
	notices *ns = ctx;
	if (ns->n++ < NOTICES_SHOWN)
		fprintf(stderr, "%s: refused: %s\n", ns->prog, msg);
}

/*
 * Check the organisation ods is in cfg with this program's kind (else say why,
 * MCR_EXIT_USAGE), run the extract (out_dir NULL: the config's staging dir) and
 * print the summary line (org, dataset, people, members, items, withheld total)
 * and the manifest path on stdout; on failure "<prog>: <message>" on stderr;
 * each refusal "<prog>: refused: <file:line: what>" on stderr (exit 3).
 * Returns an MCR_EXIT_* status.
 */
static int extract_run(const char *prog, const mcr_config *cfg, mcr_org_kind kind,
                       const char *ods, const char *input, const char *out_dir)
{
	const mcr_org *org = mcr_config_org(cfg, ods);
	if (!org) {
		fprintf(stderr, "%s: organisation %s is not in %s\n", prog, ods, cfg->path);
		return MCR_EXIT_USAGE;
	}
	if (org->kind != kind) {
		fprintf(stderr, "%s: organisation %s is of kind %s in %s, not %s\n", prog, ods,
		        mcr_org_kind_name(org->kind), cfg->path, mcr_org_kind_name(kind));
		return MCR_EXIT_USAGE;
	}
	char *manifest = NULL;
	mcr_staged_manifest *m = NULL;
	int rc;
	notices ns = {prog, 0};
	mcr_extract_set_notice(print_notice, &ns);
	switch (kind) {
	case MCR_KIND_GP:
		rc = mcr_extract_gp(cfg, org, input, out_dir, &manifest);
		break;
	case MCR_KIND_LCS:
		rc = mcr_extract_lcs(cfg, org, input, out_dir, &manifest);
		break;
	default:
		rc = mcr_extract_ooh(cfg, org, input, out_dir, &manifest);
		break;
	}
	mcr_extract_set_notice(NULL, NULL);
	if (ns.n > NOTICES_SHOWN)
		fprintf(stderr, "%s: refused: %ld more not shown (%ld in all)\n", prog,
		        ns.n - NOTICES_SHOWN, ns.n);
	if (rc == 0)
		rc = mcr_staged_manifest_read(manifest, &m);
	if (rc != 0) {
		mcr_error_print(prog);
		free(manifest);
		return mcr_error_exit_status(rc);
	}
	long withheld = 0;
	for (int r = 0; r < MCR_REASON_COUNT; r++)
		withheld += m->withheld[r];
	printf("%s %s: people %ld, members %ld, items %ld, withheld %ld\n%s\n", org->ods,
	       m->dataset, m->people, m->members, m->items, withheld, manifest);
	mcr_staged_manifest_free(m);
	free(manifest);
	return ns.n ? MCR_EXIT_REJECTED : MCR_EXIT_OK;
}

int extract_main(const extract_program *p, int argc, char **argv)
{
	const char *org = NULL, *input = NULL, *out_dir = NULL, *config = NULL;
	mcr_config *cfg = NULL;
	int c, status;
	while ((c = mcr_cli_getopt(p->name, argc, argv, options)) != -1) {
		switch (c) {
		case 'o': org = optarg; break;
		case 'i': input = optarg; break;
		case 'O': out_dir = optarg; break;
		case 'c': config = optarg; break;
		case 'h': usage(p); return MCR_EXIT_OK;
		case 'V': mcr_cli_version(p->name); return MCR_EXIT_OK;
		default: return MCR_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return mcr_cli_usage_error(p->name, "unexpected argument '%s'", argv[optind]);
	if (!org || !input)
		return mcr_cli_usage_error(p->name, "--org and --input are required");
	status = mcr_cli_load_config(p->name, config, &cfg);
	if (status)
		goto out;
	mcr_cli_remove_temps_on_signal();
	status = extract_run(p->name, cfg, p->kind, org, input, out_dir);
out:
	mcr_config_free(cfg);
	return status;
}
