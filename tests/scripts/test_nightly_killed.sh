#!/usr/bin/env bash
# A night killed during the load and started again completes, and the store then
# holds exactly what a clean night gives: nothing lost, nothing doubled.
#   1. the loader dies by SIGKILL after inserting (MCR_LOAD_CRASH_AT=inserted, the
#      loader's crash hook): the night reports failed (exit 1), nothing published;
#   2. mcr-nightly itself is killed -9 in its load step (the loader, a wrapper
#      found through $MCR_BIN that gives its pid through a FIFO and stops itself,
#      is killed too);
# after each, a new run exits 0 and the store's row counts equal those of a clean
# night on the same sources; no staged file is left behind or lost.
# Usage: test_nightly_killed.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
work=$(mktemp -d /tmp/mcr-nightly-killed.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
. "$(dirname "$0")/sync.sh"
for p in mcr-synth mcr-extract-gp mcr-extract-lcs mcr-extract-ooh mcr-load mcr-report mcr-nightly; do
  [ -x "$BIN/$p" ] || { echo "FAIL: $BIN/$p is missing"; exit 1; }
done

region() { # region DIR: a fresh 200-person sample region
  "$BIN/mcr-synth" --people 200 --seed 5 --out "$1" --flat >"$1.summary" ||
    { echo "FAIL: mcr-synth"; exit 1; }
}
# Row counts of every content table of the published generation, one line.
counts() {
  sqlite3 -batch -noheader "$1/store/current" "SELECT
    (SELECT count(*) FROM item) || ' items, ' || (SELECT count(*) FROM person) || ' persons, ' ||
    (SELECT count(*) FROM member) || ' members, ' || (SELECT count(*) FROM objection) || ' objections, ' ||
    (SELECT count(*) FROM (SELECT DISTINCT nhs, org, section, date, code, display FROM item)) || ' distinct items, ' ||
    (SELECT group_concat(org || ':' || status || ':' || people || ':' || items, ' ') FROM (SELECT * FROM source ORDER BY org)) ||
    ' withheld ' || (SELECT group_concat(org || ':' || reason || ':' || count, ' ') FROM (SELECT * FROM withheld ORDER BY org, reason))"
}
night() { # night DIR EXPECTED_EXIT NOW [env...]
  local dir=$1 want=$2 now=$3; shift 3
  env MCR_NOW="$now" "$@" "$BIN/mcr-nightly" --config "$dir/mcr.yaml" --no-report \
    >"$work/out" 2>"$work/err"
  local got=$?
  if [ "$got" != "$want" ]; then
    fail "mcr-nightly on $(basename "$dir") at $now: exit $got, expected $want"
    cat "$work/out" "$work/err" | sed 's/^/  /'
    grep -E 'stderr:|end:' "$dir/log/mcr.log" | tail -n 15 | sed 's/^/  log: /'
  fi
}

now=2026-11-21T06:00:00Z
later=2026-11-21T06:10:00Z
region "$work/clean"
night "$work/clean" 0 "$now"
want=$(counts "$work/clean")

# 1. The loader killed by SIGKILL after its inserts.
region "$work/crash"
night "$work/crash" 1 "$now" MCR_LOAD_CRASH_AT=inserted
grep -q 'step=load end: killed by signal 9' "$work/crash/log/mcr.log" || fail "crash: the killed load is not logged"
[ -e "$work/crash/store/current" ] && fail "crash: a generation was published by the killed load"
[ "$(ls "$work/crash"/staging/*/*/*.yaml 2>/dev/null | wc -l)" -eq 5 ] || fail "crash: staged files not kept for the next run"
night "$work/crash" 0 "$later"
got=$(counts "$work/crash")
[ "$got" = "$want" ] || fail "crash: store after the rerun differs from a clean night:
  clean: $want
  rerun: $got"
[ -z "$(ls "$work/crash"/staging/*/*/ 2>/dev/null | grep -E '\.(yaml|xml\.gz)$')" ] || fail "crash: staged files left behind"
[ "$(ls "$work/crash"/archive/*/*/*.yaml | wc -l)" -eq 10 ] || fail "crash: both runs' 5 manifests not archived"

# 2. mcr-nightly killed -9 during its mcr-load.
region "$work/kill"
gate_make load
mkdir "$work/bin"
for p in "$BIN"/mcr-*; do ln -s "$p" "$work/bin/"; done
rm "$work/bin/mcr-load"
printf '#!/bin/sh\necho $$ >"%s/load/started"\nkill -STOP $$\nexec "%s/mcr-load" "$@"\n' "$work" "$BIN" >"$work/bin/mcr-load"
chmod +x "$work/bin/mcr-load"
MCR_NOW=$now MCR_BIN=$work/bin "$BIN/mcr-nightly" --config "$work/kill/mcr.yaml" --no-report >/dev/null 2>&1 &
runner=$!
gate_wait_started load   # the load step's pid (stopping itself)
loader=$gate_pid
if ! kill -0 "$loader" 2>/dev/null; then
  fail "kill: the load step is gone"
else
  kill -9 "$runner"
  kill -9 "$loader"
  wait "$runner" 2>/dev/null
  # The loader is gone when its lock is free (it may stay a zombie of init).
  timeout 300 flock "$work/kill/run/mcr.lock" true || fail "kill: the killed loader's lock stays held"
  grep -Eq 'run=[^ ]+ end: ' "$work/kill/log/mcr.log" && fail "kill: the killed run logged an end"
  grep -q 'step=load start' "$work/kill/log/mcr.log" || fail "kill: the killed run never started its load"
  night "$work/kill" 0 "$later"
  got=$(counts "$work/kill")
  [ "$got" = "$want" ] || fail "kill: store after the rerun differs from a clean night:
  clean: $want
  rerun: $got"
  [ -z "$(ls "$work/kill"/staging/*/*/ 2>/dev/null | grep -E '\.(yaml|xml\.gz)$')" ] || fail "kill: staged files left behind"
fi

[ "$fails" -eq 0 ] || { echo "$fails failure(s); work folder $work"; exit 1; }
echo "ok: test_nightly_killed"
