/*
 * Private to the PostgreSQL load backends (store_load_pg.c, history_load_pg.c):
 * the history is written on the store writer's connection, so that the run's end
 * and the flip of mcr.published commit in one transaction (the history matches
 * what is published however a run ends).
 */
#ifndef MCR_LOAD_PG_H
#define MCR_LOAD_PG_H

#include "load_internal.h"
#include "pg.h"

/* The store writer's connection (NULL before its open). */
PGconn *mcr_load_pg_conn(load_run *r);

#endif
