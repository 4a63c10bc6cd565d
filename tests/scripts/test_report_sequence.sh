#!/usr/bin/env bash
# mcr-report after a scripted sequence through the real programs: mcr-synth writes a
# small region, the extractors stage it and mcr-load publishes generation 1 (night 1)
# and 2 (night 2), mcr-lookup makes attempts that are shown, denied, self-access,
# no-record and break-glass. Checks the exact rows of access --nhs and access --user,
# the break-glass grouping against the store, loads, coverage freshness at set times,
# and verify-audit through the program on tampered copies of the log (an edited field,
# a deleted entry, two entries swapped, truncation): exit 1 naming the first bad entry.
# Lookups run at replayed times (MCR_NOW) for their views; their audit entries carry
# the system clock's time, checked here to lie within the test's run.
# Usage: test_report_sequence.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
work=$(mktemp -d /tmp/mcr-report-seq.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
region=$work/region
cfg=$region/mcr.yaml
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
for p in mcr-synth mcr-extract-gp mcr-extract-lcs mcr-extract-ooh mcr-load mcr-lookup mcr-report; do
  [ -x "$BIN/$p" ] || { echo "FAIL: $BIN/$p is missing"; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 shell missing"; exit 1; }

"$BIN/mcr-synth" --people 60 --seed 7 --out "$region" --flat >"$work/summary" ||
  { echo "FAIL: mcr-synth"; exit 1; }
val() { awk -v k="$1" '$1 == k { print $2; exit }' "$work/summary"; }
orgs=$(awk '$1 ~ /^organisations\.[A-Z0-9]+\.kind$/ { split($1, a, "."); print a[2] ":" $2 }' "$work/summary")
[ "$(echo "$orgs" | wc -w)" -eq 5 ] || { echo "FAIL: the synth summary does not list 5 organisations"; exit 1; }

night() { # night EXTRACT_TIME LOAD_TIME: every extractor, then mcr-load
  local o ods kind
  for o in $orgs; do
    ods=${o%%:*}; kind=${o##*:}
    MCR_NOW=$1 "$BIN/mcr-extract-$kind" --config "$cfg" --org "$ods" \
      --input "$region/$(val "organisations.$ods.source")" >/dev/null 2>"$work/err" ||
      { fail "mcr-extract-$kind --org $ods at $1"; sed 's/^/  /' "$work/err"; }
  done
  MCR_NOW=$2 "$BIN/mcr-load" --config "$cfg" --quiet >/dev/null 2>"$work/err" ||
    { fail "mcr-load at $2"; sed 's/^/  /' "$work/err"; }
}
lookup() { # lookup EXPECTED_EXIT NOW ARGS...
  local want=$1 now=$2; shift 2
  MCR_NOW=$now "$BIN/mcr-lookup" --config "$cfg" "$@" >/dev/null 2>"$work/err"
  local got=$?
  [ "$got" = "$want" ] || { fail "mcr-lookup $* at $now: exit $got, expected $want"; sed 's/^/  /' "$work/err"; }
}
report() { # report EXPECTED_EXIT ARGS...: stdout in $work/out, stderr in $work/err
  local want=$1; shift
  "$BIN/mcr-report" --config "$cfg" "$@" >"$work/out" 2>"$work/err"
  local got=$?
  [ "$got" = "$want" ] || { fail "mcr-report $*: exit $got, expected $want"; sed 's/^/  /' "$work/err"; }
}
lf() { # CSV lines end CRLF (RFC 4180): compare them as lines. The last line, the
  # audit checkpoint every report ends with, is checked and moved to $work/footer.
  tr -d '\r' <"$work/out" >"$work/out.lf" && mv "$work/out.lf" "$work/out"
  tail -n 1 "$work/out" >"$work/footer"
  grep -Eq '^# Audit log at this report: audit checkpoint [0-9]+:[0-9a-f]{64}$' "$work/footer" ||
    fail "report without its audit checkpoint footer: $(cat "$work/footer")"
  sed -i '$d' "$work/out"
}
untime() { # the time column (2) of the CSV in $work/out: checked within the run, then "T"
  local end t secs; end=$(date -u +%s)
  for t in $(awk -F, 'NR > 1 { print $2 }' "$work/out"); do
    secs=$(date -u -d "$t" +%s) || { fail "audit time '$t' unreadable"; continue; }
    [ "$secs" -ge "$start" ] && [ "$secs" -le "$end" ] ||
      fail "audit time $t is not the system clock's (test ran $(date -u -d "@$start" +%FT%TZ) to now)"
  done
  sed -i '2,$ s/^\([0-9]*\),[^,]*,/\1,T,/' "$work/out"
}
expect_out() { # expect_out WHAT: $work/out must equal stdin exactly
  if ! diff -u /dev/stdin "$work/out" >"$work/diff"; then
    fail "$1: rows differ"; sed 's/^/  /' "$work/diff"
  fi
}
db() { sqlite3 -batch -noheader "$region/store/current" "$@"; }

# ---- night 1, lookups on generation 1 ----------------------------------------------------
night 2026-11-21T06:30:00Z 2026-11-21T07:00:00Z
# A person on Riverside Surgery's list only, with data from another organisation too.
P=$(db "SELECT m.nhs FROM member m WHERE m.org = 'A81001'
        AND NOT EXISTS (SELECT 1 FROM member x WHERE x.nhs = m.nhs AND x.org = 'A81002')
        AND EXISTS (SELECT 1 FROM item i WHERE i.nhs = m.nhs AND i.org <> 'A81001')
        ORDER BY m.nhs LIMIT 1")
[ -n "$P" ] || { echo "FAIL: no suitable person in the sample region"; exit 1; }
own=$(val staff.0.nhs)               # dr.patel's own NHS number (A81001 clinician)
[ "$(val staff.0.user)" = dr.patel ] && [ "$(val staff.1.user)" = nurse.okafor ] ||
  { echo "FAIL: the sample region's staff are not as this test expects"; exit 1; }
nobody=9990000018
[ -z "$(db "SELECT 1 FROM member WHERE nhs = '$nobody' UNION SELECT 1 FROM person WHERE nhs = '$nobody'")" ] ||
  { echo "FAIL: $nobody is in the sample region"; exit 1; }

start=$(date -u +%s)
lookup 0 2026-11-21T08:00:00Z --user dr.patel --org A81001 --role clinician --nhs "$P"
lookup 3 2026-11-21T08:05:00Z --user nurse.okafor --org A81002 --role clinician --nhs "$P"
lookup 0 2026-11-21T08:06:00Z --user nurse.okafor --org A81002 --role clinician --nhs "$P" \
  --break-glass "Patient collapsed in clinic, \"urgent\""
lookup 3 2026-11-21T08:10:00Z --user dr.patel --org A81001 --role clinician --nhs "$own"
lookup 4 2026-11-21T08:15:00Z --user dr.patel --org A81001 --role clinician --nhs "$nobody"
lookup 0 2026-11-21T08:20:00Z --user dr.patel --org A81001 --role clinician --nhs "$P" \
  --section allergies --section medications

# ---- night 2, lookups on generation 2 ------------------------------------------------------
night 2026-11-22T06:30:00Z 2026-11-22T07:00:00Z
lookup 0 2026-11-22T09:00:00Z --user sw.hughes --org LA919 --role social-worker --nhs "$P"
lookup 3 2026-11-22T09:30:00Z --user dr.patel --org A81001 --role clinician --nhs "$own" \
  --break-glass "Checking my own results"

ALL=demographics,allergies,medications,problems,immunisations,results,encounters,social-care,misc-reports

# ---- access --nhs: every attempt on P, nothing else -------------------------------------------
report 0 --format csv access --nhs "$P"
[ "$(head -n 1 "$work/out" | od -An -c | tr -d ' \n' | tail -c 4)" = '\r\n' ] ||
  fail "access CSV: lines do not end CRLF"
lf
untime
expect_out "access --nhs $P" <<EOF2
entry,time,user,org,role,nhs,sections,basis,reason,outcome,detail,generation
1,T,dr.patel,A81001,clinician,$P,"$ALL",implied,,shown,,1
2,T,nurse.okafor,A81002,clinician,$P,"$ALL",implied,,denied,no legitimate relationship: not on the list of A81002,1
3,T,nurse.okafor,A81002,clinician,$P,"$ALL",break-glass,"Patient collapsed in clinic, ""urgent""",shown,,1
6,T,dr.patel,A81001,clinician,$P,"allergies,medications",implied,,shown,,1
7,T,sw.hughes,LA919,social-worker,$P,"demographics,allergies,medications,social-care",implied,,shown,,2
EOF2
# The replayed days hold none of them: MCR_NOW never dates an audit entry.
report 0 --format csv access --nhs "$P" --from 2026-11-21 --to 2026-11-22
lf
expect_out "access --nhs $P over the replayed days" <<EOF2
entry,time,user,org,role,nhs,sections,basis,reason,outcome,detail,generation
EOF2
report 0 --format csv access --nhs "$P" --from "$(date -u -d "@$start" +%FT%TZ)" --to "$(date -u +%F)"
lf
[ "$(grep -c "^[0-9]*,20" "$work/out")" = 5 ] || fail "access --nhs $P from the test's start: expected 5 rows"

# ---- access --user: denied, self-access and no-record too -------------------------------------
report 0 access --user dr.patel sw.hughes --from 2026-11-21
grep -c "^ *[0-9]  20" "$work/out" | grep -qx 6 || fail "access --user dr.patel sw.hughes: expected 6 rows"
grep -qx '6 entries: shown 3, self-access 2, no-record 1.' "$work/out" ||
  fail "access --user: wrong tally: $(tail -n 1 "$work/out")"
report 0 --format csv access --user dr.patel --user sw.hughes
lf
untime
expect_out "access --user dr.patel sw.hughes" <<EOF2
entry,time,user,org,role,nhs,sections,basis,reason,outcome,detail,generation
1,T,dr.patel,A81001,clinician,$P,"$ALL",implied,,shown,,1
4,T,dr.patel,A81001,clinician,$own,"$ALL",implied,,self-access,looking up one's own record is not allowed,1
5,T,dr.patel,A81001,clinician,$nobody,"$ALL",implied,,no-record,no record of $nobody in the store,1
6,T,dr.patel,A81001,clinician,$P,"allergies,medications",implied,,shown,,1
7,T,sw.hughes,LA919,social-worker,$P,"demographics,allergies,medications,social-care",implied,,shown,,2
8,T,dr.patel,A81001,clinician,$own,"$ALL",break-glass,Checking my own results,self-access,looking up one's own record is not allowed,2
EOF2

# ---- break-glass: grouped by every organisation holding P's data in generation 1 --------------
holders=$(sqlite3 -batch -noheader "$region/store/gen-000001.sqlite" \
  "SELECT org FROM person WHERE nhs = '$P' UNION SELECT org FROM item WHERE nhs = '$P'
   UNION SELECT org FROM objection WHERE nhs = '$P'" | sort | tr '\n' ' ')
[ "$(echo "$holders" | wc -w)" -ge 2 ] || fail "break-glass: P's data should come from 2+ organisations ($holders)"
report 0 --format csv break-glass
lf
got=$(awk -F, '$1 == "break-glass" { print $2 }' "$work/out" | sort | tr '\n' ' ')
[ "$got" = "$holders" ] || fail "break-glass groups: got '$got', expected '$holders'"
[ "$(grep -c '^break-glass,.*,3,20[0-9T:-]*Z,nurse.okafor,A81002,' "$work/out")" = "$(echo "$holders" | wc -w)" ] ||
  fail "break-glass: entry 3 is not in every holder's group"
grep -q "^break-glass,A81001,Riverside Surgery,\"Dr Helen Marsh, caldicott.a81001@example.nhs.uk\",3," "$work/out" ||
  fail "break-glass: A81001's group lacks its Caldicott contact"
[ "$(grep -c '^self-access,' "$work/out")" = 2 ] || fail "break-glass: expected 2 self-access rows"
grep -q "^self-access,,,,8,20[0-9T:-]*Z,dr.patel,A81001,clinician,$own,\"$ALL\",break-glass,Checking my own results,self-access," "$work/out" ||
  fail "break-glass: the self-access attempt with break-glass is not listed"
report 0 break-glass --org A81002
grep -q '^0 break-glass entries; 0 self-access attempts.$' "$work/out" ||
  fail "break-glass --org A81002: P's data is not A81002's: $(tail -n 1 "$work/out")"

# ---- loads and coverage ---------------------------------------------------------------------------
report 0 --format csv loads
lf
cut -d, -f2- "$work/out" >"$work/out.cut" && mv "$work/out.cut" "$work/out"
items=$(db "SELECT count(*) FROM item")
expect_out "loads (run_id aside)" <<EOF2
started,finished,outcome,generation,files,rejected,people,items,message
2026-11-22T07:00:00Z,2026-11-22T07:00:00Z,ok,2,5,0,$(db "SELECT sum(people) FROM source"),$items,
2026-11-21T07:00:00Z,2026-11-21T07:00:00Z,ok,1,5,0,$(db "SELECT sum(people) FROM source"),$items,
EOF2
fresh() { # fresh NOW: "ODS:FRESHNESS ..." from the coverage CSV
  MCR_NOW=$1 "$BIN/mcr-report" --config "$cfg" --format csv coverage | tr -d '\r' |
    awk -F, 'NR > 1 && !/^#/ { printf "%s:%s ", $1, $6 }'
}
[ "$(fresh 2026-11-22T09:00:00Z)" = "A81001:OK A81002:OK A81003:OK LA919:OK NLO11:OK " ] ||
  fail "coverage the morning after night 2: $(fresh 2026-11-22T09:00:00Z)"
# 14 h 1 min after the extract the twice-daily OOH is late; the nightly ones are not yet.
[ "$(fresh 2026-11-22T20:31:00Z)" = "A81001:OK A81002:OK A81003:OK LA919:OK NLO11:STALE " ] ||
  fail "coverage that evening: $(fresh 2026-11-22T20:31:00Z)"
[ "$(fresh 2026-11-23T08:31:00Z)" = "A81001:STALE A81002:STALE A81003:STALE LA919:STALE NLO11:STALE " ] ||
  fail "coverage with no night 3: $(fresh 2026-11-23T08:31:00Z)"
# People and items per organisation as the synth summary counted them.
MCR_NOW=2026-11-22T09:00:00Z "$BIN/mcr-report" --config "$cfg" --format csv coverage | tr -d '\r' >"$work/cov.csv"
for o in $orgs; do
  ods=${o%%:*}
  got=$(awk -F, -v o="$ods" '$1 == o { print $11 " " $13 }' "$work/cov.csv")
  want="$(val "organisations.$ods.counts.people") $(val "organisations.$ods.counts.items")"
  [ "$got" = "$want" ] || fail "coverage $ods: people items '$got', synth counted '$want'"
done

# ---- verify-audit on the log and on tampered copies ---------------------------------------------
report 0 --format csv verify-audit
grep -q ",8,chain intact" "$work/out" || fail "verify-audit: expected 8 entries, chain intact: $(cat "$work/out")"
audit=$region/audit/audit.sqlite
tamper() { # tamper NAME SQL FIRST_BAD: a copy changed by SQL must fail naming entry FIRST_BAD
  local copy=$work/tampered-$1
  mkdir -p "$copy/audit"
  cp "$audit" "$copy/audit/audit.sqlite"
  [ -f "$audit-wal" ] && cp "$audit-wal" "$copy/audit/audit.sqlite-wal"
  sed "s#^  audit: .*#  audit: $copy/audit/audit.sqlite#" "$cfg" >"$copy/mcr.yaml"
  sqlite3 -batch "$copy/audit/audit.sqlite" \
    "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete; $2" ||
    { fail "tamper $1: sqlite3"; return; }
  "$BIN/mcr-report" --config "$copy/mcr.yaml" verify-audit >"$work/out" 2>"$work/err"
  local got=$?
  [ "$got" = 1 ] || fail "verify-audit on a copy with $1: exit $got, expected 1"
  grep -q "^mcr-report: audit entry $3: " "$work/err" ||
    fail "verify-audit on a copy with $1: stderr does not name entry $3: $(cat "$work/err")"
  [ -s "$work/out" ] && fail "verify-audit on a copy with $1: printed a report"
}
tamper "an edited field" "UPDATE audit SET outcome = 'shown' WHERE seq = 2" 2
tamper "a deleted entry" "DELETE FROM audit WHERE seq = 3" 3
tamper "two entries swapped" "UPDATE audit SET seq = -1 WHERE seq = 4;
  UPDATE audit SET seq = 4 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = -1" 4
tamper "truncation" "DELETE FROM audit WHERE seq >= 7" 7
report 0 verify-audit   # the original is untouched

# ---- checkpoints outside the audit database ----------------------------------------------------
# mcr-load recorded the head at night 2 (6 entries); a report's footer holds the head now (8).
report 0 --format csv verify-audit
lf
grep -q ",8,chain intact,8:[0-9a-f]*,1 matched: load history 1; log 0; given 0$" "$work/out" ||
  fail "verify-audit: the load history's checkpoint not checked: $(cat "$work/out")"
report 0 --format csv access --nhs "$P"
lf
cp "$work/footer" "$work/saved-report-footer"
head8=$(sed 's/.*audit checkpoint //' "$work/saved-report-footer")
report 0 verify-audit --checkpoint "$head8" --checkpoint-file "$work/saved-report-footer"
grep -q "3 matched: load history 1; log 0; given 2" "$work/out" || fail "verify-audit --checkpoint: $(cat "$work/out")"
report 2 verify-audit --checkpoint 8:abc
report 2 coverage --checkpoint "$head8"
report 1 verify-audit --checkpoint-file "$work/no-such-report"
# An insider deletes the newest entries and points the head at the new last one: the
# chain alone holds, the load history's checkpoint (entry 6) and the report's (8) do not.
cut_copy=$work/cut
mkdir -p "$cut_copy/audit"
cp "$audit" "$cut_copy/audit/audit.sqlite"
[ -f "$audit-wal" ] && cp "$audit-wal" "$cut_copy/audit/audit.sqlite-wal"
sed -e "s#^  audit: .*#  audit: $cut_copy/audit/audit.sqlite#" -e "s#^  store: .*#  store: $region/store#" \
  "$cfg" >"$cut_copy/mcr.yaml"
sqlite3 -batch "$cut_copy/audit/audit.sqlite" "DROP TRIGGER IF EXISTS audit_no_delete; DELETE FROM audit WHERE seq >= 5;
  UPDATE audit_head SET last_seq = 4, last_hash = (SELECT hash FROM audit WHERE seq = 4)" ||
  fail "cannot cut the copy"
"$BIN/mcr-report" --config "$cut_copy/mcr.yaml" verify-audit >"$work/out" 2>"$work/err"
[ $? = 1 ] && grep -q "^mcr-report: audit entry 5: missing (the log ends at entry 4, but checkpoint 6:.* from load history run" "$work/err" ||
  fail "verify-audit on a cut log: $(cat "$work/err")"
# The whole log deleted: the next lookup starts a fresh one, which the checkpoints expose.
rm -f "$cut_copy"/audit/audit.sqlite*
MCR_NOW=2026-11-22T10:00:00Z "$BIN/mcr-lookup" --config "$cut_copy/mcr.yaml" --user dr.patel --org A81001 \
  --role clinician --nhs "$P" >/dev/null 2>&1 || fail "lookup on a fresh log"
"$BIN/mcr-report" --config "$cut_copy/mcr.yaml" verify-audit >"$work/out" 2>"$work/err"
[ $? = 1 ] && grep -q "^mcr-report: audit entry 2: missing (the log ends at entry 1, but checkpoint 6:" "$work/err" ||
  fail "verify-audit on a fresh log: $(cat "$work/err")"
"$BIN/mcr-report" --config "$cut_copy/mcr.yaml" verify-audit --checkpoint-file "$work/saved-report-footer" \
  >"$work/out" 2>"$work/err"
grep -q "^mcr-report: audit entry 2: missing (the log ends at entry 1, but checkpoint 8:.* from $work/saved-report-footer:1" "$work/err" ||
  fail "verify-audit on a fresh log with a saved report: $(cat "$work/err")"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "test_report_sequence: all checks passed"
