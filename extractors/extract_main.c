/* The main shared by the three extractors: they differ only in their kind and
 * the sentence describing their input (extract_main.h). */
#include <getopt.h>
#include <stdio.h>

#include "extract_main.h"
#include "mcr/cli.h"
#include "mcr/error.h"
#include "mcr/extract.h"

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
	       "2 usage or configuration error.\n",
	       p->name, p->description, dataset, p->org_noun, mcr_org_kind_name(p->kind), p->input_help);
}

int extract_main(const extract_program *p, int argc, char **argv)
{
	const char *org = NULL, *input = NULL, *out_dir = NULL, *config = NULL;
	mcr_config *cfg = NULL;
	int c, status;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'o': org = optarg; break;
		case 'i': input = optarg; break;
		case 'O': out_dir = optarg; break;
		case 'c': config = optarg; break;
		case 'h': usage(p); return MCR_EXIT_OK;
		case 'V': mcr_cli_version(p->name); return MCR_EXIT_OK;
		default: return mcr_cli_usage_error(p->name, "unknown option");
		}
	}
	if (optind < argc)
		return mcr_cli_usage_error(p->name, "unexpected argument '%s'", argv[optind]);
	if (!org || !input)
		return mcr_cli_usage_error(p->name, "--org and --input are required");
	status = mcr_cli_load_config(p->name, config, &cfg);
	if (status)
		goto out;
	status = mcr_extract_run(p->name, cfg, p->kind, org, input, out_dir);
out:
	mcr_config_free(cfg);
	return status;
}
