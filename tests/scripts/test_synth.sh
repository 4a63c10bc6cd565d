#!/usr/bin/env bash
# mcr-synth (docs/SYNTH.md): deterministic, every file parses, the formats are as
# DESIGN.md says, and the printed summary agrees with what is on disk.
# Usage: test_synth.sh BIN_DIR
set -u
BIN=$(cd "$1" && pwd)
SYNTH=$BIN/mcr-synth
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

command -v xmllint >/dev/null || { echo "FAIL: xmllint is not installed"; exit 1; }

"$SYNTH" --people 120 --seed 5 --out "$work/a" >"$work/a.yaml" || { echo "FAIL: mcr-synth run a"; exit 1; }
"$SYNTH" --people 120 --seed 5 --out "$work/b" --flat >"$work/b.flat" || { echo "FAIL: mcr-synth run b"; exit 1; }
"$SYNTH" --people 120 --seed 6 --out "$work/c" >"$work/c.yaml" || { echo "FAIL: mcr-synth run c"; exit 1; }
S=$work/b.flat
val() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print "missing" }' "$S"; }

# Determinism: same seed, same bytes; another seed, another region.
diff -r "$work/a" "$work/b" >/dev/null || bad "same seed gave different trees"
diff -rq "$work/a" "$work/c" >/dev/null && bad "seeds 5 and 6 gave the same tree"

