/* Shared pieces of the programs' thin mains (program side: never linked into
 * libmcr, which does not print). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mcr/error.h"
#include "mcr/fs.h"

void mcr_cli_version(const char *prog)
{
	printf("%s (mcr) %s\n", prog, MCR_VERSION);
}

int mcr_cli_load_config(const char *prog, const char *opt, mcr_config **cfg)
{
	const char *path = opt ? opt : mcr_config_default_path();
	if (mcr_config_load(cfg, path) != 0) {
		mcr_error_print(prog);
		return MCR_EXIT_USAGE;
	}
	return 0;
}

int mcr_cli_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try '%s --help')\n", prog);
	return MCR_EXIT_USAGE;
}

/* Why getopt_long refused word (an argv element starting with "--"). */
static const char *long_option_problem(const char *word, const struct option *options)
{
	const char *name = word + 2;
	size_t len = strcspn(name, "=");
	int matches = 0, exact = 0, takes_value = 0;
	for (const struct option *o = options; o->name; o++) {
		if (strncmp(o->name, name, len) != 0)
			continue;
		matches++;
		takes_value = o->has_arg != no_argument;
		if (strlen(o->name) == len) {
			exact = 1;
			break;
		}
	}
	if (!matches)
		return "unknown option";
	if (!exact && matches > 1)
		return "ambiguous option";
	if (name[len] == '=' && !takes_value)
		return "option takes no value";
	return "unknown option";
}

int mcr_cli_getopt(const char *prog, int argc, char *const argv[], const struct option *options)
{
	opterr = 0;
	int c = getopt_long(argc, argv, ":hV", options, NULL);
	if (c != '?' && c != ':')
		return c;
	const char *word = argv[optind - 1];
	if (c == ':')
		mcr_cli_usage_error(prog, "option '%s' needs a value", word);
	else if (optopt && strncmp(word, "--", 2) != 0)
		mcr_cli_usage_error(prog, "unknown option '-%c'", optopt);
	else
		mcr_cli_usage_error(prog, "%s '%s'", long_option_problem(word, options), word);
	return '?';
}

int mcr_cli_number(const char *prog, const char *option, const char *s, long min, long max,
                   long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return mcr_cli_usage_error(prog, "bad %s '%s': a whole number from %ld to %ld", option, s,
		                           min, max);
	*out = v;
	return 0;
}

void mcr_error_print(const char *prog)
{
	const char *msg = mcr_error_message();
	fprintf(stderr, "%s: %s\n", prog, msg[0] ? msg : "failed (no message)");
}

/* Remove the tracked temporary files, then die of the signal as if unhandled. */
static void remove_temps_and_die(int sig)
{
	mcr_fs_temp_unlink_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

void mcr_cli_remove_temps_on_signal(void)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = remove_temps_and_die;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old;
		/* A signal the caller's parent chose to ignore stays ignored. */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
	}
}
