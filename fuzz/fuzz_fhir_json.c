/*
 * libFuzzer target: the GP JSON reader (lib/fhir_json.c) over bytes in memory,
 * fed in small chunks. Byte 0 chooses JSON (even) or NDJSON (odd); the rest is
 * the file. Every resource handed over must be well formed in the model: a
 * type, a line that never goes backwards (NDJSON: each line's resource on a
 * later line than the one before), and pairs whose depth is the number of
 * elements in their path. An error names a line of the file (never the one
 * after its final newline).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fhir_res.h"
#include "mcr/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int last_line, last_root_line, ndjson;

static int check(void *ctx, fres *r)
{
	(void)ctx;
	if (!r->type[0] || r->line < last_line || r->line < 1)
		abort();
	if (ndjson && r->root && r->line <= last_root_line)
		abort(); /* two resources of one NDJSON line */
	last_line = r->line;
	if (r->root)
		last_root_line = r->line;
	for (size_t i = 0; i < r->n; i++) {
		const char *path = r->arena.ptr + r->pairs[i].path;
		size_t len = strlen(path);
		if (len == 0 || path[0] == '/' || path[len - 1] == '/' ||
		    r->pairs[i].hash != path_hash(path, len))
			abort();
		int segs = 1;
		for (const char *p = path; *p; p++)
			segs += *p == '/';
		if (segs != r->pairs[i].depth)
			abort();
		(void)strlen(r->arena.ptr + r->pairs[i].value);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const char *const only[] = {"code", "subject", "contained", NULL};
	mcr_fhir_reader rd = {0};
	rd.on_resource = check;
	rd.only = (data[0] & 2) ? only : NULL;
	rd.whole = "Patient";
	last_line = last_root_line = 0;
	ndjson = data[0] & 1;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	if (mcr_fhir_read_json_memory(&rd, text, len, "fuzz.json", ndjson) != 0) {
		/* "fuzz.json:LINE...": a line the file has */
		const char *m = mcr_error_message();
		if (strncmp(m, "fuzz.json:", 10) == 0 && m[10] >= '0' && m[10] <= '9') {
			long line = strtol(m + 10, NULL, 10), lines = 1;
			for (size_t i = 0; i + 1 < len; i++)
				lines += text[i] == '\n';
			if (line < 1 || line > lines)
				abort();
		}
	}
	mcr_fhir_reader_free(&rd);
	return 0;
}
