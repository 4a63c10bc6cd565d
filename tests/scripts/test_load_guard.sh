#!/usr/bin/env bash
# No silent loss of a practice, end to end with the real programs on a 200-person
# sample region (docs/LOAD.md "Night-on-night guard", docs/LOOKUP.md warnings):
#   night 1: all good;
#   night 2: Riverside's export is an OperationOutcome (a failed export): the night
#            is degraded (exit 3) and the practice keeps its night-1 data, flagged
#            (HELD if the extractor staged an empty file, FAILED if it refused it)
#            in the coverage report and in a lookup's warnings;
#   night 3: Riverside's export has one patient and nothing else: held (exit 3),
#            the data kept, HELD with both sets of figures and the command in the
#            coverage report (text and CSV), the hold in the loads report, the held
#            source named at the top of a lookup (text and HTML);
#   then mcr-load --accept A81001 loads it, recorded as accepted in the history;
#   and three days on, with nothing newer, every view names the sources whose
#   data is older than their schedule allows (fixed clock, $MCR_NOW).
# Usage: test_load_guard.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
work=$(mktemp -d /tmp/mcr-load-guard.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
region=$work/region
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 shell missing"; exit 1; }
for p in mcr-synth mcr-extract-gp mcr-load mcr-lookup mcr-report mcr-nightly; do
  [ -x "$BIN/$p" ] || { echo "FAIL: $BIN/$p is missing"; exit 1; }
done

synth() { # synth NIGHT: the region's sources as of night NIGHT; $now its extract time
  "$BIN/mcr-synth" --people 200 --seed 11 --out "$region" --night "$1" --flat >"$work/summary" ||
    { echo "FAIL: mcr-synth --night $1"; exit 1; }
  now=$(awk '$1 == "synth.extract_time" { print $2; exit }' "$work/summary")
}
db() { sqlite3 -batch -noheader "$region/store/current" "$@"; }
night() { # night EXPECTED_EXIT: one mcr-nightly run at $now
  MCR_NOW=$now "$BIN/mcr-nightly" --config "$region/mcr.yaml" >"$work/night.out" 2>"$work/night.err"
  local got=$?
  [ "$got" = "$1" ] || { fail "mcr-nightly at $now: exit $got, expected $1"; tail -n 20 "$work/night.err"; }
}
report() { # report NOW ARGS...: stdout in $work/report
  MCR_NOW=$1 "$BIN/mcr-report" --config "$region/mcr.yaml" "${@:2}" >"$work/report" 2>"$work/report.err" ||
    fail "mcr-report ${*:2} exited $?: $(cat "$work/report.err")"
}
lookup() { # lookup NOW NHS [args...]: a clinician at Riverside; output in $work/lookup.out
  MCR_NOW=$1 "$BIN/mcr-lookup" --config "$region/mcr.yaml" --user dr.guard --org A81001 \
    --role clinician --nhs "$2" "${@:3}" >"$work/lookup.out" 2>"$work/lookup.err"
  looked=$?
}
# The practice's export, as the nightly job finds it (config organisations[].source).
export_dir=$region/sources/gp/A81001
replace_export() { # replace_export FILE_NAME: the export becomes stdin, one file
  rm -rf "$export_dir" && mkdir -p "$export_dir" && cat >"$export_dir/$1"
}

# ---- Night 1: all good ---------------------------------------------------------------
synth 1
now1=$now
night 0
items1=$(db "SELECT items FROM source WHERE org = 'A81001'")
people1=$(db "SELECT people FROM source WHERE org = 'A81001'")
[ "${items1:-0}" -gt 0 ] || fail "night 1: Riverside has no items"
# A registered patient of Riverside with an allergy and no objection, to look up.
nhs=$(db "SELECT i.nhs FROM item i JOIN member m ON m.nhs = i.nhs AND m.org = 'A81001'
          WHERE i.org = 'A81001' AND i.section = 'allergies'
          AND i.nhs NOT IN (SELECT nhs FROM objection) ORDER BY i.nhs LIMIT 1")
allergy=$(db "SELECT display FROM item WHERE org = 'A81001' AND nhs = '$nhs' AND section = 'allergies' LIMIT 1")
[ -n "$nhs" ] && [ -n "$allergy" ] || fail "night 1: no Riverside patient with an allergy"

# ---- Night 2: the export is an OperationOutcome --------------------------------------
synth 2
replace_export outcome.xml <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<OperationOutcome xmlns="http://hl7.org/fhir">
  <issue><severity value="error"/><code value="exception"/>
    <diagnostics value="Bulk export failed: upstream timeout"/></issue>
</OperationOutcome>
EOF
night 3
state=$(db "SELECT status FROM source WHERE org = 'A81001'")
case "$state" in held|stale) ;; *) fail "night 2: Riverside is '$state', not held or stale (flagged)";; esac
[ "$(db "SELECT extracted || ' ' || items FROM source WHERE org = 'A81001'")" = "$now1 $items1" ] ||
  fail "night 2: Riverside's night-1 data was not kept: $(db "SELECT extracted, items FROM source WHERE org = 'A81001'")"
