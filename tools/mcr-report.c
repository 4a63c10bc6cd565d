/* mcr-report: coverage and audit reports for information governance (docs/REPORTS.md). */
#include "cli.h"
#include "mcr/audit.h"
#include "mcr/error.h"
#include "mcr/fs.h"
#include "mcr/report.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const prog = "mcr-report";

/* What the command line gave, for the report's function. */
typedef struct report_args {
	const mcr_config *cfg;
	mcr_report_format format;
	const char *nhs, *org;
	const char **users;
	size_t nusers;
	mcr_report_period period;
	long limit;
	mcr_audit_checkpoints *checkpoints;
	const char **cp_files;
	size_t ncp_files;
	const char *source;
} report_args;

/* The options beyond --config, --format and --out that a report takes. */
enum { TAKES_NHS = 1, TAKES_USER = 2, TAKES_PERIOD = 4, TAKES_ORG = 8, TAKES_LIMIT = 16,
       TAKES_CHECKPOINT = 32, TAKES_SOURCE = 64 };

static int run_coverage(const report_args *a, mcr_buf *out)
{
	return mcr_report_coverage(a->cfg, mcr_time_now(), a->format, out);
}

static int run_access(const report_args *a, mcr_buf *out)
{
	return mcr_report_access(a->cfg, a->nhs, a->users, a->nusers, &a->period, a->format, out);
}

static int run_break_glass(const report_args *a, mcr_buf *out)
{
	return mcr_report_break_glass(a->cfg, a->org, &a->period, a->format, out);
}

static int run_loads(const report_args *a, mcr_buf *out)
{
	return mcr_report_loads(a->cfg, a->limit, a->format, out);
}

static int run_verify_audit(const report_args *a, mcr_buf *out)
{
	/* A checkpoint file that cannot be read is a failure, not silently none. */
	int rc = 0;
	for (size_t i = 0; !rc && i < a->ncp_files; i++)
		rc = mcr_audit_checkpoints_scan(a->checkpoints, a->cp_files[i], 0);
	return rc ? rc : mcr_report_verify_audit_with(a->cfg, a->checkpoints, a->format, out);
}

static int run_migrate_audit(const report_args *a, mcr_buf *out)
{
	return mcr_report_migrate_audit(a->cfg, a->source, a->format, out);
}

static const char *check_migrate(const report_args *a)
{
	return a->source ? NULL : "migrate-audit needs --source FILE (the SQLite audit log)";
}

/* access takes one of its two selections, not both or neither. */
static const char *check_access(const report_args *a)
{
	if ((a->nhs != NULL) == (a->nusers > 0))
		return "access needs either --nhs NUMBER or --user ID...";
	return NULL;
}

/* The reports: name, function, options, help (libgit2's cli_cmds[]). */
static const struct report {
	const char *name;
	int (*run)(const report_args *a, mcr_buf *out);
	unsigned takes;                          /* TAKES_* */
	const char *(*check)(const report_args *a); /* a usage error, or NULL; may be NULL */
	const char *help;                        /* its lines in --help */
} reports[] = {
	{ "coverage", run_coverage, 0, NULL,
	  "  coverage                          per organisation: freshness, people, items by\n"
	  "                                    section, withheld by reason, rejected files\n" },
	{ "access", run_access, TAKES_NHS | TAKES_USER | TAKES_PERIOD, check_access,
	  "  access --nhs NUMBER [--from DATE] [--to DATE]\n"
	  "  access --user ID [ID...] [--from DATE] [--to DATE]\n"
	  "                                    every audited attempt, allowed or denied\n" },
	{ "break-glass", run_break_glass, TAKES_ORG | TAKES_PERIOD, NULL,
	  "  break-glass [--org ODS] [--from DATE] [--to DATE]\n"
	  "                                    break-glass access by organisation whose data\n"
	  "                                    was seen, and self-access attempts\n" },
	{ "loads", run_loads, TAKES_LIMIT, NULL,
	  "  loads [--limit N]                 history of load runs, newest first\n" },
	{ "verify-audit", run_verify_audit, TAKES_CHECKPOINT, NULL,
	  "  verify-audit [--checkpoint N:HASH]... [--checkpoint-file FILE]...\n"
	  "                                    check the audit log's hash chain, and that it\n"
	  "                                    still holds every checkpoint: the load\n"
	  "                                    history's, the log's (paths.log), and those\n"
	  "                                    given or found in FILE (a saved report, a\n"
	  "                                    syslog export: lines \"audit checkpoint N:HASH\")\n" },
	{ "migrate-audit", run_migrate_audit, TAKES_SOURCE, check_migrate,
	  "  migrate-audit --source FILE       copy the SQLite audit log FILE into the\n"
	  "                                    PostgreSQL audit log (store.backend:\n"
	  "                                    postgresql) and verify the chain end to end;\n"
	  "                                    a re-run copies only what is missing\n" },
};
#define NREPORTS (sizeof(reports) / sizeof(reports[0]))