# The flat and YAML summaries carry the same values.
for k in organisations.A81001.counts.items organisations.LA919.counts.people organisations.NLO11.counts.members; do
  org=$(echo "$k" | cut -d. -f2); leaf=$(echo "$k" | cut -d. -f4)
  y=$(awk -v o="  $org:" -v l="      $leaf:" '$0 == o { in_o = 1; next } in_o && /^  [A-Z0-9]+:$/ { in_o = 0 }
        in_o && index($0, l) == 1 { print $2; exit }' "$work/a.yaml")
  [ "$y" = "$(val "$k")" ] || bad "YAML and flat summaries differ for $k: $y vs $(val "$k")"
done
for key in synth.extract_time region.multi_organisation night_changes staff.0.user staff.3.nhs; do
  grep -q "^$key" "$S" || [ "$key" = night_changes ] || bad "summary lacks $key"
done
grep -q '^night_changes: \[\]$' "$work/a.yaml" || bad "night 1 summary should list no night changes"

cd "$work/b" || exit 1
# mcr.yaml names every organisation, its source and the staff.
for ods in A81001 A81002 A81003 LA919 NLO11; do
  grep -q "^  - ods: $ods\$" mcr.yaml || bad "mcr.yaml lacks organisation $ods"
  src=$(val "organisations.$ods.source")
  grep -q "source: $src\$" mcr.yaml || bad "mcr.yaml lacks source $src"
  [ -d "$src" ] || bad "no source folder $src"
done
for i in 0 1 2 3; do
  grep -q "user: $(val staff.$i.user)\$" mcr.yaml || bad "mcr.yaml lacks staff user $(val staff.$i.user)"
done

# GP: FHIR R4 XML bundles whose counts match the summary.
for ods in A81001 A81002 A81003; do
  d=sources/gp/$ods
  files=$(ls "$d"/bundle-*.xml | wc -l)
  [ "$files" -eq "$(val organisations.$ods.edge.bundle_files)" ] || bad "$ods: $files bundle files, summary says $(val organisations.$ods.edge.bundle_files)"
  xmllint --noout "$d"/bundle-*.xml || bad "$ods: a bundle does not parse"
  for f in "$d"/bundle-*.xml; do
    grep -q '<Bundle xmlns="http://hl7.org/fhir">' "$f" || bad "$f: not a FHIR Bundle"
    grep -q '<type value="collection"/>' "$f" || bad "$f: not a collection"
  done
  count() { cat "$d"/bundle-*.xml | grep -c "^   <$1>\$"; }
  [ "$(count Patient)" -eq "$(val organisations.$ods.edge.patients)" ] || bad "$ods: $(count Patient) Patient resources, summary says $(val organisations.$ods.edge.patients)"
  for t in AllergyIntolerance:allergy_intolerance MedicationStatement:medication_statement \
           MedicationRequest:medication_request Condition:condition Immunization:immunization Encounter:encounter; do
    n=$(count "${t%%:*}"); want=$(val "organisations.$ods.edge.${t##*:}")
    [ "$n" -eq "$want" ] || bad "$ods: $n ${t%%:*}, summary says $want"
  done
  obs=$(( $(val organisations.$ods.edge.observation) + $(val organisations.$ods.edge.coded_entries) ))
  [ "$(count Observation)" -eq "$obs" ] || bad "$ods: $(count Observation) Observations, summary says $obs"
  clin=$(( $(count AllergyIntolerance) + $(count MedicationStatement) + $(count MedicationRequest) + $(count Condition) +
           $(count Immunization) + $(count Observation) + $(count Encounter) - $(val organisations.$ods.edge.coded_entries) ))
  [ "$clin" -eq "$(val organisations.$ods.edge.clinical_resources)" ] || bad "$ods: clinical resources $clin vs summary"
  # Every valid-numbered Patient is a person and a member; the others are withheld.
  valid=$(( $(val organisations.$ods.edge.patients) - $(val organisations.$ods.edge.patients_bad_check_digit) - $(val organisations.$ods.edge.patients_no_nhs_number) ))
  [ "$valid" -eq "$(val organisations.$ods.counts.people)" ] || bad "$ods: people $(val organisations.$ods.counts.people), valid patients $valid"
  [ "$valid" -eq "$(val organisations.$ods.counts.members)" ] || bad "$ods: members differ from valid patients"
  # Items plus withheld resources account for every clinical resource of valid patients.
  sum=$(val organisations.$ods.counts.items)
  for r in objection sensitive confidential entered-in-error before-shares-from; do
    sum=$((sum + $(val organisations.$ods.counts.withheld.$r)))
  done
  [ "$sum" -le "$(val organisations.$ods.edge.clinical_resources)" ] || bad "$ods: items + withheld exceed the resources"
  ids=$(cat "$d"/bundle-*.xml | grep -c '<identifier><system value="https://fhir.nhs.uk/Id/nhs-number"/><value value="999[0-9]*"/></identifier></\(subject\|patient\)>')
  [ "$ids" -eq "$(val organisations.$ods.edge.refs_by_identifier)" ] || bad "$ods: $ids references by identifier, summary says $(val organisations.$ods.edge.refs_by_identifier)"
done
all=sources/gp/*/bundle-*.xml
for code in 416409005 417528008 827241000000103; do
  cat $all | grep -q "<code value=\"$code\"/>" || bad "no GP entry coded $code"
done
cat $all | grep -q '<code value="entered-in-error"/>\|<status value="entered-in-error"/>' || bad "no entered-in-error resource"
cat $all | grep -q 'v3-Confidentiality"/><code value="[RV]"/>' || bad "no confidential resource"
cat $all | grep -q 'https://dmd.nhs.uk' || bad "no dm+d medication"
cat $all | grep -q '&apos;' || bad "no name or street with an apostrophe in the GP export"

# LCS: exact headers, BOM, CRLF; row counts match the summary.
p=sources/lcs/LA919/persons.csv; i=sources/lcs/LA919/involvements.csv
[ "$(head -c 3 "$p" | od -An -tx1 | tr -d ' ')" = efbbbf ] || bad "persons.csv has no UTF-8 BOM"
[ "$(head -n 1 "$p")" = $'\xef\xbb\xbfperson_id,nhs_number,family_name,given_name,birth_date,service,share_consent,consent_date\r' ] ||
  bad "persons.csv header is not DESIGN.md's"
[ "$(head -n 1 "$i")" = $'\xef\xbb\xbfperson_id,involvement_id,type,start_date,end_date,team,worker_name,worker_phone,summary\r' ] ||
  bad "involvements.csv header is not DESIGN.md's"
# Records end in CRLF; line breaks inside quoted summaries are bare LF.
[ $(( $(grep -c $'\r$' "$p") - 1 )) -eq "$(val organisations.LA919.edge.persons_rows)" ] || bad "persons.csv rows differ from the summary"
[ $(( $(grep -c $'\r$' "$i") - 1 )) -eq "$(val organisations.LA919.edge.involvement_rows)" ] || bad "involvements.csv rows differ from the summary"
[ "$(val organisations.LA919.counts.withheld.no-consent)" -eq $(( $(val organisations.LA919.edge.consent_n) + $(val organisations.LA919.edge.consent_empty) )) ] ||
  bad "LA919: no-consent differs from consent N + empty"
[ "$(val organisations.LA919.counts.people)" -eq "$(val organisations.LA919.edge.consent_y)" ] || bad "LA919: people differ from consent Y"

# OOH: CDA documents that parse, with the NHS number roots, matching the summary.
o=sources/ooh/NLO11
cases=$(ls "$o" | grep -c '^case-[0-9]\{7\}\.xml$')
[ "$cases" -eq "$(val organisations.NLO11.edge.cases)" ] || bad "NLO11: $cases case files, summary says $(val organisations.NLO11.edge.cases)"
ids=$(( $(val organisations.NLO11.edge.verified) + $(val organisations.NLO11.edge.unverified) + $(val organisations.NLO11.edge.no_nhs_number) + $(val organisations.NLO11.edge.verified_bad_check_digit) ))
[ "$ids" -eq "$cases" ] || bad "NLO11: identity counts add to $ids, not $cases"
outs=$(( $(val organisations.NLO11.edge.clinical_author) + $(val organisations.NLO11.edge.clinical_participant) + $(val organisations.NLO11.edge.non_clinical) ))
[ "$outs" -eq "$cases" ] || bad "NLO11: outcome counts add to $outs, not $cases"
xmllint --noout "$o"/case-*.xml || bad "a CDA document does not parse"
[ "$(grep -l 'root="2.16.840.1.113883.2.1.4.1"' "$o"/case-*.xml | wc -l)" -eq $(( $(val organisations.NLO11.edge.verified) + $(val organisations.NLO11.edge.verified_bad_check_digit) )) ] ||
  bad "NLO11: documents with the verified root differ from the summary"
[ "$(grep -l 'root="2.16.840.1.113883.2.1.3.2.4.18.23"' "$o"/case-*.xml | wc -l)" -eq "$(val organisations.NLO11.edge.unverified)" ] ||
  bad "NLO11: documents with the unverified root differ from the summary"
[ "$(grep -l 'urn:nhs-itk:ns:201005' "$o"/case-*.xml | wc -l)" -eq "$(val organisations.NLO11.edge.enveloped)" ] ||
  bad "NLO11: enveloped documents differ from the summary"
for f in $(ls "$o"/case-*.xml | head -n 20); do
  [ "$(xmllint --xpath "count(//*[local-name()='ClinicalDocument' and namespace-uri()='urn:hl7-org:v3'])" "$f")" = 1 ] || bad "$f: no HL7 v3 ClinicalDocument"
done
[ $(( $(val organisations.NLO11.counts.items) + $(val organisations.NLO11.counts.withheld.unmatched) + $(val organisations.NLO11.counts.withheld.no-clinical-contact) )) -eq "$cases" ] ||
  bad "NLO11: items + unmatched + no-clinical-contact differ from the cases"
cd "$work" || exit 1

# gzip: the same content compressed.
"$SYNTH" --people 120 --seed 5 --out "$work/z" --gzip >/dev/null || bad "mcr-synth --gzip failed"
for f in $(cd "$work/b" && find sources -name '*.xml' | sort); do
  zcat "$work/z/$f.gz" | cmp -s - "$work/b/$f" || { bad "$f.gz differs from $f"; break; }
done

# Night 2: the listed changes are in the files.
"$SYNTH" --people 120 --seed 5 --out "$work/n2" --night 2 --flat >"$work/n2.flat" || bad "mcr-synth --night 2 failed"
S=$work/n2.flat
[ "$(val synth.as_of)" = 2026-11-22 ] || bad "night 2 as_of is $(val synth.as_of)"
for c in 0 1 2 3; do
  kind=$(val night_changes.$c.change); nhs=$(val night_changes.$c.nhs); org=$(val night_changes.$c.org)
  case "$kind" in
    moved-practice)
      grep -q "value=\"$nhs\"" "$work/n2"/sources/gp/"$org"/*.xml || bad "moved $nhs not in $org"
      grep -q "value=\"$nhs\"" "$work/n2"/sources/gp/"$(val night_changes.$c.from)"/*.xml && bad "moved $nhs still in the old practice"
      grep -q "value=\"$nhs\"" "$work/b"/sources/gp/"$(val night_changes.$c.from)"/*.xml || bad "moved $nhs was not in the old practice on night 1" ;;
    consent-withdrawn)
      grep -q ",$nhs,.*,Y,[0-9-]*"$'\r' "$work/b/sources/lcs/LA919/persons.csv" || bad "$nhs had no consent Y on night 1"
      grep -q ",$nhs,.*,N,2026-11-21"$'\r' "$work/n2/sources/lcs/LA919/persons.csv" || bad "$nhs consent not withdrawn on night 2" ;;
    new-allergy|objection-raised) ;;
    *) bad "night change $c: unexpected '$kind'" ;;
  esac
done
[ "$(val organisations.A81001.counts.objections)$(val organisations.A81002.counts.objections)$(val organisations.A81003.counts.objections)" != \
  "$(S=$work/b.flat; val organisations.A81001.counts.objections)$(S=$work/b.flat; val organisations.A81002.counts.objections)$(S=$work/b.flat; val organisations.A81003.counts.objections)" ] ||
  bad "night 2 objection counts are those of night 1"

# Usage errors.
"$SYNTH" --people 5 --seed 1 --out "$work/u" >/dev/null 2>&1; [ $? -eq 2 ] || bad "--people 5 is not a usage error"
"$SYNTH" --people 10 --seed 1 --out "$work/u" --night 9 >/dev/null 2>&1; [ $? -eq 2 ] || bad "--night 9 is not a usage error"

# --second-nhs-range (benchmarks beyond the 999 range) changes nothing while the
# test range is enough: the same tree, every number still 999.
d=$(mktemp -d /tmp/test_synth.XXXXXX)
"$SYNTH" --people 120 --seed 5 --out "$d/r" --second-nhs-range --flat >"$d/flat" || bad "--second-nhs-range at 120 people failed"
diff -r "$work/a" "$d/r" >/dev/null || bad "--second-nhs-range changed a region the test range holds"
diff "$work/b.flat" "$d/flat" >/dev/null || bad "--second-nhs-range changed the summary"
rm -rf "$d"

[ $fail -eq 0 ] && echo "ok: test_synth"
exit $fail
