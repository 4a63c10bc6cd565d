/* Shared pieces of the programs' thin mains (program side: never linked into
 * libmcr, which does not print). */
#include "cli.h"

#include <stdarg.h>

#include "mcr/error.h"

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
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return MCR_EXIT_USAGE;
}

void mcr_error_print(const char *prog)
{
	const char *msg = mcr_error_message();
	fprintf(stderr, "%s: %s\n", prog, msg[0] ? msg : "failed (no message)");
}
