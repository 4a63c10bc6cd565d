/*
 * mcr-serve's program side: the HTTP plumbing over libmicrohttpd. The rules
 * (launch tokens, sessions, CSRF, the lookup decision, the audit, reports) are
 * libmcr's; this folder routes requests to them and writes the responses.
 *   mcr-serve.c  main: options, config, signals (SIGHUP reload, SIGTERM stop), log
 *   routes.c     one request: limits, routing, authorisation, security headers
 * The pages are libmcr's (mcr/page.h, the care view of mcr/view.h, the stylesheet
 * of mcr/html.h served at MCR_HTML_CSS_PATH).
 */
#ifndef MCR_SERVE_H
#define MCR_SERVE_H

#include <microhttpd.h>
#include <pthread.h>
#include <syslog.h>

#include "mcr/audit.h"
#include "mcr/buf.h"
#include "mcr/config.h"
#include "mcr/launch.h"
#include "mcr/session.h"

#define SERVE_MAX_BODY 16384     /* bytes of a form body */
#define SERVE_MAX_HEADERS 16384  /* bytes of header names and values (a launch URL is apart) */
#define SERVE_MAX_SESSIONS 10000
#define SERVE_COOKIE "mcr_session"

/* What a reload may swap: the config and the keys read from it. Requests hold
 * the read lock for their whole run; a reload takes the write lock. */
typedef struct serve_state {
	pthread_rwlock_t lock;
	mcr_config *cfg;
	mcr_launch_keys *keys;
	mcr_jti_store *jti;
	mcr_sessions *sessions;
	mcr_audit *audit;           /* shared: mcr_audit_append is thread-safe (group commit) */
	int log_fd;                 /* the project's log (paths.log), or -1 */
	const char *clock_file;     /* test hook: seconds since the epoch for tokens and
	                               sessions (never the audit time); NULL: the clock */
} serve_state;

/* One line to the log file and syslog. Never personal data. */
void serve_log(serve_state *st, int prio, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Now for launch tokens and sessions (the test hook, else time(NULL)). */
long long serve_now(const serve_state *st);

/* The libmicrohttpd handlers (routes.c); cls is the serve_state. */
enum MHD_Result serve_handle(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **con_cls);
void serve_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                     enum MHD_RequestTerminationCode toe);

#endif
