#!/usr/bin/env bash
# Upgrading from the release at 546f27b (docs/OPERATIONS.md "Upgrading"): the new
# programs on what that release left (tests/data/upgrade-546f27b: its store
# generation, load history and audit log as SQL dumps; staged files of its
# extractors, schema_version 1, one of them already loaded). Reports, lookups and
# a load work on them; the load takes the version 1 files; the audit chain stays
# intact across the old and new hash schemes; a manifest of an unknown version is
# refused naming it.
# Usage: test_upgrade.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
SRC=${MCR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
DATA=$SRC/tests/data/upgrade-546f27b
work=$(mktemp -d /tmp/mcr-upgrade.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 shell missing"; exit 1; }

mkdir -p "$work/store" "$work/audit" "$work/log" "$work/run"
cp "$DATA/mcr.yaml" "$work/mcr.yaml"
cp -r "$DATA/staging" "$work/staging"
sqlite3 -batch "$work/store/gen-000001.sqlite" <"$DATA/gen-000001.sql" &&
  sqlite3 -batch "$work/store/history.sqlite" <"$DATA/history.sql" &&
  sqlite3 -batch "$work/audit/audit.sqlite" <"$DATA/audit.sql" &&
  ln -s gen-000001.sqlite "$work/store/current" || { echo "FAIL: fixture"; exit 1; }
cfg=$work/mcr.yaml
run() { # run EXPECTED_EXIT PROGRAM ARGS...: stdout in $work/out, stderr in $work/err
  local want=$1 prog=$2; shift 2
  "$BIN/$prog" --config "$cfg" "$@" >"$work/out" 2>"$work/err"
  local got=$?
  [ "$got" = "$want" ] || { fail "$prog $*: exit $got, expected $want"; sed 's/^/  /' "$work/err"; }
}
has() { grep -q -- "$1" "$work/out" || { fail "$2: no '$1' in:"; sed 's/^/  /' "$work/out"; }; }
# The old release's tables only: no source_held, no audit_checkpoint, no audit_meta.
[ -z "$(sqlite3 "$work/store/current" "SELECT name FROM sqlite_master WHERE name = 'source_held'")" ] ||
  fail "fixture generation has source_held"

# ---- before any new load: the old generation, history and audit log -----------------
export MCR_NOW=2026-11-21T10:00:00Z
run 0 mcr-report coverage
has "Store generation 1" "coverage on the old generation"
has "A81001  Riverside Surgery .* OK " "coverage on the old generation"
run 0 mcr-report loads
has "20261121T060000Z-25847-1" "loads on the old history"
run 0 mcr-report verify-audit
has "chain intact" "verify-audit on the old log"
run 0 mcr-lookup --user dr.patel --org A81001 --role clinician --nhs 9991264302
has "999 126 4302" "lookup on the old generation"
has "Riverside Surgery (A81001) as of 2026-11-21T06:00:00Z" "lookup on the old generation"

# ---- the load: version 1 files (four new, LA919's already loaded) --------------------
export MCR_NOW=2026-11-22T06:30:00Z
run 0 mcr-load
has "generation 2 published: 5 organisation(s) (4 loaded, 1 unchanged, 0 stale" "load of version 1 files"
run 0 mcr-report coverage
has "Store generation 2" "coverage after the load"
has "A81001  Riverside Surgery .* OK  *2026-11-22T06:00:00Z" "coverage after the load"
has "LA919 .* OK  *2026-11-21T06:00:00Z" "coverage after the load (LA919 unchanged)"
run 0 mcr-lookup --user dr.patel --org A81001 --role clinician --nhs 9991264302
has "Riverside Surgery (A81001) as of 2026-11-22T06:00:00Z" "lookup after the load"
run 0 mcr-report verify-audit
has "chain intact" "verify-audit after new entries"
has "1 matched: load history 1" "verify-audit: the new load's checkpoint"
[ "$(sqlite3 "$work/audit/audit.sqlite" "SELECT count(*) FROM audit")" = 5 ] ||
  fail "audit log: expected 3 old + 2 new entries"

# ---- a manifest of a version this build does not read: refused, named ----------------
export MCR_NOW=2026-11-22T07:30:00Z
sed 's/^schema_version: 1$/schema_version: 3/' "$work/staging/A81002/gp/20261122T060000Z.yaml" \
  >"$work/staging/A81002/gp/20261122T070000Z.yaml"
run 3 mcr-load
cat "$work/out" "$work/err" >"$work/both"
grep -q "1 file(s) rejected" "$work/both" || { fail "unknown version: not rejected"; sed 's/^/  /' "$work/both"; }
run 0 mcr-report loads
has "20261122T070000Z.yaml:2: unsupported schema_version 3 (this build reads 1 to 2)" \
  "loads report names the refused version"

[ "$fails" = 0 ] && echo "test_upgrade: ok"
exit $((fails > 0))
