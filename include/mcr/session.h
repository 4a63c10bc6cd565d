/*
 * mcr-serve's sessions (DESIGN.md "The Health link service"): one launch, one
 * user in one organisation and role, one person (or none, for IG work). The
 * identity comes from the verified launch token and never changes; only the
 * basis of access (consent given at the point of care, or break glass with a
 * reason) is added later through a form carrying the session's CSRF token.
 *
 * Sessions live in memory (a restart ends them: the user launches again). The
 * table is safe for concurrent use by the server's threads: every call copies
 * in or out under its mutex, so no caller holds a pointer into it.
 */
#ifndef MCR_SESSION_H
#define MCR_SESSION_H

#include <stddef.h>

#include "mcr/launch.h"

#define MCR_SESSION_ID_LEN 43 /* 32 random bytes, base64url without padding */

typedef enum mcr_session_basis {
	MCR_BASIS_NONE = 0,      /* nothing asked yet (implied consent where the policy says so) */
	MCR_BASIS_CONSENT,       /* the person gave consent at the point of care */
	MCR_BASIS_BREAK_GLASS,   /* emergency access; reason recorded */
} mcr_session_basis;

typedef struct mcr_session {
	char id[MCR_SESSION_ID_LEN + 1];   /* the cookie value */
	char csrf[MCR_SESSION_ID_LEN + 1]; /* every form of the session carries it */
	mcr_launch_claims who;             /* from the launch token, never changed */
	long long started, last;           /* seconds since the epoch */
	mcr_session_basis basis;
	char reason[512];                  /* break-glass reason */
} mcr_session;

typedef struct mcr_sessions mcr_sessions;

/* A table of at most max sessions with these time-outs (seconds). */
int mcr_sessions_new(mcr_sessions **out, int idle, int absolute, size_t max);
void mcr_sessions_free(mcr_sessions *t); /* accepts NULL */

/* Change the time-outs (a reload); existing sessions are judged by the new ones. */
void mcr_sessions_set_timeouts(mcr_sessions *t, int idle, int absolute);

/* Start a session for a verified launch at now; out (may be NULL) gets a copy.
 * Timed-out sessions are dropped first; MCR_ELIMIT when the table is full. */
int mcr_session_start(mcr_sessions *t, const mcr_launch_claims *who, long long now,
                      mcr_session *out);

/*
 * The session whose id is cookie, at now: 0 with a copy in out, and its idle
 * clock restarted; MCR_ENOTFOUND when there is none (unknown, ended, or a
 * malformed cookie); MCR_EDENIED when it timed out (idle or absolute: message
 * says which), and it is ended.
 */
int mcr_session_get(mcr_sessions *t, const char *cookie, long long now, mcr_session *out);

/* Record the basis (and break-glass reason, may be NULL) for session id. */
int mcr_session_set_basis(mcr_sessions *t, const char *id, mcr_session_basis basis,
                          const char *reason);

void mcr_session_end(mcr_sessions *t, const char *id);

/* 1 when token is the session's CSRF token (constant-time compare), else 0. */
int mcr_session_csrf_ok(const mcr_session *s, const char *token);

/* Number of live sessions (for /healthz, no personal data). */
size_t mcr_sessions_count(mcr_sessions *t);

#endif
