#!/usr/bin/env bash
# Parity of the two backends: one sample region, two copies, one with
# store.backend sqlite and one with store.backend postgresql (a throwaway
# PostgreSQL 15, tests/scripts/pg_server.sh). Both go through the same nights
# (mcr-nightly, then a load a day and a half later with nothing new: data carried
# over, every source stale) and the same lookups in the same order (allowed, denied,
# break-glass, self-access, no record, chosen sections; text and HTML), then the
# same reports (coverage, loads, access, break-glass in text, CSV and HTML;
# verify-audit). Every exit status and every output must be identical, once the
# audit log's wall-clock times, hashes and run ids' process ids are masked.
# The postgresql copy must keep nothing in the SQLite files of paths.
# $1 = bin dir. Needs sqlite3 (to pick people from the reference store).
set -u
BIN=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/mcr-pg-parity.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
. "$here/pg_server.sh"
pg_server_start || exit $?
fail=0
bad() { echo "FAIL: $*"; fail=1; }
day0=$(date -u +%Y-%m-%d) vday0=$(LC_ALL=C date -u +%d-%b-%Y)

"$BIN/mcr-synth" --people 80 --seed 11 --out "$work/sqlite" --flat >"$work/summary" ||
  { echo "FAIL: mcr-synth"; exit 1; }
night1=$(awk '$1 == "synth.extract_time" { print $2 }' "$work/summary")
night2=$(date -u -d "${night1%Z} UTC + 36 hours" +%Y-%m-%dT%H:%M:%SZ)
cp -a "$work/sqlite" "$work/postgresql"
printf 'store:\n  backend: sqlite\n' >>"$work/sqlite/mcr.yaml"
pg_server_config "$work/postgresql/mcr.yaml"

# The people, from the reference (SQLite) store after night 1: every organisation's
# own list, in a fixed order.
user_of() {
  case $1 in
    A81001) echo "dr.patel clinician" ;; A81002) echo "nurse.okafor clinician" ;;
    LA919) echo "sw.hughes social-worker" ;; NLO11) echo "dr.clarke clinician" ;;
    *) echo "gp.$1 clinician" ;;
  esac
}

# run BACKEND N CMD...: exit status and stdout into $work/out/BACKEND/N.
run() {
  local b=$1 n=$2; shift 2
  mkdir -p "$work/out/$b"
  MCR_CONFIG="$work/$b/mcr.yaml" "$@" >"$work/out/$b/$n" 2>"$work/out/$b/$n.err"
  echo "exit $?" >>"$work/out/$b/$n"
}

# lookups BACKEND NIGHT LIMIT: the lookups of one night (LIMIT people per list).
lookups() {
  local b=$1 t=$2 limit=$3 i=0 nhs org user role other
  while read -r nhs org; do
    read -r user role <<<"$(user_of "$org")"
    for f in text html; do
      run "$b" "$t-$i-$f" env MCR_NOW="$t" "$BIN/mcr-lookup" --user "$user" --org "$org" --role "$role" \
        --nhs "$nhs" --format "$f"
    done
    # Every third person: looked up from an organisation that may not have them
    # (denied unless on its list), then with break-glass, then two sections only.
    if [ $((i % 3)) -eq 0 ]; then
      other=A81002; [ "$org" = A81002 ] && other=A81003
      read -r user role <<<"$(user_of "$other")"
      run "$b" "$t-$i-other" env MCR_NOW="$t" "$BIN/mcr-lookup" --user "$user" --org "$other" \
        --role "$role" --nhs "$nhs"
      run "$b" "$t-$i-bg" env MCR_NOW="$t" "$BIN/mcr-lookup" --user "$user" --org "$other" \
        --role "$role" --nhs "$nhs" --break-glass "unconscious in A&E <parity>" --format html
      run "$b" "$t-$i-sect" env MCR_NOW="$t" "$BIN/mcr-lookup" --user "$user" --org "$org" \
        --role clinician --nhs "$nhs" --section allergies --section medications
    fi
    i=$((i + 1))
  done < <(awk -v n="$limit" '{ c[$2]++ } c[$2] <= n' "$work/people")
  # Self-access (break-glass does not override it) and a person nobody holds.
  run "$b" "$t-self" env MCR_NOW="$t" "$BIN/mcr-lookup" --user dr.patel --org A81001 --role clinician \
    --nhs "$(awk '$1 == "staff.0.nhs" { print $2 }' "$work/summary")" --break-glass "own record"
  run "$b" "$t-none" env MCR_NOW="$t" "$BIN/mcr-lookup" --user dr.patel --org A81001 --role clinician \
    --nhs 9990000018 --format html
}

