#!/usr/bin/env bash
# lib/pg.c against a real PostgreSQL 15 started here (tests/scripts/pg_server.sh):
# the unit program test_pg with its server tests enabled (password from a file and
# from MCR_PG_PASSWORD, wrong-password messages without the secret, the shared
# schema twice, a generation's DDL, COPY round trip of awkward values, transactions,
# a lost connection). None may be skipped here. $1 = bin dir (unused).
set -u
here=$(cd "$(dirname "$0")" && pwd)
TESTBIN=${MCR_TEST_BIN:-$(cd "$1/../tests" && pwd)}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
. "$here/pg_server.sh"
pg_server_start || exit $?

MCR_TEST_PG_CONNINFO=$PG_CONNINFO MCR_TEST_PG_PASSWORD_FILE=$PG_PASSWORD_FILE \
  "$TESTBIN/test_pg" >"$work/out" 2>&1
st=$?
cat "$work/out"
[ $st -eq 0 ] || { echo "FAIL: test_pg exited $st"; exit 1; }
if grep -q SKIPPED "$work/out"; then echo "FAIL: server tests skipped with a server running"; exit 1; fi
# The password never reached the server's log either (it logs failed logins).
if grep -qF "$PG_PASSWORD" "$PG_LOG"; then echo "FAIL: the password is in the server log"; exit 1; fi
echo "ok: test_pg_lib"
