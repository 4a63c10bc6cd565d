/*
 * libFuzzer target: mcr_gz_read on any file. Bit 0 of the first byte picks
 * gzip-only or plain-allowed. A clean read must have consumed the whole file
 * and report its CRC-32. With bit 1 set the writer must round-trip the same
 * bytes (not always: its fsync costs more than the read).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "mcr/gz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[64], out_path[64];

static void cleanup(void)
{
	unlink(in_path);
	unlink(out_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(in_path, sizeof(in_path), "/tmp/fuzz_gz.%ld.in", (long)getpid());
	snprintf(out_path, sizeof(out_path), "/tmp/fuzz_gz.%ld.out.gz", (long)getpid());
	atexit(cleanup);
	return 0;
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	unsigned flags = (data[0] & 1) ? MCR_GZ_ALLOW_PLAIN : 0;
	int round_trip = data[0] & 2;
	data++;
	size--;
	write_file(in_path, data, size);
	mcr_gz_reader *r = NULL;
	if (mcr_gz_open(&r, in_path, flags, 1 << 20) == 0) {
		unsigned char buf[4096];
		size_t got;
		int rc;
		while ((rc = mcr_gz_read(r, buf, sizeof(buf), &got)) == 0 && got)
			;
		if (rc == 0 && (mcr_gz_raw_length(r) != size ||
		                mcr_gz_raw_crc32(r) != (uint32_t)crc32(0, data, (uInt)size)))
			abort();
		mcr_gz_close(r);
	}
	if (!round_trip)
		return 0;

	/* Writer round trip of the same bytes. */
	unlink(out_path);
	mcr_gz_writer *w = NULL;
	if (mcr_gz_writer_open(&w, out_path, 1) != 0 || mcr_gz_write(w, data, size) != 0)
		abort();
	uint64_t len;
	uint32_t crc;
	if (mcr_gz_writer_finish(w, &len, &crc) != 0)
		abort();
	if (mcr_gz_open(&r, out_path, 0, 0) != 0)
		abort();
	unsigned char *back = malloc(size + 1);
	size_t have = 0, got;
	int rc;
	while ((rc = mcr_gz_read(r, back + have, size + 1 - have, &got)) == 0 && got)
		have += got;
	if (rc != 0 || have != size || memcmp(back, data, size) != 0 ||
	    mcr_gz_raw_length(r) != len || mcr_gz_raw_crc32(r) != crc)
		abort();
	free(back);
	mcr_gz_close(r);
	return 0;
}
