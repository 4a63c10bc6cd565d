#!/usr/bin/env bash
# Suppressed content is written nowhere (DESIGN.md), the GP extractor's scratch
# file included: mcr-extract-gp keeps pass 1's resources in an unnamed scratch
# file that holds the export's withheld content too, so that file is sealed
# (AES-256-GCM under a key only the process holds). A shim
# (tests/preload/scratch.c) keeps a link to every file the extractor unlinks, so
# the scratch and the spill can be read after the run. Distinctive markers in
# an objected person's name and items, a sensitive item, a restricted item and
# an entered-in-error item, in XML and NDJSON, must be in no file the run wrote
# (the staged payload decompressed too), while a shared item's marker is in
# the staged payload and not readable in the scratch. Then the scratch is
# changed on disk between the passes (at its first read): the run fails naming
# it, and nothing is staged.
# Usage: test_extract_scratch.sh BIN_DIR
set -u
BIN=$(cd "${1:?usage: $0 BIN_DIR}" && pwd)
shim=$(cd "$BIN/.." && pwd)/lib/libmcr_test_scratch.so
[ -f "$shim" ] || { echo "FAIL: $shim is missing"; exit 1; }
src=$(cd "$(dirname "$0")/../cases" && pwd)
work=$(mktemp -d /tmp/mcr-extract-scratch.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
export MCR_NOW=2026-11-21T06:00:00Z
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
sed 's/^  objection_codes: \[416409005\]$/  objection_codes: [416409005]\n  sensitive_codes: [8098009]/' \
  "$src/mcr.yaml" >"$work/mcr.yaml"
grep -q 'sensitive_codes: \[8098009\]' "$work/mcr.yaml" || { echo "FAIL: config"; exit 1; }
mkdir -p "$work/in" "$work/kept"

nhs=https://fhir.nhs.uk/Id/nhs-number sct=http://snomed.info/sct
cond() { # id patient code display [extra elements]
  printf '<entry><resource><Condition xmlns="http://hl7.org/fhir"><id value="%s"/>%s<code><coding><system value="%s"/><code value="%s"/><display value="%s"/></coding></code><subject><reference value="Patient/%s"/></subject><onsetDateTime value="2021-02-01"/></Condition></resource></entry>\n' \
    "$1" "${5:-}" "$sct" "$3" "$4" "$2"
}
{
  echo '<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/>'
  for p in "p1 9990000018 Sharedfamily" "p2 9990000026 ZQXOBJFAMILY"; do
    set -- $p
    printf '<entry><resource><Patient xmlns="http://hl7.org/fhir"><id value="%s"/><identifier><system value="%s"/><value value="%s"/></identifier><name><family value="%s"/><given value="Ann"/></name><birthDate value="1960-01-02"/></Patient></resource></entry>\n' "$1" "$nhs" "$2" "$3"
  done
  cond c-shared p1 38341003 ZQXSHAREDITEM
  cond c-sens p1 8098009 ZQXSENSITIVEITEM
  cond c-r p1 38341003 ZQXRESTRICTEDITEM \
    '<meta><security><system value="http://terminology.hl7.org/CodeSystem/v3-Confidentiality"/><code value="R"/></security></meta>'
  cond c-eie p1 38341003 ZQXERRORITEM \
    '<verificationStatus><coding><system value="http://terminology.hl7.org/CodeSystem/condition-ver-status"/><code value="entered-in-error"/></coding></verificationStatus>'
  cond c-obj p2 38341003 ZQXOBJECTEDITEM
  cond x-obj p2 416409005 'Refused consent for upload to local shared electronic record'
  echo '</Bundle>'
} >"$work/in/export.xml"
cat >"$work/in/more.ndjson" <<EOF
{"resourceType":"Condition","id":"n-obj","code":{"coding":[{"system":"$sct","code":"195967001","display":"ZQXOBJECTEDNDJSON"}]},"subject":{"reference":"Patient/p2"},"onsetDateTime":"2022-01-01"}
{"resourceType":"Condition","id":"n-sens","code":{"coding":[{"system":"$sct","code":"8098009","display":"ZQXSENSITIVENDJSON"}]},"subject":{"reference":"Patient/p1"},"onsetDateTime":"2022-01-01"}
{"resourceType":"AllergyIntolerance","id":"n-shared","code":{"coding":[{"system":"$sct","code":"91936005","display":"ZQXSHAREDNDJSON"}]},"patient":{"reference":"Patient/p1"},"recordedDate":"2022-01-01"}
EOF
withheld="ZQXOBJFAMILY ZQXSENSITIVEITEM ZQXRESTRICTEDITEM ZQXERRORITEM ZQXOBJECTEDITEM ZQXOBJECTEDNDJSON ZQXSENSITIVENDJSON"
shared="ZQXSHAREDITEM ZQXSHAREDNDJSON"

run() { # [env...]: the extractor under the shim; output in $work/out, $work/err, status in $st
  env LD_PRELOAD="$shim" MCR_TEST_KEEP_DIR="$work/kept" "$@" \
    "$BIN/mcr-extract-gp" --config "$work/mcr.yaml" --org A81001 --input "$work/in" --out "$work/staging" \
    >"$work/out" 2>"$work/err"
  st=$?
}

# 1. Nothing withheld is readable in any file the run wrote.
run
[ "$st" -eq 0 ] || fail "extract: exit $st: $(cat "$work/err")"
stage=$work/staging/A81001/gp
scratch=$(ls -A "$work/kept" | grep '^\.replay-' | head -n 1)
[ -n "$scratch" ] && [ -s "$work/kept/$scratch" ] ||
  fail "the scratch file was not observed (kept: $(ls -A "$work/kept"))"
ls -A "$work/kept" | grep -q '^\.spill-' || fail "the spill was not observed (kept: $(ls -A "$work/kept"))"
payload=$(ls "$stage"/*.xml.gz 2>/dev/null | head -n 1)
[ -n "$payload" ] || fail "nothing staged"
# every file written, as it is on disk and decompressed where it is gzip
dump() {
  find "$work" \( -path "$work/in" -o -path "$work/all.bin" \) -prune -o -type f -print | while read -r f; do
    cat "$f"; gzip -dc "$f" 2>/dev/null
  done
}
dump >"$work/all.bin"
for m in $withheld; do
  grep -aq "$m" "$work/all.bin" && fail "withheld content $m was written: $(grep -alr "$m" "$work" --exclude-dir=in --exclude=all.bin)"
done
for m in $shared; do
  gzip -dc "$payload" | grep -q "$m" || fail "shared content $m is not in the staged payload"
  grep -aq "$m" "$work/kept/$scratch" && fail "the scratch file holds $m readable"
done
grep -q 'objection=' <(gzip -dc "$payload") || fail "the objected person is not staged as an objection"

# 2. A scratch file changed on disk (a byte of a chunk's header, text or tag): an
# error naming it, and nothing staged.
rm -rf "$work/staging" "$work/kept"/*
for at in 2 100 -1; do
  run MCR_TEST_TAMPER=/.replay- MCR_TEST_TAMPER_AT=$at
  [ "$st" -eq 1 ] || fail "scratch changed at $at: exit $st, expected 1"
  grep -q 'scratch file is damaged' "$work/err" || fail "scratch changed at $at: message: $(cat "$work/err")"
  left=$(find "$work/staging" -type f 2>/dev/null)
  [ -z "$left" ] || fail "scratch changed at $at: left behind: $left"
done

[ "$fails" -eq 0 ] || { echo "$fails failure(s); work folder $work"; exit 1; }
echo "ok: test_extract_scratch"
