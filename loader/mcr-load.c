/* mcr-load: all complete staged files -> a new store generation (docs/LOAD.md). */
#include "cli.h"
#include "mcr/config.h"
#include "mcr/error.h"
#include "mcr/load.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const prog = "mcr-load";

static const struct option options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "accept", required_argument, NULL, 'a' },
	{ "progress", no_argument, NULL, 'p' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
	"Usage: mcr-load [--config FILE] [--accept ODS]... [--progress|--quiet]\n"
	"Load the newest complete staged file of every configured organisation into a new\n"
	"store generation, check it and publish it atomically.\n"
	"\n"
	"  --config FILE  configuration (default $MCR_CONFIG, else ./mcr.yaml)\n"
	"  --accept ODS   load this organisation's newest staged file even though it has\n"
	"                 far fewer people or items than the data held (the night-on-night\n"
	"                 guard held it); recorded in the load history. May be repeated\n"
	"  --progress     show progress on stderr even when it is not a terminal\n"
	"  --quiet        no progress, even on a terminal\n"
	"  --help         show this help and exit\n"
	"  --version      show the version and exit\n"
	"\n"
	"A one-line summary is printed on stdout at the end.\n"
	"Exit status: 0 published; 3 published, but staged file(s) rejected (quarantined,\n"
	"their organisations kept stale) or held (left in staging, their organisations\n"
	"kept until accepted); 1 failed, no new generation; 2 usage or configuration\n"
	"error; 75 another run holds the lock.\n";

/* Renders the library's events on stderr: the items line rewritten in place
 * ("\r"), other lines each on their own. */
typedef struct render {
	int printed;  /* an items line was written since the last rejected line */
} render;

static void on_event(const mcr_load_event *ev, void *ctx)
{
	render *out = ctx;
	char eta[32] = "?";
	switch (ev->kind) {
	case MCR_LOAD_EVENT_ITEMS:
		if (ev->eta >= 0)
			snprintf(eta, sizeof(eta), "%.0f s", ev->eta);
		fprintf(stderr, "\rmcr-load: %s: %ld/%ld items, %.0f items/s, %s left   ", ev->org,
		        ev->done, ev->total, ev->rate, eta);
		if (ev->final)
			fputc('\n', stderr);
		out->printed = 1;
		break;
	case MCR_LOAD_EVENT_PHASE:
		fprintf(stderr, "mcr-load: %s (%.1f s)\n", ev->text, ev->elapsed);
		break;
	case MCR_LOAD_EVENT_REJECTED:
	case MCR_LOAD_EVENT_HELD:
	case MCR_LOAD_EVENT_ACCEPTED:
		fprintf(stderr, "%smcr-load: %s: %s %s: %s%s%s\n", out->printed ? "\n" : "", ev->org,
		        ev->kind == MCR_LOAD_EVENT_REJECTED ? "rejected"
		        : ev->kind == MCR_LOAD_EVENT_HELD   ? "held" : "accepted",
		        ev->path, ev->text,
		        ev->kind == MCR_LOAD_EVENT_HELD ? "; its data is kept; if the fall is real: "
		                                          "mcr-load --accept " : "",
		        ev->kind == MCR_LOAD_EVENT_HELD ? ev->org : "");
		out->printed = 0;
		break;
	case MCR_LOAD_EVENT_CPU:
		fprintf(stderr, "mcr-load: CPU so far: parsing %.1f s, inserting %.1f s\n",
		        ev->parse_cpu, ev->insert_cpu);
		break;
	case MCR_LOAD_EVENT_WARNING:
		fprintf(stderr, "mcr-load: %s\n", ev->text);
		break;
	}
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	int progress = isatty(STDERR_FILENO);
	/* --accept codes point into argv: at most one per argument. */
	const char **accept = calloc((size_t)argc, sizeof(*accept));
	size_t naccept = 0;
	mcr_config *cfg = NULL;
	mcr_buf line = MCR_BUF_INIT;
	int status = MCR_EXIT_OK, c;
	if (!accept) {
		status = mcr_cli_usage_error(prog, "out of memory");
		goto out;
	}
	while ((c = mcr_cli_getopt(prog, argc, argv, options)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'a': accept[naccept++] = optarg; break;
		case 'p': progress = 1; break;
		case 'q': progress = 0; break;
		case 'h': fputs(usage, stdout); goto out;
		case 'V': mcr_cli_version(prog); goto out;
		default: status = MCR_EXIT_USAGE; goto out;
		}
	}
	if (optind < argc) {
		status = mcr_cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
		goto out;
	}

	if ((status = mcr_cli_load_config(prog, config_path, &cfg)))
		goto out;
	render shown = { 0 };
	mcr_load_options opt = { .progress = progress, .on_event = on_event, .ctx = &shown,
	                         .accept = accept, .naccept = naccept };
	mcr_load_summary sum;
	int rc = mcr_load_run(cfg, &opt, &sum);
	if (rc && shown.printed)
		fputc('\n', stderr);
	if (rc)
		mcr_error_print(prog);
	status = mcr_load_exit_status(rc, &sum);
	/* A bad --accept is a usage error: nothing was done, no summary. */
	if (rc != MCR_EUSAGE && mcr_load_summary_line(rc, &sum, &line) == 0)
		printf("%s\n", line.ptr);
out:
	mcr_buf_free(&line);
	mcr_config_free(cfg);
	free(accept);
	return status;
}
