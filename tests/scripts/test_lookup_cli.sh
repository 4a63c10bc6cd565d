#!/usr/bin/env bash
# mcr-lookup as a user runs it: exit status per rule, the reason on stderr without
# record data, the audit entry of each attempt, an audit failure shows nothing,
# concurrent lookups keep a gap-free verified chain.
# $1 = bin dir; MCR_SOURCE_DIR = source tree. Needs the sqlite3 shell.
set -u
BIN=$(cd "$1" && pwd)
SRC=${MCR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

mkdir -p "$work/store"
cp "$SRC/tests/data/lookup/mcr.yaml" "$work/mcr.yaml"
cat "$SRC/schema/store.sql" "$SRC/tests/data/lookup/store.sql" | sqlite3 "$work/store/gen-000001.sqlite" ||
  { echo "cannot build the fixture store"; exit 1; }
ln -s gen-000001.sqlite "$work/store/current"
export MCR_CONFIG="$work/mcr.yaml" MCR_NOW=2026-11-21T10:00:00Z
audit="$work/audit/audit.sqlite"

# look EXPECTED_EXIT ARGS...: runs mcr-lookup, checks the exit status.
look() {
  want=$1; shift
  "$BIN/mcr-lookup" "$@" >"$work/out" 2>"$work/err"
  got=$?
  [ "$got" = "$want" ] || bad "mcr-lookup $* exited $got, expected $want: $(head -c 300 "$work/err")"
}
# last FIELDS: the newest audit entry's fields, '|' separated.
last() { sqlite3 "$audit" "SELECT $1 FROM audit ORDER BY seq DESC LIMIT 1"; }
expect_last() {
  got=$(last "$1")
  [ "$got" = "$2" ] || bad "audit $1: got '$got', expected '$2'"
}
no_record_data() {
  for word in Penicillin Amoxicillin Latex Peanut Asthma "Care Package" "O'Brien" Hill; do
    grep -qF "$word" "$work/out" "$work/err" && bad "$1: record data '$word' shown"
  done
  [ -s "$work/out" ] && bad "$1: standard output not empty"
}

u=(--user asmith --org A81001 --role clinician)

look 0 "${u[@]}" --nhs 9990000018
grep -q "Penicillin allergy" "$work/out" || bad "allowed: record not shown"
grep -q "Hillside Practice data is stale" "$work/out" || bad "allowed: no stale banner"
grep -q "2 items not shared by policy" "$work/out" || bad "allowed: no withheld count"
expect_last "user, org, role, nhs, basis, outcome, generation" "asmith|A81001|clinician|9990000018|implied|shown|1"

look 3 "${u[@]}" --nhs 9990000026
no_record_data "no relationship"
grep -q "access denied: no legitimate relationship" "$work/err" || bad "no relationship: reason not on stderr"
expect_last "outcome, detail" "denied|no legitimate relationship: not on the list of A81001"

look 0 "${u[@]}" --nhs "999 000 0026" --break-glass "unconscious in ED"
grep -q "Latex allergy" "$work/out" || bad "break-glass: record not shown"
expect_last "basis, reason, outcome" "break-glass|unconscious in ED|shown"

# The replay hook never dates an audit entry: the time is the system clock's.
before=$(date -u +%s)
MCR_NOW=2001-01-01T00:00:00Z look 0 "${u[@]}" --nhs 9990000026 --break-glass curious
at=$(last at)
after=$(date -u +%s)
secs=$(date -u -d "$at" +%s 2>/dev/null || echo 0)
[ "$secs" -ge "$before" ] && [ "$secs" -le "$after" ] ||
  bad "MCR_NOW=2001 lookup: audit time '$at' is not the system clock's"

look 3 --user jbloggs --org A81001 --role clinician --nhs 9990000085 --break-glass "just checking"
no_record_data "self-access"
expect_last "user, basis, outcome" "jbloggs|break-glass|self-access"

look 3 "${u[@]}" --nhs 9990000018 --consent refused
no_record_data "consent refused"
expect_last "basis, outcome" "consent-refused|denied"

look 3 --user sw1 --org HCC01 --role social-worker --nhs 9990000018 --section medications
no_record_data "wrong role"
expect_last "sections, outcome, detail" "medications|denied|role social-worker may not see section medications"

look 0 --user sw1 --org HCC01 --role social-worker --nhs 9990000018 --section allergies,social-care
grep -q "Care Package" "$work/out" || bad "section filter: social care not shown"
grep -q "^Medications" "$work/out" && bad "section filter: medications shown"
expect_last "sections, outcome" "allergies,social-care|shown"

look 0 "${u[@]}" --nhs 9990000034
grep -q "withdrawn consent to share their health record" "$work/out" || bad "objection: no message"
grep -q "Depressive" "$work/out" && bad "objection: health data shown"

look 4 "${u[@]}" --nhs 9990000077
no_record_data "unknown person"
cp "$work/err" "$work/err-unknown"
expect_last "outcome" "no-record"
look 4 "${u[@]}" --nhs 9990000069
sed 's/999 000 0069/999 000 0077/' "$work/err" | cmp -s - "$work/err-unknown" ||
  bad "caseload-only social care person is told apart from an unknown person"

# Social care without consent: the same view as a person unknown to social care.
# The "Viewed by ... at" time is the audit entry's (system clock): not compared.
untime() { sed 's/^\(Viewed by: .*) at \).*$/\1T/' "$@"; }
look 0 "${u[@]}" --nhs 9990000042; sed 's/999 000 0042/999 000 0050/' "$work/out" | untime >"$work/a"
look 0 "${u[@]}" --nhs 9990000050
untime "$work/out" | cmp -s "$work/a" - || bad "social care without consent differs from unknown to social care"

# Usage errors: exit 2, nothing audited.
before=$(sqlite3 "$audit" "SELECT count(*) FROM audit")
look 2 "${u[@]}" --nhs 9990000019
look 2 "${u[@]}" --nhs 9990000018 --break-glass "   "
look 2 "${u[@]}" --nhs 9990000018 --break-glass x --consent given
look 2 "${u[@]}" --nhs 9990000018 --section nonsense
look 2 --user asmith --org A81001 --role porter --nhs 9990000018
after=$(sqlite3 "$audit" "SELECT count(*) FROM audit")
[ "$before" = "$after" ] || bad "usage errors were audited ($before -> $after)"

# Concurrent lookups: every attempt recorded once, the chain intact.
for k in 1 2 3 4 5 6 7 8; do
  ( for i in 1 2 3 4 5; do
      "$BIN/mcr-lookup" --user "user$k" --org A81001 --role clinician --nhs 9990000018 >/dev/null 2>&1 || exit 1
    done ) &
done
wait
n=$(sqlite3 "$audit" "SELECT count(*) || ' ' || max(seq) || ' ' || count(DISTINCT user) FROM audit WHERE user LIKE 'user%'")
total=$(sqlite3 "$audit" "SELECT count(*) || ' ' || max(seq) FROM audit")
[ "$n" = "40 $((after + 40)) 8" ] || bad "concurrent lookups: got '$n' (count max users)"
[ "$total" = "$((after + 40)) $((after + 40))" ] || bad "audit sequence has gaps: $total"
if [ -x "$BIN/mcr-report" ]; then
  "$BIN/mcr-report" verify-audit >"$work/verify" 2>&1 || bad "verify-audit failed: $(cat "$work/verify")"
fi

# An audit log that cannot be written: exit 1, nothing shown.
sed "s#audit: audit/audit.sqlite#audit: unwritable#" "$work/mcr.yaml" >"$work/bad.yaml"
mkdir -p "$work/unwritable"
MCR_CONFIG="$work/bad.yaml" look 1 "${u[@]}" --nhs 9990000018
no_record_data "audit failure (directory)"
# A damaged log (head record gone) refuses appends: the same.
cp "$audit" "$work/damaged.sqlite"
sqlite3 "$work/damaged.sqlite" "DELETE FROM audit_head"
sed "s#audit: audit/audit.sqlite#audit: damaged.sqlite#" "$work/mcr.yaml" >"$work/damaged.yaml"
MCR_CONFIG="$work/damaged.yaml" look 1 "${u[@]}" --nhs 9990000018
no_record_data "audit failure (damaged log)"
grep -q "head record missing" "$work/err" || bad "damaged log: reason not named"

# No published generation: the attempt fails (exit 1), it is not "no record".
rm "$work/store/current"
look 1 "${u[@]}" --nhs 9990000018
no_record_data "no store"
expect_last "outcome, generation IS NULL" "failed|1"

[ $fail -eq 0 ] && echo "lookup cli: all checks passed"
exit $fail
