/*
 * libFuzzer target: mcr_csv over any file (written to a temporary file, as the
 * reader takes a path). Reads every record; lines must never go backwards.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcr/csv.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void cleanup(void)
{
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/tmp/fuzz_csv.%ld.csv", (long)getpid());
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
	mcr_csv *c = NULL;
	if (mcr_csv_open(&c, path, NULL) != 0)
		return 0;
	long last = mcr_csv_line(c);
	while (mcr_csv_next(c) == 1) {
		long line = mcr_csv_line(c);
		if (line <= last)
			abort();
		last = line;
		const char *v = mcr_csv_get(c, "a");
		if (v)
			(void)strlen(v);
	}
	mcr_csv_close(c);
	return 0;
}
