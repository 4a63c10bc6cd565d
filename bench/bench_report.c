/*
 * bench_report: mcr-report at scale (bench/bench_report.md has figures).
 *
 *   bench_report --dir DIR [--people N] [--entries N] [--items-per-person K] [--runs R]
 *
 * Builds in DIR (which must not exist) a region of N people (default 1,000,000)
 * across 100 GP practices, one social care and one out-of-hours organisation: a
 * store generation whose source, source_section and withheld tables describe
 * them (what the loader fills during a load), member and person rows for
 * everyone, K items per person (default 0: coverage reads only the aggregates,
 * so item rows do not change its cost; give K to show it), and an audit log of
 * --entries entries (default 1,000,000) written in one transaction with a valid
 * hash chain (mcr_audit_entry_hash), plus DIR/mcr.yaml for timing the program.
 * Then times coverage, access --nhs, access --user (one and three users),
 * break-glass and verify-audit R times each (default 5) and prints the median
 * and worst, in seconds.
 */
#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mcr/audit.h"
#include "mcr/buf.h"
#include "mcr/config.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/nhs.h"
#include "mcr/report.h"
#include "mcr/schema.h"

#define NGP 100
#define NORGS (NGP + 2)

static const char *const prog = "bench_report";

static const struct option options[] = {
	{ "dir", required_argument, NULL, 'd' },
	{ "people", required_argument, NULL, 'p' },
	{ "entries", required_argument, NULL, 'e' },
	{ "items-per-person", required_argument, NULL, 'i' },
	{ "runs", required_argument, NULL, 'r' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
	"Usage: bench_report --dir DIR [--people N] [--entries N] [--items-per-person K] [--runs R]\n"
	"mcr-report at scale (bench/bench_report.md): builds in DIR a region of N people\n"
	"across 100 GP practices, one social care and one out-of-hours organisation (a store\n"
	"generation and an audit log with a valid hash chain, and DIR/mcr.yaml), then times\n"
	"each report R times and prints the median and worst, in seconds.\n"
	"\n"
	"  --dir DIR               a folder that does not exist yet (required)\n"
	"  --people N              people (at least 100, default 1000000)\n"
	"  --entries N             audit entries (at least 40, default 1000000)\n"
	"  --items-per-person K    item rows per person (default 0: coverage reads only the\n"
	"                          aggregates)\n"
	"  --runs R                runs of each report (1 to 64, default 5)\n"
	"  --help                  show this help and exit\n"
	"  --version               show the version and exit\n"
	"\n"
	"Exit status: 0 done; 1 a build or report failed; 2 usage error.\n";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die_sql(sqlite3 *db, const char *what)
{
	fprintf(stderr, "bench_report: %s: %s\n", what, sqlite3_errmsg(db));
	exit(1);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		die_sql(db, sql);
}

static void die_mcr(const char *what)
{
	fprintf(stderr, "bench_report: %s: %s\n", what, mcr_error_message());
	exit(1);
}

/* Valid test NHS numbers: the 999 range holds 10^6 nine-digit prefixes, of which
 * about 1 in 11 has no check digit, so at most 909,091 distinct people have rows. */
static long *valid_prefix;
static long nvalid;

static void valid_numbers(void)
{
	valid_prefix = malloc(1000000 * sizeof(long));
	if (!valid_prefix)
		exit(1);
	for (long p = 0; p < 1000000; p++) {
		char nine[16];
		snprintf(nine, sizeof(nine), "999%06ld", p);
		if (mcr_nhs_check_digit(nine) != 10)
			valid_prefix[nvalid++] = p;
	}
}

/* The i-th valid test NHS number (i modulo the count of valid numbers). */
static void nhs_number(long i, char out[11])
{
	char nine[16];
	snprintf(nine, sizeof(nine), "999%06ld", valid_prefix[i % nvalid]);
	snprintf(out, 11, "%.9s%d", nine, mcr_nhs_check_digit(nine));
}

static void org_code(int o, char out[16])
{
	if (o < NGP)
		snprintf(out, 16, "B%05d", 81000 + o);
	else if (o == NGP)
		snprintf(out, 16, "E10000015");
	else
		snprintf(out, 16, "NLO01");
}

static const char *const sections[] = { "allergies", "medications", "problems",
                                        "immunisations", "results", "encounters" };

static void build_store(const char *dir, long people, long items_per_person)
{
	char path[1024];
	sqlite3 *db;
	snprintf(path, sizeof(path), "%s/store", dir);
	if (mcr_fs_mkdirs(path))
		die_mcr("mkdir store");
	snprintf(path, sizeof(path), "%s/store/gen-000001.sqlite", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die_sql(db, path);
	exec_sql(db, "PRAGMA page_size = 65536; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
	             "PRAGMA cache_size = -65536;");
	exec_sql(db, mcr_schema_store_sql);
	exec_sql(db, "DROP INDEX item_by_person; PRAGMA user_version = 1; BEGIN;");
	exec_sql(db, "INSERT INTO meta VALUES ('schema_version','1'),('generation','1'),"
	             "('built_at','2026-11-21T02:30:00Z'),('region','Bench Region')");
	sqlite3_stmt *member, *person, *item;
	if (sqlite3_prepare_v2(db, "INSERT INTO member VALUES (?1, ?2)", -1, &member, NULL) ||
	    sqlite3_prepare_v2(db, "INSERT INTO person (nhs, org, family, given, birth_date) "
	                       "VALUES (?1, ?2, 'Example', 'Pat', '1970-01-01')", -1, &person, NULL) ||
	    sqlite3_prepare_v2(db, "INSERT INTO item (nhs, org, section, date, system, code, display, "
	                       "status) VALUES (?1, ?2, ?3, '2020-01-01', 'http://snomed.info/sct', "
	                       "'195967001', 'Asthma (disorder) test item', 'active')", -1, &item, NULL))
		die_sql(db, "prepare");
	long per_gp[NGP] = { 0 };
	long rows = people < nvalid ? people : nvalid;
	/* Rows in person order, each person registered at one practice (PERF-NOTES.md). */
	for (long i = 0; i < rows; i++) {
		char nhs[11], org[16];
		nhs_number(i, nhs);
		int o = (int)(i % NGP);
		org_code(o, org);
		per_gp[o]++;
		sqlite3_bind_text(member, 1, nhs, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(member, 2, org, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(member) != SQLITE_DONE)
			die_sql(db, "member");
		sqlite3_reset(member);
		sqlite3_bind_text(person, 1, nhs, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(person, 2, org, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(person) != SQLITE_DONE)
			die_sql(db, "person");
		sqlite3_reset(person);
		for (long k = 0; k < items_per_person; k++) {
			sqlite3_bind_text(item, 1, nhs, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(item, 2, org, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(item, 3, sections[k % 6], -1, SQLITE_STATIC);
			if (sqlite3_step(item) != SQLITE_DONE)
				die_sql(db, "item");
			sqlite3_reset(item);
		}
	}
	sqlite3_finalize(member);
	sqlite3_finalize(person);
	sqlite3_finalize(item);

	/* The aggregates the loader writes during the load. */
	mcr_buf sql = MCR_BUF_INIT;
	for (int o = 0; o < NORGS; o++) {
		char org[16];
		org_code(o, org);
		/* The aggregates describe all the people asked for, rows or not. */
		long n = o < NGP ? people / NGP + (o < people % NGP) : o == NGP ? people / 20 : people / 50;
		(void)per_gp;
		long items = o < NGP ? n * items_per_person : n * 2;
		const char *kind = o < NGP ? "gp" : o == NGP ? "lcs" : "ooh";
		mcr_buf_reset(&sql);
		mcr_buf_printf(&sql, "INSERT INTO source VALUES ('%s','%s','%s','Organisation %s',"
		               "'%s','2026-11-21T01:00:00Z','2026-11-21T02:30:00Z','2012-04-01',"
		               "'staging/%s/%s/20261121T010000Z.yaml',NULL,NULL,%ld,%ld,%ld,%ld);",
		               org, kind, kind, org, o % 37 == 5 ? "stale" : "current", org, kind, n,
		               n + n / 20, items, n / 200);
		if (o < NGP)
			for (int s = 0; s < 6; s++)
				mcr_buf_printf(&sql, "INSERT INTO source_section VALUES ('%s','%s',%ld,%ld);",
				               org, sections[s], n * (6 - s) / 6,
				               items_per_person ? n * items_per_person / 6 : n * (6 - s));
		else
			mcr_buf_printf(&sql, "INSERT INTO source_section VALUES ('%s','%s',%ld,%ld);", org,
			               o == NGP ? "social-care" : "misc-reports", n, n * 2);
		mcr_buf_printf(&sql, "INSERT INTO withheld VALUES ('%s','objection',%ld),"
		               "('%s','sensitive',%ld),('%s','invalid-nhs-number',%ld);",
		               org, n / 200 * 40, org, n / 300, org, n / 1000);
		exec_sql(db, sql.ptr);
	}
	mcr_buf_free(&sql);
	exec_sql(db, "COMMIT");
	double t = now_s();
	exec_sql(db, "CREATE INDEX item_by_person ON item (nhs, section)");
	fprintf(stderr, "  item index: %.1f s\n", now_s() - t);
	sqlite3_close(db);
	char link[1024];
	snprintf(link, sizeof(link), "%s/store/current", dir);
	if (symlink("gen-000001.sqlite", link) != 0) {
		perror("symlink");
		exit(1);
	}
}

/* Build the audit log in bulk: one transaction, the chain computed with the
 * library's own hash, indexes built after the rows. */
static void build_audit(const char *dir, long people, long entries, char target_nhs[11],
                        char target_user[32])
{
	char path[1024];
	mcr_audit *a = NULL;
	snprintf(path, sizeof(path), "%s/audit/audit.sqlite", dir);
	if (mcr_audit_open(&a, path))
		die_mcr("audit open");
	mcr_audit_close(a);
	sqlite3 *db;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die_sql(db, path);
	exec_sql(db, "PRAGMA synchronous = OFF; PRAGMA cache_size = -65536;"
	             "DROP INDEX audit_by_nhs; DROP INDEX audit_by_user; BEGIN");
	sqlite3_stmt *ins;
	if (sqlite3_prepare_v2(db, "INSERT INTO audit (seq, at, user, org, role, nhs, sections, basis, "
	                       "reason, outcome, detail, generation, prev_hash, hash) VALUES "
	                       "(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)", -1, &ins, NULL))
		die_sql(db, "prepare audit");
	char prev[65], hash[65];
	memset(prev, '0', 64);
	prev[64] = '\0';
	time_t t0;
	mcr_time_parse("2025-11-21T00:00:00Z", &t0);
	unsigned long rnd = 12345;
	nhs_number(4242, target_nhs);
	snprintf(target_user, 32, "user0042");
	for (long i = 1; i <= entries; i++) {
		char nhs[11], user[32], org[16];
		rnd = rnd * 6364136223846793005UL + 1442695040888963407UL;
		long who = (long)((rnd >> 33) % (unsigned long)people);
		/* About 40 lookups of the target person over the year. */
		if (i % (entries / 40 > 0 ? entries / 40 : 1) == 0)
			who = 4242;
		nhs_number(who, nhs);
		snprintf(user, sizeof(user), "user%04lu", (rnd >> 20) % 2000);
		int o = (int)((rnd >> 12) % NORGS);
		org_code(o, org);
		int bg = (rnd >> 8) % 100 == 0, denied = (rnd >> 4) % 50 == 0;
		mcr_audit_entry e = { 0 };
		e.seq = i;
		mcr_time_iso(t0 + i * 30, e.at);
		e.user = user;
		e.org = org;
		e.role = o == NGP ? "social-worker" : "clinician";
		e.nhs = nhs;
		e.sections = o == NGP ? "demographics,allergies,social-care" : "allergies,medications,problems";
		e.basis = bg ? "break-glass" : "implied";
		e.reason = bg ? "Unconscious patient in ED" : NULL;
		e.outcome = denied && !bg ? "denied" : "shown";
		e.detail = denied && !bg ? "not on the organisation's list" : NULL;
		e.generation = 1;
		if (mcr_audit_entry_hash(&e, prev, hash))
			die_mcr("hash");
		sqlite3_bind_int64(ins, 1, i);
		sqlite3_bind_text(ins, 2, e.at, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 3, e.user, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 4, e.org, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 5, e.role, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 6, e.nhs, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 7, e.sections, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 8, e.basis, -1, SQLITE_STATIC);
		if (e.reason)
			sqlite3_bind_text(ins, 9, e.reason, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins, 9);
		sqlite3_bind_text(ins, 10, e.outcome, -1, SQLITE_STATIC);
		if (e.detail)
			sqlite3_bind_text(ins, 11, e.detail, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins, 11);
		sqlite3_bind_int64(ins, 12, e.generation);
		sqlite3_bind_text(ins, 13, prev, 64, SQLITE_STATIC);
		sqlite3_bind_text(ins, 14, hash, 64, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			die_sql(db, "insert audit");
		sqlite3_reset(ins);
		sqlite3_clear_bindings(ins);
		memcpy(prev, hash, 65);
	}
	sqlite3_finalize(ins);
	mcr_buf sql = MCR_BUF_INIT;
	mcr_buf_printf(&sql, "INSERT OR REPLACE INTO audit_head (id, last_seq, last_hash) "
	               "VALUES (1, %ld, '%s')", entries, prev);
	exec_sql(db, sql.ptr);
	mcr_buf_free(&sql);
	exec_sql(db, "COMMIT");
	exec_sql(db, mcr_schema_audit_sql); /* rebuilds the two indexes */
	sqlite3_close(db);
}

static void write_config(const char *dir)
{
	char path[1024];
	mcr_buf y = MCR_BUF_INIT;
	mcr_buf_puts(&y, "region: Bench Region\npaths:\n  staging: staging\n  store: store\n"
	             "  audit: audit/audit.sqlite\norganisations:\n");
	for (int o = 0; o < NORGS; o++) {
		char org[16];
		org_code(o, org);
		mcr_buf_printf(&y, "  - ods: %s\n    name: Organisation %s\n    kind: %s\n"
		               "    schedule: %s\n    caldicott: Guardian of %s\n", org, org,
		               o < NGP ? "gp" : o == NGP ? "lcs" : "ooh",
		               o == NGP + 1 ? "twice-daily" : "nightly", org);
	}
	mcr_buf_puts(&y, "policy:\n  roles:\n    clinician: [demographics, allergies, medications, "
	             "problems]\n    social-worker: [demographics, allergies, social-care]\n");
	snprintf(path, sizeof(path), "%s/mcr.yaml", dir);
	if (mcr_fs_write_atomic(path, y.ptr, y.len))
		die_mcr("config");
	mcr_buf_free(&y);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

typedef int (*report_fn)(const mcr_config *cfg, void *arg, mcr_buf *out);

static void time_report(const char *name, const mcr_config *cfg, report_fn fn, void *arg, int runs)
{
	double t[64];
	size_t bytes = 0;
	if (runs > 64)
		runs = 64;
	for (int r = 0; r < runs; r++) {
		mcr_buf out = MCR_BUF_INIT;
		double s = now_s();
		if (fn(cfg, arg, &out))
			die_mcr(name);
		t[r] = now_s() - s;
		bytes = out.len;
		mcr_buf_free(&out);
	}
	qsort(t, (size_t)runs, sizeof(double), cmp_double);
	printf("%-34s median %.4f s  worst %.4f s  (%zu bytes of text)\n", name, t[runs / 2],
	       t[runs - 1], bytes);
}

static int run_coverage(const mcr_config *cfg, void *arg, mcr_buf *out)
{
	(void)arg;
	return mcr_report_coverage(cfg, mcr_time_now(), MCR_REPORT_TEXT, out);
}

static int run_coverage_html(const mcr_config *cfg, void *arg, mcr_buf *out)
{
	(void)arg;
	return mcr_report_coverage(cfg, mcr_time_now(), MCR_REPORT_HTML, out);
}

static int run_access_nhs(const mcr_config *cfg, void *arg, mcr_buf *out)
{
	return mcr_report_access(cfg, (const char *)arg, NULL, 0, NULL, MCR_REPORT_TEXT, out);
}

static int run_access_user(const mcr_config *cfg, void *arg, mcr_buf *out)
{
	const char *users[] = { (const char *)arg };
	return mcr_report_access(cfg, NULL, users, 1, NULL, MCR_REPORT_TEXT, out);
}

static int run_access_users_period(const mcr_config *cfg, void *arg, mcr_buf *out)
{
	(void)arg;
	const char *users[] = { "user0001", "user0777", "user1999" };
	mcr_report_period p = { "2026-03-01", "2026-05-31" };
	return mcr_report_access(cfg, NULL, users, 3, &p, MCR_REPORT_CSV, out);
}

static int run_break_glass(const mcr_config *cfg, void *arg, mcr_buf *out)
{
	(void)arg;
	mcr_report_period p = { "2026-10-01", "2026-10-31" };
	return mcr_report_break_glass(cfg, NULL, &p, MCR_REPORT_TEXT, out);
}

static int run_verify(const mcr_config *cfg, void *arg, mcr_buf *out)
{
	(void)arg;
	return mcr_report_verify_audit(cfg, MCR_REPORT_TEXT, out);
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	long people = 1000000, entries = 1000000, items = 0, nruns = 5;
	int c;
	while ((c = mcr_cli_getopt(prog, argc, argv, options)) != -1) {
		int bad = 0;
		switch (c) {
		case 'd': dir = optarg; break;
		case 'p': bad = mcr_cli_number(prog, "--people", optarg, NGP, 100000000, &people); break;
		case 'e': bad = mcr_cli_number(prog, "--entries", optarg, 40, 1000000000, &entries); break;
		case 'i': bad = mcr_cli_number(prog, "--items-per-person", optarg, 0, 10000, &items); break;
		case 'r': bad = mcr_cli_number(prog, "--runs", optarg, 1, 64, &nruns); break;
		case 'h': fputs(usage, stdout); return MCR_EXIT_OK;
		case 'V': mcr_cli_version(prog); return MCR_EXIT_OK;
		default: return MCR_EXIT_USAGE;
		}
		if (bad)
			return MCR_EXIT_USAGE;
	}
	if (optind < argc)
		return mcr_cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
	if (!dir)
		return mcr_cli_usage_error(prog, "--dir is required");
	int runs = (int)nruns;
	if (mcr_fs_exists(dir)) {
		return mcr_cli_usage_error(prog, "%s exists; give a new folder", dir);
	}
	char nhs[11], user[32], cfg_path[1024];
	valid_numbers();
	double t = now_s();
	build_store(dir, people, items);
	long rows = people < nvalid ? people : nvalid;
	fprintf(stderr, "store describing %ld people (%ld person rows, %ld items): built in %.1f s\n",
	        people, rows, rows * items, now_s() - t);
	t = now_s();
	build_audit(dir, people, entries, nhs, user);
	fprintf(stderr, "audit log of %ld entries: built in %.1f s\n", entries, now_s() - t);
	write_config(dir);

	mcr_config *cfg = NULL;
	snprintf(cfg_path, sizeof(cfg_path), "%s/mcr.yaml", dir);
	if (mcr_config_load(&cfg, cfg_path))
		die_mcr("config load");
	setenv("MCR_NOW", "2026-11-21T09:00:00Z", 1);
	printf("people %ld (%ld person rows), items %ld, audit entries %ld, runs %d "
	       "(person %s, user %s)\n", people, rows, rows * items, entries, runs, nhs, user);
	time_report("coverage (text)", cfg, run_coverage, NULL, runs);
	time_report("coverage (html)", cfg, run_coverage_html, NULL, runs);
	time_report("access --nhs", cfg, run_access_nhs, nhs, runs);
	time_report("access --user (one)", cfg, run_access_user, user, runs);
	time_report("access --user (three, 3 months)", cfg, run_access_users_period, NULL, runs);
	time_report("break-glass (one month)", cfg, run_break_glass, NULL, runs);
	time_report("verify-audit", cfg, run_verify, NULL, runs < 3 ? runs : 3);
	mcr_config_free(cfg);
	return 0;
}
