/* Errors: one thread-local message, set where a failure is detected. */
#include "mcr/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_message[1024];
static _Thread_local int err_code;

__attribute__((format(printf, 3, 0)))
static void error_vset(int code, const char *suffix, const char *fmt, va_list ap)
{
	int n = vsnprintf(err_message, sizeof(err_message), fmt, ap);
	if (suffix && n >= 0 && (size_t)n < sizeof(err_message))
		snprintf(err_message + n, sizeof(err_message) - (size_t)n, ": %s", suffix);
	/* One line: a message may quote input holding newlines. */
	for (char *p = err_message; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	err_code = code;
}

int mcr_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_vset(code, NULL, fmt, ap);
	va_end(ap);
	return code;
}

int mcr_error_set_errno(int code, const char *fmt, ...)
{
	int saved = errno;
	char sys[256];
	va_list ap;
	/* strerror_r (XSI): strerror's buffer may be shared between threads. */
	if (strerror_r(saved, sys, sizeof(sys)) != 0)
		snprintf(sys, sizeof(sys), "error %d", saved);
	va_start(ap, fmt);
	error_vset(code, sys, fmt, ap);
	va_end(ap);
	errno = saved;
	return code;
}

const char *mcr_error_message(void)
{
	return err_message;
}

int mcr_error_code(void)
{
	return err_code;
}

void mcr_error_clear(void)
{
	err_message[0] = '\0';
	err_code = MCR_OK;
}

int mcr_error_exit_status(int code)
{
	switch (code) {
	case MCR_OK: return MCR_EXIT_OK;
	case MCR_ECONFIG:
	case MCR_EUSAGE: return MCR_EXIT_USAGE;
	case MCR_ELOCKED: return MCR_EXIT_LOCKED;
	case MCR_EDENIED: return MCR_EXIT_DENIED;
	case MCR_ENOTFOUND: return MCR_EXIT_NO_RECORD;
	default: return MCR_EXIT_FAILED;
	}
}
