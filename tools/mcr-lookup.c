/* mcr-lookup: one person's shared care record for one user (the Health link). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "mcr/audit.h"
#include "mcr/buf.h"
#include "cli.h"
#include "mcr/error.h"
#include "mcr/lookup.h"
#include "mcr/vocab.h"

#define PROG "mcr-lookup"

/* Each commit's new head to syslog (authpriv), one more copy of the checkpoint
 * outside the audit database: shipped off the machine, it leaves no window in
 * which the newest entries could be deleted unseen (docs/AUDIT.md). */
static void syslog_checkpoint(void *ctx, long seq, const char *hash)
{
	(void)ctx;
	syslog(LOG_AUTHPRIV | LOG_INFO, MCR_AUDIT_CHECKPOINT_WORDS " %ld:%s", seq, hash);
}

static const struct option options[] = {
	{"user", required_argument, NULL, 'u'},
	{"org", required_argument, NULL, 'o'},
	{"role", required_argument, NULL, 'r'},
	{"nhs", required_argument, NULL, 'n'},
	{"consent", required_argument, NULL, 'C'},
	{"break-glass", required_argument, NULL, 'b'},
	{"section", required_argument, NULL, 's'},
	{"format", required_argument, NULL, 'f'},
	{"config", required_argument, NULL, 'c'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static const char usage[] =
	"Usage: " PROG " --user ID --org ODS --role ROLE --nhs NUMBER\n"
	"                  [--consent given|refused | --break-glass REASON] [--section NAME]...\n"
	"                  [--format text|html] [--config FILE]\n"
	"Show one person's shared care record, view only. Every attempt is written to the\n"
	"audit log before anything is shown.\n"
	"\n"
	"  --user ID              who is looking\n"
	"  --org ODS              the viewing organisation (configured)\n"
	"  --role ROLE            the user's role (config policy.roles)\n"
	"  --nhs NUMBER           whose record: 10 digits or 999 000 0018\n"
	"  --consent given|refused  explicit consent asked at the point of care\n"
	"  --break-glass REASON   emergency access outside the organisation's own list;\n"
	"                         the reason is recorded and reported\n"
	"  --section NAME         show only this section (repeatable): demographics,\n"
	"                         allergies, medications, problems, immunisations, results,\n"
	"                         encounters, social-care, misc-reports\n"
	"  --format text|html     text for a terminal (default) or a self-contained page\n"
	"  --config FILE          default $MCR_CONFIG, else ./mcr.yaml\n"
	"  --help, --version\n"
	"\n"
	"Exit: 0 shown; 1 failed (nothing shown); 2 usage or configuration error;\n"
	"3 access denied (the reason on stderr); 4 no record of that person.\n";

/* "--section a --section b,c" -> bits. */
static int parse_sections(const char *arg, unsigned *bits)
{
	char name[64];
	const char *p = arg;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		mcr_section s;
		if (len == 0 || len >= sizeof(name))
			return mcr_cli_usage_error(PROG, "--section %s: unknown section", arg);
		memcpy(name, p, len);
		name[len] = '\0';
		if (mcr_section_parse(name, &s) != 0)
			return mcr_cli_usage_error(PROG, "--section %s: unknown section", name);
		*bits |= 1u << s;
		if (!end)
			return 0;
		p = end + 1;
	}
}

int main(int argc, char **argv)
{
	mcr_lookup_request req = { 0 };
	const char *config = NULL;
	mcr_config *cfg = NULL;
	mcr_audit *audit = NULL;
	mcr_buf view = MCR_BUF_INIT;
	int c, status = MCR_EXIT_OK, rc;
	req.format = MCR_LOOKUP_TEXT;
	while ((c = mcr_cli_getopt(PROG, argc, argv, options)) != -1) {
		switch (c) {
		case 'u': req.user = optarg; break;
		case 'o': req.org = optarg; break;
		case 'r': req.role = optarg; break;
		case 'n': req.nhs = optarg; break;
		case 'C': req.consent = optarg; break;
		case 'b': req.break_glass = optarg; break;
		case 's':
			if ((status = parse_sections(optarg, &req.sections)))
				return status;
			break;
		case 'f':
			if (strcmp(optarg, "text") == 0)
				req.format = MCR_LOOKUP_TEXT;
			else if (strcmp(optarg, "html") == 0)
				req.format = MCR_LOOKUP_HTML;
			else
				return mcr_cli_usage_error(PROG, "--format %s: expected text or html", optarg);
			break;
		case 'c': config = optarg; break;
		case 'h': fputs(usage, stdout); return MCR_EXIT_OK;
		case 'V': mcr_cli_version(PROG); return MCR_EXIT_OK;
		default: return MCR_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return mcr_cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
	if (!req.user || !req.org || !req.role || !req.nhs)
		return mcr_cli_usage_error(PROG, "--user, --org, --role and --nhs are required");
	if ((status = mcr_cli_load_config(PROG, config, &cfg)))
		goto out;
	if (mcr_lookup_validate(cfg, &req) != 0) {
		status = mcr_cli_usage_error(PROG, "%s", mcr_error_message());
		goto out;
	}
	if ((rc = mcr_audit_open_config(&audit, cfg))) {
		mcr_error_print(PROG);
		status = MCR_EXIT_FAILED;
		goto out;
	}
	openlog(PROG, LOG_PID, LOG_AUTHPRIV);
	mcr_audit_on_commit(audit, syslog_checkpoint, NULL);
	rc = mcr_lookup_run(cfg, audit, &req, &view, NULL);
	if (rc) {
		mcr_error_print(PROG);
		status = mcr_error_exit_status(rc);
		goto out;
	}
	if (fwrite(view.ptr, 1, view.len, stdout) != view.len || fflush(stdout) != 0) {
		fprintf(stderr, "%s: cannot write the record to standard output\n", PROG);
		status = MCR_EXIT_FAILED;
	}
out:
	mcr_audit_close(audit);
	mcr_config_free(cfg);
	mcr_buf_free(&view);
	return status;
}
