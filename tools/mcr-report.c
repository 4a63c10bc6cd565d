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

static const char usage[] =
	"Usage: mcr-report [--config FILE] [--format text|csv|html] [--out FILE] REPORT ...\n"
	"\n"
	"Reports:\n"
	"  coverage                          per organisation: freshness, people, items by\n"
	"                                    section, withheld by reason, rejected files\n"
	"  access --nhs NUMBER [--from DATE] [--to DATE]\n"
	"  access --user ID [ID...] [--from DATE] [--to DATE]\n"
	"                                    every audited attempt, allowed or denied\n"
	"  break-glass [--org ODS] [--from DATE] [--to DATE]\n"
	"                                    break-glass access by organisation whose data\n"
	"                                    was seen, and self-access attempts\n"
	"  loads [--limit N]                 history of load runs, newest first\n"
	"  verify-audit [--checkpoint N:HASH]... [--checkpoint-file FILE]...\n"
	"                                    check the audit log's hash chain, and that it\n"
	"                                    still holds every checkpoint: the load\n"
	"                                    history's, the log's (paths.log), and those\n"
	"                                    given or found in FILE (a saved report, a\n"
	"                                    syslog export: lines \"audit checkpoint N:HASH\")\n"
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
	"checkpoint the log does not hold, named on stderr), 2 usage or configuration\n"
	"error.\n";

enum { OPT_CONFIG = 'c', OPT_FORMAT = 'f', OPT_OUT = 'o', OPT_HELP = 'h', OPT_VERSION = 'V',
       OPT_NHS = 'n', OPT_USER = 'u', OPT_FROM = 'F', OPT_TO = 'T', OPT_ORG = 'O',
       OPT_LIMIT = 'l', OPT_CHECKPOINT = 'k', OPT_CHECKPOINT_FILE = 'K' };

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
	{ NULL, 0, NULL, 0 },
};

/* Which options each report takes (beyond --config, --format, --out). */
static int option_allowed(const char *report, int opt)
{
	switch (opt) {
	case OPT_NHS:
	case OPT_USER:
		return strcmp(report, "access") == 0;
	case OPT_FROM:
	case OPT_TO:
		return strcmp(report, "access") == 0 || strcmp(report, "break-glass") == 0;
	case OPT_ORG:
		return strcmp(report, "break-glass") == 0;
	case OPT_LIMIT:
		return strcmp(report, "loads") == 0;
	case OPT_CHECKPOINT:
	case OPT_CHECKPOINT_FILE:
		return strcmp(report, "verify-audit") == 0;
	default:
		return 1;
	}
}

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
	const char *nhs = NULL, *org = NULL;
	const char **users = NULL;
	size_t nusers = 0;
	mcr_report_period period = { NULL, NULL };
	long limit = 0;
	const char *report = NULL;
	mcr_config *cfg = NULL;
	mcr_report_format format;
	mcr_buf out = MCR_BUF_INIT;
	mcr_audit_checkpoints checkpoints = { 0 };
	const char **cp_files = NULL;
	size_t ncp_files = 0, ncp_given = 0;
	int status = MCR_EXIT_OK, rc, opt;

	users = calloc((size_t)argc + 1, sizeof(*users));
	cp_files = calloc((size_t)argc + 1, sizeof(*cp_files));
	if (!users || !cp_files) {
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
			fputs(usage, stdout);
			goto out;
		case OPT_VERSION:
			mcr_cli_version(prog);
			goto out;
		case OPT_NHS:
			if (nhs) {
				status = mcr_cli_usage_error(prog, "--nhs given twice");
				goto out;
			}
			nhs = optarg;
			break;
		case OPT_USER: users[nusers++] = optarg; break;
		case OPT_FROM: period.from = optarg; break;
		case OPT_TO: period.to = optarg; break;
		case OPT_ORG: org = optarg; break;
		case OPT_LIMIT:
			if (parse_limit(optarg, &limit) != 0) {
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
		case OPT_CHECKPOINT_FILE: cp_files[ncp_files++] = optarg; break;
		default:
			status = MCR_EXIT_USAGE;
			goto out;
		}
	}
	if (optind >= argc) {
		status = mcr_cli_usage_error(prog, "which report? coverage, access, break-glass, "
		                             "loads or verify-audit");
		goto out;
	}
	report = argv[optind++];
	if (strcmp(report, "coverage") != 0 && strcmp(report, "access") != 0 &&
	    strcmp(report, "break-glass") != 0 && strcmp(report, "loads") != 0 &&
	    strcmp(report, "verify-audit") != 0) {
		status = mcr_cli_usage_error(prog, "unknown report '%s'", report);
		goto out;
	}
	if (optind < argc) {
		if (nusers == 0) {
			status = mcr_cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
			goto out;
		}
		while (optind < argc)
			users[nusers++] = argv[optind++];
	}
	/* Re-check option by option that each belongs to this report. */
	{
		static const struct { int opt; const char *name; } given[] = {
			{ OPT_NHS, "--nhs" }, { OPT_USER, "--user" }, { OPT_FROM, "--from" },
			{ OPT_TO, "--to" }, { OPT_ORG, "--org" }, { OPT_LIMIT, "--limit" },
			{ OPT_CHECKPOINT, "--checkpoint" }, { OPT_CHECKPOINT_FILE, "--checkpoint-file" },
		};
		int set[] = { nhs != NULL, nusers > 0, period.from != NULL, period.to != NULL,
		              org != NULL, limit > 0, ncp_given > 0, ncp_files > 0 };
		for (size_t i = 0; i < sizeof(given) / sizeof(given[0]); i++)
			if (set[i] && !option_allowed(report, given[i].opt)) {
				status = mcr_cli_usage_error(prog, "%s does not apply to %s", given[i].name,
				                             report);
				goto out;
			}
	}
	if (strcmp(report, "access") == 0 && (nhs != NULL) == (nusers > 0)) {
		status = mcr_cli_usage_error(prog, "access needs either --nhs NUMBER or --user ID...");
		goto out;
	}
	if (mcr_report_format_parse(format_name, &format) != 0) {
		status = mcr_cli_usage_error(prog, "%s", mcr_error_message());
		goto out;
	}
	if ((status = mcr_cli_load_config(prog, config_path, &cfg)) != 0)
		goto out;

	if (strcmp(report, "coverage") == 0)
		rc = mcr_report_coverage(cfg, mcr_time_now(), format, &out);
	else if (strcmp(report, "access") == 0)
		rc = mcr_report_access(cfg, nhs, users, nusers, &period, format, &out);
	else if (strcmp(report, "break-glass") == 0)
		rc = mcr_report_break_glass(cfg, org, &period, format, &out);
	else if (strcmp(report, "loads") == 0)
		rc = mcr_report_loads(cfg, limit, format, &out);
	else {
		/* A checkpoint file that cannot be read is a failure, not silently none. */
		rc = 0;
		for (size_t i = 0; !rc && i < ncp_files; i++)
			rc = mcr_audit_checkpoints_scan(&checkpoints, cp_files[i], 0);
		if (!rc)
			rc = mcr_report_verify_audit_with(cfg, &checkpoints, format, &out);
	}
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
	free(cp_files);
	free(users);
	return status;
}
