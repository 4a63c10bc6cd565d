/*
 * bench_lookup: lookup latency, audit append included, on large stores.
 *
 *   bench_lookup [--people N]... [--lookups K] [--dir DIR] [--keep]
 *
 * For each N (default 100000 and 909091, every valid NHS number of the test range
 * 999 000 000x), builds a store generation directly with SQL in person order
 * (~50 items a person, index built after the insert, as PERF-NOTES.md
 * recommends), then times K random lookups (default 5000) through
 * mcr_lookup_run, the call mcr-lookup makes: open the current generation
 * read-only, read the person, decide, append the audit entry durably
 * (synchronous=FULL), render the text view. Prints p50/p90/p99/max per size, and
 * the audit append alone and the disk's raw write+fdatasync for comparison. Data goes under DIR (default /tmp) and
 * is deleted afterwards unless --keep. Run it niced: bench/README.md.
 */
#include <fcntl.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mcr/audit.h"
#include "mcr/buf.h"
#include "mcr/config.h"
#include "mcr/error.h"
#include "mcr/lookup.h"
#include "mcr/nhs.h"
#include "mcr/schema.h"
#include "mcr/vocab.h"

static const char *const prog = "bench_lookup";

#define NGP 10

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* The next valid NHS number of the 999 range after *cursor, into out; 0 when
 * the range is used up. */
static int next_nhs(char out[11], long *cursor)
{
	char nine[16];
	for (;; (*cursor)++) {
		if (*cursor > 999999)
			return 0;
		snprintf(nine, sizeof(nine), "999%06ld", *cursor);
		int d = mcr_nhs_check_digit(nine);
		if (d < 10) {
			memcpy(out, nine, 9);
			out[9] = (char)('0' + d);
			out[10] = '\0';
			(*cursor)++;
			return 1;
		}
	}
}

static int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "bench_lookup: %s: %s\n", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static const char *const terms[] = {
	"Penicillin allergy", "Hypertension", "Type 2 diabetes mellitus", "Asthma",
	"Amlodipine 5mg tablets", "Metformin 500mg tablets", "Influenza vaccination",
	"Serum glucose level", "GP surgery consultation", "Atrial fibrillation",
};

