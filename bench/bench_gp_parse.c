/*
 * bench_gp_parse [--model] FILE...: the bare parse of GP export files, the limit
 * mcr-extract-gp is measured against (bench/bench_gp.sh): each file read
 * through mcr_gz (inflate and CRC, as the extractor reads it) and parsed with
 * no work per event, .xml(.gz) by libxml2's SAX2 push parser (mcr_xml_sax, the
 * extractor's parser setup) and .json/.ndjson(.gz) by yajl. Prints one line:
 * files, input bytes, wall seconds, user CPU seconds, peak RSS (KiB).
 * bench_gp_parse --model FILE...: the same through the extractor's readers
 * (lib/fhir_xml.c, lib/fhir_json.c: the per-resource model, no rules), to show
 * that their memory does not grow with the file.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <yajl/yajl_parse.h>

#include "cli.h"
#include "mcr/error.h"
#include "mcr/gz.h"
#include "mcr/xml.h"
#include "../lib/fhir_res.h"

static const char *const prog = "bench_gp_parse";

static const struct option options[] = {
	{ "model", no_argument, NULL, 'm' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
	"Usage: bench_gp_parse [--model] FILE...\n"
	"The bare parse of GP export files (.xml, .json, .ndjson, each optionally .gz): each\n"
	"read through mcr_gz and parsed with no work per event (libxml2 SAX2 or yajl), the\n"
	"limit mcr-extract-gp is measured against (bench/bench_gp.sh).\n"
	"\n"
	"  --model    read through the extractor's readers instead (the per-resource\n"
	"             model, no rules), to show their memory does not grow with the file\n"
	"  --help     show this help and exit\n"
	"  --version  show the version and exit\n"
	"\n"
	"Prints one line: files, bytes, wall and user CPU seconds, peak RSS (KiB), and with\n"
	"--model the resources read. Exit status: 0 done; 1 a file could not be read or\n"
	"parsed; 2 usage error.\n";

static int count_resource(void *ctx, fres *r)
{
	(void)r;
	(*(long *)ctx)++;
	return 0;
}

static int on_start(void *ctx, const xmlChar *ln, const xmlChar *uri, int nattrs,
                    const xmlChar **attrs)
{
	(void)ln;
	(void)uri;
	(void)nattrs;
	(void)attrs;
	(*(long *)ctx)++;
	return 0;
}

static int on_end(void *ctx, const xmlChar *ln, const xmlChar *uri)
{
	(void)ctx;
	(void)ln;
	(void)uri;
	return 0;
}

static const mcr_xml_sax sax = {on_start, on_end, NULL};

static int parse_xml(const char *path, long *events)
{
	mcr_xml *x = NULL;
	int rc = mcr_xml_sax_open(&x, path, 0, &sax, events);
	if (rc == 0)
		rc = mcr_xml_sax_run(x);
	mcr_xml_close(x);
	return rc;
}

static int parse_json(const char *path, int ndjson)
{
	static yajl_callbacks none;
	mcr_gz_reader *in = NULL;
	yajl_handle h = yajl_alloc(&none, NULL, NULL);
	if (!h)
		return mcr_error_set(MCR_ENOMEM, "out of memory");
	if (ndjson)
		yajl_config(h, yajl_allow_multiple_values, 1);
	static unsigned char buf[65536];
	int rc = mcr_gz_open(&in, path, MCR_GZ_ALLOW_PLAIN, 0);
	while (rc == 0) {
		size_t got = 0;
		rc = mcr_gz_read(in, buf, sizeof buf, &got);
		if (rc || got == 0)
			break;
		if (yajl_parse(h, buf, got) != yajl_status_ok)
			rc = mcr_error_set(MCR_EFORMAT, "%s: bad JSON", path);
	}
	if (rc == 0 && yajl_complete_parse(h) != yajl_status_ok)
		rc = mcr_error_set(MCR_EFORMAT, "%s: bad JSON", path);
	mcr_gz_close(in);
	yajl_free(h);
	return rc;
}

int main(int argc, char **argv)
{
	int model = 0, c;
	while ((c = mcr_cli_getopt(prog, argc, argv, options)) != -1) {
		switch (c) {
		case 'm': model = 1; break;
		case 'h': fputs(usage, stdout); return MCR_EXIT_OK;
		case 'V': mcr_cli_version(prog); return MCR_EXIT_OK;
		default: return MCR_EXIT_USAGE;
		}
	}
	if (optind == argc)
		return mcr_cli_usage_error(prog, "no FILE given");
	mcr_fhir_reader rd = {0};
	long resources = 0;
	rd.on_resource = count_resource;
	rd.ctx = &resources;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long events = 0;
	unsigned long long bytes = 0;
	for (int i = optind; i < argc; i++) {
		const char *p = argv[i];
		int rc;
		mcr_fhir_format fmt = mcr_fhir_format_of(p);
		if (model)
			rc = mcr_fhir_read(&rd, p);
		else if (fmt == MCR_FHIR_XML)
			rc = parse_xml(p, &events);
		else
			rc = parse_json(p, fmt == MCR_FHIR_NDJSON);
		if (rc) {
			mcr_error_print(prog);
			mcr_fhir_reader_free(&rd);
			return MCR_EXIT_FAILED;
		}
		FILE *f = fopen(p, "rb");
		if (f && fseek(f, 0, SEEK_END) == 0)
			bytes += (unsigned long long)ftell(f);
		if (f)
			fclose(f);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	printf("files %d bytes %llu wall %.3f user %.3f peak_kib %ld", argc - optind, bytes, wall,
	       user, ru.ru_maxrss);
	if (model)
		printf(" resources %ld", resources);
	printf("\n");
	mcr_fhir_reader_free(&rd);
	return MCR_EXIT_OK;
}