static const char usage_head[] =
	"Usage: mcr-report [--config FILE] [--format text|csv|html] [--out FILE] REPORT ...\n"
	"\n"
	"Reports:\n";

static const char usage_tail[] =
	"\n"
	"Options:\n"
	"  --config FILE    configuration (default $MCR_CONFIG, else ./mcr.yaml)\n"
	"  --format FORMAT  text (default), csv or html\n"
	"  --out FILE       write the report to FILE (atomically) instead of stdout\n"
	"  --help           show this help\n"
	"  --version        show the version\n"
	"\n"
	"DATE is YYYY-MM-DD (a whole UTC day) or YYYY-MM-DDTHH:MM:SSZ; both bounds are\n"
	"inclusive. Every report ends with the audit log's head as \"audit checkpoint\n"
	"N:HASH\". Exit status: 0 done, 1 failed (verify-audit: a bad entry or a\n"
	"checkpoint the log does not hold, named on stderr; migrate-audit: a bad\n"
	"source or a target holding another chain, nothing copied), 2 usage or\n"
	"configuration error (migrate-audit: store.backend is not postgresql).\n";

static void print_usage(void)
{
	fputs(usage_head, stdout);
	for (size_t i = 0; i < NREPORTS; i++)
		fputs(reports[i].help, stdout);
	fputs(usage_tail, stdout);
}

static const struct report *find_report(const char *name)
{
	for (size_t i = 0; i < NREPORTS; i++)
		if (strcmp(reports[i].name, name) == 0)
			return &reports[i];
	return NULL;
}

/* "coverage, access, break-glass, loads or verify-audit" */
static void report_names(char *out, size_t size)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < NREPORTS && n < size; i++) {
		const char *sep = i == 0 ? "" : i + 1 == NREPORTS ? " or " : ", ";
		int w = snprintf(out + n, size - n, "%s%s", sep, reports[i].name);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

enum { OPT_CONFIG = 'c', OPT_FORMAT = 'f', OPT_OUT = 'o', OPT_HELP = 'h', OPT_VERSION = 'V',
       OPT_NHS = 'n', OPT_USER = 'u', OPT_FROM = 'F', OPT_TO = 'T', OPT_ORG = 'O',
       OPT_LIMIT = 'l', OPT_CHECKPOINT = 'k', OPT_CHECKPOINT_FILE = 'K', OPT_SOURCE = 's' };

static const struct option options[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "nhs", required_argument, NULL, OPT_NHS },
	{ "user", required_argument, NULL, OPT_USER },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "to", required_argument, NULL, OPT_TO },
	{ "org", required_argument, NULL, OPT_ORG },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "checkpoint", required_argument, NULL, OPT_CHECKPOINT },
	{ "checkpoint-file", required_argument, NULL, OPT_CHECKPOINT_FILE },
	{ "source", required_argument, NULL, OPT_SOURCE },
	{ NULL, 0, NULL, 0 },
};

