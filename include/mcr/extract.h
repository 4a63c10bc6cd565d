/*
 * The extractors: partner exports -> one staged file (docs/EXTRACT.md).
 *
 *   mcr_extract_gp   FHIR R4 XML (files or a folder, .xml or .xml.gz, Bundles or
 *                    single resources, any order)
 *   mcr_extract_lcs  persons.csv and involvements.csv in the folder input
 *   mcr_extract_ooh  CDA R2 documents (NHS 111 reports), bare or in an ITK
 *                    DistributionEnvelope, one file or a folder
 *
 * Each writes <staging_dir>/<ODS>/<dataset>/<stamp>.xml.gz and then its manifest
 * with mcr_staged_writer_*, the extract time being mcr_time_now(). Every withhold
 * decision goes through mcr/consent.h. Temporary files (dot names in the
 * staging folder of the organisation) are removed on every exit path; on failure
 * no staged file is left and the message names the file and line (or record).
 *
 * org must be an organisation of cfg whose kind matches the function (else
 * MCR_ECONFIG). staging_dir NULL: cfg->staging_dir. *manifest_path (may be NULL)
 * receives the manifest's path; the caller frees it with free().
 */
#ifndef MCR_EXTRACT_H
#define MCR_EXTRACT_H

#include <stddef.h>

#include "mcr/config.h"

int mcr_extract_gp(const mcr_config *cfg, const mcr_org *org, const char *input,
                   const char *staging_dir, char **manifest_path);
int mcr_extract_lcs(const mcr_config *cfg, const mcr_org *org, const char *input,
                    const char *staging_dir, char **manifest_path);
int mcr_extract_ooh(const mcr_config *cfg, const mcr_org *org, const char *input,
                    const char *staging_dir, char **manifest_path);

/*
 * Bytes of spilled records (per-person grouping) the extractors sort in memory
 * at once; larger spills are first split into hash buckets of about this size.
 * Default 32 MiB; tests set it small to exercise the bucketed path. 0 restores
 * the default. Not thread-safe: set it before extracting.
 */
void mcr_extract_set_spill_limit(size_t bytes);

/*
 * What an extractor refused without failing the whole export, each named in one
 * line "file:line: what and why" passed to fn: an item with an invalid date, a
 * GP resource whose Patient is not in the export, an OOH document that is
 * malformed or has several recordTargets, ... Each is also counted in the
 * manifest under its reason. A run that reported any has "staged with refusals"
 * (the programs exit 3). fn NULL (the default): not reported. Per thread; set it
 * before extracting.
 */
typedef void (*mcr_extract_notice_fn)(void *ctx, const char *message);
void mcr_extract_set_notice(mcr_extract_notice_fn fn, void *ctx);

#endif
