/*
 * Reports for information governance (DESIGN.md, "Reports: mcr-report";
 * docs/REPORTS.md describes every report, its columns and the freshness rules).
 *
 * Each report reads what it needs read-only (the current store generation, the
 * load history <store>/history.sqlite, the audit log), builds a document of
 * tables (mcr_report_doc) and renders it as aligned text, CSV (RFC 4180, one
 * header row) or a self-contained HTML page (inline CSS and SVG, no scripts,
 * nothing fetched) into a caller's buffer.
 *
 * Thread safety: no static state; every report opens and closes its own
 * read-only connections, so reports may run at once from several threads over a
 * shared config, each into its own buffer and document.
 */
#ifndef MCR_REPORT_H
#define MCR_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mcr/audit.h"
#include "mcr/buf.h"
#include "mcr/config.h"
#include "mcr/freshness.h"

typedef enum mcr_report_format {
	MCR_REPORT_TEXT,
	MCR_REPORT_CSV,
	MCR_REPORT_HTML,
	MCR_REPORT_HTML_BODY /* the page's content only (heading, notes, tables, chart), for a
	                      * caller's page shell: mcr-serve's IG pages; not a --format name */
} mcr_report_format;

/* Parse "text", "csv" or "html"; 0 or MCR_EUSAGE (message set). */
int mcr_report_format_parse(const char *name, mcr_report_format *out);

/* ---- documents: tables rendered in one of the formats --------------------- */

typedef struct mcr_report_doc mcr_report_doc;

/* Table flags: where a table appears. Text and HTML show every table without
 * MCR_REPORT_CSV_ONLY; CSV shows only tables with MCR_REPORT_IN_CSV, and only the
 * first such table's header row (later ones add rows: they must have the same
 * columns). */
#define MCR_REPORT_IN_CSV 1u
#define MCR_REPORT_CSV_ONLY 2u

/* A new empty document with this title (copied). Free with mcr_report_doc_free(). */
int mcr_report_doc_new(mcr_report_doc **out, const char *title);
void mcr_report_doc_free(mcr_report_doc *d); /* accepts NULL */

/* A line of prose (text and HTML only), e.g. the period a report covers. */
int mcr_report_doc_note(mcr_report_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Start a table: heading (NULL for none), ncols column names (at most 64,
 * copied), numeric: bit i set when column i holds numbers (right-aligned in text),
 * status: bit i set when column i holds a freshness or outcome word (coloured in
 * HTML). Rows added with mcr_report_doc_row() go to the latest table.
 */
int mcr_report_doc_table(mcr_report_doc *d, const char *heading, size_t ncols,
                         const char *const *columns, uint64_t numeric, uint64_t status,
                         unsigned flags);

/* Add a row of ncols cells (copied; a NULL cell is empty) to the latest table. */
int mcr_report_doc_row(mcr_report_doc *d, const char *const *cells);

/*
 * A horizontal stacked bar chart (HTML only, inline SVG): one bar per label,
 * one segment per series; values[label * nseries + series]. Copied.
 */
int mcr_report_doc_chart(mcr_report_doc *d, const char *heading, size_t nlabels,
                         const char *const *labels, size_t nseries,
                         const char *const *series, const long *values);

/* The document's last line (copied), in every format: text after a blank line,
 * CSV as a comment line "# text" after the rows, HTML as a closing note. The
 * reports put the audit checkpoint there. */
int mcr_report_doc_footer(mcr_report_doc *d, const char *text);

/* Append the document rendered in format f to out. 0 or MCR_ENOMEM. */
int mcr_report_doc_render(const mcr_report_doc *d, mcr_report_format f, mcr_buf *out);

/* Freshness (OK, STALE, FAILED, NEVER, HELD) is judged in mcr/freshness.h, the
 * one judgement coverage, the nightly check and the lookup views share. */

/* ---- the reports -------------------------------------------------------------
 * Each appends the report in format f to out. Errors: MCR_EUSAGE for bad
 * arguments (bad date, unknown organisation), MCR_ENOTFOUND when the audit log
 * is missing, MCR_EIO / MCR_EFORMAT for unreadable databases; message set.
 */

/* Coverage of every configured organisation (and any the store holds that the
 * config no longer lists) in the current generation, judged at time now. A
 * region with no published generation reports every organisation NEVER. */
int mcr_report_coverage(const mcr_config *cfg, time_t now, mcr_report_format f, mcr_buf *out);

/* Bounds of --from / --to: "YYYY-MM-DD" (a whole UTC day, inclusive) or a full
 * ISO 8601 time (to the second, inclusive); either may be NULL (open). */
typedef struct mcr_report_period {
	const char *from;
	const char *to;
} mcr_report_period;

/* Audit entries for one person (nhs, any accepted form) or for users (nusers
 * IDs); exactly one of the two. Ordered by time, then entry number. */
int mcr_report_access(const mcr_config *cfg, const char *nhs, const char *const *users,
                      size_t nusers, const mcr_report_period *period,
                      mcr_report_format f, mcr_buf *out);

/* Break-glass entries grouped by each organisation holding data for the person
 * in the generation the entry read, headed by its Caldicott contact; then
 * self-access attempts. org: only that organisation's group and the self-access
 * attempts made from it (NULL: all). */
int mcr_report_break_glass(const mcr_config *cfg, const char *org,
                           const mcr_report_period *period, mcr_report_format f,
                           mcr_buf *out);

/* The load history, newest run first; limit > 0 keeps that many runs. */
int mcr_report_loads(const mcr_config *cfg, long limit, mcr_report_format f, mcr_buf *out);

/*
 * Verify the audit log's hash chain (mcr_audit_verify) against every checkpoint
 * it can find: the load history's (table audit_checkpoint), the lines "audit
 * checkpoint N:HASH" in the log (paths.log), and given (may be NULL: the caller's
 * --checkpoint and --checkpoint-file ones). On success appends a one-row report
 * (entries, "chain intact", head, checkpoints matched) and returns 0; a bad entry
 * or a checkpoint the log fails is MCR_EFORMAT with the message "audit entry N:
 * ..." and nothing appended. mcr_report_verify_audit is the same with none given.
 */
int mcr_report_verify_audit(const mcr_config *cfg, mcr_report_format f, mcr_buf *out);
int mcr_report_verify_audit_with(const mcr_config *cfg, const mcr_audit_checkpoints *given,
                                 mcr_report_format f, mcr_buf *out);

/*
 * Copy the SQLite audit log at source into the PostgreSQL log of cfg and verify
 * it end to end (mcr_audit_migrate). On success appends a one-row report (source,
 * target, entries of each, copied by this run, "chain intact", head) and returns
 * 0; a refusal is MCR_EFORMAT with the reason and nothing appended.
 */
int mcr_report_migrate_audit(const mcr_config *cfg, const char *source, mcr_report_format f,
                             mcr_buf *out);

#endif
