#!/usr/bin/env bash
# The PostgreSQL store reader against the SQLite one (tests/unit/test_store_pg.c):
# a small region built by a normal night (mcr-synth, mcr-nightly: SQLite), its
# generation and load history copied into a PostgreSQL 15 started here
# (tests/scripts/pg_server.sh, tests/scripts/sqlite_to_pg.py), then test_store_pg
# with the server: identical views and reports, a generation published during a
# lookup, a dropped connection, an unreachable database. None may be skipped
# here. Then mcr-serve on that PostgreSQL (store and audit log there): a view; the
# database stopped: 503 with nothing of the person, /healthz 503; started again:
# the same session's view again (connections replaced). $1 = bin dir.
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

# ---- mcr-serve on PostgreSQL, the database stopped and started under it ----------------
openssl ecparam -name prime256v1 -genkey -noout -out "$work/key.pem" 2>/dev/null &&
  openssl ec -in "$work/key.pem" -pubout -out "$work/pub.pem" 2>/dev/null || fail "openssl"
cat >>"$region/mcr.yaml" <<YAML
web:
  listen: 127.0.0.1:0
  threads: 2
  state: $work/state
  launchers:
    - id: t
      public_key: $work/pub.pem
      organisations: [A81001]
YAML
pg_server_config "$region/mcr.yaml"
mkfifo "$work/serve.out"
"$BIN/mcr-serve" --config "$region/mcr.yaml" >"$work/serve.out" 2>"$work/serve.err" &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf "$work"; pg_server_stop' EXIT
exec 3<"$work/serve.out"
read -r line <&3
case "$line" in "listening on 127.0.0.1:"*) ;; *) fail "mcr-serve: $line $(cat "$work/serve.err")" ;; esac
base="http://127.0.0.1:${line##*:}"
nhs=$(sqlite3 "$region/store/current" "SELECT p.nhs FROM person p JOIN member m ON m.nhs = p.nhs AND m.org = 'A81001'
  WHERE p.org = 'A81001' AND p.nhs NOT IN (SELECT nhs FROM objection) ORDER BY p.nhs LIMIT 1")
family=$(sqlite3 "$region/store/current" "SELECT family FROM person WHERE nhs = '$nhs' AND org = 'A81001'")
tok=$("$BIN/mcr-launch" --key "$work/key.pem" --iss t --user dr.test --org A81001 --role clinician --nhs "$nhs")
cookie=$(curl -s -o /dev/null -D - "$base/launch?token=$tok" |
  sed -n 's/^[Ss]et-[Cc]ookie: mcr_session=\([^;]*\);.*/\1/p')
[ -n "$cookie" ] || fail "the launch gave no session"
view() { curl -s -o "$work/page" -w '%{http_code}' -H "Cookie: mcr_session=$cookie" "$base/record"; }
audited() { pg_server_psql -tAc "SELECT count(*) FROM mcr.audit"; }
[ "$(view)" = 200 ] && grep -q "$family" "$work/page" || fail "no view from PostgreSQL"
n=$(audited)
pg_server_down fast || fail "cannot stop PostgreSQL"
st=$(view)
[ "$st" = 503 ] || fail "database down: /record answered $st, want 503"
grep -q "$family" "$work/page" && fail "database down: the page shows the person"
grep -q "${nhs:0:3} ${nhs:3:3}" "$work/page" && fail "database down: the page shows the NHS number"
st=$(curl -s -o "$work/health" -w '%{http_code}' "$base/healthz")
[ "$st" = 503 ] && grep -qx "store_generation 0" "$work/health" ||
  fail "database down: /healthz answered $st: $(cat "$work/health")"
pg_server_up >/dev/null 2>&1 || fail "cannot start PostgreSQL again"
[ "$(view)" = 200 ] && grep -q "$family" "$work/page" || fail "no view after the database came back"
[ "$(audited)" -gt "$n" ] || fail "the view after the restart is not in the audit log"
# The store's part of /healthz (its audit part keeps its last probe for a second).
curl -s -o "$work/health" "$base/healthz"
grep -qx "store_generation 1" "$work/health" || fail "/healthz after the restart: $(cat "$work/health")"
echo "ok: test_store_pg"
