#!/usr/bin/env bash
# Issue 10's extractor rules end to end, as the views show them: a GP export with
# partial, offset and impossible dates, an objection and a consent in two time
# zones (both ways), and a resource whose Patient is not in the export, through
# mcr-extract-gp (exit 3: staged, refusals named), mcr-load, mcr-lookup and
# mcr-report coverage. An item with an impossible date or from before shares-from
# never reaches a view; the objection as an instant wins; the refusals are counted.
# $1 = bin dir. Needs nothing else.
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
work=$(mktemp -d /tmp/mcr-extract-safety.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
cd "$work" || exit 1
export MCR_NOW=2026-11-21T06:00:00Z MCR_CONFIG=$work/mcr.yaml

cat >mcr.yaml <<'EOF'
region: Safety test
paths:
  staging: staging
  store: store
  audit: audit/audit.sqlite
organisations:
  - ods: A81001
    name: Riverside Surgery
    kind: gp
    shares_from: 2016-04-01
policy:
  max_unmatched_percent: 20
  roles:
    clinician: [demographics, allergies, medications, problems, immunisations,
                results, encounters, social-care, misc-reports]
EOF

patient() { # id nhs
  printf '<entry><resource><Patient xmlns="http://hl7.org/fhir"><id value="%s"/><identifier><system value="https://fhir.nhs.uk/Id/nhs-number"/><value value="%s"/></identifier><name><family value="Fam%s"/></name></Patient></resource></entry>\n' "$1" "$2" "$1"
}
condition() { # id patient code onset
  printf '<entry><resource><Condition xmlns="http://hl7.org/fhir"><id value="%s"/><code><coding><system value="http://snomed.info/sct"/><code value="%s"/><display value="Term %s"/></coding></code><subject><reference value="Patient/%s"/></subject><onsetDateTime value="%s"/></Condition></resource></entry>\n' "$1" "$3" "$1" "$2" "$4"
}
mkdir in
{
  echo '<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/>'
  patient p1 9990000018
  condition y2010 p1 38341003 2010             # partial, before shares-from
  condition m2016 p1 38341003 2016-03          # partial, before
  condition y2016 p1 38341003 2016             # may be before April: before
  condition m2016b p1 38341003 2016-04         # shared
  condition feb30 p1 38341003 2023-02-30       # impossible: withheld
  condition words p1 38341003 yesterday        # not a date: withheld
  condition tz p1 38341003 2024-06-10T10:00:00+01:00  # shared, as 09:00Z
  condition orphan elsewhere 38341003 2020-01-01      # no such Patient
  patient p2 9990000026
  condition o2 p2 416409005 2024-06-10T09:30:00Z      # objection at 09:30Z ...
  condition k2 p2 417528008 2024-06-10T10:00:00+01:00 # ... after the consent at 09:00Z
  condition x2 p2 38341003 2020-01-01
  patient p3 9990000034
  condition o3 p3 416409005 2024-06-10T10:00:00+01:00 # objection at 09:00Z ...
  condition k3 p3 417528008 2024-06-10T09:30:00Z      # ... withdrawn at 09:30Z
  condition x3 p3 38341003 2020-01-01
  echo '</Bundle>'
} >in/export.xml

"$BIN/mcr-extract-gp" --org A81001 --input in >extract.out 2>extract.err
rc=$?
[ $rc -eq 3 ] || fail "mcr-extract-gp exited $rc, expected 3 (staged with refusals): $(cat extract.err)"
[ "$(grep -c 'refused: ' extract.err)" -eq 3 ] || fail "expected 3 refusals named: $(cat extract.err)"
grep -q 'refused: in/export.xml:7: Condition feb30: onsetDateTime is not a date' extract.err ||
  fail "the impossible date is not named by file and line"
grep -q 'refused: in/export.xml:10: Condition orphan: subject Patient/elsewhere matches no Patient' extract.err ||
  fail "the orphan resource is not named by file and line"
grep -q '2023-02-30\|yesterday' extract.err && fail "a withheld value reached the log"

"$BIN/mcr-load" >load.out 2>load.err || fail "mcr-load failed: $(cat load.err)"

look() { # nhs -> out
  "$BIN/mcr-lookup" --user dr1 --org A81001 --role clinician --nhs "$1" >"look-$1" 2>&1 ||
    fail "mcr-lookup $1 exited $?: $(head -3 "look-$1")"
}
look 9990000018
for t in m2016b tz; do grep -q "Term $t" look-9990000018 || fail "lookup: Term $t not shown"; done
for t in y2010 m2016 y2016 feb30 words orphan; do
  grep -q "Term $t\b" look-9990000018 && fail "lookup: Term $t shown"
done
grep -q '2024-06-10T09:00:00Z' look-9990000018 || fail "lookup: the offset date is not shown as its UTC instant"
# Newest first by instant.
[ "$(grep -n 'Term tz' look-9990000018 | cut -d: -f1)" -lt "$(grep -n 'Term m2016b' look-9990000018 | cut -d: -f1)" ] ||
  fail "lookup: items not newest first"

look 9990000026
grep -qi 'withdrawn consent' look-9990000026 || fail "objection at 09:30Z after a consent at 10:00+01:00 is not in force"
grep -q 'Term x2' look-9990000026 && fail "the objecting person's record is shown"
look 9990000034
grep -q 'Term x3' look-9990000034 || fail "a consent at 09:30Z after an objection at 10:00+01:00 did not withdraw it"
grep -qi 'withdrawn consent' look-9990000034 && fail "the withdrawn objection is still shown"

"$BIN/mcr-report" coverage --format csv >coverage.csv 2>coverage.err || fail "mcr-report coverage failed: $(cat coverage.err)"
col() { # name -> the A81001 row's value of that column
  awk -F, -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
                        $1 == "A81001" { gsub("\r", ""); print $c }' coverage.csv | tr -d '\r'
}
[ "$(col withheld_invalid-date)" = 2 ] || fail "coverage: invalid-date is '$(col withheld_invalid-date)', expected 2"
[ "$(col withheld_unmatched)" = 1 ] || fail "coverage: unmatched is '$(col withheld_unmatched)', expected 1"
[ "$(col withheld_before-shares-from)" = 3 ] || fail "coverage: before-shares-from is '$(col withheld_before-shares-from)', expected 3"

[ $fails -eq 0 ] && echo "ok: extract safety end to end (dates as instants, invalid dates, orphans, objection across time zones)"
exit $((fails > 0))
