/* mcr-nightly: one unattended night (or the out-of-hours run): extracts, load,
 * archive, coverage report. The work is in lib/night.c; docs/OPERATIONS.md. */
#include <getopt.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mcr/config.h"
#include "mcr/error.h"
#include "mcr/night.h"

static const char *prog = "mcr-nightly";

static const struct option options[] = {
	{"config", required_argument, NULL, 'c'},
	{"only-kind", required_argument, NULL, 'k'},
	{"org", required_argument, NULL, 'o'},
	{"no-report", no_argument, NULL, 'n'},
	{"wait", no_argument, NULL, 'w'},
	{"jobs", required_argument, NULL, 'j'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static const char usage[] =
	"Usage: mcr-nightly [--config FILE] [--only-kind gp|lcs|ooh] [--org ODS]...\n"
	"                   [--no-report] [--wait] [--jobs N] [--verbose]\n"
	"Run one night unattended: each organisation's extractor (a failure is recorded\n"
	"and the others go on), mcr-load, archiving of the loaded staged files and\n"
	"pruning by retention, then mcr-report coverage. Every step, and the report, is\n"
	"logged with the run id to the config's log file and to syslog. A good night\n"
	"prints nothing; a degraded or failed one prints a short summary on stderr\n"
	"(what went wrong, where the log is), so cron mails it.\n"
	"\n"
	"  --config FILE      region config (default $MCR_CONFIG, else ./mcr.yaml)\n"
	"  --only-kind KIND   extract only organisations of this kind, then load\n"
	"                     (--only-kind ooh: the twice-daily out-of-hours run)\n"
	"  --org ODS          extract only this organisation (repeatable)\n"
	"  --no-report        do not run the coverage report\n"
	"  --wait             wait for a run in progress instead of exiting 75\n"
	"  --jobs N           run up to N extracts at once (default: the number of\n"
	"                     processors); the load starts when they have all ended\n"
	"  --verbose          print the coverage report and a summary line on stdout\n"
	"  --help, --version\n"
	"\n"
	"Programs are found beside mcr-nightly, or in $MCR_BIN.\n"
	"Exit: 0 all good; 3 degraded (an extract failed, a staged file was rejected,\n"
	"an organisation is stale); 1 failed (the load failed); 2 usage or config\n"
	"error; 75 another run holds the lock.\n";

/* The run's one-line summary. */
static void print_summary(FILE *to, const mcr_night_result *res)
{
	static const char *const outcome[] = {"good", "failed", "", "degraded"};
	const char *name = res->status <= 3 ? outcome[res->status] : "locked";
	fprintf(to, "%s: run %s %s (exit %d): %d extract(s), %d failed%s%s; load exit %d; "
	        "generation %ld; stale: %s; %ld archived, %ld pruned; %.1f s\n",
	        prog, res->run_id, name, res->status, res->extracts, res->extracts_failed,
	        res->failed_orgs.len ? " " : "", mcr_buf_cstr(&res->failed_orgs), res->load_status,
	        res->generation, res->stale_orgs.len ? res->stale_orgs.ptr : "none", res->archived,
	        res->pruned, res->seconds);
}

/* The library's log lines, echoed on an interactive stderr (under cron the log
 * and syslog have them, and a good night stays silent). */
static void echo_log_line(void *ctx, const char *line, size_t len)
{
	(void)ctx;
	if (fwrite(line, 1, len, stderr) != len) {
		/* nothing more to do: the log and syslog have the line */
	}
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	const char **orgs = NULL;
	size_t norgs = 0;
	mcr_night_options opt = {NULL, -1, NULL, 0, 1, -1, 0, 0, NULL, NULL};
	mcr_night_result res;
	mcr_config *cfg = NULL;
	int status = MCR_EXIT_FAILED, c, ran = 0, verbose = 0;

	orgs = calloc((size_t)argc, sizeof(*orgs));
	if (!orgs) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return MCR_EXIT_FAILED;
	}
	while ((c = mcr_cli_getopt(prog, argc, argv, options)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'k': {
			mcr_org_kind kind;
			if (mcr_org_kind_parse(optarg, &kind) != 0) {
				status = mcr_cli_usage_error(prog, "--only-kind: unknown kind '%s' "
				                             "(gp, lcs or ooh)", optarg);
				goto out;
			}
			opt.only_kind = (int)kind;
			break;
		}
		case 'o':
			orgs[norgs++] = optarg;
			break;
		case 'n':
			opt.report = 0;
			break;
		case 'w':
			opt.wait = 1;
			break;
		case 'j': {
			char *end;
			long j = strtol(optarg, &end, 10);
			if (end == optarg || *end || j < 1 || j > MCR_NIGHT_MAX_JOBS) {
				status = mcr_cli_usage_error(prog, "--jobs: a number from 1 to %d, not '%s'",
				                             MCR_NIGHT_MAX_JOBS, optarg);
				goto out;
			}
			opt.jobs = (int)j;
			break;
		}
		case 'v':
			verbose = 1;
			opt.report_fd = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			status = MCR_EXIT_OK;
			goto out;
		case 'V':
			mcr_cli_version(prog);
			status = MCR_EXIT_OK;
			goto out;
		default:
			status = MCR_EXIT_USAGE;
			goto out;
		}
	}
	if (optind < argc) {
		status = mcr_cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if ((status = mcr_cli_load_config(prog, config_path, &cfg)))
		goto out;
	for (size_t i = 0; i < norgs; i++) {
		const mcr_org *o = mcr_config_org(cfg, orgs[i]);
		if (!o) {
			status = mcr_cli_usage_error(prog, "--org %s: no such organisation in %s",
			                             orgs[i], cfg->path);
			goto out;
		}
		if (opt.only_kind >= 0 && (int)o->kind != opt.only_kind) {
			status = mcr_cli_usage_error(prog, "--org %s is not of kind %s", orgs[i],
			                             mcr_org_kind_name((mcr_org_kind)opt.only_kind));
			goto out;
		}
	}
	opt.orgs = orgs;
	opt.norgs = norgs;

	/* The report and the summary must reach the terminal in order. */
	fflush(stdout);
	ran = 1;
	if (isatty(STDERR_FILENO))
		opt.on_log = echo_log_line;
	int rc = mcr_night_run(cfg, &opt, &res);
	status = res.status;
	if (rc) {
		mcr_error_print(prog);
		if (rc != MCR_ELOCKED)
			status = mcr_error_exit_status(rc);
		goto out;
	}
	if (verbose)
		print_summary(stdout, &res);
	if (status != MCR_EXIT_OK) {
		/* Cron mails what a job writes: only a night that needs someone does. */
		if (!verbose)
			print_summary(stderr, &res);
		for (const char *p = mcr_buf_cstr(&res.problems); *p;) {
			size_t len = strcspn(p, "\n");
			fprintf(stderr, "%s:   %.*s\n", prog, (int)len, p);
			p += len + (p[len] == '\n');
		}
		fprintf(stderr, "%s: details: grep 'run=%s' %s\n", prog, res.run_id,
		        cfg->log_path ? cfg->log_path : "(no log file; see syslog)");
	}
out:
	if (ran)
		mcr_night_result_free(&res);
	mcr_config_free(cfg);
	free(orgs);
	return status;
}
