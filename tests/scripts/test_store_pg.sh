#!/usr/bin/env bash
# The PostgreSQL store reader against the SQLite one (tests/unit/test_store_pg.c):
# a small region built by a normal night (mcr-synth, mcr-nightly: SQLite), its
# generation and load history copied into a PostgreSQL 15 started here
# (tests/scripts/pg_server.sh, tests/scripts/sqlite_to_pg.py), then test_store_pg
# with the server: identical views and reports, a generation published during a
# lookup, a dropped connection, an unreachable database. None may be skipped
# here. $1 = bin dir.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "$1" && pwd)
TESTBIN=${MCR_TEST_BIN:-$(cd "$1/../tests" && pwd)}
SRC=${MCR_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
. "$here/pg_server.sh"
pg_server_start || exit $?
fail() { echo "FAIL: $*"; exit 1; }

region=$work/region
MCR_NOW=2026-11-21T06:00:00Z "$BIN/mcr-synth" --people 80 --seed 11 --out "$region" >/dev/null ||
  fail "mcr-synth"
st=0
MCR_NOW=2026-11-21T06:00:00Z "$BIN/mcr-nightly" --config "$region/mcr.yaml" >/dev/null 2>&1 || st=$?
[ $st -eq 0 ] || [ $st -eq 3 ] || fail "mcr-nightly exited $st"
python3 "$here/sqlite_to_pg.py" "$SRC/schema" "$region/store/current" "$region/store/history.sqlite" \
  >"$work/copy.sql" || fail "sqlite_to_pg.py"
pg_server_psql -q -v ON_ERROR_STOP=1 -f "$work/copy.sql" >"$work/psql.out" 2>&1 ||
  { cat "$work/psql.out"; fail "copying the generation into PostgreSQL"; }

# Freshness on a fixed clock: two lookups a moment apart must not straddle a minute.
MCR_NOW=2026-11-22T09:00:00Z MCR_TEST_REGION=$region/mcr.yaml MCR_TEST_PG_CONNINFO=$PG_CONNINFO \
  MCR_TEST_PG_PASSWORD_FILE=$PG_PASSWORD_FILE "$TESTBIN/test_store_pg" >"$work/out" 2>&1
st=$?
cat "$work/out"
[ $st -eq 0 ] || fail "test_store_pg exited $st"
grep -q SKIPPED "$work/out" && fail "tests skipped with a server running"
echo "ok: test_store_pg"
