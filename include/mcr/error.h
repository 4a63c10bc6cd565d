/*
 * Errors and exit codes: the one place both are defined.
 *
 * Library functions return 0 on success or a negative MCR_E* code. The function
 * that detects a failure records a one-line message with mcr_error_set(); callers
 * pass the code up unchanged and do not overwrite the message. Messages say what
 * failed first and name the file and line where there is one:
 *   "bad NHS number 9990000019: check digit mismatch (persons.csv:12)"
 * The message buffer is per thread.
 */
#ifndef MCR_ERROR_H
#define MCR_ERROR_H

/* Exit status of every program (DESIGN.md, "Programs"). */
#define MCR_EXIT_OK 0
#define MCR_EXIT_FAILED 1     /* the work failed; stderr names what and where */
#define MCR_EXIT_USAGE 2      /* usage or configuration error */
#define MCR_EXIT_REJECTED 3   /* mcr-load: generation built, staged file(s) rejected; jobs: degraded;
                                 extractors: staged, some records or documents refused */
#define MCR_EXIT_DENIED 3     /* mcr-lookup: access denied */
#define MCR_EXIT_NO_RECORD 4  /* mcr-lookup: no record of that person */
#define MCR_EXIT_LOCKED 75    /* another run holds the lock (EX_TEMPFAIL) */

enum mcr_error_code {
	MCR_OK = 0,
	MCR_ERROR = -1,     /* failure with no more specific code */
	MCR_ENOMEM = -2,    /* out of memory */
	MCR_EIO = -3,       /* a system call failed; the message carries strerror */
	MCR_EFORMAT = -4,   /* bad input: malformed XML/CSV/gzip/YAML, schema violation */
	MCR_ECONFIG = -5,   /* bad configuration */
	MCR_EUSAGE = -6,    /* bad command line */
	MCR_ELOCKED = -7,   /* another run holds the lock */
	MCR_ENOTFOUND = -8, /* no such record / file */
	MCR_EDENIED = -9,   /* access denied */
	MCR_ELIMIT = -10,   /* a size or count cap was exceeded */
};

/* Record the message for the current failure and return code, so callers can
 * write `return mcr_error_set(MCR_EFORMAT, "...", ...);`. */
int mcr_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* As mcr_error_set, appending ": <strerror(errno)>" (errno as it was on entry). */
int mcr_error_set_errno(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last message recorded on this thread; "" when none. Never NULL. */
const char *mcr_error_message(void);

/* The code given to the last mcr_error_set on this thread, MCR_OK when none. */
int mcr_error_code(void);

void mcr_error_clear(void);

/* Exit status for a library error code: ECONFIG/EUSAGE -> 2, ELOCKED -> 75,
 * EDENIED -> 3, ENOTFOUND -> 4, other negatives -> 1, 0 -> 0. */
int mcr_error_exit_status(int code);

#endif