/* Build store_dir/gen-000001.sqlite with n people and point 'current' at it. */
static int build_store(const char *store_dir, long n, char (*nhs)[11], long *items_out)
{
	char path[1024], link[1024];
	snprintf(path, sizeof(path), "%s/gen-000001.sqlite", store_dir);
	snprintf(link, sizeof(link), "%s/current", store_dir);
	sqlite3 *db = NULL;
	sqlite3_stmt *ins_item = NULL, *ins_person = NULL, *ins_member = NULL;
	long items = 0, id = 0;
	int rc = -1;
	unlink(path);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		goto out;
	if (exec(db, "PRAGMA page_size = 65536; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
	             " PRAGMA cache_size = -65536") ||
	    exec(db, mcr_schema_store_sql) || exec(db, "DROP INDEX item_by_person") ||
	    exec(db, "PRAGMA user_version = 1; BEGIN"))
		goto out;
	char sql[1024];
	for (int g = 0; g < NGP; g++) {
		snprintf(sql, sizeof(sql), "INSERT INTO source (org, dataset, kind, name, status, extracted)"
		         " VALUES ('B8%04d', 'gp', 'gp', 'Practice %d', 'current', '2026-11-21T02:00:00Z')", g, g);
		if (exec(db, sql))
			goto out;
	}
	if (exec(db, "INSERT INTO source (org, dataset, kind, name, status, extracted) VALUES"
	             " ('HCC01', 'lcs', 'lcs', 'Social Care', 'current', '2026-11-21T01:00:00Z'),"
	             " ('NLO01', 'ooh', 'ooh', 'Urgent Care', 'stale', '2026-11-19T00:30:00Z')"))
		goto out;
	if (sqlite3_prepare_v2(db, "INSERT INTO item (id, nhs, org, section, date, system, code, display, status,"
	                           " source_id, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	                       -1, &ins_item, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO person (nhs, org, family, given, birth_date, gender, postcode)"
	                           " VALUES (?1, ?2, 'Example', 'Pat', '1960-01-01', 'unknown', 'SG14 1AA')",
	                       -1, &ins_person, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO member (nhs, org) VALUES (?1, ?2)", -1, &ins_member, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_lookup: %s\n", sqlite3_errmsg(db));
		goto out;
	}
	/* Items per source in person order: the loader's layout. */
	for (int src = 0; src < NGP + 2; src++) {
		char org[16];
		if (src < NGP)
			snprintf(org, sizeof(org), "B8%04d", src);
		else
			snprintf(org, sizeof(org), "%s", src == NGP ? "HCC01" : "NLO01");
		for (long p = 0; p < n; p++) {
			int gp = (int)(p % NGP);
			int k;
			const char *section;
			if (src < NGP && gp != src)
				continue;
			if (src == NGP && p % 10 != 3)
				continue; /* one person in ten known to social care */
			if (src == NGP + 1 && p % 10 != 7)
				continue; /* one in ten with an out-of-hours report */
			sqlite3_bind_text(ins_member, 1, nhs[p], 10, SQLITE_STATIC);
			sqlite3_bind_text(ins_member, 2, org, -1, SQLITE_STATIC);
			if (sqlite3_step(ins_member) != SQLITE_DONE)
				goto db_fail;
			sqlite3_reset(ins_member);
			if (src < NGP) {
				sqlite3_bind_text(ins_person, 1, nhs[p], 10, SQLITE_STATIC);
				sqlite3_bind_text(ins_person, 2, org, -1, SQLITE_STATIC);
				if (sqlite3_step(ins_person) != SQLITE_DONE)
					goto db_fail;
				sqlite3_reset(ins_person);
			}
			int count = src < NGP ? 45 + (int)(rnd() % 10) : 2;
			for (k = 0; k < count; k++) {
				if (src == NGP)
					section = "social-care";
				else if (src == NGP + 1)
					section = "misc-reports";
				else
					section = mcr_section_name((mcr_section)(1 + rnd() % 6));
				char date[16], code[16];
				snprintf(date, sizeof(date), "%04d-%02d-%02d", 2000 + (int)(rnd() % 26),
				         1 + (int)(rnd() % 12), 1 + (int)(rnd() % 28));
				snprintf(code, sizeof(code), "%u", (unsigned)(100000 + rnd() % 900000));
				sqlite3_bind_int64(ins_item, 1, ++id);
				sqlite3_bind_text(ins_item, 2, nhs[p], 10, SQLITE_STATIC);
				sqlite3_bind_text(ins_item, 3, org, -1, SQLITE_STATIC);
				sqlite3_bind_text(ins_item, 4, section, -1, SQLITE_STATIC);
				sqlite3_bind_text(ins_item, 5, date, -1, SQLITE_TRANSIENT);
				sqlite3_bind_text(ins_item, 6, "http://snomed.info/sct", -1, SQLITE_STATIC);
				sqlite3_bind_text(ins_item, 7, code, -1, SQLITE_TRANSIENT);
				sqlite3_bind_text(ins_item, 8, terms[rnd() % 10], -1, SQLITE_STATIC);
				sqlite3_bind_text(ins_item, 9, "active", -1, SQLITE_STATIC);
				sqlite3_bind_null(ins_item, 10);
				if (k % 5 == 0)
					sqlite3_bind_text(ins_item, 11, "[[\"note\",\"Reviewed at annual check\"]]", -1, SQLITE_STATIC);
				else
					sqlite3_bind_null(ins_item, 11);
				if (sqlite3_step(ins_item) != SQLITE_DONE)
					goto db_fail;
				sqlite3_reset(ins_item);
				items++;
			}
		}
	}
	if (exec(db, "COMMIT") || exec(db, "CREATE INDEX item_by_person ON item (nhs, section)") ||
	    exec(db, "ANALYZE"))
		goto out;
	sqlite3_finalize(ins_item);
	sqlite3_finalize(ins_person);
	sqlite3_finalize(ins_member);
	ins_item = ins_person = ins_member = NULL;
	sqlite3_close(db);
	db = NULL;
	unlink(link);
	if (symlink("gen-000001.sqlite", link) != 0) {
		perror("bench_lookup: symlink");
		goto out;
	}
	*items_out = items;
	rc = 0;
	goto out;
db_fail:
	fprintf(stderr, "bench_lookup: insert: %s\n", sqlite3_errmsg(db));
out:
	sqlite3_finalize(ins_item);
	sqlite3_finalize(ins_person);
	sqlite3_finalize(ins_member);
	sqlite3_close(db);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, int k)
{
	qsort(t, (size_t)k, sizeof(*t), cmp_double);
	printf("  %-28s p50 %7.0f us  p90 %7.0f us  p99 %7.0f us  max %7.0f us  (n=%d)\n", what,
	       t[k / 2], t[(int)(k * 0.90)], t[(int)(k * 0.99)], t[k - 1], k);
}

