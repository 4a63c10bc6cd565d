/*
 * The project's log line: "<ISO time> <prog>[<pid>] <message>\n", written with
 * one write(2) to a file opened O_APPEND (so lines of concurrent processes and
 * threads never mix) and the message sent to syslog, which operators ship off
 * the machine. Used by mcr-nightly's runner (lib/night.c) and mcr-serve.
 */
#ifndef MCR_LOG_H
#define MCR_LOG_H

#include <time.h>

#include "mcr/buf.h"

/*
 * Format msg as a log line dated at, append it to fd (skipped when fd < 0; a
 * failed write is not an error: syslog still has the line), send msg to syslog
 * at prio, and leave the line (newline-terminated) in line, which the caller
 * owns and frees with mcr_buf_free. 0, or MCR_ENOMEM with the message set.
 * Thread-safe: nothing shared but fd and syslog.
 */
int mcr_log_line(int fd, const char *prog, time_t at, int prio, const char *msg, mcr_buf *line);

#endif
