/*
 * The region's configuration (mcr.yaml), read with libyaml.
 *
 * Format (docs/CONFIG.md has the full reference):
 *
 *   region: East and North Hertfordshire (sample)
 *   paths:                       # relative paths resolve against the config file's folder
 *     staging: staging
 *     archive: archive
 *     quarantine: quarantine
 *     store: store               # generations gen-NNNNNN.sqlite, the 'current' link, history.sqlite
 *     audit: audit/audit.sqlite  # append-only, never rebuilt
 *     log: log/mcr.log
 *     lock: run/mcr.lock         # optional: held by mcr-load and jobs/mcr-nightly
 *   retention:
 *     generations: 3             # store generations kept (>= 2)
 *     archive_days: 30           # loaded staged files kept in the archive
 *   freshness:                   # hours data may age before it is stale
 *     nightly: 26
 *     twice-daily: 14
 *   load:
 *     hold_drop_percent: 10      # hold a file with > 10% fewer people or items (or none)
 *     hold_min_fall: 5           # ... but not for a fall of fewer than 5 (unless to none)
 *   organisations:
 *     - ods: A81001
 *       name: Riverside Surgery
 *       kind: gp                 # gp | lcs | ooh
 *       schedule: nightly        # nightly | twice-daily
 *       shares_from: 2012-04-01
 *       caldicott: Dr Jane Example, caldicott.a81001@example.nhs.uk
 *       source: sources/gp/A81001   # export the nightly job extracts (optional)
 *   policy:
 *     consent_at_point_of_care: implied    # implied | required
 *     objection_codes: [416409005]
 *     consent_codes: [417528008]
 *     sensitive_codes: [...]               # SNOMED CT codes (GP summary exclusion sets)
 *     clinician_roles: [...]               # role codes that count as clinical advice (OOH)
 *     ooh_recent_days: 90                  # OOH cases this recent form the OOH's own list
 *     max_unmatched_percent: 5             # GP: more resources without their Patient: refused
 *     roles:
 *       clinician: [demographics, allergies, medications, problems, immunisations,
 *                   results, encounters, social-care, misc-reports]
 *       social-worker: [demographics, allergies, social-care]
 *     staff:
 *       - user: jbloggs
 *         nhs: "9990000018"
 *   web:                                   # mcr-serve only (docs/WEB.md); optional
 *     listen: 127.0.0.1:8080               # host:port; port 0 picks a free one
 *     threads: 4                           # libmicrohttpd thread pool
 *     state: web                           # the server's own state (the jti replay store)
 *     session_idle: 900                    # seconds without a request before a session ends
 *     session_max: 28800                   # seconds from launch before a session ends
 *     frame_ancestors: [https://lcs.example.org]   # host systems that may frame the pages
 *     ig_roles: [ig]                       # roles a launch with purpose ig may carry
 *     launchers:
 *       - id: lcs                          # the token's iss
 *         public_key: keys/lcs.pub.pem     # its ES256 (P-256) public key, PEM
 *         organisations: [X99LCS]          # ODS codes it may launch for
 *   store:
 *     backend: sqlite                      # sqlite (default) | postgresql
 *   postgresql:                            # required with backend postgresql
 *     conninfo: host=db1 dbname=mcr user=mcr   # libpq keyword=value or URI, no password
 *     password_file: secrets/pg.password       # optional; else env MCR_PG_PASSWORD,
 *                                              # else libpq's own (~/.pgpass, PGPASSWORD)
 *
 * Unknown keys, missing required keys, duplicate keys and bad values (unknown kind
 * or section, bad date, bad ODS code, invalid NHS number) are errors whose message
 * names file:line:column. A postgresql.conninfo that carries a password (the
 * password keyword, or a URI with user:password@) is refused: the secret lives in
 * postgresql.password_file or MCR_PG_PASSWORD, never in the config.
 *
 * Thread safety: mcr_config_load keeps no static state; a loaded config is
 * read-only and may be shared by any number of threads until mcr_config_free.
 * The lookups by name (mcr_config_org, ...) and parsers below are pure.
 */
#ifndef MCR_CONFIG_H
#define MCR_CONFIG_H

#include <stddef.h>

#include "mcr/vocab.h"

typedef enum mcr_org_kind { MCR_KIND_GP, MCR_KIND_LCS, MCR_KIND_OOH } mcr_org_kind;
typedef enum mcr_schedule { MCR_SCHEDULE_NIGHTLY, MCR_SCHEDULE_TWICE_DAILY } mcr_schedule;

/* Default age limits (freshness.*): a nightly schedule's 24 h and a twice-daily's
 * 12 h, each with 2 h of grace for the run itself. */
#define MCR_FRESH_NIGHTLY_HOURS 26
#define MCR_FRESH_TWICE_DAILY_HOURS 14

typedef struct mcr_org {
	char *ods;            /* ODS code, e.g. "A81001" */
	char *name;
	mcr_org_kind kind;
	mcr_schedule schedule;
	char shares_from[11]; /* YYYY-MM-DD; "" when the organisation shares everything */
	char *caldicott;      /* Caldicott Guardian contact; may be NULL */
	char *source;         /* absolute path of its export for the nightly job; may be NULL */
} mcr_org;

typedef struct mcr_role {
	char *name;
	unsigned sections;    /* bit (1u << mcr_section) for each section the role may see */
} mcr_role;

typedef struct mcr_staff {
	char *user;
	char nhs[11];         /* the member of staff's own NHS number (10 digits) */
} mcr_staff;

