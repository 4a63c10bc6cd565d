/*
 * CSV input (RFC 4180) with libcsv: quoted fields holding commas, quotes and
 * newlines, a UTF-8 byte order mark, CRLF or LF. Input must be valid UTF-8.
 * Records are read one at a time by header name; memory does not grow with the
 * file.
 */
#ifndef MCR_CSV_H
#define MCR_CSV_H

#include <stddef.h>

typedef struct mcr_csv mcr_csv;

/*
 * Open path and read its header row. Every name in required (NULL-terminated)
 * must be present, else MCR_EFORMAT "<file>:1: missing column <name>". Free with
 * mcr_csv_close().
 */
int mcr_csv_open(mcr_csv **out, const char *path, const char *const *required);

/*
 * Read the next record. Returns 1 with a record, 0 at the end, negative on
 * error: MCR_EFORMAT for malformed quoting, invalid UTF-8, a record with the
 * wrong number of fields ("<file>:<line>: ..."), MCR_EIO.
 */
int mcr_csv_next(mcr_csv *c);

/* Field of the current record by column name; "" for an empty field, NULL for
 * an unknown column. Valid until the next mcr_csv_next(). */
const char *mcr_csv_get(const mcr_csv *c, const char *column);

/* Physical line on which the current record starts (1 = header). */
long mcr_csv_line(const mcr_csv *c);
const char *mcr_csv_path(const mcr_csv *c);

void mcr_csv_close(mcr_csv *c); /* accepts NULL */

#endif
