/*
 * What every program's thin main shares: --version text, the --config default,
 * loading the config with the standard error report, printing the library's
 * error message. Program side (cli/, the static library mcr_cli): the mains and
 * benchmarks link it; libmcr never does, since the library never prints.
 *
 * Program shape (see loader/mcr-load.c): a static struct option table and usage
 * text; parse with mcr_cli_getopt (below); validate; open; work; one `out:` cleanup label;
 * return an MCR_EXIT_* status from mcr/error.h.
 */
#ifndef MCR_CLI_H
#define MCR_CLI_H

#include <stdio.h>

#include "mcr/config.h"

/* Print "<prog> (mcr) <version>" to stdout. */
void mcr_cli_version(const char *prog);

/* Load the config named by --config (opt, may be NULL) or the default path. On
 * failure prints "<prog>: <message>" and returns MCR_EXIT_USAGE; else 0. */
int mcr_cli_load_config(const char *prog, const char *opt, mcr_config **cfg);

/* Report a usage error on stderr in one line, "<prog>: <message> (try '<prog>
 * --help')"; returns MCR_EXIT_USAGE. */
int mcr_cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct option;

/*
 * getopt_long over the program's option table, with -h and -V the short forms of
 * --help and --version (the table maps those to 'h' and 'V'). getopt's own
 * messages are off: an unknown, ambiguous or misused option, or one missing its
 * value, is reported with mcr_cli_usage_error (one line, prog rather than the
 * build path in argv[0]) and '?' returned, for the caller's usage exit.
 */
int mcr_cli_getopt(const char *prog, int argc, char *const argv[], const struct option *options);

/* A whole decimal number from min to max (an option's value): 0, or reports
 * "bad <option> '<s>': a whole number from <min> to <max>" with
 * mcr_cli_usage_error and returns MCR_EXIT_USAGE. */
int mcr_cli_number(const char *prog, const char *option, const char *s, long min, long max,
                   long *out);

/* Make SIGTERM, SIGINT, SIGHUP and SIGQUIT remove the temporary files the
 * library tracks (mcr_fs_temp_track: staged payloads being written) before the
 * program dies of the signal. For programs that write personal data. */
void mcr_cli_remove_temps_on_signal(void);

/* Print "<prog>: <message>" (one line, the thread's mcr_error_message()) to
 * stderr. */
void mcr_error_print(const char *prog);

#endif
