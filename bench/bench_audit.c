/*
 * bench_audit: group commit of the audit log (mcr_audit_append on one shared
 * handle, as mcr-serve uses it).
 *
 *   bench_audit [--entries N] [--dir DIR] [--config FILE]
 *
 * For 1, 16 and 64 threads, appends N entries in all (default 2000) to a fresh
 * log and prints entries/s, commits, fsyncs per entry (one per commit) and each
 * caller's append latency p50/p99; then, in the same run, the disk's own limit:
 * 4 KiB write+fdatasync per second on the same folder, the rate one-commit-per-entry
 * appends could at best reach. Data goes under DIR (default /tmp), deleted after.
 * With --config FILE the log is the one that configuration names: with
 * store.backend postgresql, mcr.audit in that database (appended to, not reset).
 */
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mcr/audit.h"
#include "mcr/config.h"
#include "mcr/error.h"

static const char *const prog = "bench_audit";

static const struct option options[] = {
	{ "entries", required_argument, NULL, 'n' },
	{ "dir", required_argument, NULL, 'd' },
	{ "config", required_argument, NULL, 'c' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
	"Usage: bench_audit [--entries N] [--dir DIR] [--config FILE]\n"
	"Group commit of the audit log: for 1, 16 and 64 threads appending on one shared\n"
	"handle (as mcr-serve does), entries/s, commits, fsyncs per entry and append\n"
	"latency p50/p99; then the disk's own write+fdatasync rate in the same folder.\n"
	"\n"
	"  --entries N    entries appended per run (at least 64, default 2000)\n"
	"  --dir DIR      folder for the data (default /tmp), deleted afterwards\n"
	"  --config FILE  the log that configuration names instead (store.backend\n"
	"                 postgresql: mcr.audit in that database, appended to, not reset)\n"
	"  --help         show this help and exit\n"
	"  --version      show the version and exit\n"
	"\n"
	"Exit status: 0 done; 1 an append failed; 2 usage or configuration error.\n";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct worker {
	mcr_audit *a;
	int id;
	long n;
	double *lat; /* n latencies, seconds */
	int rc;
} worker;

static void *run(void *p)
{
	worker *w = p;
	char user[32];
	snprintf(user, sizeof(user), "bench%d", w->id);
	for (long i = 0; i < w->n; i++) {
		mcr_audit_entry e = { .user = user, .org = "A81001", .role = "clinician", .nhs = "9990000018",
		                      .sections = "allergies,medications", .basis = "implied",
		                      .outcome = "shown", .generation = 1 };
		double s = now_s();
		if ((w->rc = mcr_audit_append(w->a, &e)) != 0) {
			mcr_error_print(prog);
			return NULL;
		}
		w->lat[i] = now_s() - s;
	}
	return NULL;
}

static int by_value(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

static void remove_log(const char *path)
{
	char f[600];
	unlink(path);
	snprintf(f, sizeof(f), "%s-wal", path);
	unlink(f);
	snprintf(f, sizeof(f), "%s-shm", path);
	unlink(f);
}

static int bench_threads(const char *dir, const mcr_config *cfg, int threads, long entries)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/bench-audit-%d.sqlite", dir, threads);
	remove_log(path);
	mcr_audit *a = NULL;
	if (cfg ? mcr_audit_open_config(&a, cfg) : mcr_audit_open(&a, path)) {
		mcr_error_print(prog);
		return 1;
	}
	long each = entries / threads;
	double *lat = calloc((size_t)(each * threads), sizeof(*lat));
	worker *w = calloc((size_t)threads, sizeof(*w));
	pthread_t *t = calloc((size_t)threads, sizeof(*t));
	int rc = !lat || !w || !t;
	double start = now_s();
	int started = 0;
	for (int i = 0; !rc && i < threads; i++, started++) {
		w[i] = (worker){ a, i, each, lat + i * each, 0 };
		rc = pthread_create(&t[i], NULL, run, &w[i]) != 0;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		rc |= w[i].rc != 0;
	}
	double secs = now_s() - start;
	mcr_audit_stats st;
	mcr_audit_get_stats(a, &st);
	mcr_audit_close(a);
	remove_log(path);
	if (!rc) {
		long n = each * threads;
		qsort(lat, (size_t)n, sizeof(*lat), by_value);
		printf("%3d threads: %6ld entries in %6.2f s = %7.0f entries/s, %5ld commits = %.3f fsyncs/entry,"
		       " append p50 %6.2f ms, p99 %6.2f ms\n", threads, st.entries, secs, (double)st.entries / secs,
		       st.commits, (double)st.commits / (double)st.entries, lat[n / 2] * 1e3, lat[n * 99 / 100] * 1e3);
	}
	free(lat);
	free(w);
	free(t);
	return rc;
}

/* The disk's bound: 4 KiB appended and fdatasync'ed, as one WAL commit does. */
static void bench_disk(const char *dir, long n)
{
	char path[512], page[4096];
	snprintf(path, sizeof(path), "%s/bench-audit-fsync-probe", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return;
	memset(page, 'x', sizeof(page));
	double start = now_s();
	long i = 0;
	for (; i < n; i++)
		if (write(fd, page, sizeof(page)) != (ssize_t)sizeof(page) || fdatasync(fd) != 0)
			break;
	double secs = now_s() - start;
	close(fd);
	unlink(path);
	printf("disk limit: %ld x 4 KiB write+fdatasync in %.2f s = %.0f fsyncs/s (%.2f ms each)\n", i, secs,
	       (double)i / secs, secs / (double)i * 1e3);
}

int main(int argc, char **argv)
{
	long entries = 2000;
	const char *dir = "/tmp", *config = NULL;
	mcr_config *cfg = NULL;
	int c;
	while ((c = mcr_cli_getopt(prog, argc, argv, options)) != -1) {
		switch (c) {
		case 'n':
			if (mcr_cli_number(prog, "--entries", optarg, 64, 100000000, &entries))
				return MCR_EXIT_USAGE;
			break;
		case 'd': dir = optarg; break;
		case 'c': config = optarg; break;
		case 'h': fputs(usage, stdout); return MCR_EXIT_OK;
		case 'V': mcr_cli_version(prog); return MCR_EXIT_OK;
		default: return MCR_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return mcr_cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
	int status;
	if (config && (status = mcr_cli_load_config(prog, config, &cfg)))
		return status;
	static const int threads[] = { 1, 16, 64 };
	for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++)
		if (bench_threads(dir, cfg, threads[i], entries)) {
			mcr_config_free(cfg);
			return MCR_EXIT_FAILED;
		}
	mcr_config_free(cfg);
	bench_disk(dir, entries < 2000 ? entries : 2000);
	return MCR_EXIT_OK;
}
