/* mcr-extract-ooh: out-of-hours / NHS 111 CDA documents -> staged file. */
#include <getopt.h>
#include <stdio.h>

#include "mcr/cli.h"
#include "mcr/error.h"
#include "mcr/extract.h"

#define PROG "mcr-extract-ooh"
#define KIND MCR_KIND_OOH

static const struct option options[] = {
	{"org", required_argument, NULL, 'o'},
	{"input", required_argument, NULL, 'i'},
	{"out", required_argument, NULL, 'O'},
	{"config", required_argument, NULL, 'c'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static const char usage[] =
	"Usage: " PROG " --org ODS --input PATH [--out STAGING_DIR] [--config FILE]\n"
	"Extract NHS 111 / out-of-hours CDA R2 documents (a file or a folder of .xml or\n"
	".xml.gz files, bare or in an ITK DistributionEnvelope) into a staged file\n"
	"<STAGING_DIR>/<ODS>/ooh/<stamp>.xml.gz and its manifest. Only documents with a\n"
	"verified NHS number and clinical advice are shared.\n"
	"\n"
	"  --org ODS        the provider, an ooh organisation of the config\n"
	"  --input PATH     the documents: a file or a folder\n"
	"  --out DIR        staging folder (default: the config's paths.staging)\n"
	"  --config FILE    default $MCR_CONFIG, else ./mcr.yaml\n"
	"  --help, --version\n"
	"\n"
	"Exit: 0 staged; 1 failed (the file and line are named; nothing staged);\n"
	"2 usage or configuration error.\n";

int main(int argc, char **argv)
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
		case 'h': fputs(usage, stdout); return MCR_EXIT_OK;
		case 'V': mcr_cli_version(PROG); return MCR_EXIT_OK;
		default: return mcr_cli_usage_error(PROG, "unknown option");
		}
	}
	if (optind < argc)
		return mcr_cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
	if (!org || !input)
		return mcr_cli_usage_error(PROG, "--org and --input are required");
	status = mcr_cli_load_config(PROG, config, &cfg);
	if (status)
		goto out;
	status = mcr_extract_run(PROG, cfg, KIND, org, input, out_dir);
out:
	mcr_config_free(cfg);
	return status;
}
