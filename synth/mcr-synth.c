/* mcr-synth: write a deterministic sample region (docs/SYNTH.md). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	{ "second-nhs-range", no_argument, NULL, 'R' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
	"Usage: mcr-synth --people N --seed S --out DIR [--night K] [--as-of YYYY-MM-DD]\n"
	"                 [--gzip] [--flat] [--format xml|json|ndjson] [--second-nhs-range]\n"
	"Write a deterministic sample region into DIR: GP FHIR R4 bundles, social care\n"
	"CSV, NHS 111 CDA documents and a ready mcr.yaml (docs/SYNTH.md). Prints on stdout\n"
	"what it wrote: per organisation the counts its extractor must stage, edge cases,\n"
	"night changes and staff.\n"
	"\n"
	"  --people N        people in the region (10 to 909,089; with --second-nhs-range\n"
	"                    up to 1,818,180)\n"
	"  --seed S          seed (unsigned integer); same seed, same tree\n"
	"  --out DIR         output folder; DIR/sources is replaced, DIR/mcr.yaml rewritten\n"
	"  --night K         the region as of night K, 1 to 7 (default 1)\n"
	"  --as-of DATE      date of night K (default 2026-11-21 plus K-1 days); counts\n"
	"                    assume extraction at DATE T06:00:00Z\n"
	"  --gzip            write .gz files (default when N > 20000)\n"
	"  --format F        the GP exports as FHIR XML bundles (xml, the default), JSON\n"
	"                    bundles (json) or Bulk Data NDJSON (ndjson): the same content\n"
	"  --flat            print the summary as 'path value' lines instead of YAML\n"
	"  --second-nhs-range  BENCHMARKS ONLY: beyond the 999 test range's numbers, draw\n"
	"                    from 399 000 0000-399 999 9999 (Northern Ireland's H&C range,\n"
	"                    never issued in England, but may be real people's numbers\n"
	"                    there); DIR must be under /tmp (docs/SYNTH.md)\n"
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

/* Is path (absolute, or relative to the working folder) under /tmp? Text only,
 * after removing "." and refusing "..": a guard against a slip, not an attacker. */
static int under_tmp(const char *path)
{
	char cwd[4096];
	if (path[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		return 0;
	if (strstr(path, ".."))
		return 0;
	if (path[0] == '/')
		return strncmp(path, "/tmp/", 5) == 0 && path[5] && path[5] != '/';
	return strncmp(cwd, "/tmp/", 5) == 0 || (strcmp(cwd, "/tmp") == 0 && path[0] && path[0] != '.');
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
		case 'R':
			o.second_range = 1;
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
	if (o.people < 10 || o.people > synth_max_people(o.second_range)) {
		if (!o.second_range && o.people > synth_max_people(0) && o.people <= synth_max_people(1))
			return mcr_cli_usage_error(prog, "bad --people %ld: more than the 999 test range allows (%ld); "
			                           "a benchmark may add --second-nhs-range",
			                           o.people, synth_max_people(0));
		return mcr_cli_usage_error(prog, "bad --people %ld: 10 to %ld (the valid NHS numbers of the %s)",
		                           o.people, synth_max_people(o.second_range),
		                           o.second_range ? "999 test range and the second range" : "999 test range");
	}
	/* Numbers that may be real people's elsewhere stay in throwaway files. */
	if (o.second_range && !under_tmp(o.out))
		return mcr_cli_usage_error(prog, "--second-nhs-range writes numbers that are not test "
		                           "numbers: --out must be under /tmp, not '%s'", o.out);
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
