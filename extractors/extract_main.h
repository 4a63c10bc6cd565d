/* The extractors' shared main: option table, --help, parse, validate, then the
 * extract of its kind and the summary line. Each mcr-extract-*.c describes
 * itself and calls it. */
#ifndef EXTRACT_MAIN_H
#define EXTRACT_MAIN_H

#include "mcr/config.h"

typedef struct extract_program {
	const char *name;        /* "mcr-extract-gp" */
	mcr_org_kind kind;
	const char *description; /* what it reads, for --help */
	const char *org_noun;    /* "the practice" */
	const char *input_help;  /* what --input names */
} extract_program;

/* Returns the program's exit status (MCR_EXIT_*). */
int extract_main(const extract_program *p, int argc, char **argv);

#endif
