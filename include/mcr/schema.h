/* The files of schema/, embedded at build time by cmake/embed.cmake. Each is
 * NUL-terminated; _len excludes the NUL. Add a declaration here for a new file. */
#ifndef MCR_SCHEMA_H
#define MCR_SCHEMA_H

#include <stddef.h>

extern const char mcr_schema_store_sql[];
extern const size_t mcr_schema_store_sql_len;
extern const char mcr_schema_history_sql[];
extern const size_t mcr_schema_history_sql_len;
extern const char mcr_schema_audit_sql[];
extern const size_t mcr_schema_audit_sql_len;
/* schema/pg/: the PostgreSQL backend's DDL (lib/pg.c). */
extern const char mcr_schema_pg_citus_sql[]; /* the Citus plan; never run by the programs */
extern const size_t mcr_schema_pg_citus_sql_len;
extern const char mcr_schema_pg_shared_sql[];
extern const size_t mcr_schema_pg_shared_sql_len;
extern const char mcr_schema_pg_store_sql[];
extern const size_t mcr_schema_pg_store_sql_len;
extern const char mcr_schema_pg_store_index_sql[];
extern const size_t mcr_schema_pg_store_index_sql_len;
extern const char mcr_schema_staged_xsd[];
extern const size_t mcr_schema_staged_xsd_len;

#endif