static int run_size(const char *base, long n, int lookups, int keep)
{
	char dir[512], store_dir[600], audit_path[600], cmd[700];
	snprintf(dir, sizeof(dir), "%s/mcr-bench-lookup-%ld-XXXXXX", base, n);
	if (!mkdtemp(dir)) {
		perror("bench_lookup: mkdtemp");
		return -1;
	}
	snprintf(store_dir, sizeof(store_dir), "%s/store", dir);
	snprintf(audit_path, sizeof(audit_path), "%s/audit/audit.sqlite", dir);
	mkdir(store_dir, 0700);

	char (*nhs)[11] = malloc((size_t)n * sizeof(*nhs));
	double *t = malloc((size_t)lookups * sizeof(*t));
	long cursor = 0, items = 0;
	int rc = -1;
	mcr_audit *audit = NULL;
	if (!nhs || !t)
		goto out;
	for (long i = 0; i < n; i++)
		if (!next_nhs(nhs[i], &cursor)) {
			fprintf(stderr, "bench_lookup: only %ld valid test NHS numbers exist\n", i);
			goto out;
		}

	double t0 = now_us();
	if (build_store(store_dir, n, nhs, &items))
		goto out;
	double build_s = (now_us() - t0) / 1e6;
	struct stat sb;
	char gen[700];
	snprintf(gen, sizeof(gen), "%s/gen-000001.sqlite", store_dir);
	stat(gen, &sb);
	printf("store: %ld people, %ld items, %.0f MB, built in %.1f s (%s)\n", n, items,
	       sb.st_size / 1e6, build_s, dir);

	mcr_org orgs[NGP + 2];
	char names[NGP][16];
	for (int g = 0; g < NGP; g++) {
		snprintf(names[g], sizeof(names[g]), "B8%04d", g);
		orgs[g] = (mcr_org){ names[g], "Practice", MCR_KIND_GP, MCR_SCHEDULE_NIGHTLY, "", NULL, NULL };
	}
	orgs[NGP] = (mcr_org){ "HCC01", "Social Care", MCR_KIND_LCS, MCR_SCHEDULE_NIGHTLY, "", NULL, NULL };
	orgs[NGP + 1] = (mcr_org){ "NLO01", "Urgent Care", MCR_KIND_OOH, MCR_SCHEDULE_TWICE_DAILY, "", NULL, NULL };
	mcr_role role = { "clinician", (1u << MCR_SECTION_COUNT) - 1 };
	mcr_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.path = "bench";
	cfg.store_dir = store_dir;
	cfg.audit_path = audit_path;
	cfg.orgs = orgs;
	cfg.norgs = NGP + 2;
	cfg.roles = &role;
	cfg.nroles = 1;

	if (mcr_audit_open(&audit, audit_path)) {
		fprintf(stderr, "bench_lookup: %s\n", mcr_error_message());
		goto out;
	}
	mcr_buf view = MCR_BUF_INIT;
	size_t bytes = 0;
	for (int i = 0; i < lookups; i++) {
		long p = (long)(rnd() % (uint64_t)n);
		mcr_lookup_request req = { "bench", names[p % NGP], "clinician", nhs[p], NULL, NULL, 0,
		                           MCR_LOOKUP_TEXT };
		mcr_buf_reset(&view);
		double s = now_us();
		int r = mcr_lookup_run(&cfg, audit, &req, &view, NULL);
		t[i] = now_us() - s;
		if (r) {
			fprintf(stderr, "bench_lookup: lookup of %s: %s\n", nhs[p], mcr_error_message());
			mcr_buf_free(&view);
			goto out;
		}
		bytes += view.len;
	}
	printf("  views: %.1f KB on average\n", bytes / 1024.0 / lookups);
	report("lookup incl. audit append", t, lookups);
	/* The same lookups with the audit log in memory-backed /dev/shm: what the
	 * store and the rendering cost, without the disk flush. */
	char shm[128];
	mcr_audit *mem = NULL;
	snprintf(shm, sizeof(shm), "/dev/shm/mcr-bench-audit-%ld.sqlite", (long)getpid());
	if (access("/dev/shm", W_OK) == 0 && mcr_audit_open(&mem, shm) == 0) {
		rng_state = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
		for (int i = 0; i < lookups; i++) {
			long p = (long)(rnd() % (uint64_t)n);
			mcr_lookup_request req = { "bench", names[p % NGP], "clinician", nhs[p], NULL, NULL, 0,
			                           MCR_LOOKUP_TEXT };
			mcr_buf_reset(&view);
			double s = now_us();
			int r = mcr_lookup_run(&cfg, mem, &req, &view, NULL);
			t[i] = now_us() - s;
			if (r) {
				fprintf(stderr, "bench_lookup: lookup of %s: %s\n", nhs[p], mcr_error_message());
				break;
			}
		}
		mcr_audit_close(mem);
		char f[160];
		unlink(shm);
		snprintf(f, sizeof(f), "%s-wal", shm);
		unlink(f);
		snprintf(f, sizeof(f), "%s-shm", shm);
		unlink(f);
		report("lookup, audit in /dev/shm", t, lookups);
	}
	mcr_buf_free(&view);
	int appends = lookups < 2000 ? lookups : 2000;
	for (int i = 0; i < appends; i++) {
		mcr_audit_entry e = { .user = "bench", .org = names[0], .role = "clinician", .nhs = nhs[0],
		                      .sections = "allergies", .basis = "implied", .outcome = "shown",
		                      .generation = 1 };
		double s = now_us();
		if (mcr_audit_append(audit, &e)) {
			fprintf(stderr, "bench_lookup: %s\n", mcr_error_message());
			goto out;
		}
		t[i] = now_us() - s;
	}
	report("audit append alone", t, appends);
	/* The disk's own bound: one fdatasync of a 4 KiB append, as a WAL commit does. */
	char raw[700];
	snprintf(raw, sizeof(raw), "%s/fsync-probe", dir);
	int fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		char page[4096];
		memset(page, 'x', sizeof(page));
		for (int i = 0; i < appends; i++) {
			double s = now_us();
			if (write(fd, page, sizeof(page)) != (ssize_t)sizeof(page) || fdatasync(fd) != 0)
				break;
			t[i] = now_us() - s;
		}
		close(fd);
		unlink(raw);
		report("disk: 4 KiB write+fdatasync", t, appends);
	}
	rc = 0;
