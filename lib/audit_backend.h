/*
 * Internal: the audit log's storage behind two tables of functions, one for the
 * appending handle and one for reading a log (reports, checkpoints, verify).
 * lib/audit.c holds everything that does not depend on where the log lives (the
 * chain hash, group commit, checkpoints, verification walking the entries);
 * lib/audit_sqlite.c and lib/audit_pg.c hold all of the SQL. docs/AUDIT.md.
 *
 * Every function returns 0 or a negative mcr error with the message set
 * ("audit log <label>: ..."). A writer is used by one thread at a time (the
 * group-commit leader); a reader by one thread.
 */
#ifndef MCR_AUDIT_BACKEND_H
#define MCR_AUDIT_BACKEND_H

#include <stddef.h>

#include "mcr/audit.h"
#include "mcr/buf.h"
#include "mcr/config.h"

/* Columns of an entry in the order the chain hashes them. */
enum {
	AUDIT_COL_SEQ, AUDIT_COL_AT, AUDIT_COL_USER, AUDIT_COL_ORG, AUDIT_COL_ROLE, AUDIT_COL_NHS,
	AUDIT_COL_SECTIONS, AUDIT_COL_BASIS, AUDIT_COL_REASON, AUDIT_COL_OUTCOME, AUDIT_COL_DETAIL,
	AUDIT_COL_GENERATION, AUDIT_COL_PREV_HASH, AUDIT_COL_HASH, AUDIT_NCOLS
};

#define AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* One stored entry as read back: its text view for scheme 1, its typed encoding
 * (scheme 2) of the columns after seq, and its links. */
typedef struct audit_row {
	mcr_audit_entry e;
	char *f[9];      /* user org role nhs sections basis reason outcome detail */
	mcr_buf rest;    /* scheme 2 encoding of the columns after seq */
	char prev_hash[65], hash[65];
	int bad_field;   /* scheme 1: a field holds the separator 0x1f */
	int bad_type;    /* prev_hash or hash not stored as text */
} audit_row;

/*
 * Append one value to b in the chain's scheme 2 encoding: its SQLite type tag
 * ('N' NULL, 'I' integer, 'R' real, 'T' text, 'B' blob) then, unless NULL, an
 * 8-byte big-endian length and the bytes (integers in decimal, reals as %.17g).
 * Lengths make any byte legal in a field; tags tell NULL from '' and TEXT from BLOB.
 */
int audit_put_value(mcr_buf *b, char tag, const void *p, size_t len);

/* Give column col of the row being read as stored: its type tag ('N' NULL, 'I'
 * integer in decimal, 'R' real as %.17g, 'T' text, 'B' blob) and bytes. Backends
 * call it for every column in order, after audit_row_clear. */
int audit_row_put(audit_row *r, int col, char tag, const void *p, size_t len);
void audit_row_clear(audit_row *r);

/* ---- appending ------------------------------------------------------------------ */

typedef struct audit_writer audit_writer;
typedef struct audit_writer_ops {
	/* Start the append transaction with the chain head locked against every
	 * other appender (threads, processes, nodes). */
	int (*begin)(audit_writer *w);
	/* Inside it: the head record (*have 0 when there is none), its entry count. */
	int (*head)(audit_writer *w, int *have, long *seq, char hash[65]);
	int (*count)(audit_writer *w, long *n);
	/* The scheme record: the first scheme-2 entry, LONG_MAX when none; set it. */
	int (*v2_from)(audit_writer *w, long *from);
	int (*set_v2_from)(audit_writer *w, long from);
	/* Store e (seq, at and hash filled) after prev. A backend may send it only
	 * at set_head: e must stay valid until then. */
	int (*insert)(audit_writer *w, const mcr_audit_entry *e, const char *prev);
	int (*set_head)(audit_writer *w, long seq, const char *hash);
	/* Commit durably (returns once the commit is on disk); rollback never fails. */
	int (*commit)(audit_writer *w);
	void (*rollback)(audit_writer *w);
	void (*close)(audit_writer *w);
} audit_writer_ops;

struct audit_writer {
	const audit_writer_ops *ops;
	char label[160]; /* for messages: the path, or the database's table */
};

/* ---- reading -------------------------------------------------------------------- */

typedef struct audit_reader audit_reader;
typedef struct audit_reader_ops {
	/* Everything is read in one read transaction begun at open: appends made
	 * meanwhile are not half seen. */
	int (*head)(audit_reader *r, int *have, long *seq, char hash[65]);
	int (*count)(audit_reader *r, long *n);
	int (*v2_from)(audit_reader *r, long *from);
	/* Walk the entries in seq order from the first with seq > after: each call
	 * 1 with *row filled, 0 at the end. */
	int (*scan_start)(audit_reader *r, long after);
	int (*scan_next)(audit_reader *r, audit_row *row);
	/* The entry after seq into *row: 1, 0 when none (usable during a walk). */
	int (*after)(audit_reader *r, long seq, audit_row *row);
	/* As mcr_audit_query_config. */
	int (*query)(audit_reader *r, const mcr_audit_query *q, mcr_audit_entry_fn fn, void *ctx);
	void (*close)(audit_reader *r);
} audit_reader_ops;

struct audit_reader {
	const audit_reader_ops *ops;
	char label[160];
};

/* SQLite (lib/audit_sqlite.c): the file at path. The writer creates a missing
 * log (race-free); the reader is MCR_ENOTFOUND when there is none. */
int audit_sqlite_writer_open(const char *path, audit_writer **out);
int audit_sqlite_reader_open(const char *path, audit_reader **out);
/* 0 when the file can be written (MCR_EIO naming it when not). */
int audit_sqlite_probe(const char *path);

/* PostgreSQL (lib/audit_pg.c): tables mcr.audit, mcr.audit_head, mcr.audit_meta
 * in the database of cfg (postgresql.conninfo); the writer makes the shared
 * schema when missing, the reader is MCR_ENOTFOUND without it. cfg must outlive
 * the writer (it connects again after losing the connection). The writer keeps
 * what insert was given until set_head: e must stay valid until then. */
int audit_pg_writer_open(const mcr_config *cfg, audit_writer **out);
int audit_pg_reader_open(const mcr_config *cfg, audit_reader **out);
/* 0 when the database answers and allows INSERT on mcr.audit. */
int audit_pg_probe(const mcr_config *cfg);

#endif