[ "$(db "SELECT count(*) FROM item WHERE org = 'A81001'")" = "$items1" ] || fail "night 2: Riverside's items are gone"
report "$now" coverage
grep -E '^A81001 ' "$work/report" | grep -Eq ' (HELD|FAILED) ' || fail "night 2: coverage does not flag A81001 HELD or FAILED"
lookup "$now" "$nhs"
[ "$looked" = 0 ] || fail "night 2: lookup exited $looked: $(cat "$work/lookup.err")"
grep -q '^! Riverside Surgery data is stale: as of '"$now1"'; latest extract \(rejected\|held\)' "$work/lookup.out" ||
  fail "night 2: the lookup does not warn that Riverside's latest extract was rejected or held"
grep -qF "$allergy" "$work/lookup.out" || fail "night 2: the lookup lost the night-1 allergy '$allergy'"

# ---- Night 3: one patient and nothing else -------------------------------------------
synth 3
replace_export bundle.xml <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Bundle xmlns="http://hl7.org/fhir">
  <type value="collection"/>
  <entry><resource><Patient>
    <id value="p1"/>
    <identifier><system value="https://fhir.nhs.uk/Id/nhs-number"/><value value="9990000018"/></identifier>
    <name><family value="Only"/><given value="One"/></name>
    <birthDate value="1960-01-01"/>
  </Patient></resource></entry>
</Bundle>
EOF
night 3
now3=$now
grep -q 'A81001 HELD' "$work/night.err" && grep -q 'mcr-load --accept A81001' "$work/night.err" ||
  fail "night 3: the nightly summary does not say A81001 HELD and how to accept"
[ "$(db "SELECT status || ' ' || extracted || ' ' || people || ' ' || items FROM source WHERE org = 'A81001'")" = \
  "held $now1 $people1 $items1" ] || fail "night 3: Riverside not held with its night-1 data: $(db "SELECT * FROM source WHERE org = 'A81001'")"
[ "$(db "SELECT people || ' ' || items FROM source_held WHERE org = 'A81001'")" = "1 0" ] ||
  fail "night 3: source_held does not have the held file's counts"
held_file=$(db "SELECT manifest FROM source_held WHERE org = 'A81001'")
[ -f "$held_file" ] || fail "night 3: the held file $held_file is not left in staging"
report "$now" coverage
grep -E '^A81001 ' "$work/report" | grep -q ' HELD ' || fail "night 3: coverage does not show A81001 HELD"
grep -q "newest file held: people $people1 -> 1 (-[0-9]*%), items $items1 -> 0 (-100%): older data kept; if the fall is real, accept it with: mcr-load --accept A81001" "$work/report" ||
  fail "night 3: coverage lacks the held figures and the command"
grep -q '^Held files' "$work/report" || fail "night 3: coverage has no Held files table"
report "$now" coverage --format csv
grep -q "^A81001,Riverside Surgery,gp,nightly,held,HELD,.*,$held_file,[0-9TZ:-]*,1,0"$'\r'"\$" "$work/report" ||
  fail "night 3: coverage CSV lacks the held file's columns"