static int parse_limit(const char *s, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v <= 0)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	const char *config_path = NULL, *format_name = "text", *out_path = NULL;
	const struct report *report = NULL;
	mcr_config *cfg = NULL;
	mcr_buf out = MCR_BUF_INIT;
	mcr_audit_checkpoints checkpoints = { 0 };
	report_args a = { .checkpoints = &checkpoints };
	size_t ncp_given = 0;
	int status = MCR_EXIT_OK, rc, opt;

	a.users = calloc((size_t)argc + 1, sizeof(*a.users));
	a.cp_files = calloc((size_t)argc + 1, sizeof(*a.cp_files));
	if (!a.users || !a.cp_files) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return MCR_EXIT_FAILED;
	}
	/* Options may come before or after the report's name; IDs after --user are
	 * the words that are neither options nor the report's name. */
	while ((opt = mcr_cli_getopt(prog, argc, argv, options)) != -1) {
		switch (opt) {
		case OPT_CONFIG: config_path = optarg; break;
		case OPT_FORMAT: format_name = optarg; break;
		case OPT_OUT: out_path = optarg; break;
		case OPT_HELP:
			print_usage();
			goto out;
		case OPT_VERSION:
			mcr_cli_version(prog);
			goto out;
		case OPT_NHS:
			if (a.nhs) {
				status = mcr_cli_usage_error(prog, "--nhs given twice");
				goto out;
			}
			a.nhs = optarg;
			break;
		case OPT_USER: a.users[a.nusers++] = optarg; break;
		case OPT_FROM: a.period.from = optarg; break;
		case OPT_TO: a.period.to = optarg; break;
		case OPT_ORG: a.org = optarg; break;
		case OPT_LIMIT:
			if (parse_limit(optarg, &a.limit) != 0) {
				status = mcr_cli_usage_error(prog, "bad --limit '%s': a positive number",
				                             optarg);
				goto out;
			}
			break;
		case OPT_CHECKPOINT: {
			mcr_audit_checkpoint c;
			if (mcr_audit_checkpoint_parse(optarg, "--checkpoint", &c) != 0 ||
			    mcr_audit_checkpoints_add(&checkpoints, &c) != 0) {
				status = mcr_cli_usage_error(prog, "%s", mcr_error_message());
				goto out;
			}
			ncp_given++;
			break;
		}
		case OPT_CHECKPOINT_FILE: a.cp_files[a.ncp_files++] = optarg; break;
		case OPT_SOURCE: a.source = optarg; break;
		default:
			status = MCR_EXIT_USAGE;
			goto out;
		}
	}
	if (optind >= argc) {
		char names[128];
		report_names(names, sizeof(names));
		status = mcr_cli_usage_error(prog, "which report? %s", names);
		goto out;
	}
	if (!(report = find_report(argv[optind]))) {
		status = mcr_cli_usage_error(prog, "unknown report '%s'", argv[optind]);
		goto out;
	}
	optind++;
	if (optind < argc) {
		if (a.nusers == 0) {
			status = mcr_cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
			goto out;
		}
		while (optind < argc)
			a.users[a.nusers++] = argv[optind++];
	}
	/* Re-check option by option that each belongs to this report. */
	{
		static const struct { unsigned takes; const char *name; } given[] = {
			{ TAKES_NHS, "--nhs" }, { TAKES_USER, "--user" }, { TAKES_PERIOD, "--from" },
			{ TAKES_PERIOD, "--to" }, { TAKES_ORG, "--org" }, { TAKES_LIMIT, "--limit" },
			{ TAKES_CHECKPOINT, "--checkpoint" }, { TAKES_CHECKPOINT, "--checkpoint-file" },
			{ TAKES_SOURCE, "--source" },
		};
		int set[] = { a.nhs != NULL, a.nusers > 0, a.period.from != NULL, a.period.to != NULL,
		              a.org != NULL, a.limit > 0, ncp_given > 0, a.ncp_files > 0, a.source != NULL };
		for (size_t i = 0; i < sizeof(given) / sizeof(given[0]); i++)
			if (set[i] && !(report->takes & given[i].takes)) {
				status = mcr_cli_usage_error(prog, "%s does not apply to %s", given[i].name,
				                             report->name);
				goto out;
			}
	}
	const char *why = report->check ? report->check(&a) : NULL;
	if (why) {
		status = mcr_cli_usage_error(prog, "%s", why);
		goto out;
	}
	if (mcr_report_format_parse(format_name, &a.format) != 0) {
		status = mcr_cli_usage_error(prog, "%s", mcr_error_message());
		goto out;
	}
	if ((status = mcr_cli_load_config(prog, config_path, &cfg)) != 0)
		goto out;
	a.cfg = cfg;
	rc = report->run(&a, &out);
	if (rc == MCR_EUSAGE) {
		status = mcr_cli_usage_error(prog, "%s", mcr_error_message());
		goto out;
	}
	if (rc) {
		/* Reports have no "denied" or "no record": every other failure is 1. */
		mcr_error_print(prog);
		status = MCR_EXIT_FAILED;
		goto out;
	}
	if (out_path) {
		if (mcr_fs_write_atomic(out_path, mcr_buf_cstr(&out), out.len) != 0) {
			mcr_error_print(prog);
			status = MCR_EXIT_FAILED;
		}
	} else if (fwrite(mcr_buf_cstr(&out), 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		fprintf(stderr, "%s: cannot write the report to standard output\n", prog);
		status = MCR_EXIT_FAILED;
	}
out:
	mcr_buf_free(&out);
	mcr_config_free(cfg);
	mcr_audit_checkpoints_free(&checkpoints);
	free(a.cp_files);
	free(a.users);
	return status;
}