/* A list of codes kept sorted for mcr_config_code_in(). */
typedef struct mcr_codes {
	char **codes;
	size_t count;
} mcr_codes;

/* A host system that may launch mcr-serve (config web.launchers). */
typedef struct mcr_launcher {
	char *id;             /* the launch token's iss */
	char *public_key;     /* absolute path of its ES256 public key (PEM) */
	mcr_codes orgs;       /* ODS codes it may launch for */
} mcr_launcher;

/* mcr-serve's settings (config web); defaults when the section is absent. */
typedef struct mcr_web {
	int present;          /* the section was in the file */
	char *listen_host;    /* default "127.0.0.1" */
	int listen_port;      /* default 8080; 0: any free port */
	int threads;          /* default 4 */
	char *state_dir;      /* absolute; default <config folder>/web */
	int session_idle;     /* seconds, default 900 */
	int session_max;      /* seconds, default 28800 */
	mcr_codes frame_ancestors; /* CSP frame-ancestors sources; none: 'none' */
	mcr_codes ig_roles;   /* roles allowed for purpose ig; default none */
	mcr_launcher *launchers;
	size_t nlaunchers;
} mcr_web;

/* Where the store, load history, audit log and jti store live (store.backend). */
typedef enum mcr_backend { MCR_BACKEND_SQLITE, MCR_BACKEND_POSTGRESQL } mcr_backend;

/* The shared database (config postgresql; DESIGN.md "Beyond one machine"). */
typedef struct mcr_pg_config {
	char *conninfo;       /* libpq connection string without a password; NULL when absent */
	char *password_file;  /* absolute path of a file holding the password; may be NULL */
} mcr_pg_config;

typedef struct mcr_config {
	char *path;           /* the file read */
	char *region;
	/* Absolute paths. */
	char *staging_dir, *archive_dir, *quarantine_dir, *store_dir, *audit_path, *log_path;
	char *lock_path;      /* defaults to <store_dir>/mcr.lock */
	int keep_generations; /* default 3 */
	int archive_days;     /* default 30 */
	/* Hours a schedule's data may age before views and reports call it stale
	 * (freshness.nightly, freshness.twice-daily); 0: the default, 26 and 14
	 * (mcr_freshness_max_age). */
	int fresh_nightly_hours, fresh_twice_daily_hours;
	/* Night-on-night guard: a new staged file with none, or more than
	 * hold_drop_percent (load.hold_drop_percent, default 10; 0..100) fewer, people,
	 * members or items than the data held is held; a fall of fewer than hold_min_fall
	 * (load.hold_min_fall, default 5) is a small organisation's ordinary churn and
	 * is held only when it is to none. */
	int hold_drop_percent, hold_min_fall;

	mcr_org *orgs;
	size_t norgs;

	int consent_required; /* 1: explicit consent at the point of care */
	mcr_codes objection_codes, consent_codes, sensitive_codes, clinician_roles;
	int ooh_recent_days;  /* default 90 */
	int max_unmatched_percent; /* GP: above this share of clinical resources matching no
	                              Patient the export is broken and refused; default 5 */
	mcr_role *roles;
	size_t nroles;
	mcr_staff *staff;
	size_t nstaff;

	mcr_web web;

	mcr_backend backend;  /* default MCR_BACKEND_SQLITE: everything in the files of paths */
	mcr_pg_config pg;     /* required (conninfo) when backend is postgresql; may be
	                         present with sqlite (e.g. to migrate an audit log) */
} mcr_config;

/*
 * Read and validate the configuration at path. On success *out is a config the
 * caller frees with mcr_config_free(). Errors: MCR_ECONFIG with "file:line:column:
 * what" (also for a missing file), MCR_ENOMEM.
 */
int mcr_config_load(mcr_config **out, const char *path);

/* Free a config; accepts NULL. */
void mcr_config_free(mcr_config *cfg);

/* The path to use when --config is not given: $MCR_CONFIG, else "./mcr.yaml". */
const char *mcr_config_default_path(void);

/* The organisation with this ODS code, or NULL. */
const mcr_org *mcr_config_org(const mcr_config *cfg, const char *ods);

/* The role of this name, or NULL. */
const mcr_role *mcr_config_role(const mcr_config *cfg, const char *name);

/* The staff entry for this user, or NULL. */
const mcr_staff *mcr_config_staff(const mcr_config *cfg, const char *user);

/* The launcher of this id, or NULL. */
const mcr_launcher *mcr_config_launcher(const mcr_config *cfg, const char *id);

/* 1 if code is in the list, else 0 (binary search). */
int mcr_config_code_in(const mcr_codes *list, const char *code);

const char *mcr_org_kind_name(mcr_org_kind k);   /* "gp", "lcs", "ooh" */

/* Parse a kind (or dataset) name, "gp", "lcs" or "ooh": the one home of that
 * rule. 0 and *out (out may be NULL: a check only), or MCR_EFORMAT with no
 * message set (the caller names where). */
int mcr_org_kind_parse(const char *name, mcr_org_kind *out);

/* 1 if s is an ODS code as this project accepts it (3 to 10 capital letters or
 * digits), else 0 (also for NULL): the one home of that rule. */
int mcr_org_ods_valid(const char *s);
const char *mcr_schedule_name(mcr_schedule s);   /* "nightly", "twice-daily" */
const char *mcr_backend_name(mcr_backend b);     /* "sqlite", "postgresql" */

/* The dataset an organisation of this kind stages: "gp", "lcs" or "ooh". */
const char *mcr_org_dataset(mcr_org_kind k);

#endif
