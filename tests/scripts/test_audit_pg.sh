#!/usr/bin/env bash
# The audit log and the launch-token store on a real PostgreSQL 15 started here
# (tests/scripts/pg_server.sh): the unit program test_audit_pg with its server tests
# enabled (appends, tamper cases, several processes appending, group commit,
# migration, jti replay across connections; none may be skipped here), then
# mcr-report's verify-audit and migrate-audit on a PostgreSQL configuration.
# $1 = bin dir.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
TESTBIN=${MCR_TEST_BIN:-$(cd "$1/../tests" && pwd)}
src=${MCR_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
. "$here/pg_server.sh"
pg_server_start || exit $?
fail() { echo "FAIL: $*"; exit 1; }

MCR_TEST_DATA="$src/tests/data" MCR_TEST_PG_CONNINFO=$PG_CONNINFO MCR_TEST_PG_PASSWORD_FILE=$PG_PASSWORD_FILE \
  "$TESTBIN/test_audit_pg" >"$work/out" 2>&1
st=$?
cat "$work/out"
[ $st -eq 0 ] || fail "test_audit_pg exited $st"
grep -q SKIPPED "$work/out" && fail "server tests skipped with a server running"

# The programs: a fresh database, an SQLite log (scheme 1 and 2 entries) migrated.
pg_server_psql -q -c 'SET client_min_messages = warning' -c 'DROP SCHEMA IF EXISTS mcr CASCADE' >/dev/null || fail "cannot reset the database"
config() { # $1 file, $2 backend
  cat >"$1" <<YAML
region: Audit on PostgreSQL
paths:
  staging: staging
  store: store
  audit: audit.sqlite
  log: mcr.log
organisations: []
policy:
  roles:
    clinician: [allergies]
store:
  backend: $2
postgresql:
  conninfo: $PG_CONNINFO
  password_file: $PG_PASSWORD_FILE
YAML
}
config "$work/pg.yaml" postgresql
config "$work/sqlite.yaml" sqlite
sqlite3 "$work/audit.sqlite" <"$src/tests/data/audit/v1-log.sql" || fail "cannot build the SQLite log"

"$bin/mcr-report" --config "$work/pg.yaml" verify-audit >"$work/out" 2>"$work/err"
[ $? -eq 1 ] || fail "verify-audit before any log: want exit 1"
grep -q 'no audit log at mcr.audit (PostgreSQL database mcr)' "$work/err" || { cat "$work/err"; fail "no-log message"; }

"$bin/mcr-report" --config "$work/sqlite.yaml" migrate-audit --source "$work/audit.sqlite" >"$work/out" 2>"$work/err"
[ $? -eq 2 ] || fail "migrate-audit with store.backend sqlite: want exit 2"
grep -q 'store.backend is sqlite' "$work/err" || { cat "$work/err"; fail "sqlite refusal message"; }
"$bin/mcr-report" --config "$work/pg.yaml" migrate-audit >"$work/out" 2>"$work/err"
[ $? -eq 2 ] || fail "migrate-audit without --source: want exit 2"

"$bin/mcr-report" --config "$work/pg.yaml" --format csv migrate-audit --source "$work/audit.sqlite" \
  >"$work/out" 2>"$work/err" || { cat "$work/err"; fail "migrate-audit"; }
head5=$(sqlite3 "$work/audit.sqlite" 'SELECT hash FROM audit WHERE seq = 5')
grep -qF "$work/audit.sqlite,mcr.audit (PostgreSQL database mcr),5,5,5,chain intact,5:$head5" "$work/out" \
  || { cat "$work/out"; fail "migrate-audit row"; }
"$bin/mcr-report" --config "$work/pg.yaml" --format csv migrate-audit --source "$work/audit.sqlite" \
  >"$work/out" 2>"$work/err" || { cat "$work/err"; fail "migrate-audit again"; }
grep -q ",5,0,5,chain intact," "$work/out" || { cat "$work/out"; fail "a re-run copies nothing"; }

# verify-audit: the same form on both backends, the same entries and head.
"$bin/mcr-report" --config "$work/sqlite.yaml" --format csv verify-audit >"$work/sqlite.csv" 2>"$work/err" \
  || { cat "$work/err"; fail "verify-audit on SQLite"; }
"$bin/mcr-report" --config "$work/pg.yaml" --format csv verify-audit >"$work/pg.csv" 2>"$work/err" \
  || { cat "$work/err"; fail "verify-audit on PostgreSQL"; }
sed -e "s|^$work/audit.sqlite,|LOG,|" "$work/sqlite.csv" >"$work/a"
sed -e "s|^mcr.audit (PostgreSQL database mcr),|LOG,|" "$work/pg.csv" >"$work/b"
diff "$work/a" "$work/b" || fail "verify-audit differs between the backends"
grep -q "^LOG,5,chain intact,5:$head5," "$work/b" || { cat "$work/pg.csv"; fail "verify-audit row"; }

# The access report reads the same entries from either backend.
for sel in "--nhs 9990000018" "--user user3 user4"; do
  # shellcheck disable=SC2086
  "$bin/mcr-report" --config "$work/sqlite.yaml" --format csv access $sel >"$work/a" 2>"$work/err" \
    || { cat "$work/err"; fail "access $sel on SQLite"; }
  # shellcheck disable=SC2086
  "$bin/mcr-report" --config "$work/pg.yaml" --format csv access $sel >"$work/b" 2>"$work/err" \
    || { cat "$work/err"; fail "access $sel on PostgreSQL"; }
  diff "$work/a" "$work/b" || fail "access $sel differs between the backends"
done
grep -q '^3,2026-11-21T00:00:00Z,user3,A81001,clinician,9990000018,' "$work/b" || { cat "$work/b"; fail "access rows"; }

# A tampered copy of the source is refused with nothing copied.
pg_server_psql -q -c 'SET client_min_messages = warning' -c 'DROP SCHEMA IF EXISTS mcr CASCADE' >/dev/null || fail "cannot reset the database"
cp "$work/audit.sqlite" "$work/tampered.sqlite"
sqlite3 "$work/tampered.sqlite" "DROP TRIGGER audit_no_update; UPDATE audit SET nhs = '9990000026' WHERE seq = 3" || fail "cannot tamper"
"$bin/mcr-report" --config "$work/pg.yaml" migrate-audit --source "$work/tampered.sqlite" >"$work/out" 2>"$work/err"
[ $? -eq 1 ] || fail "migrating a tampered log: want exit 1"
grep -q 'audit entry 3: hash mismatch (edited); nothing copied' "$work/err" || { cat "$work/err"; fail "tampered message"; }
[ ! -s "$work/out" ] || fail "a refused migration printed a report"
[ "$(pg_server_psql -tA -c "SELECT to_regclass('mcr.audit') IS NULL")" = t ] || fail "a refused migration touched the database"
echo "ok: test_audit_pg"
