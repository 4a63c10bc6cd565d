/*
 * libFuzzer target: mcr_staged_read over any XML payload. The input is gzipped
 * into <tmp>/A81001/gp/20261120T020000Z.xml.gz with a manifest made to match its
 * length and CRC-32 (counts zero). Invariants: a failure is MCR_EFORMAT or
 * MCR_ELIMIT with a message; when the only failure is the counts, a second
 * read with a manifest holding the counts the callbacks saw must succeed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/staged.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64], dir[128], payload[192], manifest[192];

static void cleanup(void)
{
	unlink(payload);
	unlink(manifest);
	rmdir(dir);
	char org[128];
	snprintf(org, sizeof(org), "%s/A81001", root);
	rmdir(org);
	rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(root, sizeof(root), "/tmp/fuzz_staged.%ld", (long)getpid());
	snprintf(dir, sizeof(dir), "%s/A81001/gp", root);
	snprintf(payload, sizeof(payload), "%s/20261120T020000Z.xml.gz", dir);
	snprintf(manifest, sizeof(manifest), "%s/20261120T020000Z.yaml", dir);
	if (mcr_fs_mkdirs(dir) != 0)
		abort();
	atexit(cleanup);
	return 0;
}

static void write_file(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
}

typedef struct tally {
	long people, members, items, objections;
	long sections[MCR_SECTION_COUNT];
	long withheld[MCR_REASON_COUNT];
} tally;

static int on_member(void *ctx, const char *nhs)
{
	if (strlen(nhs) != 10)
		abort();
	((tally *)ctx)->members++;
	return 0;
}

static int on_person(void *ctx, const mcr_staged_person *p)
{
	tally *t = ctx;
	if (!p->nhs || strlen(p->nhs) != 10)
		abort();
	t->people++;
	if (p->objection)
		t->objections++;
	return 0;
}

static int on_item(void *ctx, const mcr_staged_person *p, const mcr_staged_item *it)
{
	tally *t = ctx;
	if (p->objection || (unsigned)it->section >= MCR_SECTION_COUNT)
		abort();
	for (size_t i = 0; i < it->ndetails; i++)
		if (!it->details[i].name || !it->details[i].value)
			abort();
	t->items++;
	t->sections[it->section]++;
	return 0;
}

static int on_withheld(void *ctx, const mcr_staged_person *p, mcr_section s, mcr_reason r,
                       long count)
{
	(void)p;
	if ((unsigned)s >= MCR_SECTION_COUNT || (unsigned)r >= MCR_REASON_COUNT || count < 1)
		abort();
	((tally *)ctx)->withheld[r] += count;
	return 0;
}

static void write_manifest(uint64_t len, uint32_t crc, const tally *t)
{
	char text[4096];
	size_t n = (size_t)snprintf(text, sizeof(text),
		"schema_version: 2\norganisation: A81001\ndataset: gp\n"
		"extracted: 2026-11-20T02:00:00Z\nshares_from: \"\"\n"
		"payload: 20261120T020000Z.xml.gz\npayload_length: %llu\npayload_crc32: %08x\n"
		"counts:\n  people: %ld\n  members: %ld\n  items: %ld\n  objections: %ld\n  sections:\n",
		(unsigned long long)len, (unsigned)crc, t->people, t->members, t->items, t->objections);
	for (int s = 0; s < MCR_SECTION_COUNT; s++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "    %s: %ld\n",
		                      mcr_section_name((mcr_section)s), t->sections[s]);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "withheld:\n");
	for (int r = 0; r < MCR_REASON_COUNT; r++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "  %s: %ld\n",
		                      mcr_reason_name((mcr_reason)r), t->withheld[r]);
	write_file(manifest, text, n);
}

static int read_once(tally *t)
{
	mcr_staged_manifest *m = NULL;
	if (mcr_staged_manifest_read(manifest, &m) != 0)
		abort(); /* the harness wrote a valid manifest */
	memset(t, 0, sizeof(*t));
	mcr_staged_handler h = {t, on_member, on_person, on_item, on_withheld, NULL};
	int rc = mcr_staged_read(manifest, m, &h);
	mcr_staged_manifest_free(m);
	if (rc && ((rc != MCR_EFORMAT && rc != MCR_ELIMIT) || !mcr_error_message()[0]))
		abort();
	return rc;
}

/*
 * "<payload>:<line>: <digit>...": only the final count checks start their
 * reason with a number (input quoted in other messages comes later in them).
 */
static int count_mismatch(const char *msg)
{
	size_t n = strlen(payload);
	if (strncmp(msg, payload, n) != 0 || msg[n] != ':')
		return 0;
	const char *p = msg + n + 1;
	while (*p >= '0' && *p <= '9')
		p++;
	return p[0] == ':' && p[1] == ' ' && p[2] >= '0' && p[2] <= '9';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* gzip in memory (no fsync: speed), so the harness knows length and CRC. */
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	uLong cap = deflateBound(&zs, (uLong)size) + 64;
	unsigned char *gz = malloc(cap);
	if (!gz)
		abort();
	zs.next_in = (Bytef *)data;
	zs.avail_in = (uInt)size;
	zs.next_out = gz;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
		abort();
	size_t len = cap - zs.avail_out;
	deflateEnd(&zs);
	write_file(payload, gz, len);
	uint32_t crc = (uint32_t)crc32(0, gz, (uInt)len);
	free(gz);

	tally zero, seen;
	memset(&zero, 0, sizeof(zero));
	write_manifest(len, crc, &zero);
	int rc = read_once(&seen);
	if (rc == MCR_EFORMAT && count_mismatch(mcr_error_message())) {
		/* Only the counts were wrong: with the counts seen, the file is good. */
		write_manifest(len, crc, &seen);
		tally again;
		if (read_once(&again) != 0 || memcmp(&again, &seen, sizeof(seen)) != 0)
			abort();
	}
	return 0;
}
