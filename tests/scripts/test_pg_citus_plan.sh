#!/usr/bin/env bash
# schema/pg/citus.sql against the schema it is written for, without Citus (not in
# Debian): on a throwaway PostgreSQL 15 (tests/scripts/pg_server.sh), stand-in
# create_distributed_table / create_reference_table functions record the plan
# while it runs inside a generation built from schema/pg/store.sql and
# store_index.sql. Checks: every table of the generation is placed exactly once;
# item, person, member, objection and person_withheld are distributed by nhs,
# co-located with person; each of them has a primary key, and nhs is in every
# primary and unique key (Citus refuses one without the distribution column).
# $1 = bin dir (unused).
set -u
here=$(cd "$(dirname "$0")" && pwd)
SRC=${MCR_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
. "$here/pg_server.sh"
pg_server_start || exit $?
fail=0
bad() { echo "FAIL: $*"; fail=1; }
q() { pg_server_psql -tA -c "$1"; }

pg_server_psql >/dev/null <<SQL || { echo "FAIL: the plan did not run"; exit 1; }
CREATE TABLE public.citus_plan (tbl regclass, kind text, col text, colocate text);
CREATE FUNCTION public.create_distributed_table(t regclass, col text, colocate_with text DEFAULT 'default')
  RETURNS void LANGUAGE sql AS \$\$ INSERT INTO public.citus_plan VALUES (t, 'distributed', col, colocate_with) \$\$;
CREATE FUNCTION public.create_reference_table(t regclass)
  RETURNS void LANGUAGE sql AS \$\$ INSERT INTO public.citus_plan VALUES (t, 'reference', NULL, NULL) \$\$;
CREATE SCHEMA mcr_gen_000001;
SET search_path TO mcr_gen_000001, public;
\i $SRC/schema/pg/store.sql
\i $SRC/schema/pg/citus.sql
\i $SRC/schema/pg/store_index.sql
SQL

gen="(SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'mcr_gen_000001' AND c.relkind = 'r')"
missing=$(q "SELECT string_agg(oid::regclass::text, ' ') FROM $gen g(oid)
             WHERE oid NOT IN (SELECT tbl FROM public.citus_plan)")
[ -z "$missing" ] || bad "tables the plan does not place: $missing"
twice=$(q "SELECT string_agg(tbl::text, ' ') FROM (SELECT tbl FROM public.citus_plan GROUP BY tbl
           HAVING count(*) > 1) d")
[ -z "$twice" ] || bad "tables placed twice: $twice"
dist=$(q "SELECT string_agg(replace(tbl::text, 'mcr_gen_000001.', '') || ':' || col || ':' || colocate, ' '
          ORDER BY tbl::text) FROM public.citus_plan WHERE kind = 'distributed'")
[ "$dist" = "item:nhs:person member:nhs:person objection:nhs:person person:nhs:default person_withheld:nhs:person" ] ||
  bad "distributed tables: $dist"
nokey=$(q "SELECT string_agg(tbl::text, ' ') FROM public.citus_plan p WHERE kind = 'distributed'
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = p.tbl AND k.contype = 'p')")
[ -z "$nokey" ] || bad "distributed tables without a primary key: $nokey"
without=$(q "SELECT string_agg(k.conname, ' ') FROM public.citus_plan p JOIN pg_constraint k
             ON k.conrelid = p.tbl AND k.contype IN ('p', 'u')
             JOIN pg_attribute a ON a.attrelid = p.tbl AND a.attname = p.col
             WHERE p.kind = 'distributed' AND NOT (a.attnum = ANY (k.conkey))")
[ -z "$without" ] || bad "keys without the distribution column: $without"
[ $fail -eq 0 ] && echo "ok: test_pg_citus_plan ($(q "SELECT count(*) FROM public.citus_plan") tables placed)"
exit $fail