out:
	mcr_audit_close(audit);
	free(nhs);
	free(t);
	if (!keep) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_lookup: could not remove %s\n", dir);
	}
	fflush(stdout);
	return rc;
}

static const struct option options[] = {
	{ "people", required_argument, NULL, 'p' },
	{ "lookups", required_argument, NULL, 'k' },
	{ "dir", required_argument, NULL, 'd' },
	{ "keep", no_argument, NULL, 'K' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
	"Usage: bench_lookup [--people N]... [--lookups K] [--dir DIR] [--keep]\n"
	"Lookup latency, audit append included, on large stores: for each N builds a store\n"
	"generation with SQL (about 50 items a person), then times K random lookups through\n"
	"mcr_lookup_run (the call mcr-lookup makes); prints p50/p90/p99/max per size, the\n"
	"audit append alone and the disk's raw write+fdatasync rate.\n"
	"\n"
	"  --people N   people in a store, 1 to 909091; may be repeated (at most 8; default\n"
	"               100000 and 909091)\n"
	"  --lookups K  lookups per size (at least 10, default 5000)\n"
	"  --dir DIR    folder for the data (default /tmp)\n"
	"  --keep       keep the data afterwards\n"
	"  --help       show this help and exit\n"
	"  --version    show the version and exit\n"
	"\n"
	"Exit status: 0 done; 1 a build or lookup failed; 2 usage error.\n";

int main(int argc, char **argv)
{
	long sizes[8], lookups = 5000;
	int nsizes = 0, keep = 0, c;
	const char *dir = "/tmp";
	while ((c = mcr_cli_getopt(prog, argc, argv, options)) != -1) {
		switch (c) {
		case 'p':
			if (nsizes == 8)
				return mcr_cli_usage_error(prog, "--people given more than 8 times");
			if (mcr_cli_number(prog, "--people", optarg, 1, 909091, &sizes[nsizes++]))
				return MCR_EXIT_USAGE;
			break;
		case 'k':
			if (mcr_cli_number(prog, "--lookups", optarg, 10, 100000000, &lookups))
				return MCR_EXIT_USAGE;
			break;
		case 'd': dir = optarg; break;
		case 'K': keep = 1; break;
		case 'h': fputs(usage, stdout); return MCR_EXIT_OK;
		case 'V': mcr_cli_version(prog); return MCR_EXIT_OK;
		default: return MCR_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return mcr_cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
	if (!nsizes) {
		sizes[nsizes++] = 100000;
		sizes[nsizes++] = 909091;
	}
	for (int i = 0; i < nsizes; i++)
		if (run_size(dir, sizes[i], (int)lookups, keep))
			return MCR_EXIT_FAILED;
	return MCR_EXIT_OK;
}
