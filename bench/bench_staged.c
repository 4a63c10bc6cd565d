/*
 * Staged file write and read rates: writes one staged file of N items (50 per
 * person, PERF-NOTES.md's shape) under a temporary folder in /tmp, reads it
 * back through mcr_staged_read (gzip + SAX2 + streaming XSD validation + the
 * manifest checks), prints items/s for both and the reader's peak RSS (the
 * peak is reset after writing, through /proc/self/clear_refs), and removes
 * the folder.
 *
 *   bench_staged [--items N]      default 1000000
 */
#include "cli.h"
#include "mcr/error.h"
#include "mcr/staged.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *const prog = "bench_staged";

static const struct option options[] = {
	{ "items", required_argument, NULL, 'n' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
	"Usage: bench_staged [--items N]\n"
	"Staged file write and read rates: writes one staged file of N items (50 a person)\n"
	"in a temporary folder under /tmp, reads it back through mcr_staged_read (gzip, SAX2,\n"
	"streaming XSD validation, the manifest checks) and removes it.\n"
	"\n"
	"  --items N  items in the file (default 1000000)\n"
	"  --help     show this help and exit\n"
	"  --version  show the version and exit\n"
	"\n"
	"Prints items/s of both (CPU) and the reader's peak RSS. Exit status: 0 done;\n"
	"1 the write or the read failed; 2 usage error.\n";

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds of this process: on a shared machine closer to an idle core's wall time. */
static double cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Reset the peak RSS (VmHWM) so the read is measured alone. */
static void reset_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if (f) {
		fputs("5", f);
		fclose(f);
	}
}

/* A /proc/self/status field (VmHWM, VmRSS) in KiB, -1 when unknown. */
static long status_kib(const char *field)
{
	size_t fl = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");
	long kib = -1;
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, field, fl) == 0 && line[fl] == ':')
			kib = atol(line + fl + 1);
	if (f)
		fclose(f);
	return kib;
}

static int count_item(void *ctx, const mcr_staged_person *p, const mcr_staged_item *it)
{
	(void)p;
	/* Touch the strings as a loader would. */
	*(long *)ctx += (long)strlen(it->display ? it->display : "");
	return 0;
}

/* 999 range test numbers with a valid check digit. */
static void nhs_for(long i, char out[11])
{
	for (;; i++) {
		char d[16];
		snprintf(d, sizeof(d), "999%06ld", i % 1000000L);
		int sum = 0;
		for (int k = 0; k < 9; k++)
			sum += (d[k] - '0') * (10 - k);
		int c = 11 - sum % 11;
		if (c == 11)
			c = 0;
		if (c != 10) {
			memcpy(out, d, 9);
			out[9] = (char)('0' + c);
			out[10] = '\0';
			return;
		}
	}
}

int main(int argc, char **argv)
{
	long n = 1000000;
	int c;
	while ((c = mcr_cli_getopt(prog, argc, argv, options)) != -1) {
		switch (c) {
		case 'n':
			if (mcr_cli_number(prog, "--items", optarg, 1, 1000000000, &n))
				return MCR_EXIT_USAGE;
			break;
		case 'h': fputs(usage, stdout); return MCR_EXIT_OK;
		case 'V': mcr_cli_version(prog); return MCR_EXIT_OK;
		default: return MCR_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return mcr_cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
	char dir[] = "/tmp/mcr-bench-staged.XXXXXX";
	if (!mkdtemp(dir)) {
		perror("bench_staged: mkdtemp");
		return MCR_EXIT_FAILED;
	}
	int rc;
	char *mp = NULL;
	mcr_staged_manifest *m = NULL;
	mcr_staged_header h = {"A81001", "gp", 1795140000, "2012-04-01"};
	mcr_staged_writer *w = NULL;
	double t0 = now(), c0 = cpu();
	if ((rc = mcr_staged_writer_open(&w, dir, &h)))
		goto out;
	char nhs[11], id[32], code[32], display[64];
	mcr_staged_detail det = {"note", "Reviewed at clinic"};
	for (long i = 0; i < n && !rc; i++) {
		if (i % 50 == 0) {
			if (i && (rc = mcr_staged_person_end(w)))
				break;
			nhs_for(i / 50 * 3, nhs);
			mcr_staged_person p = {nhs, "Example", "Pat", "1950-02-03", "female",
			                       "1 High St, Hertford", "SG14 1AA", NULL, NULL, NULL};
			if ((rc = mcr_staged_write_member(w, nhs)) || (rc = mcr_staged_person_begin(w, &p)))
				break;
		}
		snprintf(id, sizeof(id), "res-%ld", i);
		snprintf(code, sizeof(code), "%ld", 100000000 + i % 5000);
		snprintf(display, sizeof(display), "Clinical term number %ld here", i % 5000);
		mcr_staged_item it = {(mcr_section)(1 + i % 6), id, "2021-03-04", "http://snomed.info/sct",
		                      code, display, "active", NULL, &det, i % 10 == 0 ? 1 : 0};
		rc = mcr_staged_write_item(w, &it);
	}
	if (!rc && n > 0)
		rc = mcr_staged_person_end(w);
	if (rc) {
		mcr_staged_writer_abort(w);
		goto out;
	}
	rc = mcr_staged_writer_commit(w, &mp);
	double t1 = now(), c1 = cpu();
	if (rc)
		goto out;
	if ((rc = mcr_staged_manifest_read(mp, &m)))
		goto out;
	long sink = 0;
	mcr_staged_handler hd = {&sink, NULL, NULL, count_item, NULL, NULL};
	reset_peak();
	long rss0 = status_kib("VmRSS");
	double t2 = now(), c2 = cpu();
	rc = mcr_staged_read(mp, m, &hd);
	double t3 = now(), c3 = cpu();
	if (rc)
		goto out;
	printf("items %ld, payload %.1f MB gzip\n", n, (double)m->payload_length / 1e6);
	printf("write: %.2f s wall, %.2f s CPU, %.0f items/s (CPU)\n", t1 - t0, c1 - c0,
	       (double)n / (c1 - c0));
	printf("read (gzip + SAX2 + XSD + checks): %.2f s wall, %.2f s CPU, %.0f items/s (CPU)\n",
	       t3 - t2, c3 - c2, (double)n / (c3 - c2));
	printf("read peak RSS: %.1f MiB (%.1f MiB before reading)\n",
	       (double)status_kib("VmHWM") / 1024.0, (double)rss0 / 1024.0);
out:
	if (rc)
		mcr_error_print(prog);
	if (m) {
		char p[512];
		snprintf(p, sizeof(p), "%s/A81001/gp/%s", dir, m->payload);
		unlink(p);
	}
	if (mp)
		unlink(mp);
	mcr_staged_manifest_free(m);
	free(mp);
	char sub[512];
	snprintf(sub, sizeof(sub), "%s/A81001/gp", dir);
	rmdir(sub);
	snprintf(sub, sizeof(sub), "%s/A81001", dir);
	rmdir(sub);
	rmdir(dir);
	return rc ? MCR_EXIT_FAILED : MCR_EXIT_OK;
}
