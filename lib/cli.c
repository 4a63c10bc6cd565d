/* Shared pieces of the programs' thin mains. */
#include "mcr/cli.h"
#include "mcr/error.h"

#include <stdarg.h>

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
