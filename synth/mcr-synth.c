/* mcr-synth: write a deterministic sample region (docs/SYNTH.md). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mcr/error.h"
#include "synth.h"

static const char *const prog = "mcr-synth";

static const struct option longopts[] = {
	{ "people", required_argument, NULL, 'n' },
	{ "seed", required_argument, NULL, 's' },
	{ "out", required_argument, NULL, 'o' },
	{ "night", required_argument, NULL, 'k' },
	{ "as-of", required_argument, NULL, 'a' },
	{ "gzip", no_argument, NULL, 'z' },
	{ "flat", no_argument, NULL, 'f' },
	{ "format", required_argument, NULL, 'F' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
	"Usage: mcr-synth --people N --seed S --out DIR [--night K] [--as-of YYYY-MM-DD]\n"
	"                 [--gzip] [--flat] [--format xml|json|ndjson]\n"
	"Write a deterministic sample region into DIR: GP FHIR R4 bundles, social care\n"
	"CSV, NHS 111 CDA documents and a ready mcr.yaml (docs/SYNTH.md). Prints on stdout\n"
	"what it wrote: per organisation the counts its extractor must stage, edge cases,\n"
	"night changes and staff.\n"
	"\n"
	"  --people N        people in the region (10 to about 909,000)\n"
	"  --seed S          seed (unsigned integer); same seed, same tree\n"
	"  --out DIR         output folder; DIR/sources is replaced, DIR/mcr.yaml rewritten\n"
	"  --night K         the region as of night K, 1 to 7 (default 1)\n"
	"  --as-of DATE      date of night K (default 2026-11-21 plus K-1 days); counts\n"
	"                    assume extraction at DATE T06:00:00Z\n"
	"  --gzip            write .gz files (default when N > 20000)\n"
	"  --format F        the GP exports as FHIR XML bundles (xml, the default), JSON\n"
	"                    bundles (json) or Bulk Data NDJSON (ndjson): the same content\n"
	"  --flat            print the summary as 'path value' lines instead of YAML\n"
	"  --help            show this help\n"
	"  --version         show the version\n";

static int parse_long(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	synth_opts o = { 0 };
	const char *as_of = NULL;
	int have_people = 0, have_seed = 0, gzip = -1;
	long v;
	int c;

	while ((c = mcr_cli_getopt(prog, argc, argv, longopts)) != -1) {
		switch (c) {
		case 'n':
			if (parse_long(optarg, &o.people))
				return mcr_cli_usage_error(prog, "bad --people '%s'", optarg);
			have_people = 1;
			break;
		case 's': {
			char *end;
			errno = 0;
			o.seed = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-')
				return mcr_cli_usage_error(prog, "bad --seed '%s': an unsigned integer", optarg);
			have_seed = 1;
			break;
		}
		case 'o':
			o.out = optarg;
			break;
		case 'k':
			if (parse_long(optarg, &v) || v < 1 || v > 7)
				return mcr_cli_usage_error(prog, "bad --night '%s': 1 to 7", optarg);
			o.night = (int)v;
			break;
		case 'a':
			as_of = optarg;
			break;
		case 'z':
			gzip = 1;
			break;
		case 'f':
			o.flat = 1;
			break;
		case 'F':
			if (strcmp(optarg, "xml") == 0)
				o.format = SYNTH_XML;
			else if (strcmp(optarg, "json") == 0)
				o.format = SYNTH_JSON;
			else if (strcmp(optarg, "ndjson") == 0)
				o.format = SYNTH_NDJSON;
			else
				return mcr_cli_usage_error(prog, "bad --format '%s': xml, json or ndjson", optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return MCR_EXIT_OK;
		case 'V':
			mcr_cli_version(prog);
			return MCR_EXIT_OK;
		default:
			return MCR_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return mcr_cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
	if (!have_people || !have_seed || !o.out)
		return mcr_cli_usage_error(prog, "--people, --seed and --out are required");
	if (o.people < 10 || o.people > synth_max_people())
		return mcr_cli_usage_error(prog, "bad --people %ld: 10 to %ld (the valid NHS numbers of the 999 test range)",
		                           o.people, synth_max_people());
	if (!o.night)
		o.night = 1;
	if (as_of) {
		if (synth_parse_date(as_of, &o.as_of))
			return mcr_cli_usage_error(prog, "bad --as-of '%s': YYYY-MM-DD", as_of);
	} else {
		o.as_of = synth_days(2026, 11, 21) + o.night - 1;
	}
	o.gzip = gzip == 1 || (gzip == -1 && o.people > 20000);

	int rc = synth_run(&o, stdout);
	if (rc) {
		mcr_error_print(prog);
		return MCR_EXIT_FAILED;
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "%s: cannot write the summary\n", prog);
		return MCR_EXIT_FAILED;
	}
	return MCR_EXIT_OK;
}
