/*
 * The audit log (schema/audit.sql): append-only, hash-chained with SHA-256
 * (OpenSSL libcrypto), separate from the store and never rebuilt.
 */
#ifndef MCR_AUDIT_H
#define MCR_AUDIT_H

typedef struct mcr_audit mcr_audit;

typedef struct mcr_audit_entry {
	long seq;              /* set by mcr_audit_append */
	char at[32];           /* set by mcr_audit_append (mcr_time_now) */
	const char *user, *org, *role, *nhs;
	const char *sections;  /* comma-separated section names */
	const char *basis;     /* implied | consent-given | consent-refused | break-glass */
	const char *reason;    /* break-glass reason, or NULL */
	const char *outcome;   /* shown | denied | self-access | no-record; also failed:
	                          the store could not be read, nothing shown */
	const char *detail;    /* why denied, or NULL */
	long generation;       /* store generation read, or 0 when none */
} mcr_audit_entry;

/* Open (creating with its schema when missing) the audit database at path.
 * Free with mcr_audit_close(). */
int mcr_audit_open(mcr_audit **out, const char *path);

/*
 * Append e durably (its own transaction, synchronous=FULL), chained to the last
 * entry; safe against concurrent appenders in other processes (BEGIN IMMEDIATE
 * with a busy timeout). Fills e->seq and e->at. On failure nothing was appended
 * and the caller must show nothing.
 */
int mcr_audit_append(mcr_audit *a, mcr_audit_entry *e);

void mcr_audit_close(mcr_audit *a); /* accepts NULL */

/* The chain hash of e (seq and at filled) after prev_hash (64 hex digits):
 * hex SHA-256 as schema/audit.sql defines, into out (65 bytes with NUL). The one
 * definition used by append, verify and tools that build logs in bulk. */
int mcr_audit_entry_hash(const mcr_audit_entry *e, const char *prev_hash, char out[65]);

/*
 * Check the whole chain of the database at path: sequence without gaps, each
 * prev_hash equal to the previous hash and each hash recomputed. Returns 0 and
 * *entries, or MCR_EFORMAT naming the first bad entry ("audit entry 42: hash
 * mismatch (edited)"). A truncated log is detected against the head record kept
 * in the audit_head table (last seq and hash).
 */
int mcr_audit_verify(const char *path, long *entries);

#endif
