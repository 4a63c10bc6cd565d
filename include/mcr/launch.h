/*
 * In-context launch of mcr-serve (DESIGN.md "The Health link service",
 * docs/WEB.md): a host system signs a compact JWS (ES256) naming the user, the
 * organisation, the role, the person and the purpose; this module verifies it
 * with libjwt over OpenSSL and never trusts anything before the signature.
 *
 * Order of checks (the first that fails decides; mcr_launch_reason_text gives
 * the plain message the browser sees, never personal data):
 *   1. the token is at most MCR_LAUNCH_MAX_TOKEN bytes of base64url segments
 *      separated by exactly two dots;
 *   2. the header's alg is exactly "ES256" (none, HS256 and every other alg are
 *      refused before any key is used: libjwt 1.x would verify an HS256 token
 *      with the public key as the HMAC secret);
 *   3. iss names a configured launcher (web.launchers);
 *   4. the signature verifies with that launcher's public key;
 *   5. claims present and well formed: sub, org (ODS), role, purpose (care|ig),
 *      nhs (valid, for care; absent for ig), iat, exp (integers), nbf optional,
 *      jti (1-128 printable characters);
 *   6. times, as instants in whole seconds with MCR_LAUNCH_SKEW of clock skew:
 *      exp > iat and exp - iat <= MCR_LAUNCH_MAX_LIFE; now < exp + skew;
 *      iat <= now + skew and nbf <= now + skew;
 *   7. org in the launcher's organisations (and configured, for care);
 *   8. role configured: policy.roles for care, web.ig_roles for ig;
 *   9. jti not seen before from this launcher (mcr_jti_claim: remembered in the
 *      state folder until exp + skew, across restarts).
 */
#ifndef MCR_LAUNCH_H
#define MCR_LAUNCH_H

#include <time.h>

#include "mcr/config.h"

#define MCR_LAUNCH_MAX_TOKEN 8192 /* bytes of a token */
#define MCR_LAUNCH_MAX_LIFE 300   /* seconds from iat to exp at most */
#define MCR_LAUNCH_SKEW 30        /* seconds of clock difference tolerated */

typedef enum mcr_launch_reason {
	MCR_LAUNCH_OK = 0,
	MCR_LAUNCH_MALFORMED,        /* not a compact JWS */
	MCR_LAUNCH_ALG,              /* alg not ES256 (none, HS256, ...) */
	MCR_LAUNCH_UNKNOWN_LAUNCHER, /* iss not configured */
	MCR_LAUNCH_SIGNATURE,        /* bad signature */
	MCR_LAUNCH_CLAIMS,           /* a claim missing or malformed */
	MCR_LAUNCH_EXPIRED,
	MCR_LAUNCH_NOT_YET_VALID,
	MCR_LAUNCH_TOO_LONG,         /* exp more than MCR_LAUNCH_MAX_LIFE after iat */
	MCR_LAUNCH_ORG,              /* organisation not allowed for this launcher */
	MCR_LAUNCH_ROLE,             /* role not configured */
	MCR_LAUNCH_REPLAYED,         /* jti already used */
} mcr_launch_reason;

typedef enum mcr_launch_purpose { MCR_PURPOSE_CARE, MCR_PURPOSE_IG } mcr_launch_purpose;

/* What a token says. Fields are filled as far as the checks got: iss whenever
 * the header was readable; the rest only once the signature verified
 * (verified != 0). Never use a field of an unverified token as identity. */
typedef struct mcr_launch_claims {
	int verified;
	char iss[65];
	char sub[129];
	char org[11];
	char role[65];
	char nhs[11];            /* 10 digits; "" for ig */
	mcr_launch_purpose purpose;
	char jti[129];
	long long iat, exp, nbf; /* seconds since the epoch; nbf 0 when absent */
} mcr_launch_claims;

/* The launchers' public keys, read once (at start and on reload). Immutable
 * after mcr_launch_keys_load: safe to share between threads. */
typedef struct mcr_launch_keys mcr_launch_keys;

/* Read every web.launchers public key; each must be a PEM P-256 public key.
 * MCR_ECONFIG naming the launcher and file otherwise. */
int mcr_launch_keys_load(const mcr_config *cfg, mcr_launch_keys **out);
void mcr_launch_keys_free(mcr_launch_keys *k); /* accepts NULL */

/* Single-use jti store: an SQLite table in the server's state folder, or with
 * store.backend postgresql the table mcr.jti shared by every node. Safe for
 * concurrent use by the threads of one process (its own mutex) and by several
 * processes (SQLite locking) or nodes (the table's primary key). */
typedef struct mcr_jti_store mcr_jti_store;

/* Open (creating) <dir>/launch.sqlite, making dir when missing. */
int mcr_jti_open(mcr_jti_store **out, const char *dir);

/* Open the store cfg names: <web.state_dir>/launch.sqlite, or mcr.jti in the
 * PostgreSQL database (made when missing). cfg must outlive the store. */
int mcr_jti_open_config(mcr_jti_store **out, const mcr_config *cfg);

/* Remember (iss, jti) until expires. 0 when new; MCR_EDENIED when already
 * there (a replay); MCR_EIO when the store failed (refuse the launch). Entries
 * whose expiry is before now are dropped on the way. */
int mcr_jti_claim(mcr_jti_store *s, const char *iss, const char *jti, long long expires,
                  long long now);

void mcr_jti_close(mcr_jti_store *s); /* accepts NULL */

/*
 * Verify token at time now (seconds since the epoch) against cfg and keys,
 * claiming its jti in jti. Returns 0 with *reason MCR_LAUNCH_OK and out filled;
 * MCR_EDENIED with *reason saying which check failed (out filled as far as it
 * is known); MCR_EIO / MCR_ENOMEM when the jti store or memory failed (refuse).
 * Thread-safe for distinct out.
 */
int mcr_launch_verify(const mcr_config *cfg, const mcr_launch_keys *keys, mcr_jti_store *jti,
                      const char *token, long long now, mcr_launch_claims *out,
                      mcr_launch_reason *reason);

/* The plain one-line message for a refusal ("the launch link has expired"). */
const char *mcr_launch_reason_text(mcr_launch_reason r);

/* A short stable code for the audit log and server log ("expired"). */
const char *mcr_launch_reason_code(mcr_launch_reason r);

/* Read a PEM key file (at most 16 KiB) into *out (NUL-terminated, caller frees)
 * and *len. MCR_ECONFIG naming the file when it is missing, empty or too big. */
int mcr_launch_read_key(const char *path, unsigned char **out, size_t *len);

/*
 * Sign a launch token (for mcr-launch, tests and host systems' integration):
 * ES256 with the PEM private key in key (len bytes), claims from c (nbf when
 * non-zero; nhs when non-empty). *out is a malloc'd string the caller frees.
 */
int mcr_launch_sign(const mcr_launch_claims *c, const unsigned char *key, size_t len, char **out);

#endif