report "$now" coverage --format html
grep -q '<td class="st-held">HELD</td>' "$work/report" || fail "night 3: coverage HTML does not show HELD"
report "$now" loads
grep -E '^[0-9TZ-]+ +A81001 +gp +held ' "$work/report" | grep -q 'none left of the data held' ||
  fail "night 3: the loads report does not show the hold"
lookup "$now" "$nhs"
grep -q "^! Riverside Surgery data is stale: as of $now1; latest extract held: people $people1 -> 1, items $items1 -> 0, waiting for an operator to accept it\$" "$work/lookup.out" ||
  fail "night 3: the text view does not name the held source at its top"
[ "$(grep -n '^! Riverside' "$work/lookup.out" | cut -d: -f1)" -lt "$(grep -n '^Allergies' "$work/lookup.out" | head -n 1 | cut -d: -f1)" ] ||
  fail "night 3: the warning is not at the top of the view"
lookup "$now" "$nhs" --format html
grep -q 'Riverside Surgery data is stale: as of .*latest extract held: people' "$work/lookup.out" ||
  fail "night 3: the HTML view does not name the held source"

# ---- The operator accepts ----------------------------------------------------------
accept_at=$(date -u -d "${now3%Z} UTC + 1 hour" +%Y-%m-%dT%H:%M:%SZ)
MCR_NOW=$accept_at "$BIN/mcr-load" --config "$region/mcr.yaml" --quiet --accept A81001 >"$work/load.out" 2>"$work/load.err"
got=$?
[ "$got" = 0 ] || fail "mcr-load --accept A81001: exit $got: $(cat "$work/load.err")"
grep -q 'mcr-load: A81001: accepted .*: people '"$people1"' -> 1, members [0-9]* -> 1, items '"$items1"' -> 0' "$work/load.err" ||
  fail "mcr-load --accept: stderr does not name the accepted fall"
grep -q ', 1 accepted, ' "$work/load.out" || fail "mcr-load --accept: the summary does not count the acceptance"
[ "$(db "SELECT status || ' ' || people || ' ' || items FROM source WHERE org = 'A81001'")" = "current 1 0" ] ||
  fail "after --accept: Riverside is not current with the accepted file"
report "$accept_at" loads
grep -E '^[0-9TZ-]+ +A81001 +gp +accepted ' "$work/report" | grep -q 'accepted by the operator (mcr-load --accept A81001)' ||
  fail "after --accept: the loads report does not show the acceptance"
MCR_NOW=$accept_at "$BIN/mcr-load" --config "$region/mcr.yaml" --quiet --accept Z99999 >/dev/null 2>"$work/load.err"
[ $? = 2 ] && grep -q 'accept Z99999: no such organisation' "$work/load.err" ||
  fail "mcr-load --accept of an unknown organisation is not a usage error"

# ---- Three days on, nothing newer: stale by age in every view ------------------------
later=$(date -u -d "${now3%Z} UTC + 3 days" +%Y-%m-%dT%H:%M:%SZ)
lookup "$later" 9990000018
[ "$looked" = 0 ] || fail "3 days on: lookup exited $looked: $(cat "$work/lookup.err")"
for o in "Riverside Surgery" "Parkway Medical Centre"; do
  grep -q "^! $o data is stale: as of [0-9TZ:-]*, [0-9]* h\( [0-9]* min\)\? old; its nightly schedule allows 26 h\$" "$work/lookup.out" ||
    fail "3 days on: the text view does not name $o as older than its schedule allows"
done
lookup "$later" 9990000018 --format html
grep -q 'Riverside Surgery data is stale: as of .* old; its nightly schedule allows 26 h' "$work/lookup.out" ||
  fail "3 days on: the HTML view does not name Riverside as stale"
# The limit is configuration: a week allowed, no warning for Riverside.
sed -i '/^region:/a freshness:\n  nightly: 168' "$region/mcr.yaml"
lookup "$later" 9990000018
grep -q '^! Riverside Surgery data is stale' "$work/lookup.out" &&
  fail "3 days on: freshness.nightly 168 still warns about Riverside"

[ $fails -eq 0 ] && echo "load guard: OperationOutcome and one-patient exports kept the practice (flagged, exit 3), accepted with --accept and recorded; stale sources named in every view"
exit $((fails > 0))
