/*
 * bench_gp_parse FILE...: the bare parse of GP export files, the limit
 * mcr-extract-gp is measured against (bench/bench_gp.sh): each file read
 * through mcr_gz (inflate and CRC, as the extractor reads it) and parsed with
 * no work per event, .xml(.gz) by libxml2's SAX2 push parser (mcr_xml_sax, the
 * extractor's parser setup) and .json/.ndjson(.gz) by yajl. Prints one line:
 * files, input bytes, wall seconds, user CPU seconds, peak RSS (KiB).
 * bench_gp_parse --model FILE...: the same through the extractor's readers
 * (lib/fhir_xml.c, lib/fhir_json.c: the per-resource model, no rules), to show
 * that their memory does not grow with the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <yajl/yajl_parse.h>

#include "mcr/error.h"
#include "mcr/gz.h"
#include "mcr/xml.h"
#include "../lib/fhir_res.h"

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

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
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
	int model = argc > 1 && strcmp(argv[1], "--model") == 0;
	if (argc < 2 + model) {
		fprintf(stderr, "usage: bench_gp_parse [--model] FILE...\n");
		return 2;
	}
	mcr_fhir_reader rd = {0};
	long resources = 0;
	rd.on_resource = count_resource;
	rd.ctx = &resources;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long events = 0;
	unsigned long long bytes = 0;
	for (int i = 1 + model; i < argc; i++) {
		const char *p = argv[i];
		int rc;
		if (model)
			rc = mcr_fhir_read(&rd, p);
		else if (ends_with(p, ".ndjson") || ends_with(p, ".ndjson.gz"))
			rc = parse_json(p, 1);
		else if (ends_with(p, ".json") || ends_with(p, ".json.gz"))
			rc = parse_json(p, 0);
		else
			rc = parse_xml(p, &events);
		if (rc) {
			fprintf(stderr, "bench_gp_parse: %s\n", mcr_error_message());
			return 1;
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
	printf("files %d bytes %llu wall %.3f user %.3f peak_kib %ld", argc - 1 - model, bytes, wall,
	       user, ru.ru_maxrss);
	if (model)
		printf(" resources %ld", resources);
	printf("\n");
	mcr_fhir_reader_free(&rd);
	return 0;
}
