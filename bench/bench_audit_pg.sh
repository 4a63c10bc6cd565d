#!/usr/bin/env bash
# bench_audit on PostgreSQL beside SQLite, in one run on the same disk:
#   bench/bench_audit_pg.sh BINDIR [ENTRIES]
# Starts a throwaway PostgreSQL 15 (tests/scripts/pg_server.sh, fsync on, as in
# production), then runs bin/bench_audit --entries ENTRIES (default 2000) on SQLite
# in the server's folder and on mcr.audit through a configuration with
# store.backend postgresql, and reports the WAL fsyncs PostgreSQL made (pg_stat_wal).
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:?usage: bench_audit_pg.sh BINDIR [ENTRIES]}" && pwd)
entries=${2:-2000}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export MCR_PG_FSYNC=on
. "$here/../tests/scripts/pg_server.sh"
pg_server_start || exit $?
cat >"$work/mcr.yaml" <<YAML
region: bench
paths:
  staging: staging
  store: store
  audit: audit.sqlite
organisations: []
policy:
  roles:
    clinician: [allergies]
YAML
pg_server_config "$work/mcr.yaml"
chmod 755 "$work"
echo "== SQLite (WAL, synchronous=FULL), folder $PG_DIR"
"$bin/bench_audit" --entries "$entries" --dir "$PG_DIR" || exit 1
echo "== PostgreSQL 15 (fsync on, synchronous_commit on, loopback TCP)"
pg_server_psql -tA -c 'SELECT pg_stat_reset_shared($$wal$$)' >/dev/null
"$bin/bench_audit" --entries "$entries" --dir "$PG_DIR" --config "$work/mcr.yaml" || exit 1
echo "PostgreSQL WAL over the three runs: $(pg_server_psql -tA -F' ' -c \
  'SELECT wal_sync || $$ WAL syncs, $$ || wal_write || $$ WAL writes, $$ || pg_size_pretty(wal_bytes) || $$ of WAL$$ FROM pg_stat_wal')"