reports() {
  local b=$1 f first
  first=$(awk 'NR == 1 { print $1 }' "$work/people")
  for f in text csv html; do
    run "$b" "report-coverage-$f" env MCR_NOW="$night2" "$BIN/mcr-report" --format "$f" coverage
    run "$b" "report-loads-$f" "$BIN/mcr-report" --format "$f" loads
    run "$b" "report-access-nhs-$f" "$BIN/mcr-report" --format "$f" access --nhs "$first"
    run "$b" "report-access-user-$f" "$BIN/mcr-report" --format "$f" access --user dr.patel nurse.okafor
    run "$b" "report-break-glass-$f" "$BIN/mcr-report" --format "$f" break-glass
  done
  run "$b" "report-break-glass-org" "$BIN/mcr-report" break-glass --org A81001
  run "$b" "report-verify-audit" "$BIN/mcr-report" verify-audit
}

for b in sqlite postgresql; do
  run "$b" night1 env MCR_NOW="$night1" "$BIN/mcr-nightly" --config "$work/$b/mcr.yaml"
done
sqlite3 "$work/sqlite/store/current" "SELECT nhs, org FROM member ORDER BY org, nhs" |
  tr '|' ' ' >"$work/people"
[ -s "$work/people" ] || { echo "FAIL: the reference store lists nobody"; exit 1; }
gen=$(pg_server_psql -tAc "SELECT generation FROM mcr.published" 2>/dev/null)
[ "$gen" = 1 ] || { echo "FAIL: store.backend postgresql published no generation 1 in PostgreSQL ($gen)"; exit 1; }
for b in sqlite postgresql; do
  lookups "$b" "$night1" 2
  run "$b" night2 env MCR_NOW="$night2" "$BIN/mcr-load" --config "$work/$b/mcr.yaml"
  lookups "$b" "$night2" 1000
  reports "$b"
done

n=$(pg_server_psql -tAc "SELECT count(*) FROM mcr.audit" 2>/dev/null)
[ "${n:-0}" -gt 0 ] || bad "store.backend postgresql wrote no audit entry to PostgreSQL"

# Nothing of the postgresql copy in SQLite files.
for f in store/current audit/audit.sqlite store/history.sqlite; do
  [ ! -e "$work/postgresql/$f" ] || bad "store.backend postgresql wrote $f"
done
ls "$work/postgresql/store"/gen-*.sqlite >/dev/null 2>&1 && bad "store.backend postgresql wrote store generations as SQLite files"

# Mask what differs between any two runs: the audit log's times and the views'
# "Viewed by ... at" (the system clock's, today), hashes (they cover those
# times), process ids in run ids, mcr-load's run time, the copy's folder, and
# the column padding a longer process id shifts in text tables; and how many
# checkpoints verify-audit matched: PostgreSQL's audit tables exist (empty) from
# the first load, so night 1 records and logs a checkpoint of 0 entries where
# SQLite has no audit file yet (the chain and its head are still compared); and
# where the audit log is (a file, or a table).
day1=$(date -u +%Y-%m-%d) vday1=$(LC_ALL=C date -u +%d-%b-%Y)
for b in sqlite postgresql; do
  mkdir -p "$work/masked/$b"
  for f in "$work/out/$b"/*; do
    sed -E -e "s/($day0|$day1)T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/<now>/g" -e 's/[0-9a-f]{64}/<hash>/g' \
      -e "s/at ($vday0|$vday1) [0-9]{2}:[0-9]{2}/at <now>/g" \
      -e 's/([0-9]{8}T[0-9]{6}Z)-[0-9]+-/\1-<pid>-/g' -e 's/, [0-9.]+ s$/, <seconds> s/' \
      -e "s|$work/$b/|<region>/|g" -e 's/  +/ /g' \
      -e 's/[0-9]+ matched: load history [0-9]+; log [0-9]+; given [0-9]+/<checkpoints matched>/' \
      -e 's#<region>/audit/audit\.sqlite|mcr\.audit \(PostgreSQL database [a-z_]+\)#<audit log>#g' \
      "$f" >"$work/masked/$b/${f##*/}"
  done
  # verify-audit names the log (a file, or mcr.audit in the database) and counts
  # the checkpoints it matched, which the backends record at different moments
  # (no SQLite log exists before the first lookup); the chain's length, result
  # and head must agree.
  sed -E -i 's/^.* ([0-9]+ chain intact [0-9]+:<hash>) .*$/\1/' "$work/masked/$b/report-verify-audit"
done
count=$(find "$work/masked/sqlite" -type f ! -name '*.err' | wc -l)
if ! diff -r "$work/masked/sqlite" "$work/masked/postgresql" >"$work/diff"; then
  bad "the backends differ ($(grep -c '^diff' "$work/diff") of $count outputs):"
  head -60 "$work/diff"
fi
# The comparison compared something: views with items, warnings, denials.
grep -lq "^exit 0" "$work/out/sqlite"/*-text >/dev/null || bad "no lookup was shown"
grep -q "^exit 3" "$work/out/sqlite"/*-other || bad "no lookup was denied"
grep -qi "stale" "$work/out/sqlite/$night2-0-text" || bad "night 2's view has no stale warning"
[ $fail -eq 0 ] && echo "ok: test_pg_parity ($count outputs identical on sqlite and postgresql)"
exit $fail
